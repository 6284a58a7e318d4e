#!/usr/bin/env bash
# Installs the npm dependencies exactly as the lockfile says (`npm ci`) when node_modules is missing or older than
# package-lock.json; quiet otherwise. Run by `npm run dev` and `npm test`, so a fresh clone needs no other step.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)
installed="$root/node_modules/.package-lock.json"
if [ -f "$installed" ] && [ ! "$root/package-lock.json" -nt "$installed" ]; then exit 0; fi
say "npm ci (node_modules is missing or older than package-lock.json)"
start=$SECONDS
(cd "$root" && npm ci --no-audit --no-fund --loglevel=warn) || die "npm ci failed"
say "installed npm dependencies in $((SECONDS - start))s"
