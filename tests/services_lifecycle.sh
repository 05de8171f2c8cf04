#!/usr/bin/env bash
# The service scripts against crashes and strangers (run last by make test):
# 1. each service killed with SIGKILL is started again by `services.sh start`: a new
#    process, and for Redis, moto and ArcadeDB an empty one (they keep no state);
# 2. a port held by a process this cache did not start is refused, and that process is
#    left alone;
# 3. `services.sh stop` leaves no process: none by pid file, none on the ports.
set -euo pipefail
. "$(dirname "$0")/../scripts/env.sh"
svc() { bash "$ODP_ROOT/scripts/services.sh" "$@"; }
pid_of() { svc status | awk -v s="$1" '$1 == s && $2 == "up" {gsub(/[^0-9]/, "", $4); print $4}'; }
fail() { echo "FAIL services: $*" >&2; exit 1; }
# (a zombie waiting for its parent to reap it counts as gone)
gone() {
  for _ in $(seq 1 100); do
    [ "$(sed -n 's/^[0-9]* (.*) \([A-Z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null)" = "" ] && return 0
    [ "$(sed -n 's/^[0-9]* (.*) \([A-Z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null)" = Z ] && return 0
    sleep 0.1
  done
  return 1
}
graph_nodes() {
  curl -sf -u "root:$ODP_GRAPH_PASSWORD" "http://127.0.0.1:$ODP_GRAPH_PORT/api/v1/query/odp" \
    -H 'Content-Type: application/json' -d '{"language":"cypher","command":"MATCH (n:Lifecycle) RETURN count(n) AS c"}' \
    | sed -n 's/.*"c":\([0-9]*\).*/\1/p'
}

svc start >/dev/null 2>&1 || { svc start; fail "the services did not start"; }
# something for a fresh server not to have
redis-cli -p "$ODP_REDIS_PORT" SET odp:lifecycle 1 >/dev/null
curl -sf -X PUT "http://127.0.0.1:$ODP_S3_PORT/odp-lifecycle" >/dev/null
curl -sf -u "root:$ODP_GRAPH_PASSWORD" "http://127.0.0.1:$ODP_GRAPH_PORT/api/v1/command/odp" \
  -H 'Content-Type: application/json' -d '{"language":"cypher","command":"CREATE (:Lifecycle {x: 1})"}' >/dev/null
[ "$(graph_nodes)" -ge 1 ] || fail "could not create a graph node"

for s in postgres redis s3 graph; do
  old=$(pid_of "$s"); [ -n "$old" ] || fail "$s is not running before the crash"
  kill -KILL "$old"; gone "$old" || fail "$s pid $old survived SIGKILL"
  svc start "$s" >/dev/null 2>&1 || fail "start after a crash of $s failed"
  new=$(pid_of "$s")
  [ -n "$new" ] && [ "$new" != "$old" ] || fail "$s was not started again ($old -> $new)"
  echo "ok   $s: killed pid $old, started pid $new"
done
psql -X -qAt -c "SELECT 1" >/dev/null || fail "postgres does not answer after its restart"
[ "$(redis-cli -p "$ODP_REDIS_PORT" EXISTS odp:lifecycle)" = 0 ] || fail "redis kept a key across a crash"
curl -sf "http://127.0.0.1:$ODP_S3_PORT/" | grep -q odp-lifecycle && fail "moto kept a bucket across a crash"
[ "$(graph_nodes)" = 0 ] || fail "the graph server kept a node across a crash"
echo "ok   redis, moto and the graph server restarted empty"

# a stranger on the Redis port: refused, not reused, not killed
svc stop redis
python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $ODP_REDIS_PORT)); s.listen(); time.sleep(60)" &
stranger=$!
for _ in $(seq 1 50); do ss -Hltn "sport = :$ODP_REDIS_PORT" | grep -q . && break; sleep 0.1; done
if out=$(svc start redis 2>&1); then kill "$stranger"; fail "start reused a server it did not start"; fi
kill -0 "$stranger" 2>/dev/null || fail "start killed a process it did not start"
grep -q "was not started from ODP_CACHE" <<<"$out" || { kill "$stranger"; fail "unclear refusal: $out"; }
kill "$stranger"; wait "$stranger" 2>/dev/null || true
echo "ok   a port held by another process is refused: $(grep -o "port [0-9]* ([a-z]*) is held by pid [0-9]*" <<<"$out")"

svc stop
if ! left=$(svc check-stopped); then fail "processes left after stop: $left"; fi
echo "ok   services.sh stop left no process (pid files and ports checked)"
