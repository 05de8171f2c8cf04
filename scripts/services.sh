#!/usr/bin/env bash
# Starts or stops ODP's local services on 127.0.0.1, idempotently:
#   postgres (PG15 cluster with odp, run as the postgres user), redis (feature store),
#   moto (S3-compatible object server), ArcadeDB (Bolt graph server standing in for Neo4j).
# usage: services.sh start|stop|status [service...]
set -euo pipefail
. "$(dirname "$0")/env.sh"

PG_BIN=/usr/lib/postgresql/15/bin
as_postgres() { sudo -u postgres -H "$@"; }

wait_for() { # name, command...
  local name=$1; shift
  for _ in $(seq 1 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "service $name did not become ready" >&2; return 1
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
  if ! as_postgres "$PG_BIN/pg_ctl" -D "$ODP_PGDATA" status >/dev/null 2>&1; then
    as_postgres "$PG_BIN/pg_ctl" -D "$ODP_PGDATA" -l "$ODP_RUN/postgres.log" -w start >/dev/null
  fi
  wait_for postgres "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$ODP_PG_PORT"
  psql -d postgres -Xqtc "SELECT 1 FROM pg_database WHERE datname = 'odp'" | grep -q 1 \
    || psql -d postgres -Xqc "CREATE DATABASE odp"
}
stop_postgres() {
  [ -f "$ODP_PGDATA/PG_VERSION" ] && as_postgres "$PG_BIN/pg_ctl" -D "$ODP_PGDATA" -m fast -w stop >/dev/null 2>&1 || true
}

start_redis() {
  redis_ping "$ODP_REDIS_PORT" 2>/dev/null && return 0
  redis-server --port "$ODP_REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --pidfile "$ODP_RUN/redis.pid" --logfile "$ODP_RUN/redis.log"
  wait_for redis redis_ping "$ODP_REDIS_PORT"
}
stop_redis() { redis-cli -h 127.0.0.1 -p "$ODP_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; }

start_s3() {
  moto_ready && return 0
  nohup "$ODP_VENV/bin/moto_server" -H 127.0.0.1 -p "$ODP_S3_PORT" >"$ODP_RUN/moto.log" 2>&1 &
  echo $! >"$ODP_RUN/moto.pid"
  wait_for s3 moto_ready
}
stop_s3() {
  if [ -f "$ODP_RUN/moto.pid" ]; then kill "$(cat "$ODP_RUN/moto.pid")" 2>/dev/null || true; rm -f "$ODP_RUN/moto.pid"; fi
}

# ArcadeDB with its Bolt plugin, loopback only, database `odp`, user root (password from
# ODP_GRAPH_PASSWORD); it starts empty, like the other stand-ins.
start_graph() {
  graph_ready && return 0
  local home dir="$ODP_DATA/arcadedb"; home=$(arcadedb_home)
  rm -rf "$dir"; mkdir -p "$dir"
  # (from $dir: the server writes its log/ directory into the working directory)
  (cd "$dir" && nohup "$home/jre/bin/java" -Xms256m -Xmx1g -Duser.timezone=UTC -cp "$home/jars/*" \
    -Darcadedb.server.rootPath="$dir" -Darcadedb.server.databaseDirectory="$dir/databases" \
    -Darcadedb.server.rootPassword="$ODP_GRAPH_PASSWORD" -Darcadedb.server.defaultDatabases='odp[root]' \
    -Darcadedb.server.httpIncomingHost=127.0.0.1 -Darcadedb.server.httpIncomingPort="$ODP_GRAPH_PORT" \
    -Darcadedb.server.plugins='Bolt:com.arcadedb.bolt.BoltProtocolPlugin' \
    -Darcadedb.bolt.host=127.0.0.1 -Darcadedb.bolt.port="$ODP_BOLT_PORT" \
    com.arcadedb.server.ArcadeDBServer >"$ODP_RUN/graph.log" 2>&1 & echo $! >"$ODP_RUN/graph.pid")
  wait_for graph graph_ready
  wait_for bolt bash -c "exec 3<>/dev/tcp/127.0.0.1/$ODP_BOLT_PORT"
}
stop_graph() {
  if [ -f "$ODP_RUN/graph.pid" ]; then
    local pid; pid=$(cat "$ODP_RUN/graph.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$ODP_RUN/graph.pid"
  fi
}

status() {
  printf '%-9s %s\n' postgres "$("$PG_BIN/pg_isready" -h 127.0.0.1 -p "$ODP_PG_PORT" >/dev/null 2>&1 && echo up || echo down)"
  printf '%-9s %s\n' redis "$(redis_ping "$ODP_REDIS_PORT" 2>/dev/null && echo up || echo down)"
  printf '%-9s %s\n' s3 "$(moto_ready && echo up || echo down)"
  printf '%-9s %s\n' graph "$(graph_ready && echo up || echo down)"
}

action=${1:-status}; shift || true
services=${*:-postgres redis s3 graph}
case "$action" in
  start) for s in $services; do log "start $s"; "start_$s"; done ;;
  stop) for s in $services; do "stop_$s"; done ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status [postgres redis s3 graph]" >&2; exit 2 ;;
esac
