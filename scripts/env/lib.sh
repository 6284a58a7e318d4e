# Shared helpers for the environment scripts (sourced, not run).
say() { printf 'env: %s\n' "$*" >&2; }
die() { printf 'env: error: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages given when any of them is missing.
apt_ensure() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
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

# The machine-wide local secrets (admin token, master key, role passwords), shared by every checkout.
local_secrets_file() { printf '%s/local-secrets.env\n' "${ORCHESTRATOR_STATE_DIR:-/var/lib/odoo-orchestrator}"; }

# The local S3 destination for backups (radosgw): BACKUP_S3_* lines that up.sh copies into .local/env. Written by the
# Ceph bring-up; ORCHESTRATOR_S3_ENV points elsewhere (say, a radosgw of one's own).
local_s3_env_file() { printf '%s\n' "${ORCHESTRATOR_S3_ENV:-${ORCHESTRATOR_STATE_DIR:-/var/lib/odoo-orchestrator}/s3.env}"; }
