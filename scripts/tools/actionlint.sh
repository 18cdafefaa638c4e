#!/usr/bin/env bash
# actionlint (GitHub Actions workflow linter) built from a pinned version with the Go toolchain.
# Cached in $UPVAULT_TOOLS_DIR/actionlint-<version>/actionlint; tests find it through
# $UPVAULT_TOOLS_DIR/actionlint.path.
set -euo pipefail
# shellcheck source=scripts/tools/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ACTIONLINT_VERSION=v1.7.12
go_tool actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION"
echo "$UPVAULT_TOOLS_DIR/actionlint-${ACTIONLINT_VERSION:0:12}/actionlint" > "$UPVAULT_TOOLS_DIR/actionlint.path"
