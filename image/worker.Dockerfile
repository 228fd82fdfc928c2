# The worker image: one container per workspace, the sandbox agent inside.
# Builds FROM the official node:24-bookworm-slim; where no registry is reachable,
# image/build-base.sh builds an equivalent base locally first.
FROM node:24-bookworm-slim

# What a coding agent expects to find: a shell, git, ripgrep, python, build basics.
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      bash coreutils findutils grep sed gawk diffutils patch less file tree \
      git ripgrep python3 procps ca-certificates jq make xz-utils bzip2 unzip zip \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*

# The workload user is sandbox (1000:1000); the base image's node user had that id.
RUN (userdel --remove node 2>/dev/null || true) \
 && (groupdel node 2>/dev/null || true) \
 && groupadd --gid 1000 sandbox \
 && useradd --uid 1000 --gid 1000 --shell /bin/bash --create-home --home-dir /home/sandbox sandbox \
 && mkdir -p /workspace /opt/sandboxd /run/sandboxd \
 && chown 1000:1000 /workspace

# No setuid or setgid program may remain: with no-new-privileges they could not
# elevate anyway, but an image that has none cannot regress if a policy drifts.
RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} + \
 && test -z "$(find / -xdev -perm /6000 -type f)"

COPY dist/agent.mjs /opt/sandboxd/agent.mjs

LABEL io.sandboxd.worker="true" io.sandboxd.agent-protocol="1"
ENV HOME=/home/sandbox LANG=C.UTF-8
USER 1000:1000
WORKDIR /workspace
# Readiness is the agent dialling the control plane's socket, not a polled probe:
# a HEALTHCHECK would fork a process in every idle sandbox every interval.
HEALTHCHECK NONE
CMD ["node", "/opt/sandboxd/agent.mjs"]
