#!/usr/bin/env bash
# Entrypoint of cslr-lab/postgres: the basic contract of the official postgres image, on
# Debian's postgresql packages.
#   first start (no $PGDATA/PG_VERSION): initdb as user postgres with superuser
#     $POSTGRES_USER (default postgres) and password $POSTGRES_PASSWORD (or the content of
#     $POSTGRES_PASSWORD_FILE); local (socket) connections trusted, remote ones
#     `host all all all $POSTGRES_HOST_AUTH_METHOD` (default scram-sha-256); listen on '*';
#     create $POSTGRES_DB (default $POSTGRES_USER); run /docker-entrypoint-initdb.d/*.sh|*.sql
#   every start: drop root to postgres, then exec the command (postgres: PID 1 of the
#     container, so `docker stop` reaches the server and it shuts down cleanly).
set -Eeuo pipefail

log() { echo "postgres-entrypoint: $*" >&2; }

# VAR or VAR_FILE (not both), as the official image.
file_env() {
  local var=$1 file_var="${1}_FILE" def=${2:-} val
  if [[ -n ${!var:-} && -n ${!file_var:-} ]]; then
    log "both $var and $file_var are set (they are exclusive)"; exit 1
  fi
  val=$def
  if [[ -n ${!var:-} ]]; then
    val=${!var}
  elif [[ -n ${!file_var:-} ]]; then
    val=$(<"${!file_var}")
  fi
  export "$var"="$val"
  unset "$file_var"
}

# Bare options: run them with postgres.
if [[ ${1:-} == -* ]]; then
  set -- postgres "$@"
fi

if [[ ${1:-} == postgres && $(id -u) == 0 ]]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres /var/run/postgresql
  chmod 3777 /var/run/postgresql
  # A fresh volume belongs to root: hand it to postgres (not an existing cluster's files).
  if [[ ! -s $PGDATA/PG_VERSION ]]; then
    chown -R postgres:postgres "$PGDATA"
  else
    chown postgres:postgres "$PGDATA"
  fi
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

init_cluster() {
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"

  if [[ -z $POSTGRES_PASSWORD && $POSTGRES_HOST_AUTH_METHOD != trust ]]; then
    log "database is uninitialized and no superuser password is given."
    log "Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value,"
    log "or POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a password (never in production)."
    exit 1
  fi

  log "initializing $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
  local pwfile
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS are words, as in the official image
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD" \
    $POSTGRES_INITDB_ARGS >/dev/null
  rm -f "$pwfile"

  {
    echo
    echo "# cslr-lab/postgres: remote connections (the official image's rule)"
    echo "host all all all $POSTGRES_HOST_AUTH_METHOD"
  } >>"$PGDATA/pg_hba.conf"
  {
    echo
    echo "# cslr-lab/postgres"
    echo "listen_addresses = '*'"
  } >>"$PGDATA/postgresql.conf"

  # Temporary server on the socket only, for the database and the init scripts.
  PGUSER=$POSTGRES_USER pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w -s start
  local psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
  if [[ $POSTGRES_DB != postgres ]]; then
    "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" -q <<<"CREATE DATABASE :\"db\";"
  fi
  local f
  # shellcheck disable=SC1090  # sources the user's init scripts
  for f in /docker-entrypoint-initdb.d/*; do
    case $f in
      *.sh) log "running $f"; if [[ -x $f ]]; then "$f"; else . "$f"; fi ;;
      *.sql) log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -q -f "$f" ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" -q ;;
      */\*) ;;
      *) log "ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w -s stop
  unset POSTGRES_PASSWORD
  log "init done; starting the server"
}

if [[ ${1:-} == postgres && ! -s $PGDATA/PG_VERSION ]]; then
  init_cluster
fi

exec "$@"
