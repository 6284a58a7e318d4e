#!/usr/bin/env bash
# npm run dev: bring up PostgreSQL, Redis, a single-node swarm and the stand-in images, register the local
# PostgreSQL as a pool, then run the daemon in the foreground with GraphiQL.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/env/npm-deps.sh
bash scripts/env/up.sh
set -a
. .local/env
set +a
export PORT=${PORT:-4000}
[ -n "${ADMIN_TOKEN_OVERRIDE:-}" ] && ADMIN_TOKEN=$ADMIN_TOKEN_OVERRIDE
node --import tsx src/dev/register-local-pool.ts
printf '\nGraphiQL: http://localhost:%s/graphql (any user name, the admin token as password)\nADMIN_TOKEN=%s\n\n' "$PORT" "$ADMIN_TOKEN"
exec node --import tsx src/main.ts
