#!/usr/bin/env bash
# A throwaway PostgreSQL server for the registry's tests and benchmark.
#
#   scripts/postgres.sh start   initdb (once) and start a cluster on 127.0.0.1, create db keel_test;
#                               installs Debian's `postgresql` first when its binaries are missing
#   scripts/postgres.sh stop    stop it (the data stays in $KEEL_PG_DIR; rm -rf it to start afresh)
#   scripts/postgres.sh url     print the URL the tests use by default
#
# KEEL_PG_DIR (default /tmp/keel-pg) holds the cluster, its log and socket; KEEL_PG_PORT (default
# 55432) is the port. Trust authentication on loopback only: for tests, never for real data.
# Run as root (CI), the server runs as the `postgres` user, since PostgreSQL refuses root.
set -euo pipefail

PG_DIR=${KEEL_PG_DIR:-/tmp/keel-pg}
PG_PORT=${KEEL_PG_PORT:-55432}
DB=keel_test
URL="postgresql+psycopg://postgres@127.0.0.1:${PG_PORT}/${DB}"

bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -n "$dir" && -x "$dir/initdb" ]] && echo "$dir"
}

as_server() {  # run a command as the user that owns the cluster
  if [[ $(id -u) -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

install() {
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "postgres.sh: no PostgreSQL in /usr/lib/postgresql: install Debian's postgresql package" >&2
    exit 1
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
}

running() {
  as_server "$1/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1
}

answers() {  # answers BIN SECONDS: the server accepts connections within SECONDS
  local i
  for ((i = 0; i < $2 * 5; i++)); do
    "$1/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -q && return 0
    sleep 0.2
  done
  return 1
}

start() {
  local bin did=""
  bin=$(bin_dir) || { install; did="installed PostgreSQL; "; bin=$(bin_dir); }
  mkdir -p "$PG_DIR"
  if [[ $(id -u) -eq 0 ]]; then chown postgres: "$PG_DIR"; fi
  if [[ ! -f "$PG_DIR/data/PG_VERSION" ]]; then
    as_server "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 \
      --no-locale >"$PG_DIR/initdb.log" 2>&1 \
      || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
    did+="created a cluster in $PG_DIR; "
  fi
  if running "$bin" && answers "$bin" 10; then
    did+="the server was already running"
  else  # not running, or a stale pid file left by a killed server: (re)start it
    as_server "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories='$PG_DIR'" \
      start >/dev/null || { tail -n 20 "$PG_DIR/server.log" >&2; exit 1; }
    did+="started the server"
  fi
  answers "$bin" 60 || { echo "postgres.sh: the server does not answer" >&2; tail -n 20 "$PG_DIR/server.log" >&2; exit 1; }
  local psql=("$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAq)
  if [[ -z $("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$DB'") ]]; then
    "${psql[@]}" -c "CREATE DATABASE $DB"
  fi
  echo "postgres.sh: ${did} on 127.0.0.1:$PG_PORT: $URL"
}

stop() {
  local bin
  bin=$(bin_dir) || { echo "postgres.sh: PostgreSQL is not installed: nothing to stop"; return; }
  if [[ -f "$PG_DIR/data/PG_VERSION" ]] && running "$bin"; then
    as_server "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null
    echo "postgres.sh: stopped the server in $PG_DIR (port $PG_PORT)"
  else
    echo "postgres.sh: no server running in $PG_DIR"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) echo "$URL" ;;
  *) echo "usage: scripts/postgres.sh start|stop|url" >&2; exit 2 ;;
esac
