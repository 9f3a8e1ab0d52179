#!/usr/bin/env bash
# The open API against a real `bursar demo`: the integration guide's example client, then a
# schemathesis fuzz run against the served OpenAPI document. Prints "# pass/# fail" lines.
set -uo pipefail
cd "$(dirname "$0")/../.."
python=${1:-python3}
bin=${BURSAR_BIN:-target/debug/bursar}
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
data=$(mktemp -d)
port=$(free_port); sim=$(free_port); hook=$(free_port)
env -u BURSAR_DATABASE_URL BURSAR_DEMO_WEBHOOK_URL="http://127.0.0.1:$hook/webhook" \
  "$bin" demo --data-dir "$data" --listen "127.0.0.1:$port" --sim-listen "127.0.0.1:$sim" >"$data/demo.log" 2>&1 &
demo=$!
trap 'kill $demo 2>/dev/null; wait $demo 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 300); do
  grep -q "Press Ctrl-C" "$data/demo.log" 2>/dev/null && break
  sleep 0.2
done
creds="$data/sandbox/api/demo_app.json"
status=0
if "$python" examples/api_client.py "$creds"; then echo "# pass 1"; else echo "# fail 1"; status=1; fi
BURSAR_API_CREDENTIALS="$creds" "$python" -m pytest tests/api/test_openapi_fuzz.py -q -p no:cacheprovider -W ignore || status=1
exit $status
