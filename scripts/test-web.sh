#!/usr/bin/env bash
# The browser package's own tier: build it (scripts/tools/web.sh), type-check its sources and
# emitted declarations with tsc, and run its unit tests with node --test (Node 22 from the tools cache).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools/web.sh
PATH="$(cat "${UPVAULT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/upvault/tools}/node.path"):$PATH"
cd web
npm run --silent typecheck
npm test
