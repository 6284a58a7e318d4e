# The odoo-orchestrator daemon. It runs its TypeScript sources with tsx (a production
# dependency): there is no compile step, the image holds src/, migrations/ and production
# node_modules only.
#
# Online (a normal machine, any builder):
#   docker build -t odoo-orchestrator:1.2.3 .
# Production node_modules then come from `npm ci --omit=dev` in the `npm-ci` stage below.
#
# Offline (no registry, no npm inside the build; what scripts/env/daemon-image.sh does):
#   DOCKER_BUILDKIT=0 docker build \
#     --build-arg BASE_IMAGE=local/node-base:20 \
#     --build-arg NODE_MODULES_FROM=local/odoo-orchestrator-deps:<hash> -t local/odoo-orchestrator:dev .
# NODE_MODULES_FROM names an image holding /app/node_modules, made from `npm ci --omit=dev` run
# on the build host; the npm-ci stage then skips npm (the classic builder runs every stage).
#
# Both build arguments are the only switches; everything else is identical on both paths.
ARG BASE_IMAGE=node:20-bookworm-slim
# `npm-ci` (the stage below) or an image with production dependencies in /app/node_modules.
ARG NODE_MODULES_FROM=npm-ci

FROM ${BASE_IMAGE} AS npm-ci
ARG NODE_MODULES_FROM
WORKDIR /app
COPY package.json package-lock.json ./
RUN set -eu; \
    if [ "$NODE_MODULES_FROM" = npm-ci ]; then \
        npm ci --omit=dev --no-audit --no-fund; \
        npm cache clean --force; \
    else \
        mkdir -p node_modules; \
    fi

FROM ${NODE_MODULES_FROM} AS node-modules

FROM ${BASE_IMAGE}
ENV NODE_ENV=production \
    PORT=4000
WORKDIR /app

# Code and dependencies belong to root and are read-only for the user the daemon runs as.
COPY --from=node-modules /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY migrations ./migrations
COPY src ./src
COPY stack/entrypoint.sh /usr/local/bin/orchestrator-entrypoint
RUN set -eu; \
    chmod 0755 /usr/local/bin/orchestrator-entrypoint; \
    major="$(node -p 'process.versions.node.split(".")[0]')"; \
    if [ "$major" != 20 ]; then echo "the daemon needs Node 20, the base image has $(node --version)" >&2; exit 1; fi; \
    test -f node_modules/tsx/package.json; \
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
CMD ["node", "--import", "tsx", "src/main.ts"]
