"""Upvault's AWS CDK app (constructs, stacks, pipeline) and its per-environment settings.

Importing this package imports nothing from aws-cdk: ``infra.config`` is shared with the
local stack, which runs without CDK installed.
"""
