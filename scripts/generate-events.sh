#!/usr/bin/env bash
# Regenerate the Lambda event fixtures in events/ with AWS's own generator,
# `sam local generate-event` (offline; no Docker, no AWS account needed).
#
# The fixtures are committed and CI never runs this script; run it by hand after bumping
# SAM_CLI_VERSION (scripts/tools/sam.sh, which installs SAM CLI in its own venv in the tools
# cache) and review the diff.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools/common.sh

PYTHON=${PYTHON:-python3}
export SAM_CLI_TELEMETRY=0
bash scripts/tools/sam.sh --force
sam_bin=$(cat "$UPVAULT_TOOLS_DIR/sam.path")
sam() { "$sam_bin" "$@"; }

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

echo "== generating events with $(sam --version)" >&2
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

# Two API requests for `sam local invoke` (docs/sam-local.md; the SAM tier sends them): the
# public health check, and a declaration of tests.support's sample PDF carrying the JWT claims
# API Gateway's authorizer would forward. The body holds the sample's real size and SHA-256, so
# a PUT of those bytes to the returned URL succeeds.
PYTHONPATH=. "$PYTHON" - <<'PY'
import json
from tests.support import SAMPLES, apigw_event, upload_declaration

def write(name, event):
    with open(f"events/{name}", "w") as f:
        json.dump(event, f, indent=2)
        f.write("\n")
    print(f"   events/{name}")

pdf = SAMPLES["application/pdf"]
write("api-health.json", apigw_event("GET", "/v1/health"))
write("api-create-upload.json", apigw_event(
    "POST",
    "/v1/uploads",
    claims={"sub": "sam-local-user", "iss": "https://issuer.example", "aud": "upvault-web"},
    body=upload_declaration(pdf, filename="statement.pdf", content_type="application/pdf", category="documents"),
))
PY
