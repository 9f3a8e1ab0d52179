#!/usr/bin/env bash
# Runs every Bursar check: rustfmt and clippy, unit tests, the integration suite on SQLite and on
# PostgreSQL, the browser suite, the channel SDKs, the open-API clients and the hostile-input
# suite (against a real `bursar demo` on both stores).
# PostgreSQL: uses $BURSAR_TEST_POSTGRES_URL if set; otherwise starts the local cluster if it is
# down and creates a fresh database for this run (dropped afterwards).
set -euo pipefail
cd "$(dirname "$0")"

created_db=""
cleanup() {
  if [ -n "$created_db" ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $created_db" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

if [ -z "${BURSAR_TEST_POSTGRES_URL:-}" ]; then
  if command -v pg_isready >/dev/null 2>&1 && command -v psql >/dev/null 2>&1; then
    if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
      version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
      if [ -n "$version" ]; then
        echo "starting PostgreSQL $version"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || pg_ctlcluster "$version" main start || true
      fi
      for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
    fi
    if pg_isready -h 127.0.0.1 -p 5432 -q; then
      created_db="bursar_test_$(date +%s)_$$"
      psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $created_db" >/dev/null
      export BURSAR_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/$created_db"
      echo "PostgreSQL tests use the fresh database $created_db"
    fi
  fi
fi
if [ -z "${BURSAR_TEST_POSTGRES_URL:-}" ]; then
  echo "warning: no PostgreSQL reachable; the PostgreSQL variants of the tests will be skipped" >&2
fi

log=$(mktemp)
set +e
# Style first: formatting, then clippy with every warning an error (unwrap/expect/panic are
# denied outside tests by the workspace lints).
status=0
if ! cargo fmt --all --check; then
  echo "error: cargo fmt --check found unformatted code (run cargo fmt --all)" >&2
  status=1
fi
if [ "$status" -eq 0 ]; then
  cargo clippy --workspace --all-targets --locked -- -D warnings 2>&1 | tee -a "$log"
  status=${PIPESTATUS[0]}
fi
if [ "$status" -eq 0 ]; then
  # Build first (unbounded: a cold build takes what it takes), then run with a bound so a test
  # that hangs fails the run with a message instead of eating the CI's time.
  cargo test --workspace --all-targets --locked --no-run 2>&1 | tee -a "$log"
  status=${PIPESTATUS[0]}
fi
if [ "$status" -eq 0 ]; then
  timeout --kill-after=30 "${BURSAR_TEST_TIMEOUT:-1800}" cargo test --workspace --all-targets --locked "$@" 2>&1 | tee -a "$log"
  status=${PIPESTATUS[0]}
  [ "$status" -eq 124 ] && echo "error: cargo test did not finish within ${BURSAR_TEST_TIMEOUT:-1800} s" >&2
fi

# The portal in a real headless Chromium (Debian's chromium + playwright-core), against the
# `bursar demo` binary the cargo run just built.
chromium_bin=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ "$status" -ne 0 ]; then
  echo "browser tests not run: the cargo tests failed" >&2
elif [ -x "$chromium_bin" ] && command -v node >/dev/null 2>&1; then
  # Each browser test file is bounded (node's --test-timeout applies to a whole file: the tour
  # of every page takes minutes), and so is the suite.
  (cd tests/browser && npm ci --no-audit --no-fund --silent &&
    timeout --kill-after=30 1500 node --test --test-timeout=900000 --test-reporter=tap) 2>&1 | tee -a "$log"
  browser_status=${PIPESTATUS[0]}
  [ "$browser_status" -eq 124 ] && echo "error: the browser suite did not finish within 1500 s" >&2
  [ "$browser_status" -eq 0 ] || status=$browser_status
elif [ "${BURSAR_REQUIRE_BROWSER:-0}" = "1" ]; then
  echo "error: browser tests required but chromium or node is missing" >&2
  status=1
else
  echo "warning: chromium or node missing; browser tests skipped" >&2
fi
set -e

# Independent, unmodified channel SDKs from PyPI (pinned in tests/sdk/requirements.txt) against
# the simulators: one test file per SDK (tests/sdk/test_*.py).
if [ "$status" -eq 0 ] && command -v python3 >/dev/null 2>&1; then
  venv=target/sdk-venv
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/sdk/requirements.txt 2>&1 | grep -v "^\[notice\]" || true
  for sdk_test in tests/sdk/test_*.py; do
    timeout --kill-after=10 600 "$venv/bin/python" -W ignore "$sdk_test" 2>&1 | tee -a "$log"
    sdk_status=${PIPESTATUS[0]}
    [ "$sdk_status" -eq 0 ] || status=$sdk_status
  done
  # The open API: the integration guide's example client and a schemathesis fuzz run, against
  # a real `bursar demo`.
  timeout --kill-after=10 900 tests/api/run.sh "$venv/bin/python" 2>&1 | tee -a "$log"
  api_status=${PIPESTATUS[0]}
  [ "$api_status" -eq 0 ] || status=$api_status
  # The hostile-input suite against a real `bursar demo`, on both stores.
  timeout --kill-after=10 900 tests/hostile/run.sh "$venv/bin/python" 2>&1 | tee -a "$log"
  hostile_status=${PIPESTATUS[0]}
  [ "$hostile_status" -eq 0 ] || status=$hostile_status
elif [ "$status" -eq 0 ]; then
  echo "error: python3 is needed for the SDK conformance tests" >&2
  status=1
fi

# One closing line for the whole run (cargo prints one per test binary; node one for the suite).
awk '/^test result:/ { p += $4; f += $6; s += $8 }
     /^# pass / { p += $3 } /^# fail / { f += $3 } /^# cancelled / { f += $3 } /^# skipped / { s += $3 }
     END { printf "summary: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$status"
