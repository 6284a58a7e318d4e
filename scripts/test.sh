#!/usr/bin/env bash
# npm test: bring up the local services, type-check, then run every suite, several at a time. Each test process
# claims one of this run's slots (test/support/isolation.ts): its own fresh control database, Redis database and
# CephFS root; suites that provision pools take turns, and the suite that stops the services runs alone.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. scripts/env/lib.sh
bash scripts/env/npm-deps.sh
bash scripts/env/up.sh
set -a
. .local/env
set +a

# Type-checks, and compiles the suites with what they import into .local/build: a test process then starts in about
# half the CPU time it takes through tsx, and npm test starts four dozen of them on two cores.
npx tsc -p tsconfig.test.json

# Suites side by side: more would only queue on this machine's two cores and one dockerd.
concurrency=${TEST_CONCURRENCY:-4}
# This checkout's own names, so two checkouts on one machine can run their tests at once.
checkout=$(printf '%s' "$root" | sha256sum | cut -c1-6)
export TEST_SLOTS=$concurrency
export TEST_SLOT_DATABASE_PREFIX=orchestrator_test_$checkout
export TEST_SLOT_REDIS_BASE=$((32 + (16#$checkout % 4) * 8))
export TEST_SLOTS_DIR=$root/.local/test-slots
# Each slot's storage root is this one with -<slot> appended, on CephFS through both mounts (test/support/isolation.ts).
mapfile -t roots < <(storage_roots "test/$checkout")
export CEPHFS_ROOT=${roots[0]} CEPHFS_TENANT_ROOT=${roots[1]}
export LOG_LEVEL=${LOG_LEVEL:-info}
rm -rf "$TEST_SLOTS_DIR"
for slot_root in "$CEPHFS_ROOT"-*; do [ -e "$slot_root" ] && remove_storage_root "$slot_root"; done
mkdir -p "$TEST_SLOTS_DIR" "$(dirname "$CEPHFS_ROOT")"
for ((slot = 0; slot < concurrency; slot++)); do
  runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres \
    -c "drop database if exists ${TEST_SLOT_DATABASE_PREFIX}_$slot with (force)" \
    -c "create database ${TEST_SLOT_DATABASE_PREFIX}_$slot owner orchestrator"
  redis-cli -n $((TEST_SLOT_REDIS_BASE + slot)) flushdb >/dev/null
done

# Every suite under test/, the slowest first, so the run ends with short ones (test/support/run-suites.ts starts them in
# this order; node --test would sort them by name). The real-Odoo suites take both cores while their servers start:
# beside the heavy suites, their health checks and their own time out (a task replaced, its name unresolved for a while),
# so they start after all the others, beside the short ones only. The fault suites stop the shared services, so they run alone:
# last, once the suites before them are done.
# Arguments, if any, name the suites to run instead.
slowest=(
  test/templates.test.ts
  test/stack-e2e.test.ts
  test/tenant-initialisation.test.ts
  test/pools.test.ts
  test/billing.test.ts
  test/pool-provisioning-error.test.ts
  test/backups.test.ts
  test/tenant-isolation.test.ts
  test/offsite.test.ts
  test/lifecycle.test.ts
  test/rollouts.test.ts
  test/module-changes.test.ts
  test/billing-suspension.test.ts
  test/plans-limits.test.ts
  test/allocation-reservations.test.ts
  test/degraded.test.ts
  test/backup-schedule.test.ts
  test/provisioning-failures.test.ts
  test/tenant-readiness.test.ts
  test/ha.test.ts
  test/pool-growth.test.ts
  test/provisioning.test.ts
  test/hostile-documents.test.ts
  test/allocation-concurrency.test.ts
)
last=(test/real-odoo.test.ts test/real-odoo-changes.test.ts test/real-odoo-rollouts.test.ts test/storage-faults.test.ts test/faults.test.ts)
mapfile -t rest < <(find test -name '*.test.ts' | LC_ALL=C sort | grep -vxF -f <(printf '%s\n' "${slowest[@]}" "${last[@]}"))
suites=("${slowest[@]}" "${rest[@]}" "${last[@]}")
(($# == 0)) || suites=("$@")
# The stack suite's daemon image (scripts/env/daemon-image.sh: a quick no-op when nothing it is made from changed), built
# here like the stand-in images, not on two busy cores in the middle of the suites.
if printf '%s\n' "${suites[@]}" | grep -qxF test/stack-e2e.test.ts; then bash scripts/env/daemon-image.sh; fi
compiled=("${suites[@]/%.ts/.js}")
exec node .local/build/test/support/run-suites.js "${compiled[@]/#/.local/build/}"
