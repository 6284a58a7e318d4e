#!/usr/bin/env bash
# Bring up the local Docker Engine as a single-node Swarm manager, idempotently.
#
#   - installs Debian's docker.io when dockerd is missing
#   - starts dockerd (log: /var/log/dockerd.log) when the socket does not answer,
#     after clearing what an unclean stop leaves behind (stale pid files/sockets)
#   - `docker swarm init --advertise-addr 127.0.0.1` when the swarm is not active,
#     `--force-new-cluster` when an initialised swarm cannot find its leader
#   - creates docker_gwbridge explicitly (172.18.0.0/16, gateway 172.18.0.1 on the host)
#   - creates the attachable overlay network $SWARM_NETWORK (default odoo-net)
#
# Silent and quick when everything is already up; one line on stderr per action taken.
# Safe to execute or to source (when sourced it runs in a child bash and returns its status).
#
# Env: SWARM_NETWORK (odoo-net), DOCKERD_LOG (/var/log/dockerd.log),
#      DOCKERD_ARGS (extra dockerd flags), DOCKER_START_TIMEOUT (60 s),
#      SWARM_LEADER_TIMEOUT (60 s), GWBRIDGE_SUBNET (172.18.0.0/16), GWBRIDGE_GATEWAY (172.18.0.1)

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  bash "${BASH_SOURCE[0]}" "$@"
  return $?
fi

set -euo pipefail

SWARM_NETWORK="${SWARM_NETWORK:-odoo-net}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
DOCKERD_ARGS="${DOCKERD_ARGS:-}"
DOCKER_START_TIMEOUT="${DOCKER_START_TIMEOUT:-60}"
SWARM_LEADER_TIMEOUT="${SWARM_LEADER_TIMEOUT:-60}"
GWBRIDGE_SUBNET="${GWBRIDGE_SUBNET:-172.18.0.0/16}"
GWBRIDGE_GATEWAY="${GWBRIDGE_GATEWAY:-172.18.0.1}"

SOCK=/var/run/docker.sock
DOCKER_PIDFILE=/var/run/docker.pid
CONTAINERD_DIR=/var/run/docker/containerd

# This script manages the local engine: talk to its socket, whatever the caller's context.
export DOCKER_HOST="unix://$SOCK"
unset DOCKER_CONTEXT
export PATH="$PATH:/usr/sbin:/sbin"

say() { echo "docker.sh: $*" >&2; }
die() { echo "docker.sh: error: $*" >&2; exit 1; }

# Prefer the CLI shipped with the daemon (docker.io); /usr/local/bin/docker may be a newer
# client that works too (it negotiates API 1.41), but the matching one has no surprises.
docker_cli() {
  if [[ -x /usr/bin/docker ]]; then echo /usr/bin/docker
  elif command -v docker >/dev/null 2>&1; then command -v docker
  else echo ""
  fi
}
docker() { "$DOCKER_BIN" "$@"; }

# Is process $1 alive (not a zombie waiting to be reaped) and named $2?
proc_is() {
  local pid="$1" name="$2" comm stat
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || return 1
  [[ "$comm" == "$name" ]] || return 1
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"                      # fields after "pid (comm) "
  [[ "${stat:0:1}" != Z && "${stat:0:1}" != X ]]
}

# PIDs of live processes whose comm is exactly $1.
pids_named() {
  local f pid
  for f in /proc/[0-9]*/comm; do
    pid="${f#/proc/}"; pid="${pid%/comm}"
    [[ "$(cat "$f" 2>/dev/null)" == "$1" ]] && proc_is "$pid" "$1" && echo "$pid"
  done
  return 0
}

ping_daemon() {
  [[ -S "$SOCK" ]] || return 1
  if command -v curl >/dev/null 2>&1; then
    [[ "$(curl -s --max-time 3 --unix-socket "$SOCK" http://localhost/_ping 2>/dev/null)" == OK ]]
  else
    timeout 5 "$DOCKER_BIN" version >/dev/null 2>&1
  fi
}

ensure_installed() {
  if command -v dockerd >/dev/null 2>&1 && [[ -x /usr/bin/docker ]]; then return 0; fi
  [[ $EUID -eq 0 ]] || die "dockerd is not installed and I am not root (install Debian's docker.io)"
  say "installing docker.io with apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends docker.io iptables >/dev/null \
    || die "apt-get install docker.io failed"
  command -v dockerd >/dev/null 2>&1 || die "docker.io installed but dockerd is not on PATH"
}

# Remove what an unclean stop (kill -9, VM reset) leaves behind, without touching a live
# dockerd/containerd.
clean_stale_state() {
  local pid
  if [[ -f "$DOCKER_PIDFILE" ]]; then
    pid="$(cat "$DOCKER_PIDFILE" 2>/dev/null || true)"
    if ! proc_is "$pid" dockerd; then
      rm -f "$DOCKER_PIDFILE"
      say "removed stale $DOCKER_PIDFILE (pid ${pid:-?} is not a running dockerd)"
    fi
  fi
  if [[ -f "$CONTAINERD_DIR/containerd.pid" ]]; then
    pid="$(cat "$CONTAINERD_DIR/containerd.pid" 2>/dev/null || true)"
    if proc_is "$pid" containerd; then
      : # an orphaned containerd from the previous dockerd: dockerd re-attaches to it
    else
      rm -f "$CONTAINERD_DIR/containerd.pid" "$CONTAINERD_DIR/containerd.sock" \
            "$CONTAINERD_DIR/containerd.sock.ttrpc" "$CONTAINERD_DIR/containerd-debug.sock"
      say "removed stale containerd pid file and sockets (pid ${pid:-?} is gone)"
    fi
  fi
  # A socket file nobody answers on: dockerd recreates it, but remove it so that
  # "socket exists" never means "daemon is up" to anyone else.
  if [[ -S "$SOCK" ]] && [[ -z "$(pids_named dockerd)" ]]; then
    rm -f "$SOCK"
  fi
}

ensure_daemon() {
  ping_daemon && return 0
  [[ $EUID -eq 0 ]] || die "the docker socket $SOCK does not answer and I am not root to start dockerd"

  local running
  running="$(pids_named dockerd | head -n1)"
  if [[ -n "$running" ]]; then
    say "dockerd (pid $running) is running but not answering yet; waiting"
  else
    clean_stale_state
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    # setsid: own session, so the caller's Ctrl-C or process-group kill does not take it down;
    # 9>&-: the lock fd must not be inherited (dockerd would hold the lock forever)
    # shellcheck disable=SC2086
    setsid dockerd $DOCKERD_ARGS >>"$DOCKERD_LOG" 2>&1 </dev/null 9>&- &
    running=$!
    disown "$running" 2>/dev/null || true
    say "started dockerd (pid $running, log $DOCKERD_LOG)"
  fi

  local deadline=$((SECONDS + DOCKER_START_TIMEOUT))
  until ping_daemon; do
    if ! proc_is "$running" dockerd && [[ -z "$(pids_named dockerd)" ]]; then
      echo "--- last lines of $DOCKERD_LOG ---" >&2
      tail -n 20 "$DOCKERD_LOG" >&2 || true
      die "dockerd exited during start-up (see $DOCKERD_LOG)"
    fi
    if (( SECONDS >= deadline )); then
      echo "--- last lines of $DOCKERD_LOG ---" >&2
      tail -n 20 "$DOCKERD_LOG" >&2 || true
      die "dockerd did not answer on $SOCK within ${DOCKER_START_TIMEOUT}s (see $DOCKERD_LOG)"
    fi
    sleep 0.3
  done
  docker info >/dev/null 2>&1 || die "dockerd answers _ping but 'docker info' fails"
}

network_exists() { docker network inspect --format '{{.Name}}' "$1" >/dev/null 2>&1; }

ensure_gwbridge() {
  network_exists docker_gwbridge && return 0
  # As documented for a custom docker_gwbridge (docs: "Customize the docker_gwbridge").
  local out
  if out="$(docker network create \
      --driver bridge \
      --subnet "$GWBRIDGE_SUBNET" --gateway "$GWBRIDGE_GATEWAY" \
      --opt com.docker.network.bridge.name=docker_gwbridge \
      --opt com.docker.network.bridge.enable_icc=false \
      --opt com.docker.network.bridge.enable_ip_masquerade=true \
      docker_gwbridge 2>&1)"; then
    say "created network docker_gwbridge ($GWBRIDGE_SUBNET, gateway $GWBRIDGE_GATEWAY)"
  elif network_exists docker_gwbridge; then
    : # created concurrently (the swarm creates it lazily too)
  else
    die "could not create docker_gwbridge: $out"
  fi
}

swarm_info() {
  docker info --format '{{.Swarm.LocalNodeState}}|{{.Swarm.ControlAvailable}}|{{.Swarm.Error}}' 2>/dev/null || echo "unknown|false|docker info failed"
}

# The manager has a raft leader (control API usable)?
manager_ready() { docker node inspect self --format '{{.ID}}' >/dev/null 2>&1; }

swarm_init() {
  local out
  if out="$(docker swarm init --advertise-addr 127.0.0.1 "$@" 2>&1)"; then
    say "docker swarm init --advertise-addr 127.0.0.1 $* (node $(docker info --format '{{.Swarm.NodeID}}'))"
    return 0
  fi
  echo "$out" >&2
  return 1
}

ensure_swarm() {
  local info state control err
  info="$(swarm_info)"
  IFS='|' read -r state control err <<<"$info"

  # After a restart an initialised node is briefly "pending" before it is "active" again.
  local deadline=$((SECONDS + SWARM_LEADER_TIMEOUT))
  while [[ "$state" == pending ]] && (( SECONDS < deadline )); do
    sleep 0.5
    IFS='|' read -r state control err <<<"$(swarm_info)"
  done

  case "$state" in
    inactive)
      swarm_init || die "docker swarm init failed"
      ;;
    active)
      if [[ "$control" != true ]]; then
        die "this node is in a swarm but is not a manager; leave it first (docker swarm leave --force)"
      fi
      # A restarted single manager needs a moment to elect itself leader again.
      until manager_ready; do
        if (( SECONDS >= deadline )); then
          say "swarm is initialised but has no leader after ${SWARM_LEADER_TIMEOUT}s; forcing a new cluster from local state"
          swarm_init --force-new-cluster || die "docker swarm init --force-new-cluster failed"
          break
        fi
        sleep 0.5
      done
      ;;
    pending|error)
      say "swarm state is '$state' (${err:-no error given}); forcing a new cluster from local state"
      if ! swarm_init --force-new-cluster; then
        say "force-new-cluster failed; leaving the broken swarm and initialising a fresh one (services and secrets of the old swarm are lost)"
        docker swarm leave --force >/dev/null 2>&1 || true
        swarm_init || die "docker swarm init failed after leaving the broken swarm"
      fi
      ;;
    locked)
      die "the swarm is locked (autolock); run 'docker swarm unlock' with its key"
      ;;
    *)
      die "cannot read swarm state from 'docker info' ($state: $err)"
      ;;
  esac

  deadline=$((SECONDS + SWARM_LEADER_TIMEOUT))
  until manager_ready; do
    (( SECONDS < deadline )) || die "swarm manager not ready after ${SWARM_LEADER_TIMEOUT}s"
    sleep 0.5
  done
}

ensure_overlay() {
  network_exists "$SWARM_NETWORK" && {
    local driver
    driver="$(docker network inspect --format '{{.Driver}} {{.Attachable}}' "$SWARM_NETWORK")"
    [[ "$driver" == "overlay true" ]] \
      || die "network $SWARM_NETWORK exists but is not an attachable overlay ($driver)"
    return 0
  }
  local out
  if out="$(docker network create --driver overlay --attachable "$SWARM_NETWORK" 2>&1)"; then
    say "created attachable overlay network $SWARM_NETWORK"
  elif network_exists "$SWARM_NETWORK"; then
    : # created concurrently
  else
    die "could not create overlay network $SWARM_NETWORK: $out"
  fi
}

check_gateway_address() {
  command -v ip >/dev/null 2>&1 || return 0
  local gw
  gw="$(docker network inspect --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}' docker_gwbridge 2>/dev/null || true)"
  [[ -n "$gw" ]] || return 0
  if ! ip -4 -o addr show 2>/dev/null | grep -q " ${gw}/"; then
    say "warning: docker_gwbridge gateway $gw is not configured on any host interface"
  fi
}

main() {
  # Serialise concurrent bring-ups (parallel test runners, dev + test).
  if command -v flock >/dev/null 2>&1 && [[ -w /run/lock || -w /var/lock ]]; then
    local lockdir=/run/lock; [[ -w $lockdir ]] || lockdir=/var/lock
    exec 9>"$lockdir/odoo-orchestrator-docker.lock"
    flock -w 180 9 || die "another docker.sh has held the lock for 180s"
  fi

  ensure_installed
  DOCKER_BIN="$(docker_cli)"
  [[ -n "$DOCKER_BIN" ]] || die "no docker CLI found"

  ensure_daemon
  # docker_gwbridge must exist before the swarm creates one with its own defaults.
  ensure_gwbridge
  ensure_swarm
  ensure_gwbridge
  ensure_overlay
  check_gateway_address
}

main "$@"
