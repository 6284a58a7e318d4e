# shellcheck shell=bash
# Functions every job script starts with (the daemon puts this file before the script it runs).

# The sha256 of a file (or of stdin), in hex. OpenSSL uses the CPU's SHA instructions, about five times faster than
# coreutils' sha256sum, which stands in where the image has no openssl.
sha256() { if command -v openssl >/dev/null; then openssl dgst -sha256 -r "$@"; else sha256sum "$@"; fi | cut -d' ' -f1; }
