#!/bin/sh
# Writes the htpasswd file from the mounted account (the password never appears on a command
# line), then runs the registry in the foreground. Any other command is run as given.
set -eu
secrets=/run/cslr-registry
if [ "$#" -gt 0 ]; then exec "$@"; fi
for f in tls.crt tls.key user password; do
  [ -s "$secrets/$f" ] || { echo "cslr-registry: $secrets/$f is missing or empty" >&2; exit 64; }
done
umask 077
htpasswd -iBc /etc/cslr-registry/htpasswd "$(cat "$secrets/user")" < "$secrets/password" 2>/dev/null
exec docker-registry serve /etc/cslr-registry/config.yml
