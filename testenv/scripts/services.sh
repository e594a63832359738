#!/usr/bin/env bash
# Throwaway PostgreSQL + Redis for `network.mjs --appview`, from Debian packages
# (apt-get install -y postgresql redis-server). Loopback only, trust auth, data
# under $ATOAUTH_TESTENV_SVC_DIR (default /tmp/atoauth-testenv-svc).
#
#   testenv/scripts/services.sh start   # prints the env to export
#   testenv/scripts/services.sh env     # prints DB_POSTGRES_URL / REDIS_HOST
#   testenv/scripts/services.sh stop    # stops both and deletes the data
#
# Ports (127.0.0.1): PostgreSQL 5433 and Redis 6390 when nothing listens on
# them, otherwise a free port each (between 20000 and 29999). `start` records
# the ports it used in $ATOAUTH_TESTENV_SVC_DIR/ports, so `env` prints the same
# URLs and a second `start` on the same directory reuses the running servers.
# ATOAUTH_TESTENV_PG_PORT / ATOAUTH_TESTENV_REDIS_PORT ask for a given port
# (0: any free port, never the default): when it is taken, `start` fails
# naming the port and what holds it (from `ss -ltnp`). When a server does not
# start, the end of its log is printed on stderr and `start` exits 1.
#
# When run as root, PostgreSQL runs as the "postgres" user (initdb refuses root).
set -euo pipefail

me="testenv/scripts/services.sh"
dir="${ATOAUTH_TESTENV_SVC_DIR:-/tmp/atoauth-testenv-svc}"
pg_default=5433
redis_default=6390
pg_port=""
redis_port=""

pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

die() {
  echo "$me: $*" >&2
  exit 1
}

# check_port_var NAME: the value of $NAME must be empty or a port number.
check_port_var() {
  local v="${!1:-}"
  if [ -n "$v" ] && { ! [[ "$v" =~ ^[0-9]+$ ]] || [ "$v" -gt 65535 ]; }; then
    echo "$me: invalid $1: $v (a port number, or 0 for any free port)" >&2
    exit 2
  fi
}

# auto_port NAME: true when $NAME does not ask for a given port.
auto_port() {
  [ -z "${!1:-}" ] || [ "${!1}" = 0 ]
}

# port_busy PORT: true when something listens on PORT (any address).
port_busy() {
  if command -v ss >/dev/null 2>&1; then
    [ -n "$(ss -ltn "sport = :$1" 2>/dev/null | tail -n +2)" ]
  else
    (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# holders PORT: what listens on PORT, e.g. "postgres (pid 4242) on
# 127.0.0.1:5433", comma-separated; empty when ss is missing or shows nothing.
holders() {
  command -v ss >/dev/null 2>&1 || return 0
  local line addr who out=""
  while read -r line; do
    [ -n "$line" ] || continue
    # LISTEN 0 128 127.0.0.1:5433 0.0.0.0:* users:(("postgres",pid=4242,fd=7))
    addr=$(echo "$line" | awk '{print $4}')
    who=$(echo "$line" | sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1 (pid \2)/p')
    out="${out:+$out, }${who:-a process not visible to $(id -un)} on $addr"
  done < <(ss -ltnp "sport = :$1" 2>/dev/null | tail -n +2)
  echo "$out"
}

# in_use_msg PORT: ": <holders>", or "" when unknown.
in_use_msg() {
  local h
  h=$(holders "$1")
  if [ -n "$h" ]; then echo ": $h"; fi
}

# busy_note PORT LOG: ": port PORT is in use..." when it is, or when LOG says so.
busy_note() {
  if port_busy "$1" || grep -q 'Address already in use' "$2" 2>/dev/null; then
    echo ": port $1 is already in use$(in_use_msg "$1")"
  fi
}

# pick_port DEFAULT REQUESTED TRY VAR WHAT: sets $picked. REQUESTED (the value
# of the variable VAR) wins when set and non-zero, and must be free. Otherwise
# DEFAULT when REQUESTED is unset, it is free and TRY is 0; else a random free
# port.
picked=""
pick_port() {
  local dflt=$1 requested=$2 try=$3 var=$4 what=$5
  if [ -n "$requested" ] && [ "$requested" != 0 ]; then
    if port_busy "$requested"; then
      die "$what port $requested (from $var) is already in use$(in_use_msg "$requested"). Stop that, choose another port, or unset $var to use a free one."
    fi
    picked=$requested
    return 0
  fi
  if [ -z "$requested" ] && [ "$try" = 0 ]; then
    if ! port_busy "$dflt"; then
      picked=$dflt
      return 0
    fi
    echo "$me: $what: port $dflt is in use$(in_use_msg "$dflt"); using a free port instead" >&2
  fi
  for _ in $(seq 200); do
    picked=$((20000 + RANDOM % 10000))
    port_busy "$picked" || return 0
  done
  die "$what: found no free port between 20000 and 29999"
}

# log_tail FILE WHAT: the end of a server log, on stderr.
log_tail() {
  if [ -s "$1" ]; then
    echo "$me: $2 log ($1), last lines:" >&2
    tail -n 25 "$1" | sed 's/^/    /' >&2
  fi
}

save_ports() {
  printf 'pg_port=%s\nredis_port=%s\n' "$pg_port" "$redis_port" >"$dir/ports.tmp"
  mv -f "$dir/ports.tmp" "$dir/ports"
}

load_ports() {
  local k v
  if [ -f "$dir/ports" ]; then
    while IFS='=' read -r k v; do
      case "$k" in
        pg_port) pg_port=$v ;;
        redis_port) redis_port=$v ;;
      esac
    done <"$dir/ports"
  fi
}

pg_running() {
  [ -n "$pg_bin" ] && [ -f "$dir/pg/PG_VERSION" ] &&
    as_pg "$pg_bin/pg_ctl" -D "$dir/pg" status >/dev/null 2>&1
}

# redis_pid_on PORT: the process_id the Redis on PORT reports, if any.
redis_pid_on() {
  redis-cli -h 127.0.0.1 -p "$1" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p'
}

redis_running() {
  [ -n "$redis_port" ] && [ -f "$dir/redis.pid" ] &&
    [ "$(redis_pid_on "$redis_port")" = "$(cat "$dir/redis.pid")" ]
}

start_pg() {
  local try out
  if pg_running; then
    # Started by an earlier `start` on this directory: postmaster.pid's 4th
    # line is its port.
    pg_port=$(as_pg sed -n 4p "$dir/pg/postmaster.pid")
    if ! auto_port ATOAUTH_TESTENV_PG_PORT && [ "$ATOAUTH_TESTENV_PG_PORT" != "$pg_port" ]; then
      die "PostgreSQL already runs in $dir on port $pg_port, not $ATOAUTH_TESTENV_PG_PORT (ATOAUTH_TESTENV_PG_PORT): run '$0 stop' first"
    fi
    return 0
  fi
  if [ ! -f "$dir/pg/PG_VERSION" ]; then
    if ! as_pg "$pg_bin/initdb" -D "$dir/pg" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1; then
      log_tail "$dir/initdb.log" initdb
      die "initdb failed in $dir/pg"
    fi
  fi
  for try in 0 1 2 3 4; do
    pick_port "$pg_default" "${ATOAUTH_TESTENV_PG_PORT:-}" "$try" ATOAUTH_TESTENV_PG_PORT PostgreSQL
    rm -f "$dir/pg.log"
    if out=$(as_pg "$pg_bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w start \
      -o "-p $picked -c listen_addresses=127.0.0.1 -k $dir -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" 2>&1); then
      pg_port=$picked
      save_ports
      return 0
    fi
    # An automatically chosen port can be taken between the check and the
    # bind: try another one.
    if auto_port ATOAUTH_TESTENV_PG_PORT; then
      if grep -q 'Address already in use' "$dir/pg.log" 2>/dev/null; then
        echo "$me: PostgreSQL: port $picked was taken meanwhile; trying another" >&2
        continue
      fi
    fi
    break
  done
  printf '%s\n' "$out" | sed 's/^/    /' >&2
  log_tail "$dir/pg.log" PostgreSQL
  die "PostgreSQL did not start on 127.0.0.1:$picked$(busy_note "$picked" "$dir/pg.log")"
}

start_redis() {
  local try pid ok _
  if redis_running; then
    if ! auto_port ATOAUTH_TESTENV_REDIS_PORT && [ "$ATOAUTH_TESTENV_REDIS_PORT" != "$redis_port" ]; then
      die "Redis already runs in $dir on port $redis_port, not $ATOAUTH_TESTENV_REDIS_PORT (ATOAUTH_TESTENV_REDIS_PORT): run '$0 stop' first"
    fi
    return 0
  fi
  for try in 0 1 2 3 4; do
    pick_port "$redis_default" "${ATOAUTH_TESTENV_REDIS_PORT:-}" "$try" ATOAUTH_TESTENV_REDIS_PORT Redis
    rm -f "$dir/redis.log" "$dir/redis.pid"
    # Not --daemonize: $! is then the server's pid, so we can tell ours from
    # another Redis on the same port, and notice when it exits. setsid (which
    # execs in place here: we are no process group leader) detaches it from
    # the caller's terminal, as --daemonize would: a later Ctrl-C in the shell
    # that ran `eval "$(services.sh start)"` must not stop it.
    setsid redis-server --port "$picked" --bind 127.0.0.1 --daemonize no \
      --save '' --appendonly no --dir "$dir" \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
      </dev/null >/dev/null 2>&1 &
    pid=$!
    echo "$pid" >"$dir/redis.pid"
    ok=0
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      if [ "$(redis_pid_on "$picked")" = "$pid" ]; then
        ok=1
        break
      fi
      sleep 0.1
    done
    if [ "$ok" = 1 ]; then
      redis_port=$picked
      save_ports
      return 0
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$dir/redis.pid"
    if auto_port ATOAUTH_TESTENV_REDIS_PORT; then
      if grep -q 'Address already in use' "$dir/redis.log" 2>/dev/null; then
        echo "$me: Redis: port $picked was taken meanwhile; trying another" >&2
        continue
      fi
    fi
    break
  done
  log_tail "$dir/redis.log" Redis
  die "Redis did not start on 127.0.0.1:$picked$(busy_note "$picked" "$dir/redis.log")"
}

print_env() {
  echo "export DB_POSTGRES_URL=postgresql://postgres@127.0.0.1:${pg_port}/postgres"
  echo "export REDIS_HOST=127.0.0.1:${redis_port}"
}

check_port_var ATOAUTH_TESTENV_PG_PORT
check_port_var ATOAUTH_TESTENV_REDIS_PORT

case "${1:-}" in
start)
  if [ -z "$pg_bin" ] || ! command -v redis-server >/dev/null; then
    die "need Debian packages postgresql and redis-server"
  fi
  mkdir -p "$dir"
  chmod 755 "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  load_ports
  start_pg
  start_redis
  print_env
  ;;
env)
  load_ports
  pg_port="${pg_port:-${ATOAUTH_TESTENV_PG_PORT:-$pg_default}}"
  redis_port="${redis_port:-${ATOAUTH_TESTENV_REDIS_PORT:-$redis_default}}"
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
