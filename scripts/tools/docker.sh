#!/usr/bin/env bash
# Docker engine and debootstrap for the SAM tier (tests/sam), from Debian's packages: the
# engine runs `sam local`'s containers, debootstrap builds the stand-in Lambda base image (no
# image registry is reachable; see docs/sam-local.md). Idempotent: when `dockerd` (or a running
# daemon) and `debootstrap` are there, nothing runs. Installing needs root (CI machines run as
# root); elsewhere it uses `sudo -n` when that works, or says what to run and how to skip the tier.
# The daemon itself is started by the tier when none runs (tests/sam/docker.py), not here.
# SKIP_SAM=1 skips this script (and the tier).
set -euo pipefail
# shellcheck source=scripts/tools/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ -n "${SKIP_SAM:-}" ] && [ "${SKIP_SAM}" != 0 ]; then
  echo "== SKIP_SAM=$SKIP_SAM: not installing Docker (the SAM tier is skipped)" >&2
  exit 0
fi

packages=()
# A running daemon of any origin (Docker Desktop, docker-ce, rootless) will do; only a machine
# with neither daemon nor engine needs Debian's docker.io.
if ! command -v dockerd >/dev/null && ! docker info >/dev/null 2>&1; then
  packages+=(docker.io)
fi
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || packages+=(debootstrap)
# The stand-in image is Debian trixie: debootstrap checks its release files against this keyring
# (already there on Debian; Ubuntu, e.g. CI runners, needs the package).
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || packages+=(debian-archive-keyring)
if [ "${#packages[@]}" -eq 0 ]; then exit 0; fi

apt_install --no-install-recommends "${packages[@]}" || {
  echo "The SAM tier needs Docker and debootstrap, and installing them needs root and apt-get:" >&2
  echo "  sudo apt-get install -y ${packages[*]}" >&2
  echo "or skip the tier: make test SKIP_SAM=1 (see docs/sam-local.md)" >&2
  exit 1
}
