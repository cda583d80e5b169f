#!/bin/sh
# Entrypoint of cslr-lab/redis: the official redis image's contract, on Debian's redis-server.
set -e

# Bare options (`--requirepass x`) or a config file: run them with redis-server.
case "$1" in
  -*|*.conf) set -- redis-server "$@" ;;
esac

if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
  find . \! -user redis -exec chown redis '{}' + 2>/dev/null || true
  umask 0077
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

# Without a config file the server is meant to be reached from other containers/hosts
# (access is limited by the network and --requirepass): protected mode off, as the
# official image does. A config file keeps whatever it says.
if [ "$1" = 'redis-server' ]; then
  conf_given=
  case "$2" in *.conf) [ -f "$2" ] && conf_given=1 ;; esac
  if [ -z "$conf_given" ]; then
    set -- "$@" --protected-mode no
  fi
fi

exec "$@"
