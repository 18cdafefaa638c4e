# Shared by scripts/tools/*.sh. Sourced, not run.
# Tools are cached outside the clone so a fresh clone (CI) reuses them:
#   ${UPVAULT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/upvault/tools}
UPVAULT_TOOLS_DIR=${UPVAULT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/upvault/tools}
export UPVAULT_TOOLS_DIR
mkdir -p "$UPVAULT_TOOLS_DIR"

# go_tool NAME MODULE COMMIT: `go install MODULE@COMMIT` into $UPVAULT_TOOLS_DIR/NAME-COMMIT12/.
go_tool() {
  local name=$1 module=$2 commit=$3
  local dir="$UPVAULT_TOOLS_DIR/$name-${commit:0:12}"
  local bin="$dir/$(basename "${module%%@*}")"
  if [ -x "$bin" ]; then return 0; fi
  command -v go >/dev/null || { echo "go is not installed: cannot build $name" >&2; return 1; }
  echo "== building $name from $module@$commit (first time only, a few minutes)" >&2
  mkdir -p "$dir"
  CGO_ENABLED=0 GOBIN="$dir" GOFLAGS=-trimpath go install "$module@$commit"
}
