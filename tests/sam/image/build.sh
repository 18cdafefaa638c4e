#!/usr/bin/env bash
# Build the stand-in Lambda Python image: `build.sh ARCH TAG AWSLAMBDARIC_VERSION [MIRROR]`
# (ARCH x86_64 or arm64). Needs root (debootstrap), a running Docker daemon, and for arm64 on
# an x86_64 host qemu-user-static with binfmt_misc. See docs/sam-local.md for why and how it
# differs from AWS's image. tests/sam/docker.py calls this with a tag keyed by a hash of this
# folder, so a changed recipe builds a new image and an unchanged one is never rebuilt.
set -euo pipefail
arch=$1 tag=$2 ric_version=$3
mirror=${4:-http://deb.debian.org/debian}
here=$(cd "$(dirname "$0")" && pwd)
case "$arch" in
  x86_64) deb_arch=amd64 wheel_platform=manylinux2014_x86_64 docker_platform=linux/amd64 ;;
  arm64) deb_arch=arm64 wheel_platform=manylinux2014_aarch64 docker_platform=linux/arm64 ;;
  *) echo "unknown architecture $arch (x86_64 or arm64)" >&2; exit 2 ;;
esac
python=${PYTHON:-python3}

work=$(mktemp -d "${TMPDIR:-/tmp}/upvault-lambda-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

# Downloaded packages are kept in $DEBOOTSTRAP_CACHE (absolute) when set: a changed recipe
# then rebuilds without downloading Debian again.
cache_args=()
if [ -n "${DEBOOTSTRAP_CACHE:-}" ]; then
  mkdir -p "$DEBOOTSTRAP_CACHE/$deb_arch"
  cache_args=(--cache-dir="$DEBOOTSTRAP_CACHE/$deb_arch")
fi

echo "== debootstrap trixie ($deb_arch, minbase + python3) from $mirror" >&2
debootstrap "${cache_args[@]}" --variant=minbase --arch="$deb_arch" --include=python3 trixie "$rootfs" "$mirror" \
  > "$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log" >&2; exit 1; }
[ -x "$rootfs/usr/bin/python3.13" ] || { echo "trixie's python3 is not 3.13 any more: update the recipe" >&2; exit 1; }

echo "== awslambdaric $ric_version ($wheel_platform wheels) into /var/runtime" >&2
mkdir -p "$rootfs/var/runtime" "$rootfs/var/task" "$rootfs/opt"
"$python" -m pip install --quiet --disable-pip-version-check --no-compile --target "$rootfs/var/runtime" \
  --platform "$wheel_platform" --implementation cp --python-version 3.13 --only-binary=:all: \
  "awslambdaric==$ric_version"
install -m 0755 "$here/bootstrap" "$rootfs/var/runtime/bootstrap"

# What a Lambda image has no use for: package caches, docs, manuals, locales.
rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
  "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*
tar -C "$rootfs" --numeric-owner -cf "$work/rootfs.tar" .
cp "$here/Dockerfile" "$work/Dockerfile"

echo "== docker build $tag ($docker_platform)" >&2
# Debian's 20.10 CLI builds with BuildKit; a newer CLI without the buildx plugin needs the
# classic builder. Both honour --platform for a FROM scratch image.
if docker buildx version >/dev/null 2>&1 || docker version --format '{{.Client.Version}}' | grep -q '^20\.'; then
  builder=1
else
  builder=0
fi
DOCKER_BUILDKIT=$builder docker build --quiet --platform "$docker_platform" -t "$tag" "$work" >/dev/null
