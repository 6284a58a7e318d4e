#!/bin/sh
# The official redis image's docker-entrypoint.sh (docker-library/redis, 7.x), with Debian's
# setpriv in place of gosu. The official image also builds Redis with protected mode off by
# default ("unnecessary in the context of Docker"); Debian's binary has it on, so it is turned
# off on the command line instead, before the caller's own options (which still win), unless a
# configuration file decides (the first argument names one).
set -e

# first arg is `-f` or `--some-option`
# or first arg is `something.conf`
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

# allow the container to be started with `--user`
if [ "$1" = 'redis-server' -a "$(id -u)" = '0' ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "$1" = 'redis-server' ]; then
	shift
	case "${1:-}" in
		-) shift; set -- redis-server - --protected-mode no "$@" ;;   # configuration from stdin, then these options
		''|-*) set -- redis-server --protected-mode no "$@" ;;
		*) set -- redis-server "$@" ;;                                # a configuration file
	esac
fi

# set an appropriate umask (if one isn't set already)
um="$(umask)"
if [ "$um" = '0022' ]; then
	umask 0077
fi

exec "$@"
