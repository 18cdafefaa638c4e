#!/usr/bin/env bash
# MinIO server for local development and integration tests, built from source once and cached.
# Its community edition ships as source only and the repository is archived: this pinned build
# is for development, never production (see docs/minio.md). Tags are not semver: pin a commit.
set -euo pipefail
# shellcheck source=scripts/tools/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

commit=7aac2a2c5b7c882e68c1ce017d8256be2feea27f
# The module proxy refuses bare commit hashes, so we ask for this commit's pseudo-version; go
# checks its go.sum hash and that the version's suffix names the commit. The binary lands in
# minio-<commit12>/ (go_tool names the folder from the version's last 12 characters).
version=v0.0.0-20260212201848-${commit:0:12}

go_tool minio github.com/minio/minio "$version"
