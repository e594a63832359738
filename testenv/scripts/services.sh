#!/usr/bin/env bash
# Throwaway PostgreSQL + Redis for `network.mjs --appview`, from Debian packages
# (apt-get install -y postgresql redis-server). Loopback only, trust auth, data
# under $ATOAUTH_TESTENV_SVC_DIR (default /tmp/atoauth-testenv-svc).
#
#   testenv/scripts/services.sh start   # prints the env to export
#   testenv/scripts/services.sh env     # prints DB_POSTGRES_URL / REDIS_HOST
#   testenv/scripts/services.sh stop    # stops both and deletes the data
#
# Ports: PostgreSQL $ATOAUTH_TESTENV_PG_PORT (5433), Redis
# $ATOAUTH_TESTENV_REDIS_PORT (6390). When run as root, PostgreSQL runs as the
# "postgres" user (initdb refuses root).
set -euo pipefail

dir="${ATOAUTH_TESTENV_SVC_DIR:-/tmp/atoauth-testenv-svc}"
pg_port="${ATOAUTH_TESTENV_PG_PORT:-5433}"
redis_port="${ATOAUTH_TESTENV_REDIS_PORT:-6390}"

pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

print_env() {
  echo "export DB_POSTGRES_URL=postgresql://postgres@127.0.0.1:${pg_port}/postgres"
  echo "export REDIS_HOST=127.0.0.1:${redis_port}"
}

case "${1:-}" in
start)
  if [ -z "$pg_bin" ] || ! command -v redis-server >/dev/null; then
    echo "need Debian packages postgresql and redis-server" >&2
    exit 1
  fi
  mkdir -p "$dir"
  chmod 755 "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  if [ ! -f "$dir/pg/PG_VERSION" ]; then
    as_pg "$pg_bin/initdb" -D "$dir/pg" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log"
  fi
  if ! as_pg "$pg_bin/pg_ctl" -D "$dir/pg" status >/dev/null 2>&1; then
    as_pg "$pg_bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w start \
      -o "-p $pg_port -c listen_addresses=127.0.0.1 -k $dir -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null
  fi
  if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes \
      --save '' --appendonly no --dir "$dir" \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  print_env
  ;;
env)
  print_env
  ;;
stop)
  if [ -n "$pg_bin" ] && [ -f "$dir/pg/PG_VERSION" ]; then
    as_pg "$pg_bin/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ -f "$dir/redis.pid" ]; then
    kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
    for _ in $(seq 50); do [ -f "$dir/redis.pid" ] || break; sleep 0.1; done
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start|env|stop" >&2
  exit 2
  ;;
esac
