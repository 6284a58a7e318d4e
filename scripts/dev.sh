#!/usr/bin/env bash
# npm run dev: bring up PostgreSQL, Redis, a single-node swarm and the stand-in images, register the local
# PostgreSQL as a pool, then run the daemon in the foreground with GraphiQL.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/env/npm-deps.sh
bash scripts/env/up.sh
# The caller's choice of Odoo images wins over .local/env's stand-in (ODOO_IMAGES=17.0=local/odoo:17.0,18.0=local/odoo:18.0
# runs the real servers up.sh builds).
caller_odoo_image=${ODOO_IMAGE-}
caller_odoo_images=${ODOO_IMAGES-}
set -a
. .local/env
set +a
if [ -n "$caller_odoo_image" ]; then ODOO_IMAGE=$caller_odoo_image; fi
if [ -n "$caller_odoo_images" ]; then ODOO_IMAGES=$caller_odoo_images; fi
export PORT=${PORT:-4000}
[ -n "${ADMIN_TOKEN_OVERRIDE:-}" ] && ADMIN_TOKEN=$ADMIN_TOKEN_OVERRIDE
node --import tsx src/dev/register-local-pool.ts
printf '\nGraphiQL: http://localhost:%s/graphql (any user name, the admin token as password)\nADMIN_TOKEN=%s\n\n' "$PORT" "$ADMIN_TOKEN"
exec node --import tsx src/main.ts
