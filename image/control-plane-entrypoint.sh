#!/bin/sh
# Entrypoint of the control-plane image (image/control-plane.Dockerfile).
#
# It starts as root for two things only, then runs everything else as the
# unprivileged user sandboxd (10001:10001), with tini as PID 1:
#
#  1. The Docker socket's group differs from host to host (docker is 999 on
#     one, 105 on the next, 0 on Docker Desktop). Read the socket's gid here
#     and make it a supplementary group of sandboxd, so `docker compose up`
#     needs no DOCKER_GID computed beforehand.
#  2. The state directory is bind-mounted at the same path inside and outside,
#     because the engine bind-mounts its per-sandbox socket directories into
#     the workers by host path. When it does not exist yet the engine creates
#     it as root:root 0755; hand it to sandboxd (only if it is empty or holds
#     nothing but sandboxd's own state).
#
# Modes (the container's command):
#   serve | run | stdio   the sandboxd CLI verb, with the state directory prepared
#   janitor               sleeps; on SIGTERM (docker compose down/stop) removes
#                         the worker containers of this state directory
#   healthcheck           GET /healthz on the local port (HEALTHCHECK)
#   anything else         passed to the sandboxd CLI (e.g. `image build`)
set -eu

APP=/opt/sandboxd
APP_UID=10001
APP_GID=10001
STATE_DIR="${SANDBOXD_STATE_DIR:-/var/lib/sandboxd}"

die() {
  echo "sandboxd-entrypoint: $*" >&2
  exit 1
}

# The Docker socket's path, or nothing when DOCKER_HOST is not a Unix socket (e.g. a socket proxy over TCP).
docker_socket() {
  case "${DOCKER_HOST:-unix:///var/run/docker.sock}" in
    unix://*) echo "${DOCKER_HOST:-unix:///var/run/docker.sock}" | sed 's|^unix://||' ;;
    *) echo '' ;;
  esac
}

# sandboxd's groups: its own and, when the engine is reached over a socket, the socket's.
groups_for_docker() {
  socket="$(docker_socket)"
  if [ -z "$socket" ]; then
    echo "$APP_GID"
    return
  fi
  [ -S "$socket" ] || die "no Docker socket at $socket: mount it (compose.yaml does) or set DOCKER_HOST"
  gid="$(stat -c %g "$socket")"
  if [ "$gid" = "$APP_GID" ]; then echo "$APP_GID"; else echo "$APP_GID,$gid"; fi
}

prepare_state_dir() {
  case "$STATE_DIR" in
    /*) ;;
    *) die "SANDBOXD_STATE_DIR must be an absolute path, got $STATE_DIR" ;;
  esac
  [ -d "$STATE_DIR" ] || die "$STATE_DIR does not exist: bind-mount the host state directory at the same path"
  # The engine bind-mounts $STATE_DIR/sockets/<id> into workers by HOST path: a
  # directory that lives only in this container would leave every agent unable
  # to dial home. Same path inside and outside is compose.yaml's job; a mount
  # point here at least proves it is not the container's own filesystem.
  if ! awk -v dir="$STATE_DIR" '$5 == dir { found = 1 } END { exit !found }' /proc/self/mountinfo; then
    die "$STATE_DIR is not a mount: bind-mount the host state directory at the same path inside and outside"
  fi
  if [ "$(stat -c %u:%g "$STATE_DIR")" != "$APP_UID:$APP_GID" ]; then
    for entry in "$STATE_DIR"/* "$STATE_DIR"/.[!.]* "$STATE_DIR"/..?*; do
      [ -e "$entry" ] || [ -L "$entry" ] || continue
      case "${entry##*/}" in
        operator-token | sockets | assignments | owners | control-plane.sock) ;;
        *) die "$STATE_DIR is not owned by sandboxd ($APP_UID) and holds ${entry##*/}: refusing to take it over; use an empty directory" ;;
      esac
    done
    chown -R "$APP_UID:$APP_GID" "$STATE_DIR"
  fi
}

# Runs "$@" as sandboxd with the given groups: under tini when this is PID 1.
run_as_sandboxd() {
  groups="$1"
  shift
  if [ "$$" = 1 ]; then set -- /usr/bin/tini -- "$@"; fi
  if [ "$(id -u)" != 0 ]; then
    # Started as a non-root user already (`user:` set): nothing to drop, nothing to chown.
    exec "$@"
  fi
  export HOME=/tmp
  # setuid to a non-zero uid clears the permitted and effective capabilities;
  # the inheritable ones are cleared explicitly.
  exec setpriv --reuid="$APP_UID" --regid="$APP_GID" --groups="$groups" --inh-caps=-all -- "$@"
}

janitor() {
  # Waits (a shell and a sleep, no Node) until compose stops the stack, then
  # removes every worker container whose socket directory is under this state
  # directory, with its socket directory and, for a sandbox that owns its
  # volume (/v1 sandboxes), that volume. Named workspace volumes stay:
  # `docker compose down -v` removes sandboxd-ws-default (a compose volume).
  trap 'cleanup; exit 0' TERM INT
  echo "sandboxd janitor: watching the sandboxes of $STATE_DIR" >&2
  sleep infinity &
  wait $! || true
}

cleanup() {
  cd "$APP"
  node --input-type=module - <<'EOF'
import { rm } from 'node:fs/promises';
import path from 'node:path';
import Docker from 'dockerode';

const sockets = path.join(path.resolve(process.env.SANDBOXD_STATE_DIR), 'sockets');
const docker = new Docker();
const containers = await docker.listContainers({
  all: true,
  filters: JSON.stringify({ label: ['io.sandboxd.managed=true'] }),
});
// Ours: the socket directory is <state dir>/sockets/<id>, exactly.
const socketDir = (c) => path.resolve(c.Labels['io.sandboxd.socket-dir'] ?? '/');
const ours = containers.filter((c) => path.dirname(socketDir(c)) === sockets);
const results = await Promise.allSettled(
  ours.map(async (c) => {
    await docker.getContainer(c.Id).remove({ force: true });
    await rm(socketDir(c), { recursive: true, force: true });
    const volume = c.Labels['io.sandboxd.workspace'] ?? '';
    if (c.Labels['io.sandboxd.owns-volume'] === 'true' && volume !== '' && !volume.startsWith('/')) {
      await docker.getVolume(volume).remove();
    }
  }),
);
const failed = results.filter((result) => result.status === 'rejected');
for (const failure of failed) console.error(`sandboxd janitor: ${failure.reason}`);
console.error(`sandboxd janitor: removed ${ours.length - failed.length} of ${ours.length} sandbox containers`);
EOF
}

mode="${1:-serve}"
[ "$#" -gt 0 ] && shift

case "$mode" in
  healthcheck)
    port="${SANDBOXD_PORT:-8080}"
    script="fetch('http://127.0.0.1:$port/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
    if [ "$(id -u)" = 0 ]; then
      exec setpriv --reuid="$APP_UID" --regid="$APP_GID" --clear-groups --inh-caps=-all -- node -e "$script"
    fi
    exec node -e "$script"
    ;;
  janitor)
    [ "$(id -u)" != 0 ] || prepare_state_dir
    # Re-enter as sandboxd: the janitor mode of the same script, under tini.
    groups="$(groups_for_docker)"
    if [ "$(id -u)" = 0 ]; then
      run_as_sandboxd "$groups" /bin/sh "$0" janitor
    fi
    janitor
    ;;
  serve | run | stdio)
    [ "$(id -u)" != 0 ] || prepare_state_dir
    groups="$(groups_for_docker)"
    run_as_sandboxd "$groups" node "$APP/bin/sandboxd.js" "$mode" "$@"
    ;;
  *)
    groups="$(groups_for_docker)"
    run_as_sandboxd "$groups" node "$APP/bin/sandboxd.js" "$mode" "$@"
    ;;
esac
