#!/usr/bin/env bash
# Build the stand-in images offline (no registry needed), only when they are absent or
# their build context changed:
#
#   local/standin-base:bookworm   debootstrap --variant=minbase of Debian bookworm from the
#                                 configured apt mirror (python3, psycopg2, curl, PostgreSQL 15,
#                                 Redis 7),
#                                 then `docker import`
#   local/odoo-standin:17.0       test/images/odoo-standin      FROM the base
#   local/postgres-standin:16     test/images/postgres-standin  FROM the base
#   local/redis-standin:7         test/images/redis-standin     FROM the base (the daemon's own
#                                 Redis in stack/odoo-orchestrator.yml)
#   local/odoo:<version>          the real Odoo servers: scripts/env/odoo-images.sh, run last
#
# The Dockerfiles are built with the classic builder (DOCKER_BUILDKIT=0): BuildKit would try
# to resolve the FROM image in a registry. Work files live in $STANDIN_CACHE
# (default /var/cache/odoo-orchestrator), never in the repo.
#
# Silent when the images are up to date; one line on stderr per action otherwise.
# Env: STANDIN_CACHE, DEBIAN_MIRROR (default: first deb.debian.org-style URI of the apt
#      sources, else http://deb.debian.org/debian), STANDIN_FORCE=1 to rebuild everything,
#      SKIP_IMAGE_BUILD=1 to build only the images that are missing, ODOO_STANDIN_TAG (default
#      local/odoo-standin:17.0) for a checkout that changes the stand-in without retagging main's.

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  bash "${BASH_SOURCE[0]}" "$@"
  return $?
fi

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
IMAGES_DIR="$REPO/test/images"
CACHE="${STANDIN_CACHE:-/var/cache/odoo-orchestrator}"
BASE_TAG=local/standin-base:bookworm
# A checkout changing the stand-in builds it under a tag of its own, so the machine-wide one stays main's.
ODOO_TAG=${ODOO_STANDIN_TAG:-local/odoo-standin:17.0}
PG_TAG=local/postgres-standin:16
REDIS_TAG=local/redis-standin:7
LABEL=com.example.standin.hash

# Everything the stand-ins need; the postgres and redis users are renumbered in their own Dockerfiles.
BASE_PACKAGES=(
  ca-certificates curl netbase procps tzdata
  python3 python3-psycopg2
  postgresql-15 postgresql-client-15
  redis-server
)

# Bump when build_base changes in a way that should rebuild the base image.
BASE_RECIPE=4

say() { echo "images.sh: $*" >&2; }
die() { echo "images.sh: error: $*" >&2; exit 1; }

. "$(dirname "${BASH_SOURCE[0]}")/classic-build.sh"
. "$(dirname "${BASH_SOURCE[0]}")/rootfs.sh"

build_image() {
  local tag="$1" dir="$2" hash="$3"
  classic_build "$tag" "$dir" "$CACHE/build-$(basename "$dir").log" --build-arg "BASE_IMAGE=$BASE_TAG" --label "$LABEL=$hash"
}

main() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.images.lock"
  flock -w 900 9 || die "another images.sh has held $CACHE/.images.lock for 900s"

  # The daemon must be up (cheap no-op when it is).
  if ! curl -s --max-time 3 --unix-socket /var/run/docker.sock http://localhost/_ping 2>/dev/null | grep -qx OK; then
    bash "$HERE/docker.sh"
  fi

  local base_hash odoo_hash pg_hash redis_hash rebuilt=0
  base_hash="$(printf '%s\n' "$BASE_RECIPE" "$SUITE" "${BASE_PACKAGES[@]}" | sha256sum | cut -c1-16)"
  local old_base=""
  if stale "$BASE_TAG" "$base_hash"; then
    old_base="$(docker image inspect --format '{{.Id}}' "$BASE_TAG" 2>/dev/null || true)"
    rootfs_image "$BASE_TAG" "$base_hash" "${BASE_PACKAGES[@]}"
    rebuilt=1
  fi
  odoo_hash="$(context_hash "$IMAGES_DIR/odoo-standin" "$base_hash")"
  pg_hash="$(context_hash "$IMAGES_DIR/postgres-standin" "$base_hash")"
  redis_hash="$(context_hash "$IMAGES_DIR/redis-standin" "$base_hash")"
  if [[ $rebuilt == 1 ]] || stale "$ODOO_TAG" "$odoo_hash"; then
    build_image "$ODOO_TAG" "$IMAGES_DIR/odoo-standin" "$odoo_hash"
  fi
  if [[ $rebuilt == 1 ]] || stale "$PG_TAG" "$pg_hash"; then
    build_image "$PG_TAG" "$IMAGES_DIR/postgres-standin" "$pg_hash"
  fi
  if [[ $rebuilt == 1 ]] || stale "$REDIS_TAG" "$redis_hash"; then
    build_image "$REDIS_TAG" "$IMAGES_DIR/redis-standin" "$redis_hash"
  fi
  if [[ -n "$old_base" ]]; then
    docker image rm "$old_base" >/dev/null 2>&1 || true
  fi
  IMAGES_LOCK_HELD=1 bash "$HERE/odoo-images.sh"
}

main "$@"
