#!/usr/bin/env bash
# Synthesize the CDK app with the pinned CDK CLI on Node 22: `scripts/synth.sh [ENV] [CDK ARGS...]`.
# ENV is dev (default), staging or prod; output goes to cdk.out/ (so
# `sam local invoke -t cdk.out/Upvault-<env>.template.json ...` works). cdk-nag runs in every
# synth: an unacknowledged finding fails it. Extra arguments go to `cdk synth`
# (e.g. `-c connection_arn=arn:aws:codeconnections:...` to add the pipeline stack).
set -euo pipefail
cd "$(dirname "$0")/.."
env_name=${1:-dev}
shift || true
bash scripts/tools/node.sh
# shellcheck source=scripts/tools/common.sh
source scripts/tools/common.sh
PATH="$(cat "$UPVAULT_TOOLS_DIR/node.path"):$PATH"
# No update check, no notices, no CLI telemetry: synth stays offline and deterministic.
export PATH CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true
exec cdk synth --quiet --no-notices -c env="$env_name" "$@"
