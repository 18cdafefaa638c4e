#!/usr/bin/env bash
# AWS Lambda Runtime Interface Emulator, to run our handlers as Lambda would (with awslambdaric
# from PyPI). Built from source once and cached. Its v1.x tags are not semver: pin a commit.
set -euo pipefail
# shellcheck source=scripts/tools/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# The module proxy refuses bare commit hashes, so we pin the commit's pseudo-version.
# NOTE: the issue names commit 4fa21571526087e3a0076b9fecf67a79e3927994 (2026-01-02); the module
# proxy here does not serve it (403 for its pseudo-version v0.0.0-20260102185807-4fa215715260
# too). bef5c4ba774d (2026-10-30) is the version it serves, so that is the pin
# (docs/local-stack.md, "RIE").
commit=bef5c4ba774d
version=v0.0.0-20261030222936-$commit

go_tool rie github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie "$version"
