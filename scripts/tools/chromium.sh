#!/usr/bin/env bash
# Chromium for the browser tests (tests/e2e), from Debian's package: never a downloaded browser
# (`playwright install` is not used; Python Playwright drives /usr/bin/chromium).
# Idempotent: when /usr/bin/chromium exists nothing runs. Installing needs root (CI machines run
# as root); elsewhere it uses `sudo -n` when that works, or says what to run.
set -euo pipefail
# shellcheck source=scripts/tools/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CHROMIUM=/usr/bin/chromium

if [ ! -x "$CHROMIUM" ]; then
  apt_install chromium || {
    echo "Chromium is missing and installing it needs root and apt-get: sudo apt-get install -y chromium" >&2
    exit 1
  }
fi

# Debian's launcher script prints shell warnings on some machines; only a failure matters.
if ! version=$("$CHROMIUM" --version 2>&1); then
  echo "$CHROMIUM does not run: $version" >&2
  exit 1
fi
