#!/usr/bin/env bash
# The finance office's start of a year at a large university's size (issue 12's benchmark):
# import 50,000 students and then 200,000 receivables from xlsx, then 100,000 more (300,000
# loaded), and time the finance view's lists, searches and a payer's record, and the payer's own
# pages, against `bursar serve` on that data.
#   bench/finance_year.sh [BIN] [DATABASE_URL]     (default: target/release/bursar, SQLite)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/bursar}
D=$(mktemp -d /tmp/bursar-bench.XXXXXX)
export BURSAR_DATA_DIR=$D
[ -n "${2:-}" ] && export BURSAR_DATABASE_URL=$2
PORT=18180
echo "data dir $D"
# The demo school: its fee items, operators and 240 students (stopped once it answers).
"$BIN" demo --listen 127.0.0.1:$PORT --sim-listen 127.0.0.1:$((PORT + 10)) > "$D/demo.log" 2>&1 &
pid=$!
for _ in $(seq 1 240); do grep -q 'student [0-9]* / password' "$D/demo.log" && break; sleep 0.5; done
kill $pid; wait $pid 2>/dev/null || true
python3 bench/roster_file.py 50000 "$D/roster.xlsx" >/dev/null
python3 bench/receivables_file.py 50000 XF,ZSF,JCF,BXF 2027-2028 "$D/receivables.xlsx"
python3 bench/receivables_file.py 50000 CET,NCRE 2027-2028 "$D/more.xlsx"
t() { BURSAR_PRINT_PEAK_MEMORY=1 /usr/bin/time -f "  %e s wall, %U s user, %M KB max RSS" "$@"; }
echo "== import 50,000 payers"; t "$BIN" import payers "$D/roster.xlsx"
echo "== import 200,000 receivables"; t "$BIN" import receivables "$D/receivables.xlsx"
echo "== import 100,000 more (300,000 loaded)"; t "$BIN" import receivables "$D/more.xlsx"
# Issue 17's reports and dashboards: PAYMENTS collections (default 0) imported in files of
# 50,000 (an import's limit), then each report over the last 30 days through the command line.
PAYMENTS=${PAYMENTS:-0}
for ((k = 0; k < PAYMENTS; k += 50000)); do
  python3 bench/payments_file.py 50000 $k "$D/payments-$k.csv" >/dev/null
  echo "== import 50,000 collections ($k)"; t "$BIN" import offline "$D/payments-$k.csv"
done
if [ "$PAYMENTS" -gt 0 ]; then
  from=$(date -u -d '@'$(( $(date +%s) + 8 * 3600 - 30 * 86400 )) +%F); to=$(date -u -d '@'$(( $(date +%s) + 8 * 3600 )) +%F)
  for r in daily departments items channels cashiers classes arrears; do
    echo "== report $r $from..$to"; t "$BIN" report $r --from "$from" --to "$to" > /dev/null
  done
  echo "== report detail $from..$to as xlsx"; t "$BIN" report detail --from "$from" --to "$to" --xlsx "$D/detail.xlsx"
  ls -l "$D/detail.xlsx"
fi
"$BIN" serve --listen 127.0.0.1:$PORT > "$D/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.5; done
student=$(grep -oE 'student [0-9]+ / password [0-9A-Za-z]+' "$D/demo.log" | head -1)
python3 bench/finance_pages.py "http://127.0.0.1:$PORT" finance 'Finance@2026' \
  "$(echo "$student" | awk '{print $2}')" "$(echo "$student" | awk '{print $5}')" 30
