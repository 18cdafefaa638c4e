#!/usr/bin/env bash
# AWS SAM CLI, pinned, in its own venv in the tools cache: it is large (≈ 340 MB) and pins its
# own dependencies, so it never goes into .venv. Used by the SAM tier (tests/sam) and by
# scripts/generate-events.sh. Idempotent: a cached install returns in well under a second.
# Writes the sam executable's path to $UPVAULT_TOOLS_DIR/sam.path.
# SKIP_SAM=1 skips it (`--force` installs anyway, for generate-events.sh).
set -euo pipefail
# shellcheck source=scripts/tools/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SAM_CLI_VERSION=1.170.0
PYTHON=${PYTHON:-python3}
venv="$UPVAULT_TOOLS_DIR/sam-$SAM_CLI_VERSION"
export SAM_CLI_TELEMETRY=0

if [ -n "${SKIP_SAM:-}" ] && [ "${SKIP_SAM}" != 0 ] && [ "${1:-}" != --force ]; then
  echo "== SKIP_SAM=$SKIP_SAM: not installing SAM CLI (the SAM tier is skipped)" >&2
  exit 0
fi

# A venv records its own path in its scripts, so it is built in place; the stamp is written
# last, so an interrupted install is redone rather than half used.
if [ ! -f "$venv/.installed" ]; then
  echo "== installing aws-sam-cli $SAM_CLI_VERSION into $venv (first time only, about a minute)" >&2
  "$PYTHON" -m venv --clear "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile "aws-sam-cli==$SAM_CLI_VERSION"
  touch "$venv/.installed"
fi
[ "$("$venv/bin/sam" --version | awk '{print $NF}')" = "$SAM_CLI_VERSION" ] || {
  echo "$venv/bin/sam is not SAM CLI $SAM_CLI_VERSION: delete $venv and run again" >&2
  exit 1
}
echo "$venv/bin/sam" > "$UPVAULT_TOOLS_DIR/sam.path"
