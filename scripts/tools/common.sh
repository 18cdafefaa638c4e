# Shared by scripts/tools/*.sh. Sourced, not run.
# Tools are cached outside the clone so a fresh clone (CI) reuses them:
#   ${UPVAULT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/upvault/tools}
UPVAULT_TOOLS_DIR=${UPVAULT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/upvault/tools}
export UPVAULT_TOOLS_DIR
mkdir -p "$UPVAULT_TOOLS_DIR"

# pin_folder VERSION: the cache folder suffix of a pin. A pseudo-version
# (v0.0.0-20260212201848-7aac2a2c5b7c) ends in the commit's 12 characters, so its last 12
# characters name the folder; a short tag (v1.7.12) is used whole.
pin_folder() {
  local version=$1
  if [ "${#version}" -gt 12 ]; then echo "${version: -12}"; else echo "$version"; fi
}

# go_tool NAME MODULE VERSION: `go install MODULE@VERSION` into $UPVAULT_TOOLS_DIR/NAME-<pin_folder VERSION>/.
# VERSION is a semver tag or a pseudo-version: the Go module proxy refuses bare commit hashes
# (403 "not available"), and go checks that a pseudo-version's suffix names the commit and that
# its content matches go.sum, so a pseudo-version pins exactly one commit.
go_tool() {
  local name=$1 module=$2 version=$3
  local dir="$UPVAULT_TOOLS_DIR/$name-$(pin_folder "$version")"
  local bin="$dir/$(basename "${module%%@*}")"
  if [ -x "$bin" ]; then return 0; fi
  command -v go >/dev/null || { echo "go is not installed: cannot build $name" >&2; return 1; }
  echo "== building $name from $module@$version (first time only, a few minutes)" >&2
  mkdir -p "$dir"
  CGO_ENABLED=0 GOBIN="$dir" GOFLAGS=-trimpath go install "$module@$version"
}

# apt_install [APT-GET OPTION...] PACKAGE...: install Debian packages as root, directly or
# through `sudo -n`. Returns 1, installing nothing, when neither works or apt-get is missing
# (the caller says what to run instead), 2 when apt-get fails (it says why).
apt_install() {
  local as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then as_root=(sudo -n); else return 1; fi
  fi
  command -v apt-get >/dev/null || return 1
  echo "== apt-get install $* (first time only, about a minute)" >&2
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 2
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || return 2
}
