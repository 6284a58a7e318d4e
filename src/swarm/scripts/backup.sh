#!/usr/bin/env bash
# sha256 comes from sha256.sh, which the daemon puts before this script.
# Dumps the tenant's database (online) and archives its filestore into $BACKUPS_DIR/$BACKUP_ID, with a manifest
# Odoo's own `odoo db load` reads. Runs in the tenant's Odoo image as the tenant's uid. Every value comes from the
# environment (nothing is spliced into the code): BACKUPS_DIR (the instance's backups) DATA_DIR (its data dir)
# BACKUP_ID INSTANCE_ID DB_NAME DB_ROLE ODOO_VERSION, SNAPSHOT (a CephFS snapshot name, optional), libpq's PG*.
set -euo pipefail
umask 022
final="$BACKUPS_DIR/$BACKUP_ID"
work="$BACKUPS_DIR/.partial-$BACKUP_ID"
if [ -f "$final/manifest.json" ]; then exit 0; fi
rm -rf "$work" && mkdir -p "$work"
src="$DATA_DIR/filestore/$DB_NAME"
at_snapshot=()
if [ -n "${SNAPSHOT:-}" ]; then
  # The database's snapshot, then at once the filestore's (CephFS): every file a committed row names is in it. pg_dump
  # reads the database as of that snapshot, exported by a transaction held open until the dump is done.
  coproc held { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB_NAME"; }
  echo 'begin isolation level repeatable read read only; select pg_export_snapshot();' >&"${held[1]}"
  read -r db_snapshot <&"${held[0]}"
  rmdir "$DATA_DIR/.snap/$SNAPSHOT" 2>/dev/null || true
  mkdir "$DATA_DIR/.snap/$SNAPSHOT"
  at_snapshot=(--snapshot="$db_snapshot")
  src="$DATA_DIR/.snap/$SNAPSHOT/filestore/$DB_NAME"
fi
pg_dump -Fc --role="$DB_ROLE" "${at_snapshot[@]}" -d "$DB_NAME" -f "$work/dump.custom" &
dump=$!
# The server's version, as the dump records it, asked beside the dump: reading the dump's header after it costs ~35 ms.
psql -X -A -t -d "$DB_NAME" -c 'show server_version' | sed 's/ .*//' >"$work/.pg_version" &
version=$!
# The installed modules and their versions, as Odoo's own dump lists them in its manifest (none before initialisation).
{ if [ "$(psql -X -A -t -d "$DB_NAME" -c "select to_regclass('ir_module_module') is not null")" = t ]; then
    psql -X -A -t -d "$DB_NAME" -c "select coalesce(json_object_agg(name, latest_version order by name), '{}') from ir_module_module where state = 'installed'"
  else echo '{}'; fi; } >"$work/.modules" &
modules=$!
# The tenant owns $DATA_DIR: a link on the way to its filestore (to /run/secrets, say) is refused, not followed. Once in
# the directory, tar archives links as links and opens nothing through one.
filestore() {
  if [ ! -d "$src" ]; then tar -cf - -T /dev/null; return; fi
  cd -P -- "$src"
  if [ "$(pwd -P)" != "$src" ]; then echo "filestore/$DB_NAME is reached through a symbolic link: refused" >&2; return 1; fi
  tar -cf - .
}
# The archive is hashed as it is written; the dump cannot be: pg_dump rewrites its table of contents at the end. In a
# subshell, so that waiting for it gives the whole pipeline's status (a refusal, or tar's error), not sha256's.
(filestore | tee "$work/filestore.tar" | sha256 >"$work/.filestore.sha256") &
archive=$!
wait "$dump"
dump_sha=$(sha256 "$work/dump.custom")
wait "$archive"
wait "$version"
if [ -n "${SNAPSHOT:-}" ]; then
  eval "exec ${held[1]}>&-"
  rmdir "$DATA_DIR/.snap/$SNAPSHOT"
fi
wait "$modules"
fs_sha=$(cat "$work/.filestore.sha256") && pg_version=$(cat "$work/.pg_version") && rm "$work/.filestore.sha256" "$work/.pg_version"
module_versions=$(cat "$work/.modules") && rm "$work/.modules"
cat >"$work/manifest.json" <<JSON
{
  "odoo_dump": "1",
  "db_name": "$DB_NAME",
  "version": "$ODOO_VERSION",
  "version_info": [${ODOO_VERSION%%.*}, ${ODOO_VERSION#*.}, 0, "final", 0, ""],
  "major_version": "$ODOO_VERSION",
  "pg_version": "$pg_version",
  "modules": $module_versions,
  "instanceId": "$INSTANCE_ID",
  "backupId": "$BACKUP_ID",
  "createdAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "odooVersion": "$ODOO_VERSION",
  "databaseName": "$DB_NAME",
  "postgresVersion": "$pg_version",
  "files": [
    { "name": "dump.custom", "size": $(stat -c %s "$work/dump.custom"), "sha256": "$dump_sha" },
    { "name": "filestore.tar", "size": $(stat -c %s "$work/filestore.tar"), "sha256": "$fs_sha" }
  ]
}
JSON
mv "$work" "$final"
