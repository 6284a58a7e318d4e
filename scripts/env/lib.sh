# shellcheck shell=bash
# Shared helpers for the environment scripts (sourced, not run).
say() { printf 'env: %s\n' "$*" >&2; }
die() { printf 'env: error: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages given when any of them is missing (one dpkg-query for all of them).
apt_ensure() {
  local missing=() installed package
  # dpkg-query exits 1 for a package this machine has never heard of: that is a missing one, not an error.
  installed=" $({ dpkg-query -W -f='${Package}:${db:Status-Abbrev}\n' "$@" 2>/dev/null || true; } | sed -n 's/:ii *$//p' | tr '\n' ' ')"
  for package in "$@"; do
    [[ $installed == *" $package "* ]] || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  if [ -z "${ENV_APT_UPDATED:-}" ]; then
    apt-get update -qq >/dev/null || die "apt-get update failed"
    export ENV_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

# Prints a random URL-safe secret of about $1 bytes of entropy.
random_secret() { head -c "${1:-24}" /dev/urandom | base64 | tr -d '/+=\n'; }

wait_until() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && die "$what did not come up within ${seconds}s"
    sleep 0.5
  done
}

# Machine-wide state, outside every checkout.
state_dir() { printf '%s\n' "${ORCHESTRATOR_STATE_DIR:-/var/lib/odoo-orchestrator}"; }

# The machine-wide local secrets (admin token, master key, role passwords), shared by every checkout.
local_secrets_file() { printf '%s/local-secrets.env\n' "$(state_dir)"; }

# Where CephFS is mounted on this machine: the daemon's mount (snapshot rights) and the tenants' (none), one tree.
ceph_mount() { printf '%s\n' "${CEPH_MOUNT:-/mnt/cephfs}"; }
ceph_tenant_mount() { printf '%s\n' "${CEPH_TENANT_MOUNT:-/mnt/cephfs-tenants}"; }

# Removes a storage root made by storage_roots and everything below it. CephFS refuses to remove a directory that
# still has snapshots (a backup cut short leaves its own): those of the tenants' data dirs go first.
remove_storage_root() {
  local snapshot
  for snapshot in "$1"/odoo_instances/*/.snap/* "$1"/odoo_instances_archive/*/.snap/*; do
    case "${snapshot##*/}" in _* | '*') ;; *) rmdir "$snapshot" 2>/dev/null || true ;; esac
  done
  rm -rf "$1"
}

# The storage roots of a daemon named $1 (dev, a test slot, a bench run): CEPHFS_ROOT and CEPHFS_TENANT_ROOT, one
# line each. On CephFS a directory of its own in the mounted tree, seen through both mounts; with CEPHFS_MODE=plain
# a directory under the checkout's .local (both roots the same).
storage_roots() {
  local name=$1 root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  if [ "${CEPHFS_MODE:-ceph}" = plain ]; then
    printf '%s\n%s\n' "$root/.local/cephfs/$name" "$root/.local/cephfs/$name"
  else
    printf '%s\n%s\n' "$(ceph_mount)/$name" "$(ceph_tenant_mount)/$name"
  fi
}
