#!/usr/bin/env bash
# The test command: on a fresh Debian 12 machine (as root) it installs what the
# tests need — a Docker engine, Node 24, the node:24-bookworm-slim base image
# (built offline when no registry is reachable) — then installs the npm
# dependencies and runs every test against the real engine and worker image.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/start-docker.sh
# Every host program a test runs (scripts/host-programs.txt), installed from
# Debian's packages where missing; `npm test` starts with a preflight that names
# any still missing.
missing_packages="$(awk '!/^#/ && NF == 2 { print }' scripts/host-programs.txt |
  while read -r program package; do command -v "$program" >/dev/null 2>&1 || echo "$package" | tr ',' '\n'; done | sort -u | tr '\n' ' ')"
if [ -n "${missing_packages// /}" ]; then
  echo "installing host programs the tests use: $missing_packages"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086 # one word per package
  apt-get install -y -qq $missing_packages >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq $missing_packages >/dev/null; }
fi
# Podman on this machine cannot start a container without these limits ("error setting rlimit").
if command -v podman >/dev/null 2>&1 && ! grep -qs '^default_ulimits' /etc/containers/containers.conf; then
  mkdir -p /etc/containers
  if grep -qs '^\[containers\]' /etc/containers/containers.conf; then
    sed -i '/^\[containers\]/a default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]' /etc/containers/containers.conf
  else
    printf '[containers]\ndefault_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n' >>/etc/containers/containers.conf
  fi
fi
PATH="$(bash scripts/node24.sh):$PATH"
export PATH
echo "node $(node --version), npm $(npm --version)"
bash image/build-base.sh
npm ci --no-audit --no-fund

# Every test cleans up after itself; prove it for the whole run. Tests keep their
# state under ${TMPDIR:-/tmp}/sandboxd-*, so only containers whose socket directory
# lies there are theirs (another control plane on this engine is not our business).
tmp="${TMPDIR:-/tmp}"
ours() {
  docker ps -a --filter label=io.sandboxd.managed=true --format '{{.ID}} {{.Names}} {{.Label "io.sandboxd.socket-dir"}}' |
    awk -v prefix="$tmp/sandboxd-" 'index($3, prefix) == 1' | sort
}
before="$(ours)"
npm test
after="$(ours)"
left="$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d')"
if [ -n "$left" ]; then
  echo "tests left sandboxd containers behind:" >&2
  echo "$left" >&2
  exit 1
fi
echo "no sandboxd container left behind by the tests"
