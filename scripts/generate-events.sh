#!/usr/bin/env bash
# Regenerate the Lambda event fixtures in events/ with AWS's own generator,
# `sam local generate-event` (offline; no Docker, no AWS account needed).
#
# The fixtures are committed and CI never runs this script; run it by hand after bumping
# SAM_CLI_VERSION and review the diff. aws-sam-cli is large (≈340 MB) and pins its own
# dependencies, so it lives in its own venv in the tools cache, never in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools/common.sh

SAM_CLI_VERSION=1.170.0
PYTHON=${PYTHON:-python3}
venv="$UPVAULT_TOOLS_DIR/sam-venv"
export SAM_CLI_TELEMETRY=0

if [ "$("$venv/bin/sam" --version 2>/dev/null | awk '{print $NF}')" != "$SAM_CLI_VERSION" ]; then
  echo "== installing aws-sam-cli $SAM_CLI_VERSION into $venv" >&2
  "$PYTHON" -m venv --clear "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_CLI_VERSION"
fi
sam() { "$venv/bin/sam" "$@"; }

# Bucket and key are placeholders in our own key layout, so the processor fixtures parse as ours.
bucket=upvault-dev-files
key=staging/user-1/documents/01M889VFNKRG0TFTBWVX4HJ68D/report.pdf

mkdir -p events
gen() {  # gen OUTFILE SERVICE EVENT [OPTIONS...]: write pretty, stable JSON
  local out=$1; shift
  sam local generate-event "$@" | "$PYTHON" -m json.tool --indent 2 > "events/$out.tmp"
  mv "events/$out.tmp" "events/$out"
  echo "   events/$out" >&2
}

echo "== generating events with sam $SAM_CLI_VERSION" >&2
gen apigw-http-api-proxy.json apigateway http-api-proxy
gen sqs-receive-message.json sqs receive-message
gen s3-put.json s3 put --bucket "$bucket" --key "$key"
# An S3 notification delivered through SQS, as our processor receives it. sam's own --body
# option fills the record's body, but sam pastes the value into its JSON template unescaped
# (raw JSON breaks it), so we pass the body JSON-string-escaped; the rendered body then decodes
# to the compact S3 event exactly as S3 sends it. sam hashes the escaped text for md5OfBody, so
# that one field is recomputed over the real body.
s3_body_escaped=$("$PYTHON" - events/s3-put.json <<'PY'
import json, sys
event = json.load(open(sys.argv[1]))
print(json.dumps(json.dumps(event, separators=(",", ":")))[1:-1])
PY
)
gen sqs-s3-put.json sqs receive-message --body "$s3_body_escaped"
"$PYTHON" - events/sqs-s3-put.json events/s3-put.json <<'PY'
import hashlib, json, sys
path, s3_path = sys.argv[1], sys.argv[2]
event = json.load(open(path))
record = event["Records"][0]
assert json.loads(record["body"]) == json.load(open(s3_path)), "sqs body is not the s3 put event"
record["md5OfBody"] = hashlib.md5(record["body"].encode()).hexdigest()
with open(path, "w") as f:
    json.dump(event, f, indent=2)
    f.write("\n")
PY
