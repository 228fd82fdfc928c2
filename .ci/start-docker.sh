#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs Debian's docker.io when none is
# installed, and starts dockerd in the background when none is running (CI
# machines have no systemd). Then makes sure gVisor answers too: installs
# Debian's runsc when missing and registers it with dockerd as the runtime
# `runsc` (merged into /etc/docker/daemon.json, loaded with SIGHUP, so running
# containers are not touched). Idempotent.
set -euo pipefail

# runsc's flags are the engine's, not a container's: every runsc container gets them.
#   --network=none   the engine already gives the container no network; without this
#                    runsc refuses to start ("cannot run with network enabled in root
#                    network namespace")
#   --host-uds=open  lets the agent connect() to its host Unix socket through the
#                    read-only bind mount (it can open, never create, host sockets)
#   --oci-seccomp    applies the container's seccomp profile inside gVisor's kernel;
#                    without it the profile is ignored (and with it the set-id guard)
RUNSC_ARGS='["--network=none", "--host-uds=open", "--oci-seccomp"]'
DAEMON_JSON=/etc/docker/daemon.json

engine_answers() { docker info >/dev/null 2>&1; }

if ! engine_answers; then
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
    engine_answers && break
    sleep 1
  done
  if ! engine_answers; then
    echo "docker engine: dockerd did not answer within 60 s; last log lines:" >&2
    tail -n 30 /var/log/dockerd.log >&2 || true
    exit 1
  fi
  echo "docker engine: up ($(docker version --format '{{.Server.Version}}'))"
else
  echo "docker engine: already answering"
fi

missing=''
command -v runsc >/dev/null 2>&1 || missing+=' runsc'
command -v jq >/dev/null 2>&1 || missing+=' jq'
if [ -n "$missing" ]; then
  echo "gVisor: installing$missing from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086 # one word per package
  apt-get install -y -qq $missing >/dev/null || { apt-get update -qq && apt-get install -y -qq $missing >/dev/null; }
fi

# The runtime as it should be registered, merged into whatever daemon.json holds.
wanted="$(jq -n --arg path "$(command -v runsc)" --argjson args "$RUNSC_ARGS" '{path: $path, runtimeArgs: $args}')"
current='{}'
[ -s "$DAEMON_JSON" ] && current="$(cat "$DAEMON_JSON")"
if [ "$(jq -c '.runtimes.runsc // null' <<<"$current")" != "$(jq -c . <<<"$wanted")" ]; then
  echo "gVisor: registering runsc in $DAEMON_JSON"
  mkdir -p "$(dirname "$DAEMON_JSON")"
  jq --argjson runsc "$wanted" '.runtimes.runsc = $runsc' <<<"$current" >"$DAEMON_JSON.new"
  mv "$DAEMON_JSON.new" "$DAEMON_JSON"
fi
registered() { docker info --format '{{json .Runtimes.runsc}}' | jq -e --argjson runsc "$wanted" '. == $runsc' >/dev/null; }
if ! registered; then
  # dockerd reloads its runtimes on SIGHUP; a restart would stop every running container.
  echo "gVisor: asking dockerd to reload its configuration (SIGHUP)"
  kill -HUP "$(cat /var/run/docker.pid)"
  for _ in $(seq 1 20); do
    registered && break
    sleep 0.5
  done
fi
if registered; then
  echo "gVisor: runsc registered ($(runsc --version | head -n 1))"
else
  echo "gVisor: dockerd did not take runsc from $DAEMON_JSON; runtimes: $(docker info --format '{{json .Runtimes}}')" >&2
  exit 1
fi
