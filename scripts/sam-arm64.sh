#!/usr/bin/env bash
# `make sam-arm64`: the SAM tier (tests/sam) on the template and dependencies layer we ship,
# arm64, run under qemu user emulation, with raised timeouts. An occasional check that the
# aarch64 wheels of the layer import and the handlers run; slow (about a minute per invoke,
# timings in docs/benchmarks.md), so it is not part of `make test` or CI.
# Needs root: Debian's qemu-user-static and binfmt-support, and binfmt_misc registration.
# What this script mounts or enables it undoes at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
bash scripts/install-tools.sh minio node docker sam

[ "$(id -u)" -eq 0 ] || { echo "make sam-arm64 needs root (qemu-user-static, binfmt_misc)" >&2; exit 1; }
if [ "$(uname -m)" != aarch64 ]; then
  if [ ! -x /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || ! command -v update-binfmts >/dev/null; then
    # shellcheck source=scripts/tools/common.sh
    source scripts/tools/common.sh
    apt_install --no-install-recommends qemu-user-static binfmt-support
  fi
  binfmt=/proc/sys/fs/binfmt_misc
  cleanup=()
  if [ ! -e "$binfmt/register" ]; then
    mount -t binfmt_misc binfmt_misc "$binfmt"
    cleanup+=("umount $binfmt")
  fi
  if [ ! -e "$binfmt/qemu-aarch64" ]; then
    # Debian registers it with the F flag: the kernel keeps the interpreter open, so it also
    # runs arm64 binaries inside containers that do not have qemu.
    update-binfmts --enable qemu-aarch64
    cleanup=("update-binfmts --disable qemu-aarch64" "${cleanup[@]}")
  fi
  trap 'for step in "${cleanup[@]}"; do $step || true; done' EXIT
fi

status=0
UPVAULT_SAM_ARCH=arm64 .venv/bin/pytest tests/sam -p no:cacheprovider --durations=0 "$@" || status=$?
echo "== make sam-arm64 took $(( $(date +%s) - started ))s"
exit "$status"
