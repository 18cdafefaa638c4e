#!/usr/bin/env python3
"""CDK entry point: ``cdk synth -c env=dev|staging|prod`` (or plain ``python app.py``).

Synthesizes without credentials or AWS calls; see docs/infrastructure.md.
"""

import os

from infra.application import build_app

# Without the CDK CLI (plain `python app.py`) CDK_OUTDIR is unset: write to ./cdk.out, not a temp dir.
build_app(outdir=os.environ.get("CDK_OUTDIR", "cdk.out")).synth()
