# The control-plane image: `sandboxd serve` with production dependencies only.
# compose.yaml builds it; by hand: docker build -f image/control-plane.Dockerfile -t sandboxd-control-plane .
#
# Written for the classic builder as well as BuildKit (Debian's docker-compose
# v1 builds without BuildKit): no heredocs, no RUN --mount, no COPY --chmod.
#
# Who runs what: the entrypoint starts as root only to read the Docker socket's
# gid and hand the state directory to the user sandboxd (10001:10001), then
# drops to that user with setpriv and execs tini, so PID 1 and the control
# plane are unprivileged (image/control-plane-entrypoint.sh says why).

# --- build: the bundles dist/cli.mjs and dist/agent.mjs (esbuild, a dev dependency)
FROM node:24-bookworm-slim AS build
# Behind a TLS-intercepting proxy, npm needs the proxy's CA: pass the PEM text
# (compose: SANDBOXD_BUILD_CA_CERTS). Used by npm during the build only; it is
# not part of the final image.
ARG BUILD_CA_CERTS=""
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: nothing here needs one (esbuild finds its binary through
# its optional platform package), and ssh2's optional native build would only
# try for a compiler the image does not have.
RUN if [ -n "$BUILD_CA_CERTS" ]; then printf '%s\n' "$BUILD_CA_CERTS" >/tmp/build-ca.pem \
      && export NODE_EXTRA_CA_CERTS=/tmp/build-ca.pem; fi \
 && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
 && rm -f /tmp/build-ca.pem
COPY scripts/build.ts scripts/build.ts
COPY src src
RUN node scripts/build.ts

# --- deps: production dependencies only, in their own layer (cached until package-lock.json changes)
FROM node:24-bookworm-slim AS deps
ARG BUILD_CA_CERTS=""
WORKDIR /opt/sandboxd
COPY package.json package-lock.json ./
RUN if [ -n "$BUILD_CA_CERTS" ]; then printf '%s\n' "$BUILD_CA_CERTS" >/tmp/build-ca.pem \
      && export NODE_EXTRA_CA_CERTS=/tmp/build-ca.pem; fi \
 && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
 && npm cache clean --force \
 && rm -f /tmp/build-ca.pem

# --- relay: the control plane's own build of image/relay/relay.c, which carries busy tunnels'
# bytes in the kernel (src/sandbox/relay-binary.ts): it runs no program taken out of the
# worker image, and has one without an engine to take it from (Kubernetes). The compiler
# stays in this stage (its apt layer is the worker image's launcher stage's, cached where
# one builder builds both).
FROM node:24-bookworm-slim AS relay
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
COPY image/relay /src/relay
RUN sh /src/relay/build.sh /src/relay/relay.c /relay

# --- the control plane
FROM node:24-bookworm-slim
# tini as PID 1 (signals forwarded, zombies reaped) is part of the image rather
# than compose's `init: true`, so that a plain `docker run` gets it too and so
# that it runs after the privilege drop: Docker's init would stay root.
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
 && groupadd --system --gid 10001 sandboxd \
 && useradd --system --no-log-init --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin sandboxd
COPY image/control-plane-entrypoint.sh /usr/local/bin/sandboxd-entrypoint
RUN chmod 0755 /usr/local/bin/sandboxd-entrypoint

# Inside the container the control plane listens on all interfaces so that a
# published port reaches it; publish it on loopback only (compose.yaml does:
# 127.0.0.1:8080). Host-header checks still accept only localhost names.
ENV NODE_ENV=production \
    SANDBOXD_HOST=0.0.0.0 \
    SANDBOXD_PORT=8080 \
    SANDBOXD_STATE_DIR=/var/lib/sandboxd \
    SANDBOXD_RELAY=/opt/sandboxd/relay
EXPOSE 8080
LABEL io.sandboxd.control-plane="true"
# GET /healthz with Node's fetch (no curl in the image), as sandboxd, not root.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["sandboxd-entrypoint", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/sandboxd-entrypoint"]
CMD ["serve"]

# What changes most often comes last, so that a source change rebuilds one layer here.
WORKDIR /opt/sandboxd
COPY --from=deps /opt/sandboxd/node_modules node_modules
COPY package.json package.json
COPY bin bin
COPY policies policies
COPY image image
COPY --from=relay /relay relay
COPY --from=build /src/dist dist
