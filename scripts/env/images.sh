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
#
# The Dockerfiles are built with the classic builder (DOCKER_BUILDKIT=0): BuildKit would try
# to resolve the FROM image in a registry. Work files live in $STANDIN_CACHE
# (default /var/cache/odoo-orchestrator), never in the repo.
#
# Silent when the images are up to date; one line on stderr per action otherwise.
# Env: STANDIN_CACHE, DEBIAN_MIRROR (default: first deb.debian.org-style URI of the apt
#      sources, else http://deb.debian.org/debian), STANDIN_FORCE=1 to rebuild everything,
#      SKIP_IMAGE_BUILD=1 to build only the images that are missing.

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  bash "${BASH_SOURCE[0]}" "$@"
  return $?
fi

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
IMAGES_DIR="$REPO/test/images"
CACHE="${STANDIN_CACHE:-/var/cache/odoo-orchestrator}"
SUITE=bookworm

BASE_TAG=local/standin-base:bookworm
ODOO_TAG=local/odoo-standin:17.0
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

# Hash of a build context (file names, modes and contents), stable across checkouts.
context_hash() {
  local dir="$1"; shift
  { printf '%s\n' "$@"
    (cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z \
       | xargs -0 sh -c 'for f; do stat -c "%n %a" "$f"; sha256sum "$f"; done' sh)
  } | sha256sum | cut -c1-16
}

mirror() {
  if [[ -n "${DEBIAN_MIRROR:-}" ]]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri="$( { cat /etc/apt/sources.list 2>/dev/null; cat /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null; } \
    | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v -- '-security' | head -n1 | tr -d ' ' || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

# Unmount anything left mounted below $1 (debootstrap mounts proc/sys in the target).
unmount_below() {
  local root="$1" m
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r)
}

# Renumbers system user and group $2 (when present in the root $1) to id $3, files included.
park_system_user() {
  local root="$1" name="$2" id="$3" old_uid old_gid
  chroot "$root" id -u "$name" >/dev/null 2>&1 || return 0
  old_uid="$(chroot "$root" id -u "$name")"; old_gid="$(chroot "$root" id -g "$name")"
  [[ "$old_uid:$old_gid" == "$id:$id" ]] && return 0
  chroot "$root" groupmod --gid "$id" "$name"
  chroot "$root" usermod --uid "$id" --gid "$id" "$name"
  find "$root" -xdev \( -uid "$old_uid" -o -gid "$old_gid" \) -exec chown -h "$id:$id" {} +
}

build_base() {
  local hash="$1" work="$CACHE/rootfs-$SUITE" start=$SECONDS mirror_uri
  mirror_uri="$(mirror)"
  [[ $EUID -eq 0 ]] || die "building $BASE_TAG needs root (debootstrap)"
  if ! command -v debootstrap >/dev/null 2>&1 && [[ ! -x /usr/sbin/debootstrap ]]; then
    say "installing debootstrap with apt"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
  mkdir -p "$CACHE/debs"
  unmount_below "$work"
  rm -rf --one-file-system "$work"

  say "debootstrap $SUITE (minbase) from $mirror_uri into $work (log $CACHE/debootstrap.log)"
  local pkgs
  pkgs="$(IFS=,; echo "${BASE_PACKAGES[*]}")"
  if ! PATH="$PATH:/usr/sbin:/sbin" debootstrap --variant=minbase --components=main \
        --include="$pkgs" --cache-dir="$CACHE/debs" \
        "$SUITE" "$work" "$mirror_uri" >"$CACHE/debootstrap.log" 2>&1; then
    unmount_below "$work"
    tail -n 30 "$CACHE/debootstrap.log" >&2
    die "debootstrap failed (see $CACHE/debootstrap.log)"
  fi
  unmount_below "$work"

  # Debian's packages give their system users the next free low ids, in install order; the odoo
  # stand-in needs uid 101. Park postgres and redis on fixed high ids instead (their stand-ins
  # renumber them to 999 like the official images), so no install order can take 101.
  park_system_user "$work" postgres 996
  park_system_user "$work" redis 997
  # Debian's package created a "main" cluster at install time: the images initialise their own.
  rm -rf "$work/var/lib/postgresql/15" "$work/etc/postgresql/15"
  # Slim down (460 MB -> ~270 MB); the images never run apt. The LLVM JIT goes: without
  # llvmjit.so PostgreSQL just runs with JIT unavailable (jit = on is then a no-op).
  rm -rf "$work"/var/lib/apt/lists/* "$work"/var/cache/apt/*.bin "$work"/var/cache/apt/archives/*.deb \
         "$work"/usr/share/doc/* "$work"/usr/share/man/* "$work"/usr/share/info/* \
         "$work"/usr/lib/x86_64-linux-gnu/libLLVM-* "$work"/usr/lib/postgresql/15/lib/llvmjit* \
         "$work"/usr/lib/postgresql/15/lib/bitcode \
         "$work"/var/log/*.log "$work"/var/log/apt/* "$work"/tmp/* "$work"/run/adduser \
         "$work"/root/.bash_history
  find "$work/usr/share/locale" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
  : >"$work/etc/resolv.conf"
  echo standin >"$work/etc/hostname"

  say "docker import $BASE_TAG"
  tar --numeric-owner --xattrs -C "$work" \
      --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
      -cf - . \
    | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change "LABEL $LABEL=$hash" \
        --change 'CMD ["bash"]' \
        --message "debootstrap --variant=minbase $SUITE + ${BASE_PACKAGES[*]}" \
        - "$BASE_TAG" >/dev/null
  rm -rf --one-file-system "$work"
  say "built $BASE_TAG in $((SECONDS - start))s"
}

# Whether $1 must be (re)built for hash $2. With SKIP_IMAGE_BUILD=1 an image that exists is used as it is,
# whatever its sources: another checkout on this machine owns the stand-ins and may be changing them.
stale() {
  local current
  current="$(image_label "$1")"
  [[ "${STANDIN_FORCE:-0}" == 1 ]] && return 0
  [[ "${SKIP_IMAGE_BUILD:-0}" == 1 ]] && { [[ -z "$current" ]]; return; }
  [[ "$current" != "$2" ]]
}

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
    build_base "$base_hash"
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
}

main "$@"
