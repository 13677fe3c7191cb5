#!/usr/bin/env bash
# bench/smoke.sh: a ~10-second smoke run of the load generator against a
# freshly started stanzad in a temporary directory (issue 6; CI runs it).
#
# It makes a few accounts with stanzactl, runs every scenario briefly and
# prints their figure lines. It judges no figure: it exits non-zero only
# when the generator reports a failed login, handshake or message, or the
# server did not start, died, or did not stop cleanly on SIGTERM.
#
#   bench/smoke.sh                      # binaries from build/
#   BUILD=build-san bench/smoke.sh      # or from elsewhere
#
# Every step has a time limit; the whole run cannot pass ~2 minutes even
# when everything hangs.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
STANZAD=${STANZAD:-$BUILD/stanzad}
STANZACTL=${STANZACTL:-$BUILD/stanzactl}
LOADGEN=${LOADGEN:-$BUILD/loadgen}
JOURNALBENCH=${JOURNALBENCH:-$BUILD/journalbench}
ACCOUNTS=10

for bin in "$STANZAD" "$STANZACTL" "$LOADGEN" "$JOURNALBENCH"; do
    if [ ! -x "$bin" ]; then
        echo "smoke: $bin is missing: build it first (ninja)" >&2
        exit 1
    fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/stanzad-smoke.XXXXXX")
SERVER_PID=
failures=0

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "smoke: stanzad did not stop within 10 s of SIGTERM" >&2
        kill -KILL "$SERVER_PID" 2>/dev/null
        failures=$((failures + 1))
    fi
    wait "$SERVER_PID"
    local status=$?
    if [ "$status" -ne 0 ]; then
        echo "smoke: stanzad exited with status $status" >&2
        failures=$((failures + 1))
    fi
    SERVER_PID=
}

cleanup() {
    stop_server
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Starts stanzad on two free ports; a few tries in case another process
# takes a port between the check and the bind.
start_server() {
    for _ in 1 2 3 4 5; do
        # Below the usual ephemeral range (32768-60999), where outgoing
        # connections take their ports.
        PORT=$((20000 + RANDOM % 12000))
        TLS_PORT=$((PORT + 1))
        if port_busy "$PORT" || port_busy "$TLS_PORT"; then
            continue
        fi
        rm -rf "$TMP/data"
        "$STANZAD" --set data_dir="$TMP/data" --set c2s_port="$PORT" \
            --set c2s_tls_port="$TLS_PORT" --set s2s_port=0 \
            --set listen_addr=127.0.0.1 --set journal_sync=batch \
            2>"$TMP/stanzad.log" &
        SERVER_PID=$!
        for _ in $(seq 1 100); do
            if grep -q ' ready' "$TMP/stanzad.log"; then
                return 0
            fi
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=
    done
    echo "smoke: stanzad did not become ready; its log:" >&2
    cat "$TMP/stanzad.log" >&2
    return 1
}

make_accounts() {
    local pids=() i ok=0
    for i in $(seq 1 "$ACCOUNTS"); do
        timeout -k 2 20 "$STANZACTL" --set data_dir="$TMP/data" \
            user add "u$i@localhost" --password pw >/dev/null &
        pids+=($!)
    done
    for i in "${pids[@]}"; do
        wait "$i" || ok=1
    done
    return $ok
}

# Runs one scenario; its figure line goes to stdout, diagnostics to stderr.
run() {
    timeout -k 5 40 "$LOADGEN" "$1" --port "$PORT" --tls-port "$TLS_PORT" \
        --accounts "$ACCOUNTS" --server-pid "$SERVER_PID" \
        --login-timeout 10 --timeout 30 "${@:2}"
    local status=$?
    if [ "$status" -ne 0 ]; then
        echo "smoke: loadgen $1 failed (status $status)" >&2
        failures=$((failures + 1))
    fi
}

start_server || exit 1
if ! make_accounts; then
    echo "smoke: stanzactl could not create the accounts" >&2
    exit 1
fi

run login -n 40 -c 4
run login --direct --resume -n 40 -c 4
run tls-ceiling -n 40 -c 4
run msg --pairs 3 --window 4 --duration 3 --settle 0.2
run idle -n "$ACCOUNTS" -c 3 --probes 20 --settle 0.5
run curve --steps 6,12 --procs 2 -c 3 --probes 10 --settle 0.5
run offline --count 200 --senders 2 --accounts 3
# Group chat fan-out (XEP-0045): every account in one room of chat.localhost.
run muc --occupants "$ACCOUNTS" --senders 2 --window 4 --duration 3
run register --prefix smoke --accounts 2 -c 2

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "smoke: stanzad died during the run; its log:" >&2
    tail -n 20 "$TMP/stanzad.log" >&2
    failures=$((failures + 1))
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
fi
stop_server
# Scenario 6, small: durable events (group commit), replay and a real
# start on 20,000 events, and the snapshot size of 2,000 accounts; its
# own server, about 2 seconds.
if ! timeout -k 5 60 "$JOURNALBENCH" all --dir "$TMP" --stanzad "$STANZAD" --batch 64,bus \
    --count 2000 --duration 0.5 --events 20000 --starts 1 --start-timeout 20 --accounts 2000; then
    echo "smoke: journalbench failed" >&2
    failures=$((failures + 1))
fi
if [ "$failures" -ne 0 ]; then
    echo "smoke: $failures failure(s); server log tail:" >&2
    tail -n 20 "$TMP/stanzad.log" >&2
    exit 1
fi
echo "smoke: ok"
