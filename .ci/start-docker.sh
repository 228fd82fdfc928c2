#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs Debian's docker.io when none is
# installed, and starts dockerd in the background when none is running (CI
# machines have no systemd). Idempotent.
set -euo pipefail

if docker info >/dev/null 2>&1; then
  echo "docker engine: already answering"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "docker engine: installing docker.io from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io docker-compose >/dev/null
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "docker engine: starting dockerd in the background (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "docker engine: up ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 1
done
echo "docker engine: dockerd did not answer within 60 s; last log lines:" >&2
tail -n 30 /var/log/dockerd.log >&2 || true
exit 1
