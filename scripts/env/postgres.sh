#!/usr/bin/env bash
# PostgreSQL on this machine: installed, listening on loopback and on Docker's bridges (for Odoo tasks),
# with the daemon's role and databases and a pool admin role. Quiet when nothing needs doing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
# The secrets file is made on this machine (secrets.sh), never in the repository.
# shellcheck source=/dev/null
. "$(local_secrets_file)"

apt_ensure postgresql postgresql-contrib
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
cluster_conf=/etc/postgresql/$version/main
[ -d "$cluster_conf" ] || { say "creating cluster $version/main"; pg_createcluster "$version" main >/dev/null; }

changed=0
conf="$cluster_conf/conf.d/odoo-orchestrator.conf"
wanted_conf="# Managed by odoo-orchestrator scripts/env/postgres.sh
listen_addresses = '*'
max_connections = 400
password_encryption = 'scram-sha-256'"
if [ "$(cat "$conf" 2>/dev/null)" != "$wanted_conf" ]; then
  mkdir -p "$(dirname "$conf")" && printf '%s\n' "$wanted_conf" >"$conf"
  changed=1
fi
hba="$cluster_conf/pg_hba.conf"
# Tasks come from Docker's bridges; the daemon on this host reaches the bridge address from one of the host's own.
for rule in 'host all all 172.16.0.0/12 scram-sha-256 # odoo-orchestrator: Docker bridges' \
  'host all all samehost scram-sha-256 # odoo-orchestrator: this host by any of its addresses'; do
  grep -qF "$rule" "$hba" || { printf '%s\n' "$rule" >>"$hba"; changed=1; }
done

is_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
if ! is_up; then
  say "starting PostgreSQL $version"
  pg_ctlcluster "$version" main start >/dev/null 2>&1 || pg_ctlcluster "$version" main restart >/dev/null
  changed=0
elif [ "$changed" = 1 ]; then
  say "restarting PostgreSQL $version for new settings"
  pg_ctlcluster "$version" main restart >/dev/null
fi
wait_until "PostgreSQL" 30 is_up

psql_admin() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
psql_admin -v pw="$LOCAL_ORCHESTRATOR_DB_PASSWORD" -v pool_pw="$LOCAL_POOL_ADMIN_PASSWORD" <<'SQL'
select format('create role orchestrator login password %L', :'pw') where not exists (select from pg_roles where rolname = 'orchestrator') \gexec
select format('alter role orchestrator login password %L', :'pw') \gexec
select format('create role pool_admin login createrole createdb password %L', :'pool_pw') where not exists (select from pg_roles where rolname = 'pool_admin') \gexec
select format('alter role pool_admin login createrole createdb password %L', :'pool_pw') \gexec
select 'create database orchestrator owner orchestrator' where not exists (select from pg_database where datname = 'orchestrator') \gexec
SQL
