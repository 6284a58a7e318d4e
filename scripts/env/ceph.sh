#!/usr/bin/env bash
# A single-node Ceph cluster from Debian's packages (16.2 Pacific): one mon, one mgr, one OSD (BlueStore on a sparse
# file), one MDS for the file system `cephfs`, one radosgw (S3 on 127.0.0.1), and CephFS mounted twice with ceph-fuse:
#
#   $CEPH_MOUNT         (/mnt/cephfs)          client.orchestrator, caps rwps: the daemon's view (CEPHFS_ROOT), which
#                                              sets quotas (p) and takes snapshots (s)
#   $CEPH_TENANT_MOUNT  (/mnt/cephfs-tenants)  client.tenants, caps rwp: the same tree, the source of tenant containers'
#                                              bind mounts (CEPHFS_TENANT_ROOT): a tenant cannot make or delete snapshots
#
# All state lives in $CEPH_STATE_DIR (/var/lib/odoo-orchestrator/ceph): ceph.conf, keyrings (root only), daemon data,
# logs, pid files, sockets; nothing goes to /etc/ceph or /var/lib/ceph. The S3 user's keys are in
# $CEPH_STATE_DIR/s3/{access-key-id,secret-access-key} (root only), its bucket is $CEPH_S3_BUCKET.
#
# Idempotent and quick (a few /proc reads) when all is up. Otherwise it installs what is missing, creates the cluster
# the first time, starts what is not running, and copes with what an unclean stop leaves: stale pid files, an MDS the
# maps still show active, dead ceph-fuse mounts ("Transport endpoint is not connected") and their sessions on the MDS.
# It refuses to mount over a directory that holds files (written to the local disk while CephFS was not mounted).
#
# Env: CEPH_STATE_DIR, CEPH_MOUNT, CEPH_TENANT_MOUNT, CEPH_S3_PORT (7480), CEPH_S3_BUCKET (orchestrator-backups);
#      at creation only: CEPH_MON_PORT (3300), CEPH_MON_PORT_V1 (6789), CEPH_OSD_SIZE (20G).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || die "ceph.sh runs as root (it starts the cluster's daemons and mounts CephFS)"

state=${CEPH_STATE_DIR:-$(state_dir)/ceph}
conf=$state/ceph.conf
keys=$state/keyring
run=$state/run
mount_daemon=$(ceph_mount)
mount_tenants=$(ceph_tenant_mount)
s3_port=${CEPH_S3_PORT:-7480}
s3_bucket=${CEPH_S3_BUCKET:-orchestrator-backups}
fs=cephfs

# Every daemon of the cluster by its Ceph name; ceph-fuse mounts are client.<name> too.
daemons=(mon.a mgr.a osd.0 mds.a client.rgw.a client.orchestrator client.tenants)

# Whether the process in $run/ceph-$1.pid is alive and ours (its command line names this ceph.conf). A pid file left by
# a killed daemon may name a pid reused since, or a zombie not reaped yet (its cmdline is empty).
alive() {
  local pid args=()
  read -r pid 2>/dev/null <"$run/ceph-$1.pid" || return 1
  [[ $pid =~ ^[0-9]+$ ]] && mapfile -d '' args 2>/dev/null <"/proc/$pid/cmdline" && [[ " ${args[*]} " == *" $conf "* ]]
}

# Whether CephFS is mounted at $1 and answers within 5 s. A ceph-fuse that died leaves its mount listed, failing every
# access; one whose MDS is gone blocks, and no signal ends the blocked stat (it is left behind, not waited for).
mounted() {
  grep -qs " $1 fuse.ceph-fuse " /proc/mounts || return 1
  stat -c %i "$1/." >/dev/null 2>&1 &
  local check=$! i
  for ((i = 0; i < 50; i++)); do
    kill -0 "$check" 2>/dev/null || { wait "$check"; return; }
    sleep 0.1
  done
  return 1
}

# What the daemon itself says it is doing, through its admin socket (the maps may still show a killed daemon as up):
# a JSON command ended by a NUL, answered with a 4-byte length and JSON. Asked directly, not through the ceph CLI,
# which takes a second or two to start.
asok_state() {
  timeout 10 /usr/bin/python3 - "$run/ceph-$1.asok" 2>/dev/null <<'PY'
import json, socket, struct, sys
conn = socket.socket(socket.AF_UNIX)
conn.connect(sys.argv[1])
conn.sendall(b'{"prefix": "status"}\0')
data = b''
while len(data) < 4 or len(data) < 4 + struct.unpack('>I', data[:4])[0]:
    chunk = conn.recv(65536)
    if not chunk:
        break
    data += chunk
print(json.loads(data[4:])['state'])
PY
}
state_is() { [ "$(asok_state "$1")" = "$2" ]; }

all_up() {
  local name
  for name in "${daemons[@]}"; do alive "$name" || return 1; done
  state_is mds.a up:active && mounted "$mount_daemon" && mounted "$mount_tenants" && [ -s "$state/s3/secret-access-key" ]
}

# The fast path: nothing to do, no lock taken.
[ -s "$conf" ] && all_up && exit 0

# One bring-up at a time (parallel test runs, dev and test).
exec 9>"/run/lock/odoo-orchestrator-ceph.lock"
flock -w 300 9 || die "another ceph.sh has held the lock for 300 s"
[ -s "$conf" ] && all_up && exit 0

started=$SECONDS
apt_ensure ceph-mon ceph-mgr ceph-osd ceph-mds ceph-fuse radosgw ceph-common attr uuid-runtime curl python3
mkdir -p "$state" "$keys" "$run" "$state/log" "$state/crash" "$state/s3"
chmod 700 "$state" "$keys" "$state/s3"

ceph_cli() { timeout 60 ceph -c "$conf" -n client.admin --connect-timeout 15 "$@"; }

# Runs a command that daemonizes in a session of its own, with no descriptor of ours but its output. Ceph's daemons
# stay in their caller's process group: a signal to it (Ctrl-C, `timeout`, a test runner ending) would end them. And a
# lock they inherited (this script's, or the machine lock of a `flock ... npm test` that brought the cluster up) would
# be held for as long as they run.
detached() {
  local fd
  for fd in /proc/self/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] && eval "exec $fd>&-"
  done 2>/dev/null
  exec setsid -w "$@" </dev/null
}

# Starts a daemon that forks into the background once it is initialised; its few lines before that go to start.log.
start_daemon() {
  local name=$1; shift
  (detached "$@") >>"$state/log/start.log" 2>&1 || die "$name did not start: $(tail -n 5 "$state/log/start.log")"
  say "ceph: started $name"
}

# Ends our process named $1 (SIGTERM, then SIGKILL after $2 seconds), for a ceph-fuse whose mount is gone.
stop_daemon() {
  local name=$1 grace=$2 pid i
  alive "$name" || return 0
  pid=$(cat "$run/ceph-$name.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do alive "$name" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# Each start of a daemon appends a megabyte or two of its options to its log; nothing rotates them.
for log in "$state"/log/*.log; do
  [ -f "$log" ] && [ "$(stat -c %s "$log")" -gt $((64 << 20)) ] && : >"$log"
done

# ---- configuration, once ----------------------------------------------------------------------------------------------
if [ ! -s "$conf" ]; then
  mon_port=${CEPH_MON_PORT:-3300}
  mon_port_v1=${CEPH_MON_PORT_V1:-6789}
  cat >"$conf.new" <<CONF
# Written by odoo-orchestrator scripts/env/ceph.sh. One node: every daemon on 127.0.0.1, every file under $state.
[global]
fsid = $(uuidgen)
mon_host = [v2:127.0.0.1:$mon_port,v1:127.0.0.1:$mon_port_v1]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
keyring = $keys/\$cluster.\$name.keyring
run_dir = $run
admin_socket = $run/\$cluster-\$name.asok
pid_file = $run/\$cluster-\$name.pid
log_file = $state/log/\$cluster-\$name.log
crash_dir = $state/crash
# One OSD: no replicas, few placement groups (radosgw alone makes seven pools).
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
mon_data_avail_warn = 5

[mon]
mon_data = $state/mon/\$cluster-\$id
keyring = $state/mon/\$cluster-\$id/keyring
mon_cluster_log_file = $state/log/\$cluster.log
mgr_initial_modules = iostat

[mgr]
mgr_data = $state/mgr/\$cluster-\$id
# ceph-mgr loads every module it finds unless told not to: 160 MiB instead of 300.
mgr_disabled_modules = alerts,influx,insights,localpool,mirroring,nfs,osd_perf_query,osd_support,prometheus,restful,selftest,snap_schedule,stats,telegraf,test_orchestrator,zabbix,diskprediction_local

[osd]
osd_data = $state/osd/\$cluster-\$id
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = $(numfmt --from=iec "${CEPH_OSD_SIZE:-20G}")
bluestore_fsck_on_mount = false
osd_memory_target = 939524096
# RocksDB's write-ahead log is replayed when a killed OSD starts again: at most 64 MB of it (not 1 GB) keeps that short.
bluestore_rocksdb_options_annex = write_buffer_size=33554432,max_write_buffer_number=2,max_total_wal_size=67108864

[mds]
mds_data = $state/mds/\$cluster-\$id
# A restarted MDS waits this long for the clients of the one before; live ones reconnect within a second.
mds_reconnect_timeout = 15
mds_cache_memory_limit = 268435456
# A restarted MDS replays its journal before it serves: eight segments (not 128, some 400 MB) replay in about a second.
mds_log_max_segments = 8

[client]
rgw_data = $state/rgw/\$cluster-\$id
client_oc_size = 67108864
# A directory's size is its entry count, not the bytes below it (which change as the MDS propagates them: tar then
# fails with "file changed as we read it", even on a snapshot, and du counts twice). ceph.dir.rbytes has the bytes.
client_dirsize_rbytes = false
# A mount that finds no MDS gives up after this long instead of five minutes.
client_mount_timeout = 60
rgw_thread_pool_size = 64
CONF
  mv "$conf.new" "$conf"
  say "ceph: wrote $conf"
fi

# ---- mon and mgr ------------------------------------------------------------------------------------------------------
if [ ! -e "$state/mon/ceph-a/store.db" ]; then
  rm -rf "$state/mon/ceph-a" && mkdir -p "$state/mon/ceph-a"
  ceph-authtool --create-keyring "$keys/ceph.mon..keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$keys/ceph.client.admin.keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$keys/ceph.mon..keyring" --import-keyring "$keys/ceph.client.admin.keyring" >/dev/null
  fsid=$(awk '$1 == "fsid" { print $3 }' "$conf")
  mon_host=$(awk -F' = ' '$1 == "mon_host" { print $2 }' "$conf")
  monmaptool --create --clobber --fsid "$fsid" --addv a "$mon_host" "$state/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$state/monmap" --keyring "$keys/ceph.mon..keyring" \
    >>"$state/log/start.log" 2>&1 || die "ceph-mon --mkfs failed: $(tail -n 5 "$state/log/start.log")"
  fi
# Each daemon is waited for only when it was started here: recovering one that died costs that daemon's start alone.
if ! alive mon.a; then
  start_daemon mon.a ceph-mon -c "$conf" -i a
  wait_until "the Ceph monitor" 60 ceph_cli quorum_status
fi

mkdir -p "$state/mgr/ceph-a"
[ -s "$keys/ceph.mgr.a.keyring" ] ||
  ceph_cli auth get-or-create mgr.a mon 'allow profile mgr' osd 'allow *' mds 'allow *' -o "$keys/ceph.mgr.a.keyring"
alive mgr.a || start_daemon mgr.a ceph-mgr -c "$conf" -i a

# ---- OSD: BlueStore on a sparse file that ceph-osd --mkfs makes -------------------------------------------------------
if [ ! -e "$state/osd/ceph-0/fsid" ]; then
  uuid=$(uuidgen)
  key=$(ceph-authtool --gen-print-key)
  printf '{"cephx_secret": "%s"}' "$key" >"$run/osd-new.json"
  id=$(ceph_cli osd new "$uuid" -i "$run/osd-new.json")
  rm -f "$run/osd-new.json"
  [ "$id" = 0 ] || die "the new OSD got id $id, not 0"
  ceph-authtool --create-keyring "$keys/ceph.osd.0.keyring" -n osd.0 --add-key "$key" >/dev/null
  rm -rf "$state/osd/ceph-0" && mkdir -p "$state/osd/ceph-0"
  # It says "_read_bdev_label failed" about the file it is about to make: the fsid file tells whether it worked.
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" >>"$state/log/start.log" 2>&1 || true
  [ -e "$state/osd/ceph-0/fsid" ] || die "ceph-osd --mkfs failed (see $state/log/ceph-osd.0.log)"
fi
if ! alive osd.0; then
  start_daemon osd.0 ceph-osd -c "$conf" -i 0
  wait_until "the OSD" 120 state_is osd.0 active
fi

# ---- the file system and its MDS ----------------------------------------------------------------------------------------
# An MDS that runs but does not serve (stuck shutting down after a signal; neither active nor on its way there): ended.
mds_state=$(asok_state mds.a || true)
case "$mds_state" in
  up:active | up:replay | up:resolve | up:reconnect | up:rejoin | up:clientreplay | up:standby) ;;
  *) if alive mds.a; then
    say "ceph: mds.a runs but does not serve (${mds_state:-no answer}): ending it"
    stop_daemon mds.a 0
  fi ;;
esac
if ! alive mds.a; then
  mkdir -p "$state/mds"
  if [ ! -e "$state/mds/$fs.created" ] && ! ceph_cli fs ls --format json | grep -q "\"name\":\"$fs\""; then
    ceph_cli osd pool create "${fs}_metadata" 8 >/dev/null 2>&1
    ceph_cli osd pool create "${fs}_data" 8 >/dev/null 2>&1
    ceph_cli fs new "$fs" "${fs}_metadata" "${fs}_data" >/dev/null 2>&1 || die "ceph fs new $fs failed"
  else
    # Both at once (each is a second or two of the ceph CLI): a stop by `ceph fs fail` leaves the file system not
    # joinable (no-op otherwise), and a killed MDS stays active in the maps for a while, clients sent to it.
    ceph_cli fs set "$fs" joinable true >/dev/null 2>&1 &
    ceph_cli mds fail a >/dev/null 2>&1 &
    wait
  fi
  touch "$state/mds/$fs.created"
  mkdir -p "$state/mds/ceph-a"
  [ -s "$keys/ceph.mds.a.keyring" ] || ceph_cli auth get-or-create mds.a mon 'allow profile mds' osd 'allow rwx' mds 'allow *' \
    mgr 'allow profile mds' -o "$keys/ceph.mds.a.keyring"
  start_daemon mds.a ceph-mds -c "$conf" -i a
fi
# Replay, then reconnect (live clients come back at once; dead ones are waited for, mds_reconnect_timeout), active.
[ "$mds_state" = up:active ] || wait_until "the MDS" 180 state_is mds.a up:active

# ---- the two mounts ---------------------------------------------------------------------------------------------------
# ensure_mount MOUNTPOINT CLIENT CAPS
ensure_mount() {
  local mnt=$1 client=$2 caps=$3
  [ -s "$keys/ceph.client.$client.keyring" ] || ceph_cli fs authorize "$fs" "client.$client" / "$caps" >"$keys/ceph.client.$client.keyring"
  alive "client.$client" && mounted "$mnt" && return 0
  if grep -qs " $mnt fuse" /proc/mounts; then
    # `umount -c` does not stat the path first: a stat of a mount whose MDS is gone never returns.
    umount -c "$mnt" 2>/dev/null || umount -l -c "$mnt" || die "cannot unmount the dead CephFS mount at $mnt"
    say "ceph: unmounted the dead mount at $mnt"
  fi
  stop_daemon "client.$client" 10
  # A killed ceph-fuse leaves its session open on the MDS, holding capabilities other clients then wait a minute for.
  ceph_cli tell mds.a client evict "client_metadata.mount_point=$mnt" >/dev/null 2>&1 || true
  mkdir -p "$mnt"
  # Files here were written to the local disk while CephFS was not mounted; mounting over them would hide them.
  if [ -n "$(ls -A "$mnt")" ]; then
    die "$mnt is not mounted but holds files ($(ls -A "$mnt" | head -5 | tr '\n' ' ')): move them away, then run this again"
  fi
  (detached ceph-fuse -c "$conf" -n "client.$client" --client_fs "$fs" "$mnt") >>"$state/log/ceph-fuse.out" 2>&1 ||
    die "ceph-fuse could not mount $mnt: $(tail -n 3 "$state/log/ceph-fuse.out")"
  say "ceph: mounted CephFS at $mnt (client.$client, $caps)"
}
ensure_mount "$mount_daemon" orchestrator rwps
ensure_mount "$mount_tenants" tenants rwp

# ---- radosgw, its S3 user and bucket ----------------------------------------------------------------------------------
mkdir -p "$state/rgw/ceph-rgw.a"
[ -s "$keys/ceph.client.rgw.a.keyring" ] ||
  ceph_cli auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' mgr 'allow rw' -o "$keys/ceph.client.rgw.a.keyring"
rgw_up() { curl -sf "http://127.0.0.1:$s3_port/" | grep -q ListAllMyBucketsResult; }
if ! alive client.rgw.a; then
  start_daemon radosgw radosgw -c "$conf" -n client.rgw.a --rgw-frontends "beast endpoint=127.0.0.1:$s3_port"
  # Its first start makes its pools: about ten seconds.
  wait_until "radosgw on 127.0.0.1:$s3_port" 180 rgw_up
fi
if [ ! -s "$state/s3/secret-access-key" ]; then
  s3_admin() { timeout 60 radosgw-admin -c "$conf" -n client.admin "$@"; }
  s3_admin user info --uid orchestrator >/dev/null 2>&1 ||
    s3_admin user create --uid orchestrator --display-name 'odoo-orchestrator backups' >/dev/null
  s3_admin user info --uid orchestrator | /usr/bin/python3 -c '
import json, sys
key = json.load(sys.stdin)["keys"][0]
open(sys.argv[1] + "/access-key-id.new", "w").write(key["access_key"])
open(sys.argv[1] + "/secret-access-key.new", "w").write(key["secret_key"])' "$state/s3"
  chmod 600 "$state/s3"/*.new
fi
if [ -s "$state/s3/secret-access-key.new" ]; then
  wait_until "radosgw on 127.0.0.1:$s3_port" 180 rgw_up
  # The bucket, signed as that user (curl signs AWS SigV4 itself); 409 BucketAlreadyOwnedByYou on a second try is fine.
  empty_sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "x-amz-content-sha256: $empty_sha256" --aws-sigv4 'aws:amz:us-east-1:s3' \
    --user "$(cat "$state/s3/access-key-id.new"):$(cat "$state/s3/secret-access-key.new")" "http://127.0.0.1:$s3_port/$s3_bucket")
  [ "$code" = 200 ] || [ "$code" = 409 ] || die "creating the S3 bucket $s3_bucket failed (HTTP $code)"
  mv "$state/s3/access-key-id.new" "$state/s3/access-key-id"
  mv "$state/s3/secret-access-key.new" "$state/s3/secret-access-key"
  say "ceph: S3 user orchestrator and bucket $s3_bucket on http://127.0.0.1:$s3_port"
fi
printf 'S3_ENDPOINT=http://127.0.0.1:%s\nS3_BUCKET=%s\nS3_REGION=us-east-1\n' "$s3_port" "$s3_bucket" >"$state/s3/endpoint.env"
say "ceph: up in $((SECONDS - started)) s (CephFS at $mount_daemon and $mount_tenants, S3 on 127.0.0.1:$s3_port)"
