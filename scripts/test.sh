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

npx tsc --noEmit -p .

# Suites side by side: more would only queue on this machine's two cores and one dockerd.
concurrency=${TEST_CONCURRENCY:-4}
# This checkout's own names, so two checkouts on one machine can run their tests at once.
checkout=$(printf '%s' "$root" | sha256sum | cut -c1-6)
export TEST_SLOTS=$concurrency
export TEST_SLOT_DATABASE_PREFIX=orchestrator_test_$checkout
export TEST_SLOT_REDIS_BASE=$((32 + (16#$checkout % 4) * 8))
export TEST_SLOTS_DIR=$root/.local/test-slots
export CEPHFS_ROOT=$root/.local/test-cephfs
export LOG_LEVEL=${LOG_LEVEL:-info}
rm -rf "$TEST_SLOTS_DIR" "$CEPHFS_ROOT"-*
mkdir -p "$TEST_SLOTS_DIR"
for ((slot = 0; slot < concurrency; slot++)); do
  runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres \
    -c "drop database if exists ${TEST_SLOT_DATABASE_PREFIX}_$slot with (force)" \
    -c "create database ${TEST_SLOT_DATABASE_PREFIX}_$slot owner orchestrator"
  redis-cli -n $((TEST_SLOT_REDIS_BASE + slot)) flushdb >/dev/null
done

# Every suite by name, so that none is skipped silently; the slowest first, so the run ends with short ones.
suites=(
  # The daemon itself as a stack on the swarm (builds its image; about a minute).
  test/stack-e2e.test.ts
  test/pools.test.ts
  test/pool-growth.test.ts
  test/lifecycle.test.ts
  test/billing.test.ts
  test/billing-suspension.test.ts
  test/plans-limits.test.ts
  test/degraded.test.ts
  test/tenant-initialisation.test.ts
  test/provisioning.test.ts
  test/provisioning-failures.test.ts
  test/ha.test.ts
  test/shutdown.test.ts
  test/swarm-adapter.test.ts
  test/allocation.test.ts
  test/allocation-concurrency.test.ts
  test/allocation-failures.test.ts
  test/allocation-reservations.test.ts
  test/api-input.test.ts
  test/secrets.test.ts
  test/graphiql.test.ts
  test/access-control.test.ts
  test/metrics.test.ts
  test/cross-site.test.ts
  test/hostile-documents.test.ts
  test/master-key.test.ts
  test/instance-events.test.ts
  # Stops Redis, restarts PostgreSQL and freezes dockerd under a daemon: it waits to run alone.
  test/faults.test.ts
  test/unit/config.test.ts
  test/unit/schema-file.test.ts
  test/unit/crypto.test.ts
  test/unit/names.test.ts
  test/unit/swarm-odoo-service.test.ts
  test/unit/init-job.test.ts
  test/unit/rollout.test.ts
  test/unit/pool-state.test.ts
  test/unit/scheduler.test.ts
  test/unit/swarm-postgres-service.test.ts
)
unlisted=$(comm -23 <(find test -name '*.test.ts' | LC_ALL=C sort) <(printf '%s\n' "${suites[@]}" | LC_ALL=C sort))
[ -z "$unlisted" ] || die "suites not listed in scripts/test.sh: $unlisted"
exec node --import tsx --test --test-concurrency="$concurrency" --test-reporter=spec "${suites[@]}" "$@"
