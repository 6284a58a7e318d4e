#!/usr/bin/env bash
# Creates the local secrets once (.local/secrets.env, not in git) and loads them.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)
file="$root/.local/secrets.env"
if [ ! -s "$file" ]; then
  mkdir -p "$root/.local" && chmod 700 "$root/.local"
  umask 077
  cat >"$file" <<SECRETS
LOCAL_ADMIN_TOKEN=$(random_secret 32)
LOCAL_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
LOCAL_ORCHESTRATOR_DB_PASSWORD=$(random_secret 24)
LOCAL_POOL_ADMIN_PASSWORD=$(random_secret 24)
SECRETS
  say "generated local secrets in .local/secrets.env"
fi
