#!/usr/bin/env bash
# Redis on 127.0.0.1:6379, started when it does not answer; 64 databases, so parallel test suites each get their own.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

apt_ensure redis-server
is_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
if ! is_up; then
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --dir /var/lib/redis \
    --logfile /var/log/redis/redis-server.log --appendonly yes --databases 64 >/dev/null
  wait_until "Redis" 20 is_up
fi
