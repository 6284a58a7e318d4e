# shellcheck shell=bash
# Sourced by test.sh and bench.sh: brings the machine up, then exports an environment with a fresh database
# named $1 and its own Redis database ($2), so a run never touches the dev daemon's state.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bash "$root/scripts/env/npm-deps.sh"
bash "$root/scripts/env/up.sh"
. "$root/scripts/env/lib.sh"
set -a
. "$root/.local/env"
set +a
runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres \
  -c "drop database if exists $1 with (force)" -c "create database $1 owner orchestrator"
export DATABASE_URL=${DATABASE_URL%/orchestrator}/$1
export REDIS_URL=redis://127.0.0.1:6379/$2
mapfile -t roots < <(storage_roots "bench/$(printf '%s' "$root" | sha256sum | cut -c1-6)-$1")
export CEPHFS_ROOT=${roots[0]} CEPHFS_TENANT_ROOT=${roots[1]}
export LOG_LEVEL=${LOG_LEVEL:-info}
remove_storage_root "$CEPHFS_ROOT"
mkdir -p "$CEPHFS_ROOT"
