#!/usr/bin/env bash
# sha256 comes from sha256.sh, which the daemon puts before this script.
# Checks the backup in $BACKUP_DIR while loading it into a fresh database and a sibling filestore directory under
# $DATA_DIR; touches nothing else. The daemon makes both while Swarm starts the job, the directory last: the job waits
# for the directory (TARGET_WAIT_SECONDS). From the environment too: DATABASE_NEW DB_ROLE FILESTORE_NEW DUMP_SHA256
# FILESTORE_SHA256, libpq's PG*.
set -euo pipefail
verify() { [ "$(sha256 "$BACKUP_DIR/$1")" = "$2" ] || { echo "$1: sha256 does not match the manifest" >&2; return 1; }; }
{ verify dump.custom "$DUMP_SHA256" && verify filestore.tar "$FILESTORE_SHA256"; } &
verify=$!
target="$DATA_DIR/filestore/$FILESTORE_NEW"
waited=0
until [ -d "$target" ]; do
  waited=$((waited + 1))
  if [ "$waited" -gt $((TARGET_WAIT_SECONDS * 50)) ]; then echo "$DATABASE_NEW and its filestore directory were not made" >&2; exit 1; fi
  sleep 0.02
done
cd -P -- "$target"
if [ "$(pwd -P)" != "$target" ]; then echo "filestore/$FILESTORE_NEW is reached through a symbolic link: refused" >&2; exit 1; fi
pg_restore --no-owner --no-privileges --exit-on-error --role="$DB_ROLE" -j 2 -d "$DATABASE_NEW" "$BACKUP_DIR/dump.custom" &
restore=$!
tar -xpf "$BACKUP_DIR/filestore.tar"
wait "$restore"
wait "$verify"
