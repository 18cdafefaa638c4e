#!/usr/bin/env bash
# The browser package (web/): its npm dependencies, pinned by web/package-lock.json, and its
# build (web/dist: the self-contained module, its hashing Worker, the Uppy example bundles,
# and the .d.ts files tsc emits). Runs with the cached Node 22 (scripts/tools/node.sh).
# Idempotent: `npm ci` only runs when the lockfile changed (npm's own cache makes a rerun
# offline-fast); the build takes a few seconds and always runs, so dist/ matches src/.
set -euo pipefail
# shellcheck source=scripts/tools/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bash "$(dirname "${BASH_SOURCE[0]}")/node.sh"
PATH="$(cat "$UPVAULT_TOOLS_DIR/node.path"):$PATH"
export PATH
cd "$(dirname "${BASH_SOURCE[0]}")/../../web"

command -v npm >/dev/null || { echo "npm is not installed: cannot install the browser package's dependencies" >&2; exit 1; }
stamp=node_modules/.upvault-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "== installing the browser package's npm dependencies (web/package-lock.json)" >&2
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" > "$stamp"
fi
npm run --silent build
