#!/usr/bin/env bash
# Installs the npm dependencies exactly as the lockfile says (`npm ci`) when node_modules is missing or was installed
# from another package-lock.json; quiet otherwise. Run by `npm run dev` and `npm test`, so a fresh clone needs no
# other step. A node_modules that is a link belongs to another checkout: it is left alone.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)
[ -L "$root/node_modules" ] && exit 0
stamp="$root/node_modules/.installed-from"
wanted=$(sha256sum "$root/package-lock.json" | cut -c1-64)
[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && exit 0
say "npm ci (node_modules is missing or was installed from another package-lock.json)"
start=$SECONDS
(cd "$root" && npm ci --no-audit --no-fund --loglevel=warn) || die "npm ci failed"
printf '%s\n' "$wanted" >"$stamp"
say "installed npm dependencies in $((SECONDS - start))s"
