#!/usr/bin/env bash
# The hostile-input suite against a real `bursar demo` process, once on SQLite and once on
# PostgreSQL (a fresh database on the server of $BURSAR_TEST_POSTGRES_URL, when set). Prints
# "# pass/# fail" lines for test.sh's summary.
set -uo pipefail
cd "$(dirname "$0")/../.."
python=${1:-python3}
bin=${BURSAR_BIN:-target/debug/bursar}
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

run_on() {
  local label=$1 url=$2
  local data port sim demo status
  data=$(mktemp -d)
  port=$(free_port); sim=$(free_port)
  if [ -n "$url" ]; then
    env BURSAR_DATABASE_URL="$url" "$bin" demo --data-dir "$data" --listen "127.0.0.1:$port" --sim-listen "127.0.0.1:$sim" >"$data/demo.log" 2>&1 &
  else
    env -u BURSAR_DATABASE_URL "$bin" demo --data-dir "$data" --listen "127.0.0.1:$port" --sim-listen "127.0.0.1:$sim" >"$data/demo.log" 2>&1 &
  fi
  demo=$!
  for _ in $(seq 1 300); do
    grep -q "Press Ctrl-C" "$data/demo.log" 2>/dev/null && break
    kill -0 "$demo" 2>/dev/null || break
    sleep 0.2
  done
  echo "# hostile input against bursar demo on $label"
  "$python" tests/hostile/attack.py "http://127.0.0.1:$port" "$data" "$demo"
  status=$?
  if ! kill -0 "$demo" 2>/dev/null; then
    echo "not ok - the demo process died"; echo "# fail 1"; tail -20 "$data/demo.log"; status=1
  fi
  kill "$demo" 2>/dev/null; wait "$demo" 2>/dev/null
  rm -rf "$data"
  return $status
}

status=0
run_on SQLite "" || status=1
if [ -n "${BURSAR_TEST_POSTGRES_URL:-}" ]; then
  server=${BURSAR_TEST_POSTGRES_URL%/*}
  db="bursar_hostile_$(date +%s)_$$"
  psql "$server/postgres" -qc "CREATE DATABASE $db" >/dev/null
  run_on PostgreSQL "$server/$db" || status=1
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
elif [ "${BURSAR_REQUIRE_POSTGRES:-0}" = "1" ]; then
  echo "error: PostgreSQL required for the hostile suite" >&2; status=1
fi
exit $status
