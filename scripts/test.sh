#!/usr/bin/env bash
# npm test: bring up the local services, type-check, then run every suite serially against a fresh test database.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. scripts/env/isolated.sh orchestrator_test 1

npx tsc --noEmit -p .

# Every suite by name, so that none is skipped silently; they share the services, so one at a time.
suites=(
  test/unit/config.test.ts
  test/unit/crypto.test.ts
  test/unit/names.test.ts
  test/unit/swarm-odoo-service.test.ts
  test/unit/rollout.test.ts
  test/unit/scheduler.test.ts
  test/unit/swarm-postgres-service.test.ts
  test/unit/backup-job.test.ts
  test/unit/backup-retention.test.ts
  test/unit/archive.test.ts
  test/allocation.test.ts
  test/allocation-concurrency.test.ts
  test/allocation-failures.test.ts
  test/api-input.test.ts
  test/secrets.test.ts
  test/graphiql.test.ts
  test/swarm-adapter.test.ts
  test/provisioning.test.ts
  test/provisioning-failures.test.ts
  test/pools.test.ts
  test/pool-growth.test.ts
  test/lifecycle.test.ts
  test/access-control.test.ts
  test/ha.test.ts
  test/shutdown.test.ts
  test/billing.test.ts
  test/backups.test.ts
  test/backup-schedule.test.ts
  # The daemon itself as a stack on the swarm (builds its image; about a minute).
  test/stack-e2e.test.ts
)
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec "${suites[@]}" "$@"
