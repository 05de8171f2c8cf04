#!/usr/bin/env bash
# Starts or stops ODP's local services on 127.0.0.1, idempotently:
#   postgres (PG15 cluster with odp, run as the postgres user), redis (feature store),
#   moto (S3-compatible object server), ArcadeDB (Bolt graph server standing in for Neo4j).
# usage: services.sh start|stop|status|check-stopped [service...]
set -euo pipefail
. "$(dirname "$0")/env.sh"

PG_BIN=/usr/lib/postgresql/15/bin
as_postgres() { sudo -u postgres -H "$@"; }

wait_for() { # name, command...
  local name=$1; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "service $name did not become ready within 30 s" >&2; return 1
}

# Every service is known by the pid its own process wrote or we recorded (never the pid
# of a shell around it), and by the command line we start it with (so that a recycled
# pid, or a process that merely mentions the service, is never taken for it).
pid_files() {
  case $1 in
    postgres) echo "$ODP_PGDATA/postmaster.pid" ;;
    # (pgrx's test framework runs its cluster in a directory of its own under --pgdata)
    pgrx-test) compgen -G "$ODP_PGRX_TEST/data/*/postmaster.pid" || true ;;
    redis) echo "$ODP_SERVICES/redis.pid" ;;
    s3) echo "$ODP_SERVICES/moto.pid" ;;
    graph) echo "$ODP_SERVICES/graph.pid" ;;
  esac
}
command_pattern() { # an extended regular expression the service's command line matches
  case $1 in
    postgres) echo "^$PG_BIN/postgres -D $ODP_PGDATA( |\$)" ;;
    pgrx-test) echo "^$PG_BIN/postgres -D $ODP_PGRX_TEST/" ;;
    redis) echo "^redis-server 127\.0\.0\.1:$ODP_REDIS_PORT( |\$)" ;;
    s3) echo "/moto_server -H 127\.0\.0\.1 -p $ODP_S3_PORT( |\$)" ;;
    graph) echo "-Darcadedb\.server\.rootPath=$ODP_SERVICES/arcadedb .*com\.arcadedb\.server\.ArcadeDBServer" ;;
  esac
}
ports_of() {
  case $1 in
    postgres) echo "$ODP_PG_PORT" ;;
    redis) echo "$ODP_REDIS_PORT" ;;
    s3) echo "$ODP_S3_PORT" ;;
    graph) echo "$ODP_GRAPH_PORT $ODP_BOLT_PORT" ;;
  esac
}
# Whether a process exists and has not exited (a zombie waiting to be reaped is gone).
alive() {
  local state
  state=$(sed -n 's/^[0-9]* (.*) \([A-Z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}
# The live pids that a pid file of the service names and that are this cache's server
# of it, one per line (pgrx's test clusters can be several).
owned_pids() {
  local file pid
  for file in $(pid_files "$1"); do
    [ -f "$file" ] || continue
    pid=$(head -n 1 "$file" 2>/dev/null | tr -dc 0-9)
    [ -n "$pid" ] && alive "$pid" || continue
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -Eq -- "$(command_pattern "$1")" && echo "$pid"
  done
  return 0
}
owned_pid() { owned_pids "$1" | head -n 1; }
# The pid listening on a TCP port of 127.0.0.1, if any (the first one ss names).
listener_pid() { ss -Hltnp "sport = :$1" | sed -n 's/[^=]*pid=\([0-9]*\).*/\1/p' | head -n 1; }
describe_pid() { ps -o args= -p "$1" 2>/dev/null | cut -c1-100; }

# 0 if this cache's own server of the service is running; 1 if it is not and its ports
# are free; an error (exit) if a process this cache did not start holds one of its ports:
# that server's data and settings are not ours, so it is neither reused nor killed.
ours_running() {
  local service=$1 pid port holder; pid=$(owned_pid "$service")
  for port in $(ports_of "$service"); do
    holder=$(listener_pid "$port")
    [ -z "$holder" ] || [ "$holder" = "$pid" ] && continue
    echo "port $port ($service) is held by pid $holder ($(describe_pid "$holder")), which was not" \
      "started from ODP_CACHE=$ODP_CACHE: stop it, or choose other ports in .env" >&2
    exit 1
  done
  [ -n "$pid" ]
}

# Stops a pid: SIGTERM, up to $2 seconds to exit, then SIGKILL and up to 5 s more.
terminate() {
  local pid=$1 grace=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 $((grace * 10))); do alive "$pid" || return 0; sleep 0.1; done
  echo "pid $pid ($(describe_pid "$pid")) ignored SIGTERM for ${grace} s: SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do alive "$pid" || return 0; sleep 0.1; done
  echo "pid $pid did not exit after SIGKILL" >&2; return 1
}

redis_ping() { redis-cli -h 127.0.0.1 -p "$1" ping | grep -q PONG; }
moto_ready() { curl -sf "http://127.0.0.1:$ODP_S3_PORT/moto-api/" >/dev/null; }
arcadedb_home() { "$ODP_VENV/bin/python" -c 'import arcadedb_embedded,os;print(os.path.dirname(arcadedb_embedded.__file__))'; }
graph_ready() { curl -sf -u "root:$ODP_GRAPH_PASSWORD" "http://127.0.0.1:$ODP_GRAPH_PORT/api/v1/ready" >/dev/null; }

start_postgres() {
  if [ ! -f "$ODP_PGDATA/PG_VERSION" ]; then
    mkdir -p "$ODP_PGDATA"; chown postgres:postgres "$ODP_PGDATA"
    as_postgres "$PG_BIN/initdb" -D "$ODP_PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  # ODP's settings live in odp.conf, rewritten at every start (older clusters get the
  # include line added once). llvmjit is preloaded where it is installed: a session
  # that has JIT-compiled once otherwise makes each of its parallel workers load LLVM
  # (about 10 ms per worker); preloaded, a new connection costs about 0.5 ms more and a
  # parallel worker about 2 ms more (docs/delta.md, Parallel scans).
  local preload=odp
  [ -f "$("$PG_BIN/pg_config" --pkglibdir)/llvmjit.so" ] && preload=odp,llvmjit
  grep -q "^include_if_exists = 'odp.conf'" "$ODP_PGDATA/postgresql.conf" \
    || echo "include_if_exists = 'odp.conf'" >>"$ODP_PGDATA/postgresql.conf"
  cat >"$ODP_PGDATA/odp.conf" <<CONF
listen_addresses = '127.0.0.1'
timezone = 'UTC'
port = $ODP_PG_PORT
unix_socket_directories = '$ODP_RUN'
shared_preload_libraries = '$preload'
odp.redis_url = 'redis://127.0.0.1:$ODP_REDIS_PORT'
odp.bolt_url = 'bolt://127.0.0.1:$ODP_BOLT_PORT'
odp.feature_stream = on
CONF
  chown postgres:postgres "$ODP_PGDATA/odp.conf"
  # (after a crash, pg_ctl starts over a stale postmaster.pid and recovers the data)
  # (backends orphaned by a killed postmaster hold its shared memory until they notice:
  # a start right after a crash may be refused once or twice)
  if ! ours_running postgres; then
    local attempt
    for attempt in 1 2 3 4 5; do
      as_postgres "$PG_BIN/pg_ctl" -D "$ODP_PGDATA" -l "$ODP_RUN/postgres.log" -w start >/dev/null && break
      [ "$attempt" = 5 ] && { tail -n 5 "$ODP_RUN/postgres.log" >&2; return 1; }
      sleep 1
    done
  fi
  wait_for postgres "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$ODP_PG_PORT"
  psql -d postgres -Xqtc "SELECT 1 FROM pg_database WHERE datname = 'odp'" | grep -q 1 \
    || psql -d postgres -Xqc "CREATE DATABASE odp"
}
stop_postgres() { stop_clusters postgres; }
# pgrx's test clusters (make pgtest) are stopped with the others.
stop_pgrx-test() { stop_clusters pgrx-test; }
stop_clusters() { # service
  local pid dir status=0
  for pid in $(owned_pids "$1"); do
    dir=$(tr '\0' '\n' <"/proc/$pid/cmdline" | sed -n '3p')
    as_postgres "$PG_BIN/pg_ctl" -D "$dir" -m fast -w -t 30 stop >/dev/null 2>&1 \
      || as_postgres "$PG_BIN/pg_ctl" -D "$dir" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
    # (only if pg_ctl could not stop it, and it is still the same server)
    if alive "$pid" && owned_pids "$1" | grep -qx "$pid"; then terminate "$pid" 5 || status=1; fi
  done
  return $status
}

# Redis, moto and ArcadeDB keep no state across starts: a start after a crash (or after
# a stop) is a fresh, empty server, like a new machine's.
start_redis() {
  if ! ours_running redis; then
    rm -f "$ODP_SERVICES/redis.pid"
    redis-server --port "$ODP_REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
      --pidfile "$ODP_SERVICES/redis.pid" --logfile "$ODP_SERVICES/redis.log"
  fi
  wait_for redis redis_ping "$ODP_REDIS_PORT"
}
stop_redis() { stop_owned redis 10; }

start_s3() {
  if ! ours_running s3; then
    # (nohup execs the server: $! is its own pid, not a shell's)
    nohup "$ODP_VENV/bin/moto_server" -H 127.0.0.1 -p "$ODP_S3_PORT" >"$ODP_SERVICES/moto.log" 2>&1 &
    echo $! >"$ODP_SERVICES/moto.pid"
  fi
  wait_for s3 moto_ready
}
stop_s3() { stop_owned s3 10; }

# ArcadeDB with its Bolt plugin, loopback only, database `odp`, user root (password from
# ODP_GRAPH_PASSWORD).
start_graph() {
  if ! ours_running graph; then
    local home dir="$ODP_SERVICES/arcadedb"; home=$(arcadedb_home)
    rm -rf "$dir"; mkdir -p "$dir"
    # From $dir (the server writes its log/ directory into the working directory); exec,
    # so that $! is the JVM itself and a stop reaches it.
    (cd "$dir" && exec "$home/jre/bin/java" -Xms256m -Xmx1g -Duser.timezone=UTC -cp "$home/jars/*" \
      -Darcadedb.server.rootPath="$dir" -Darcadedb.server.databaseDirectory="$dir/databases" \
      -Darcadedb.server.rootPassword="$ODP_GRAPH_PASSWORD" -Darcadedb.server.defaultDatabases='odp[root]' \
      -Darcadedb.server.httpIncomingHost=127.0.0.1 -Darcadedb.server.httpIncomingPort="$ODP_GRAPH_PORT" \
      -Darcadedb.server.plugins='Bolt:com.arcadedb.bolt.BoltProtocolPlugin' \
      -Darcadedb.bolt.host=127.0.0.1 -Darcadedb.bolt.port="$ODP_BOLT_PORT" \
      com.arcadedb.server.ArcadeDBServer </dev/null >"$ODP_SERVICES/graph.log" 2>&1) &
    echo $! >"$ODP_SERVICES/graph.pid"
  fi
  wait_for graph graph_ready
  wait_for bolt bash -c "exec 3<>/dev/tcp/127.0.0.1/$ODP_BOLT_PORT"
}
stop_graph() { stop_owned graph 20; }

stop_owned() { # service, grace seconds
  local pid status=0; pid=$(owned_pid "$1")
  if [ -n "$pid" ]; then terminate "$pid" "$2" || status=1; fi
  [ "$status" = 0 ] && rm -f "$(pid_files "$1")"
  return $status
}

status() {
  local s pid
  for s in postgres redis s3 graph; do
    pid=$(owned_pid "$s")
    printf '%-9s %s\n' "$s" "$([ -n "$pid" ] && echo "up (pid $pid)" || echo down)"
  done
}

# Lists every process this cache's services left: by pid file, and by port. Exits 1 if
# there is any.
check_stopped() {
  local s pid port holder found=0
  for s in postgres pgrx-test redis s3 graph; do
    for pid in $(owned_pids "$s"); do
      echo "$s still running: pid $pid ($(describe_pid "$pid"))"; found=1
    done
    for port in $(ports_of "$s"); do
      holder=$(listener_pid "$port")
      [ -n "$holder" ] && { echo "port $port ($s) still held by pid $holder ($(describe_pid "$holder"))"; found=1; }
    done
  done
  return $found
}

action=${1:-status}; shift || true
case "$action" in
  start) for s in ${*:-postgres redis s3 graph}; do log "start $s"; "start_$s"; done ;;
  # (one service that cannot be stopped does not keep the others running)
  stop) failed=""
        for s in ${*:-postgres pgrx-test redis s3 graph}; do "stop_$s" || failed="$failed $s"; done
        [ -z "$failed" ] || { echo "could not stop:$failed" >&2; exit 1; } ;;
  status) status ;;
  check-stopped) check_stopped ;;
  *) echo "usage: $0 start|stop|status|check-stopped [postgres redis s3 graph]" >&2; exit 2 ;;
esac
