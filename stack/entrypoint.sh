#!/bin/sh
# The daemon image's entrypoint. The daemon reads DATABASE_URL and REDIS_URL; in a stack their
# passwords come from Docker secrets, so that no password shows in `docker service inspect`:
#
#   DATABASE_URL unset and DATABASE_PASSWORD_FILE set:
#     postgres://DATABASE_USER:<password>@DATABASE_HOST:DATABASE_PORT/DATABASE_NAME
#     (defaults: orchestrator, orchestrator-db, 5432, orchestrator)
#   REDIS_URL unset and REDIS_PASSWORD_FILE set:
#     redis://[REDIS_USER]:<password>@REDIS_HOST:REDIS_PORT/REDIS_DB
#     (defaults: no user, orchestrator-redis, 6379, 0)
#
# User name and password are percent-encoded; a trailing newline in a secret file is not part of
# the password. Then it waits for both servers (below), and the command replaces this script
# (exec), so it receives the stop signal itself.
set -eu

# url_from_secret SCHEME USER HOST PORT PATH FILE VARIABLE
url_from_secret() {
  node -e '
    const [scheme, user, host, port, path, file, variable] = process.argv.slice(1);
    let password;
    try {
      password = require("node:fs").readFileSync(file, "utf8").replace(/\r?\n$/, "");
    } catch (error) {
      console.error(`entrypoint: ${variable}: cannot read ${file} (${error.code ?? error.message})`);
      process.exit(2);
    }
    if (!password) {
      console.error(`entrypoint: ${variable}: ${file} is empty`);
      process.exit(2);
    }
    process.stdout.write(`${scheme}://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}${path}`);
  ' "$@"
}

if [ -z "${DATABASE_URL:-}" ] && [ -n "${DATABASE_PASSWORD_FILE:-}" ]; then
  DATABASE_URL="$(url_from_secret postgres "${DATABASE_USER:-orchestrator}" "${DATABASE_HOST:-orchestrator-db}" \
    "${DATABASE_PORT:-5432}" "/${DATABASE_NAME:-orchestrator}" "$DATABASE_PASSWORD_FILE" DATABASE_PASSWORD_FILE)"
  export DATABASE_URL
fi

if [ -z "${REDIS_URL:-}" ] && [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
  REDIS_URL="$(url_from_secret redis "${REDIS_USER:-}" "${REDIS_HOST:-orchestrator-redis}" \
    "${REDIS_PORT:-6379}" "/${REDIS_DB:-0}" "$REDIS_PASSWORD_FILE" REDIS_PASSWORD_FILE)"
  export REDIS_URL
fi

# In a stack the daemon may start before its PostgreSQL and Redis (Swarm has no start order, and a
# dnsrr name resolves only once its task runs): wait for both to accept connections, up to
# ORCHESTRATOR_WAIT_SECONDS (60; 0: no wait), instead of failing the task. The URLs stay in the
# environment (not on a command line). After the wait the daemon starts anyway and reports.
if [ "${ORCHESTRATOR_WAIT_SECONDS:-60}" -gt 0 ] 2>/dev/null; then
  node -e '
    const net = require("node:net");
    const deadline = Date.now() + Number(process.env.ORCHESTRATOR_WAIT_SECONDS || 60) * 1000;
    const targets = [["DATABASE_URL", 5432], ["REDIS_URL", 6379]].flatMap(([name, port]) => {
      try {
        const url = new URL(process.env[name]);
        return [{ host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || port) }];
      } catch {
        return [];
      }
    });
    const answers = ({ host, port }) =>
      new Promise((resolve) => {
        const socket = net.connect({ host, port, timeout: 2000 });
        const done = (ok) => { socket.destroy(); resolve(ok); };
        socket.once("connect", () => done(true)).once("error", () => done(false)).once("timeout", () => done(false));
      });
    (async () => {
      for (const target of targets) {
        let told = false;
        while (!(await answers(target))) {
          if (Date.now() > deadline) return console.error(`entrypoint: ${target.host}:${target.port} does not answer; starting anyway`);
          if (!told) console.error(`entrypoint: waiting for ${target.host}:${target.port}`);
          told = true;
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      }
    })();
  '
fi

exec "$@"
