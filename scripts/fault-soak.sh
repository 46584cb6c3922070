#!/usr/bin/env bash
# Fault soak (issue 13): simulated mailboxes on an emulated A7670 whose modem faults (lost UART
# bytes, resets mid-upload, lost answers, no coverage...) hit a real `smartbox serve`, optionally
# killed with SIGKILL and restarted every few seconds, on SQLite and PostgreSQL. Every run prints
# the server-side tally; the soak fails unless each shows `duplicated=0 lost=0` (and, with
# --faults 1.0, that every event not delivered is still held and reported by its mailbox).
#
#   scripts/fault-soak.sh [--backends "sqlite postgres"] [--seeds "1 2 3"] [--devices 200]
#                         [--mail 2] [--faults 0.3] [--kill-every SECONDS] [--debug]
#
# Loopback only: the server binds 127.0.0.1 and the simulator refuses any other address.
# PostgreSQL runs use SOAK_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test) to make
# one fresh database per run. The release binary is built first (the debug one with --debug).
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS="sqlite"
SEEDS="1 2 3"
DEVICES=200
MAIL=2
FAULTS=0.3
KILL_EVERY=0
PROFILE=release
while [ $# -gt 0 ]; do
  case "$1" in
    --backends) BACKENDS="$2"; shift 2 ;;
    --seeds) SEEDS="$2"; shift 2 ;;
    --devices) DEVICES="$2"; shift 2 ;;
    --mail) MAIL="$2"; shift 2 ;;
    --faults) FAULTS="$2"; shift 2 ;;
    --kill-every) KILL_EVERY="$2"; shift 2 ;;
    --debug) PROFILE=debug; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
PG_BASE="${SOAK_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

if [ "$PROFILE" = release ]; then cargo build --release -q -p smartbox; else cargo build -q -p smartbox; fi
BIN="$(pwd)/target/$PROFILE/smartbox"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fault-soak.XXXXXX")
SERVER_PID=""
KILLER_PID=""
failures=0
cleanup() {
  [ -n "$KILLER_PID" ] && kill "$KILLER_PID" 2>/dev/null || true
  [ -f "$WORK/server.pid" ] && kill -9 "$(cat "$WORK/server.pid")" 2>/dev/null || true
  # What a failed run left is kept for reading.
  [ "$failures" = 0 ] && rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() {
  "$BIN" serve >>"$RUN/serve.log" 2>&1 &
  echo $! >"$WORK/server.pid"
  disown $!
  for _ in $(seq 1 200); do
    curl -fs "http://$SMARTBOX_BIND/healthz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "the server did not start; see $RUN/serve.log" >&2
  return 1
}

# Kills the server with SIGKILL every $KILL_EVERY seconds and starts it again at once.
kill_loop() {
  while sleep "$KILL_EVERY"; do
    kill -9 "$(cat "$WORK/server.pid")" 2>/dev/null || true
    echo "$(date -u +%T) kill -9" >>"$RUN/kills.log"
    start_server
  done
}

# Jobs running, or queued and due, in the run's database.
pending_jobs() {
  local due="status = 'running' OR (status = 'queued' AND run_at <= $(date +%s%3N))"
  case "$backend" in
    sqlite) sqlite3 "${SMARTBOX_DATABASE_URL#sqlite://}" "SELECT count(*) FROM jobs WHERE $due" ;;
    postgres) psql "$SMARTBOX_DATABASE_URL" -Atc "SELECT count(*) FROM jobs WHERE $due" ;;
  esac
}

printf '%-9s %-5s %-6s %-10s %s\n' backend seed faults kill_every result
for backend in $BACKENDS; do
  for seed in $SEEDS; do
    RUN="$WORK/$backend-$seed"
    mkdir -p "$RUN"
    case "$backend" in
      sqlite) export SMARTBOX_DATABASE_URL="sqlite://$RUN/smartbox.db" ;;
      postgres)
        name="fault_soak_$$_$seed"
        PGOPTIONS=--client-min-messages=warning \
          psql "$PG_BASE" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
        export SMARTBOX_DATABASE_URL="${PG_BASE%/*}/$name" ;;
      *) echo "unknown backend $backend" >&2; exit 2 ;;
    esac
    export SMARTBOX_BLOB_URL="file://$RUN/blobs"
    export SMARTBOX_MASTER_KEY="KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio="
    export SMARTBOX_BIND="127.0.0.1:$(free_port)"
    export RUST_LOG=warn
    "$BIN" migrate >/dev/null
    start_server
    KILLER_PID=""
    if [ "$KILL_EVERY" != 0 ]; then
      kill_loop &
      KILLER_PID=$!
    fi
    started=$SECONDS
    "$BIN" sim --provision --devices "$DEVICES" --mail-per-device "$MAIL" --faults "$FAULTS" \
      --seed "$seed" --server "http://$SMARTBOX_BIND" >"$RUN/sim.log" 2>&1 || true
    if [ -n "$KILLER_PID" ]; then kill "$KILLER_PID" 2>/dev/null || true; wait "$KILLER_PID" 2>/dev/null || true; fi
    KILLER_PID=""
    # One last kill -9, then a restart: the jobs the dead process held (and every job due) must
    # be finished within 30 s of the restart.
    kill -9 "$(cat "$WORK/server.pid")" 2>/dev/null || true
    start_server
    restarted=$SECONDS
    until [ "$(pending_jobs)" = 0 ]; do
      if [ $((SECONDS - restarted)) -gt 30 ]; then break; fi
      sleep 0.5
    done
    jobs_left=$(pending_jobs)
    jobs_after=$((SECONDS - restarted))
    kill -9 "$(cat "$WORK/server.pid")" 2>/dev/null || true
    rm -f "$WORK/server.pid"
    tally=$(grep -E '^delivered=' "$RUN/sim.log" | tail -1 || true)
    held=$(grep -oE '[0-9]+ events still on SD cards' "$RUN/sim.log" | tail -1 || true)
    kills=$( [ -f "$RUN/kills.log" ] && wc -l <"$RUN/kills.log" || echo 0)
    printf '%-9s %-5s %-6s %-10s %s (%s; %s kills; %ss; jobs done %ss after the last restart)\n' \
      "$backend" "$seed" "$FAULTS" "$KILL_EVERY" "${tally:-no tally}" "${held:-?}" "$kills" \
      "$((SECONDS - started))" "$jobs_after"
    lost=$(sed -nE 's/.*lost=([0-9]+).*/\1/p' <<<"$tally")
    duplicated=$(sed -nE 's/.*duplicated=([0-9]+).*/\1/p' <<<"$tally")
    held_n=$(sed -nE 's/^([0-9]+) events.*/\1/p' <<<"$held")
    # An event not delivered must still be held on its mailbox's SD card (and reported there).
    if [ -z "$tally" ] || [ "${duplicated:-1}" != 0 ] || [ "${lost:-1}" -gt "${held_n:-0}" ] ||
      [ "$jobs_left" != 0 ]; then
      failures=$((failures + 1))
      echo "  FAILED: see $RUN" >&2
    elif [ "$backend" = postgres ]; then
      PGOPTIONS=--client-min-messages=warning psql "$PG_BASE" -qc "DROP DATABASE $name" >/dev/null
    fi
  done
done
[ "$failures" = 0 ] || { echo "$failures run(s) failed" >&2; exit 1; }
