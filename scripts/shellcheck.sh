#!/usr/bin/env bash
# The lint's shell part: ShellCheck (installed with apt when missing) on every shell script of the project, the jobs'
# scripts (src/swarm/scripts) included. The test images' entrypoints follow their upstream images and are left out.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/env/lib.sh"
apt_ensure shellcheck
cd "$root"
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.sh' | grep -v '^test/images/')
shellcheck --external-sources --severity=warning "${files[@]}"
