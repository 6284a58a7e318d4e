#!/usr/bin/env bash
# Creates the local secrets once per machine (not per checkout: every checkout shares the same PostgreSQL roles
# and the pools they registered, so they must share the admin token, the master key and the role passwords).
# A checkout made before secrets were machine-wide hands its .local/secrets.env over the first time.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)
file=$(local_secrets_file)
if [ ! -s "$file" ]; then
  mkdir -p "$(dirname "$file")" && chmod 700 "$(dirname "$file")"
  umask 077
  if [ -s "$root/.local/secrets.env" ]; then
    cp "$root/.local/secrets.env" "$file"
    say "moved this checkout's .local/secrets.env to $file (shared by every checkout on this machine)"
  else
    cat >"$file" <<SECRETS
LOCAL_ADMIN_TOKEN=$(random_secret 32)
LOCAL_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
LOCAL_ORCHESTRATOR_DB_PASSWORD=$(random_secret 24)
LOCAL_POOL_ADMIN_PASSWORD=$(random_secret 24)
SECRETS
    say "generated local secrets in $file"
  fi
fi
# Added after the file was first made (under a lock: checkouts bring the machine up at once): the key local backups are
# encrypted under before they go off-site.
(
  flock 9
  grep -q '^LOCAL_BACKUP_ENCRYPTION_KEY=' "$file" || printf 'LOCAL_BACKUP_ENCRYPTION_KEY=%s\n' "$(head -c 32 /dev/urandom | base64)" >>"$file"
) 9<"$file"
