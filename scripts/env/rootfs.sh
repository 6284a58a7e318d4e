# shellcheck shell=bash
# Sourced by images.sh and odoo-images.sh, after they define say, die and LABEL: a Debian root file system made with
# debootstrap from the configured apt mirror, imported as a Docker image (no registry needed). Work files live in
# $CACHE (downloaded .debs are shared in $CACHE/debs), never in the repo.

SUITE=bookworm

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

# rootfs_image TAG HASH PACKAGE...: debootstrap --variant=minbase of $SUITE with the packages, slimmed, imported as TAG
# (labelled LABEL=HASH).
rootfs_image() {
  local tag="$1" hash="$2" start=$SECONDS mirror_uri work
  shift 2
  work="$CACHE/rootfs-${tag//[^A-Za-z0-9.-]/_}"
  mirror_uri="$(mirror)"
  [[ $EUID -eq 0 ]] || die "building $tag needs root (debootstrap)"
  if ! command -v debootstrap >/dev/null 2>&1 && [[ ! -x /usr/sbin/debootstrap ]]; then
    say "installing debootstrap with apt"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
  mkdir -p "$CACHE/debs"
  unmount_below "$work"
  rm -rf --one-file-system "$work"

  local log="$CACHE/debootstrap-${tag//[^A-Za-z0-9.-]/_}.log"
  say "debootstrap $SUITE (minbase) from $mirror_uri, then $# packages with apt, for $tag (log $log)"
  if ! PATH="$PATH:/usr/sbin:/sbin" debootstrap --variant=minbase --components=main --cache-dir="$CACHE/debs" \
        "$SUITE" "$work" "$mirror_uri" >"$log" 2>&1; then
    unmount_below "$work"
    tail -n 30 "$log" >&2
    die "debootstrap failed (see $log)"
  fi
  # apt, not debootstrap's --include, installs the packages: debootstrap resolves no virtual package (Provides:).
  # Services are not started in the root, and the .debs are kept in the cache for the next build.
  printf '#!/bin/sh\nexit 101\n' >"$work/usr/sbin/policy-rc.d" && chmod 0755 "$work/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$work/etc/resolv.conf"
  mkdir -p "$CACHE/debs/partial"
  mount --bind "$CACHE/debs" "$work/var/cache/apt/archives"
  mount -t proc proc "$work/proc"
  if ! { chroot "$work" apt-get update -qq && DEBIAN_FRONTEND=noninteractive chroot "$work" \
          apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "$@"; } >>"$log" 2>&1; then
    unmount_below "$work"
    tail -n 30 "$log" >&2
    die "apt-get install in the new root failed (see $log)"
  fi
  unmount_below "$work"
  rm -f "$work/usr/sbin/policy-rc.d"

  # Debian's packages give their system users the next free low ids, in install order; Odoo (and its stand-in) needs
  # uid 101. Park postgres and redis on fixed high ids instead (their stand-ins renumber them to 999 like the official
  # images), so no install order can take 101.
  park_system_user "$work" postgres 996
  park_system_user "$work" redis 997
  # Debian's package created a "main" cluster at install time: the images initialise their own.
  rm -rf "$work/var/lib/postgresql/15" "$work/etc/postgresql/15"
  # Slim down; the images never run apt. The LLVM JIT goes: without llvmjit.so PostgreSQL just runs with JIT
  # unavailable (jit = on is then a no-op).
  rm -rf "$work"/var/lib/apt/lists/* "$work"/var/cache/apt/*.bin "$work"/var/cache/apt/archives/*.deb \
         "$work"/usr/share/doc/* "$work"/usr/share/man/* "$work"/usr/share/info/* \
         "$work"/usr/lib/x86_64-linux-gnu/libLLVM-* "$work"/usr/lib/postgresql/15/lib/llvmjit* \
         "$work"/usr/lib/postgresql/15/lib/bitcode \
         "$work"/var/log/*.log "$work"/var/log/apt/* "$work"/tmp/* "$work"/run/adduser \
         "$work"/root/.bash_history
  find "$work/usr/share/locale" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
  : >"$work/etc/resolv.conf"
  echo standin >"$work/etc/hostname"

  say "docker import $tag"
  tar --numeric-owner --xattrs -C "$work" \
      --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
      -cf - . \
    | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change "LABEL $LABEL=$hash" \
        --change 'CMD ["bash"]' \
        --message "debootstrap --variant=minbase $SUITE + $*" \
        - "$tag" >/dev/null
  rm -rf --one-file-system "$work"
  say "built $tag in $((SECONDS - start))s"
}

# Hash of a build context (file names, modes and contents) and of the extra words given, stable across checkouts.
context_hash() {
  local dir="$1"; shift
  { printf '%s\n' "$@"
    (cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z \
       | xargs -0 sh -c 'for f; do stat -c "%n %a" "$f"; sha256sum "$f"; done' sh)
  } | sha256sum | cut -c1-16
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
