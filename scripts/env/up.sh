#!/usr/bin/env bash
# Brings up everything the daemon and the tests need on a Debian machine, then writes .local/env
# (the daemon's environment for local use). Idempotent; quiet and quick when all is up. Tenants' files go to a real
# CephFS (scripts/env/ceph.sh); CEPHFS_MODE=plain keeps them in a plain directory under .local instead.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)
[ "$(id -u)" = 0 ] || die "run as root (it installs and starts system services)"

export SWARM_NETWORK=${SWARM_NETWORK:-odoo-net}
export CEPHFS_MODE=${CEPHFS_MODE:-ceph}
case "$CEPHFS_MODE" in ceph | plain) ;; *) die "CEPHFS_MODE must be ceph or plain, not $CEPHFS_MODE" ;; esac
# Tests check Odoo's password hashes with passlib, the library Odoo itself verifies them with.
apt_ensure python3-passlib
bash "$here/secrets.sh"
# The secrets file is made on this machine (secrets.sh), never in the repository.
# shellcheck source=/dev/null
. "$(local_secrets_file)"
bash "$here/redis.sh"
bash "$here/docker.sh"
bash "$here/postgres.sh"
bash "$here/images.sh"
[ "$CEPHFS_MODE" = plain ] || bash "$here/ceph.sh"

gateway=$(docker network inspect docker_gwbridge -f '{{(index .IPAM.Config 0).Gateway}}' 2>/dev/null || true)
[ -n "$gateway" ] || die "docker_gwbridge has no gateway address"
mkdir -p "$root/.local"
# The dev daemon's tree, shared by every checkout like the control database it belongs with.
mapfile -t roots < <(storage_roots dev)
mkdir -p "${roots[0]}"
s3=
if [ "$CEPHFS_MODE" = ceph ]; then
  ceph_state=${CEPH_STATE_DIR:-$(state_dir)/ceph}
  . "$ceph_state/s3/endpoint.env"
  s3="BACKUP_S3_ENDPOINT=$S3_ENDPOINT
BACKUP_S3_REGION=$S3_REGION
BACKUP_S3_BUCKET=$S3_BUCKET
BACKUP_S3_PREFIX=dev/
BACKUP_S3_FORCE_PATH_STYLE=true
BACKUP_S3_ACCESS_KEY_ID_FILE=$ceph_state/s3/access-key-id
BACKUP_S3_SECRET_ACCESS_KEY_FILE=$ceph_state/s3/secret-access-key"
fi

umask 077
cat >"$root/.local/env" <<ENV
DATABASE_URL=postgres://orchestrator:$LOCAL_ORCHESTRATOR_DB_PASSWORD@127.0.0.1:5432/orchestrator
REDIS_URL=redis://127.0.0.1:6379/0
ADMIN_TOKEN=$LOCAL_ADMIN_TOKEN
MASTER_KEY=$LOCAL_MASTER_KEY
ODOO_IMAGE=${ODOO_STANDIN_TAG:-local/odoo-standin:17.0}
POSTGRES_POOL_IMAGE=local/postgres-standin:16
CEPHFS_MODE=$CEPHFS_MODE
CEPHFS_ROOT=${roots[0]}
CEPHFS_TENANT_ROOT=${roots[1]}
SWARM_NETWORK=$SWARM_NETWORK
BASE_DOMAIN=localhost
SWARM_RESERVATIONS=off
POOL_HOST=$gateway
POOL_ADMIN_USER=pool_admin
POOL_ADMIN_PASSWORD=$LOCAL_POOL_ADMIN_PASSWORD
BACKUP_ENCRYPTION_KEY=$LOCAL_BACKUP_ENCRYPTION_KEY
${s3}
ENV
