#!/usr/bin/env bash
# Install the tools the test suite and the local stack need, each from scripts/tools/<name>.sh.
# With no argument: all of them. Each tool script is idempotent and caches its result
# (see scripts/tools/common.sh), so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -eq 0 ]; then
  set -- $(cd scripts/tools && ls *.sh | grep -v '^common\.sh$' | sed 's/\.sh$//')
fi
for tool in "$@"; do
  bash "scripts/tools/$tool.sh"
done
