#!/usr/bin/env bash
# sha256 comes from sha256.sh, which the daemon puts before this script.
# Odoo's database manager restores plain SQL: the backup's custom dump converted, without owners or grants of the old
# role, once its sha256 matches the manifest's. From the environment: BACKUPS_DIR BACKUP_ID EXPORT_ID DUMP_SHA256.
set -euo pipefail
umask 022
[ "$(sha256 "$BACKUPS_DIR/$BACKUP_ID/dump.custom")" = "$DUMP_SHA256" ] || { echo "dump.custom: sha256 does not match the manifest" >&2; exit 1; }
pg_restore --no-owner --no-privileges -f "$BACKUPS_DIR/.exports/$EXPORT_ID.sql.partial" "$BACKUPS_DIR/$BACKUP_ID/dump.custom"
mv "$BACKUPS_DIR/.exports/$EXPORT_ID.sql.partial" "$BACKUPS_DIR/.exports/$EXPORT_ID.sql"
