#!/usr/bin/env bash
# The real Odoo servers, for the end-to-end suites, the benchmarks and `npm run dev`: local/odoo:<version> for 17.0,
# 18.0 and every other version whose source is in $ODOO_SOURCE_DIR. Each one is, in this order:
#
#   1. the official odoo:<version> image, when dockerd has it or a registry gives it (`docker pull`), tagged as is;
#   2. built offline from $ODOO_SOURCE_DIR/odoo-<version>.tar.xz (default folder /work/shared/odoo), laid out as the
#      official image lays out the .deb: Debian bookworm with the `Depends:` of the server's debian/control and the
#      packages dh_python3 derives from its setup.py (local/odoo-base:bookworm, debootstrapped once for every version
#      present), the server in /usr/lib/python3/dist-packages/odoo with every addon in odoo/addons/, /usr/bin/odoo,
#      user odoo (uid/gid 101, home /var/lib/odoo), /etc/odoo/odoo.conf, ODOO_RC, the entrypoint and
#      wait-for-psql.py (test/images/odoo-standin holds them: the stand-in honours the same contract).
#
# Neither: an error naming both. Rebuilt only when what it is made from changes (a content hash in the image's label);
# silent when all is up to date. Run by images.sh (under its lock); alone, it takes the lock itself.
# Env: ODOO_SOURCE_DIR, STANDIN_CACHE, DEBIAN_MIRROR, STANDIN_FORCE=1 (rebuild), SKIP_IMAGE_BUILD=1 (only what is
#      missing), ODOO_PULL=0 (never ask a registry).

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${STANDIN_CACHE:-/var/cache/odoo-orchestrator}"
SOURCE_DIR="${ODOO_SOURCE_DIR:-/work/shared/odoo}"
REQUIRED_VERSIONS=(17.0 18.0)
BASE_TAG=local/odoo-base:bookworm
LABEL=com.example.standin.hash
# Bump when the way the base is made changes.
BASE_RECIPE=1

# Beside each server's own dependencies: what the health check and the tools need (curl, ps), and the Python
# libraries the official image adds for optional features of the server.
IMAGE_PACKAGES=(
  ca-certificates curl netbase procps tzdata xz-utils python3
  python3-setuptools python3-magic python3-odf python3-pdfminer python3-phonenumbers python3-ldap
  python3-slugify python3-watchdog python3-xlwt
)

say() { echo "odoo-images.sh: $*" >&2; }
die() { echo "odoo-images.sh: error: $*" >&2; exit 1; }

. "$HERE/classic-build.sh"
. "$HERE/rootfs.sh"

# The Debian packages a server's .deb depends on, one line each, alternatives separated by `|`: its control file's
# Depends (substitution variables and comments dropped) and, for ${python3:Depends}, setup.py's install_requires
# named as dh_python3 names them.
dependency_lines() {
  python3 - "$1" "$2" <<'PY'
import re, sys
control, setup = (open(path, encoding="utf-8").read() for path in sys.argv[1:3])
depends = re.search(r"^Depends:(.*?)(?=^[A-Za-z-]+:)", control, re.S | re.M).group(1)
for item in depends.split(","):
    item = "\n".join(line for line in item.splitlines() if not line.strip().startswith("#")).strip()
    if item and "${" not in item:
        print("|".join(alternative.split()[0] for alternative in item.split("|")))
# dh_python3's names for the distributions whose Debian package is not python3-<lower-case name>.
debian_names = {"pillow": "pil", "pyopenssl": "openssl", "pyserial": "serial", "pyusb": "usb", "pytz": "tz"}
requires = re.search(r"install_requires\s*=\s*\[(.*?)\]", setup, re.S).group(1)
for name in re.findall(r"""['"]([A-Za-z0-9_.-]+)""", requires):
    name = name.lower()
    name = debian_names.get(name, name[len("python-"):] if name.startswith("python-") else name)
    print("python3-" + name)
PY
}

# The first alternative the mirror has (as the host's apt knows it: same suite), for each line on stdin.
first_available() {
  local lines line alternative
  mapfile -t lines
  declare -A known=()
  # Each line's alternatives ("a|b") become words of their own: the expansion is split on purpose.
  # shellcheck disable=SC2068
  while read -r line; do known[$line]=1; done < <(apt-cache show --no-all-versions ${lines[@]//|/ } 2>/dev/null \
    | sed -n 's/^Package: //p')
  for line in "${lines[@]}"; do
    for alternative in ${line//|/ }; do
      if [[ -n "${known[$alternative]:-}" ]]; then echo "$alternative"; continue 2; fi
    done
    say "no package of '$line' is in $SUITE: left out"
  done
}

# The packages version $1's server needs, from its tarball $2 (cached by the tarball's hash, $3).
packages_of() {
  local version="$1" tarball="$2" list="$CACHE/odoo/packages-$BASE_RECIPE-$3" work
  if [[ ! -s "$list" ]]; then
    apt-cache show --no-all-versions python3 >/dev/null 2>&1 || apt-get update -qq >/dev/null
    work="$(mktemp -d)"
    tar -xJf "$tarball" -C "$work" ./debian/control ./setup.py
    dependency_lines "$work/debian/control" "$work/setup.py" | first_available | LC_ALL=C sort -u >"$list.partial"
    rm -rf "$work"
    mv "$list.partial" "$list"
  fi
  cat "$list"
}

# Tags the official image local/odoo:$1 if dockerd has it or can pull it; fails otherwise (the reason in $pull_error).
pull_error=""
official_image() {
  local version="$1" official="odoo:$1"
  if [[ -z "$(image_id "$official")" ]]; then
    [[ "${ODOO_PULL:-1}" == 0 ]] && { pull_error="ODOO_PULL=0"; return 1; }
    if ! pull_error="$(docker pull -q "$official" 2>&1)"; then
      pull_error="$(tail -n1 <<<"$pull_error")"
      return 1
    fi
  fi
  if [[ "$(image_id "$official")" != "$(image_id "local/odoo:$version")" ]]; then
    docker tag "$official" "local/odoo:$version"
    say "local/odoo:$version is the official $official"
  fi
}

build_server() {
  local version="$1" tarball="$2" hash="$3" context="$CACHE/odoo/context-$1"
  rm -rf "$context" && mkdir -p "$context"
  cp "$REPO/test/images/odoo/Dockerfile" "$context/"
  cp -p "$REPO/test/images/odoo-standin/"{entrypoint.sh,wait-for-psql.py,odoo.conf,add-odoo-user.sh} "$context/"
  cp "$tarball" "$context/odoo.tar.xz"
  classic_build "local/odoo:$version" "$context" "$CACHE/build-odoo-$version.log" \
    --build-arg "BASE_IMAGE=$BASE_TAG" --build-arg "ODOO_VERSION=$version" --label "$LABEL=$hash"
  rm -rf "$context"
}

main() {
  mkdir -p "$CACHE/odoo"
  if [[ "${IMAGES_LOCK_HELD:-0}" != 1 ]]; then
    exec 9>"$CACHE/.images.lock"
    flock -w 900 9 || die "another images.sh has held $CACHE/.images.lock for 900s"
  fi

  local versions=("${REQUIRED_VERSIONS[@]}") tarball version
  for tarball in "$SOURCE_DIR"/odoo-*.tar.xz; do
    [[ -f "$tarball" ]] || continue
    version="${tarball##*/odoo-}" && version="${version%.tar.xz}"
    [[ " ${versions[*]} " == *" $version "* ]] || versions+=("$version")
  done

  # What each version is made from, and the base every tarball-built server shares.
  declare -A sums=()
  local base_packages=("${IMAGE_PACKAGES[@]}")
  for version in "${versions[@]}"; do
    tarball="$SOURCE_DIR/odoo-$version.tar.xz"
    [[ -f "$tarball" ]] || continue
    sums[$version]="$(sha256sum "$tarball" | cut -c1-16)"
    mapfile -t -O "${#base_packages[@]}" base_packages < <(packages_of "$version" "$tarball" "${sums[$version]}")
  done
  mapfile -t base_packages < <(printf '%s\n' "${base_packages[@]}" | LC_ALL=C sort -u)
  local base_hash
  base_hash="$(printf '%s\n' "$BASE_RECIPE" "$SUITE" "${base_packages[@]}" | sha256sum | cut -c1-16)"
  local standin_files
  standin_files="$(cd "$REPO/test/images/odoo-standin" && sha256sum entrypoint.sh wait-for-psql.py odoo.conf add-odoo-user.sh)"

  local hash tag base_built=0
  for version in "${versions[@]}"; do
    tag="local/odoo:$version"
    tarball="$SOURCE_DIR/odoo-$version.tar.xz"
    if [[ "${STANDIN_FORCE:-0}" != 1 && -n "$(image_id "odoo:$version")" ]]; then
      official_image "$version" && continue
    fi
    hash=""
    [[ -n "${sums[$version]:-}" ]] && hash="$(context_hash "$REPO/test/images/odoo" "$base_hash" "${sums[$version]}" "$standin_files")"
    if [[ -n "$(image_id "$tag")" ]]; then
      [[ -n "$hash" ]] && ! stale "$tag" "$hash" && continue
      # Built before from a source no longer here, or another checkout owns the images: used as it is.
      [[ -z "$hash" || "${SKIP_IMAGE_BUILD:-0}" == 1 ]] && [[ "${STANDIN_FORCE:-0}" != 1 ]] && continue
    fi
    official_image "$version" && continue
    [[ -n "$hash" ]] || die "no Odoo $version image: the registry did not give odoo:$version ($pull_error)" \
      "and $tarball does not exist (ODOO_SOURCE_DIR names the folder holding odoo-<version>.tar.xz)"
    if [[ $base_built == 0 ]] && stale "$BASE_TAG" "$base_hash"; then
      local old_base
      old_base="$(image_id "$BASE_TAG")"
      rootfs_image "$BASE_TAG" "$base_hash" "${base_packages[@]}"
      [[ -n "$old_base" ]] && docker image rm "$old_base" >/dev/null 2>&1 || true
      base_built=1
    fi
    build_server "$version" "$tarball" "$hash"
  done
}

main "$@"
