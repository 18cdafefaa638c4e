#!/usr/bin/env bash
# MinIO server for local development and integration tests, built from source once and cached.
# Its community edition ships as source only and the repository is archived: this pinned build
# is for development, never production (see docs/minio.md). Tags are not semver: pin a commit.
set -euo pipefail
source "$(dirname "$0")/common.sh"

commit=7aac2a2c5b7c882e68c1ce017d8256be2feea27f
# The module proxy serves pseudo-versions but refuses bare commit hashes (`@<commit>` gives
# 403 "not available"), so we ask for this commit's pseudo-version; go checks its go.sum hash
# and that the version's suffix names the commit. The binary lands in minio-<commit12>/, as
# go_tool would put it.
version=v0.0.0-20260212201848-${commit:0:12}

dir="$UPVAULT_TOOLS_DIR/minio-${commit:0:12}"
[ -x "$dir/minio" ] && exit 0
command -v go >/dev/null || { echo "go is not installed: cannot build minio" >&2; exit 1; }
echo "== building minio $version (first time only, several minutes on 2 cores)" >&2
mkdir -p "$dir"
CGO_ENABLED=0 GOBIN="$dir" GOFLAGS=-trimpath go install "github.com/minio/minio@$version"
