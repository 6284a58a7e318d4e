#!/usr/bin/env bash
# npm run bench: timings on the real services, each reported beside a baseline measured in the same run.
# Allocation and tracking first (allocation.bench.ts), then provisioning (provisioning.bench.ts [runs]), backups, and
# CephFS's snapshots and usage counts (storage.bench.ts), backups to and from the local radosgw (offsite.bench.ts), and
# real Odoo beside the stand-in (real-odoo.bench.ts [runs]: provisioning to the first login, idle memory), and sign-up
# to first login from a pool's template beside the init job (templates.bench.ts [runs]).
# Honours SKIP_IMAGE_BUILD (through isolated.sh); run it under `flock /tmp/orchestrator-pools.lock`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. scripts/env/isolated.sh orchestrator_bench 2
node --import tsx bench/allocation.bench.ts
node --import tsx bench/provisioning.bench.ts "$@"
node --import tsx bench/backup.bench.ts "$@"
node --import tsx bench/storage.bench.ts
node --import tsx bench/offsite.bench.ts "$@"
node --import tsx bench/templates.bench.ts "$@"
exec node --import tsx bench/real-odoo.bench.ts "$@"
