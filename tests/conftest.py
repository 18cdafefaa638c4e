"""Shared by every tier: a test environment that can never reach AWS."""

from __future__ import annotations

import os

# Settings and Powertools read the environment (settings when a handler first runs, Powertools
# when functions.observability is imported). Give them a harmless one before anything runs;
# no test can ever reach real AWS.
for name, value in {
    "UPVAULT_BUCKET": "upvault-test",
    "UPVAULT_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Upvault",
    "POWERTOOLS_SERVICE_NAME": "upvault",
    # Lambda's layer carries no awscrt; the dev venv does (the Python client's CRC64NVME), and
    # with it botocore would switch to its CRT signers. Tests sign as Lambda does.
    "BOTO_DISABLE_CRT": "true",
}.items():
    os.environ.setdefault(name, value)
