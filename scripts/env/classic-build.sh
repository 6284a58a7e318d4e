# shellcheck shell=bash
# Sourced by images.sh and daemon-image.sh, after they define say, die and LABEL (the label holding an image's
# content hash). BuildKit would look the base image up in a registry, which is not reachable here: the classic
# builder is used.

if [[ -x /usr/bin/docker ]]; then DOCKER_BIN=/usr/bin/docker; else DOCKER_BIN="$(command -v docker || true)"; fi
docker() { "$DOCKER_BIN" "$@"; }

image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
image_label() { docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null || true; }

# classic_build TAG CONTEXT LOG [docker build args...]: builds, replaces TAG, drops the image it replaced
# (unless a container still uses it).
classic_build() {
  local tag="$1" context="$2" log="$3" old_id start=$SECONDS
  shift 3
  old_id="$(image_id "$tag")"
  say "building $tag (classic builder, log $log)"
  if ! DOCKER_BUILDKIT=0 docker build --pull=false --force-rm -t "$tag" "$@" "$context" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "docker build of $tag failed (see $log)"
  fi
  say "built $tag in $((SECONDS - start))s"
  if [[ -n "$old_id" && "$old_id" != "$(image_id "$tag")" ]]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
}
