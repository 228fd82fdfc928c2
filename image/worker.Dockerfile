# The worker image: one container per workspace, the sandbox agent inside.
# Builds FROM the official node:24-bookworm-slim; where no registry is reachable,
# image/build-base.sh builds an equivalent base locally first.

# --- launcher: the small C program the agent starts commands through (image/launcher/launcher.c).
# Built in its own stage so the compiler never reaches the worker image.
FROM node:24-bookworm-slim AS launcher
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
COPY image/launcher/launcher.c /src/launcher.c
RUN gcc -std=gnu17 -O2 -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2 -fstack-protector-strong \
      -fstack-clash-protection -fcf-protection -fPIE -pie -Wl,-z,relro,-z,now,-z,noexecstack \
      -o /src/launcher /src/launcher.c \
 && strip /src/launcher \
 && install -m 0755 /src/launcher /launcher
# The relay: splice(2) between two sockets, for a tunnel's bulk bytes (image/relay/relay.c).
COPY image/relay /src/relay
RUN sh /src/relay/build.sh /src/relay/relay.c /relay
# statx without AT_NO_AUTOMOUNT where gVisor refuses it (see the file): `ls` works under runsc.
COPY image/statx-compat/statx-compat.c /src/statx-compat.c
RUN gcc -std=gnu17 -O2 -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2 -fstack-protector-strong \
      -fcf-protection -fPIC -shared -Wl,-z,relro,-z,now,-z,noexecstack \
      -o /src/statx-compat.so /src/statx-compat.c \
 && strip /src/statx-compat.so \
 && install -m 0644 /src/statx-compat.so /statx-compat.so

# --- the worker
FROM node:24-bookworm-slim

# What a coding agent expects to find: a shell, git, ripgrep, python with pip and venv, curl,
# build basics. Agents type `python`, `pip` and `python -m venv` by habit (without them
# `python -m pytest` exits 127), hence python-is-python3, python3-pip and python3-venv.
# Package managers reach allow-listed hosts only, through the egress proxy.
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      bash coreutils findutils grep sed gawk diffutils patch less file tree \
      git ripgrep python3 python-is-python3 python3-pip python3-venv curl \
      procps ca-certificates jq make xz-utils bzip2 unzip zip \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*

# The image's user is sandbox (1000:1000); the base image's node user had that id.
# Workspace volumes run as a uid of their own (sandbox/uids.ts): a new volume
# takes /workspace's mode when the engine first mounts it, so 1777 lets whichever
# uid it has create files there; and git would refuse a repository at
# /workspace owned by another uid ("dubious ownership"), which inside a
# single-tenant sandbox protects nothing.
RUN (userdel --remove node 2>/dev/null || true) \
 && (groupdel node 2>/dev/null || true) \
 && groupadd --gid 1000 sandbox \
 && useradd --uid 1000 --gid 1000 --shell /bin/bash --create-home --home-dir /home/sandbox sandbox \
 && mkdir -p /workspace /opt/sandboxd /run/sandboxd \
 && chown 1000:1000 /workspace \
 && chmod 1777 /workspace \
 && git config --system safe.directory '*'

# No setuid or setgid program may remain: with no-new-privileges they could not
# elevate anyway, but an image that has none cannot regress if a policy drifts.
RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} + \
 && test -z "$(find / -xdev -perm /6000 -type f)"

COPY dist/agent.mjs /opt/sandboxd/agent.mjs
# Root-owned and 0755 (install -m in the launcher stage; COPY keeps the mode and gives root the file).
COPY --from=launcher /launcher /opt/sandboxd/launcher
COPY --from=launcher /relay /opt/sandboxd/relay
COPY --from=launcher /statx-compat.so /opt/sandboxd/statx-compat.so
RUN echo /opt/sandboxd/statx-compat.so > /etc/ld.so.preload

# V8's code cache for the agent, made at build time since the root filesystem is
# read-only at run time: each sandbox's agent then skips compiling its bundle.
# Node keys the cache by its version and the uid, so it is made as 1000, the uid
# the agent runs as, then handed to root; a sandbox that runs as another uid just
# compiles as before.
ENV NODE_COMPILE_CACHE=/opt/sandboxd/compile-cache
RUN mkdir /opt/sandboxd/compile-cache \
 && chown 1000:1000 /opt/sandboxd/compile-cache \
 && setpriv --reuid 1000 --regid 1000 --clear-groups node /opt/sandboxd/agent.mjs --warm-compile-cache \
 && chown -R root:root /opt/sandboxd/compile-cache \
 && chmod -R u=rwX,go=rX /opt/sandboxd/compile-cache \
 && test -n "$(find /opt/sandboxd/compile-cache -type f)"

LABEL io.sandboxd.worker="true" io.sandboxd.agent-protocol="2"
ENV HOME=/home/sandbox LANG=C.UTF-8
USER 1000:1000
WORKDIR /workspace
# Readiness is the agent dialling the control plane's socket, not a polled probe:
# a HEALTHCHECK would fork a process in every idle sandbox every interval.
HEALTHCHECK NONE
CMD ["node", "/opt/sandboxd/agent.mjs"]
