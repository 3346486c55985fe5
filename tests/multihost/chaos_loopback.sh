#!/usr/bin/env bash
# A short chaos run on loopback (no namespaces, no root): two brokers, two yard-actor echo
# processes of 2 replicas each listing both, and mh_driver calling at 1000 calls/s (every
# second call idempotent) and publishing 50/s to two subscribers; broker A is SIGKILLed and
# restarted three times, then B once. Prints each phase's outcomes (errors by code) and the
# NO_SERVICE counters of the restarted brokers. Not a ctest: a measurement, recorded in
# docs/benchmarks.md ("Broker restarts under load").
#   tests/multihost/chaos_loopback.sh [BUILD_DIR]     (default build/)
set -uo pipefail
BUILD=${1:-build}
B=$BUILD/bin
D=$BUILD/tests/multihost/mh_driver
TMP=$(mktemp -d /tmp/yard-chaos.XXXXXX)
PA=$((20000 + RANDOM % 20000))
PB=$((PA + 1))
EA=tcp://127.0.0.1:$PA
EB=tcp://127.0.0.1:$PB
PIDS=()
trap 'kill "${PIDS[@]}" $a $b 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP:-}" ] && echo "logs in $TMP" || rm -rf "$TMP"' EXIT
broker() {
    "$B/yard-broker" --bind "tcp://127.0.0.1:$1" --heartbeat-ms 500 --log-level warn \
        >/dev/null 2>>"$TMP/broker$1.log" &
    echo $!
}
a=$(broker $PA)
b=$(broker $PB)
for i in 1 2; do
    "$B/yard-actor" echo --broker "$EA,$EB" --heartbeat-ms 500 --replicas 2 --log-level warn \
        2>"$TMP/actor$i.log" &
    PIDS+=($!)
done
coproc DRV { "$D" --broker-a "$EA" --broker-b "$EB" --replicas 4 --rate 1000 --pub-rate 50 \
    --timeout-ms 3000 --heartbeat-ms 500 --max-run-s 80 2>"$TMP/driver.err"; }
PIDS+=($DRV_PID)
read -r line <&"${DRV[0]}" && echo "driver: $line"
cmd() {
    echo "$1" >&"${DRV[1]}"
    read -r line <&"${DRV[0]}" && echo "$line"
}
cmd "phase steady" >/dev/null
sleep 5
for i in 1 2 3; do
    cmd "phase kill_a$i" >/dev/null
    kill -9 "$a"
    sleep 1
    a=$(broker $PA)
    sleep 6
done
cmd "phase kill_b" >/dev/null
kill -9 "$b"
sleep 1
b=$(broker $PB)
sleep 6
cmd "counters error.NO_SERVICE"
echo end >&"${DRV[1]}"
grep -o '"name":"[a-z_0-9]*","at_ms":[0-9]*,"calls":{[^}]*}[^}]*}' <&"${DRV[0]}"
