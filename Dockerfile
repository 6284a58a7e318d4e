# The odoo-orchestrator daemon on Node 24 LTS. It runs the JavaScript that `npm run build` compiles
# from src/ and migrations/ into dist/: no TypeScript tooling is in the image.
#
# Online (a normal machine, any builder):
#   docker build -t odoo-orchestrator:1.2.3 .
# The `npm-ci` stage then installs every dependency, compiles, and keeps the production ones.
#
# Offline (no registry, no npm inside the build; what scripts/env/daemon-image.sh does):
#   DOCKER_BUILDKIT=0 docker build \
#     --build-arg BASE_IMAGE=local/node-base:24 \
#     --build-arg NODE_MODULES_FROM=local/odoo-orchestrator-deps:<hash> \
#     --build-arg DIST_FROM=local/odoo-orchestrator-dist:<hash> -t local/odoo-orchestrator:dev .
# NODE_MODULES_FROM names an image holding /app/node_modules (`npm ci --omit=dev` run on the build
# host), DIST_FROM one holding /app/dist (`npm run build` on the build host); the npm-ci stage then
# skips npm (the classic builder runs every stage).
#
# These build arguments are the only switches; everything else is identical on both paths.
ARG BASE_IMAGE=node:24-bookworm-slim
# `npm-ci` (the stage below) or an image with production dependencies in /app/node_modules.
ARG NODE_MODULES_FROM=npm-ci
# `npm-ci` (the stage below) or an image with the compiled daemon in /app/dist.
ARG DIST_FROM=npm-ci

FROM ${BASE_IMAGE} AS npm-ci
ARG NODE_MODULES_FROM
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY migrations ./migrations
COPY src ./src
RUN set -eu; \
    if [ "$NODE_MODULES_FROM" = npm-ci ]; then \
        npm ci --no-audit --no-fund; \
        npm run build; \
        npm prune --omit=dev --no-audit --no-fund; \
        npm cache clean --force; \
    else \
        mkdir -p node_modules dist; \
    fi

FROM ${NODE_MODULES_FROM} AS node-modules
FROM ${DIST_FROM} AS compiled

FROM ${BASE_IMAGE}
# A young generation of at most 4 MB per semi-space (V8's default lets it grow to 16 MB and keeps it): an idle
# replica stays near 130 MB of RSS instead of 160 MB, and the daemon's requests allocate little enough that
# scavenging more often costs next to nothing. In NODE_OPTIONS, so that a command given to `docker run` keeps it;
# a stack that sets NODE_OPTIONS itself must repeat it (stack/odoo-orchestrator.yml does).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=4 \
    PORT=4000
WORKDIR /app

# Code and dependencies belong to root and are read-only for the user the daemon runs as.
COPY --from=node-modules /app/node_modules ./node_modules
COPY --from=compiled /app/dist ./dist
COPY package.json package-lock.json ./
# The scripts the daemon's jobs run in tenants' images, read from here at start-up.
COPY src/swarm/scripts ./src/swarm/scripts
COPY stack/entrypoint.sh /usr/local/bin/orchestrator-entrypoint
RUN set -eu; \
    chmod 0755 /usr/local/bin/orchestrator-entrypoint; \
    major="$(node -p 'process.versions.node.split(".")[0]')"; \
    if [ "$major" != 24 ]; then echo "the image is for Node 24 LTS, the base image has $(node --version)" >&2; exit 1; fi; \
    test -f dist/src/main.js; \
    test -f src/swarm/scripts/backup.sh; \
    test -f node_modules/graphql-yoga/package.json; \
    id node

# Non-root: the official Node images' `node` user (uid 1000). The stack runs the daemon as root
# with most capabilities dropped instead, because it must chown tenant data directories on CephFS
# and it holds the Docker socket (root-equivalent anyway); see stack/odoo-orchestrator.yml.
USER node

EXPOSE 4000
# Liveness: the HTTP server answers. Node itself does the request: the image needs no curl.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 4000}/healthz`, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["orchestrator-entrypoint"]
CMD ["node", "--enable-source-maps", "dist/src/main.js"]
