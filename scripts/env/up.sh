#!/usr/bin/env bash
# Brings up everything the daemon and the tests need on a Debian machine, then writes .local/env
# (the daemon's environment for local use). Idempotent; quiet and quick when all is up.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)
[ "$(id -u)" = 0 ] || die "run as root (it installs and starts system services)"

export SWARM_NETWORK=${SWARM_NETWORK:-odoo-net}
# Tests check Odoo's password hashes with passlib, the library Odoo itself verifies them with.
apt_ensure python3-passlib
bash "$here/secrets.sh"
. "$(local_secrets_file)"
bash "$here/redis.sh"
bash "$here/docker.sh"
bash "$here/postgres.sh"
bash "$here/images.sh"

gateway=$(docker network inspect docker_gwbridge -f '{{(index .IPAM.Config 0).Gateway}}' 2>/dev/null || true)
[ -n "$gateway" ] || die "docker_gwbridge has no gateway address"
mkdir -p "$root/.local/cephfs"

umask 077
cat >"$root/.local/env" <<ENV
DATABASE_URL=postgres://orchestrator:$LOCAL_ORCHESTRATOR_DB_PASSWORD@127.0.0.1:5432/orchestrator
REDIS_URL=redis://127.0.0.1:6379/0
ADMIN_TOKEN=$LOCAL_ADMIN_TOKEN
MASTER_KEY=$LOCAL_MASTER_KEY
ODOO_IMAGE=${ODOO_STANDIN_TAG:-local/odoo-standin:17.0}
POSTGRES_POOL_IMAGE=local/postgres-standin:16
CEPHFS_ROOT=$root/.local/cephfs
SWARM_NETWORK=$SWARM_NETWORK
BASE_DOMAIN=localhost
SWARM_RESERVATIONS=off
POOL_HOST=$gateway
POOL_ADMIN_USER=pool_admin
POOL_ADMIN_PASSWORD=$LOCAL_POOL_ADMIN_PASSWORD
ENV
