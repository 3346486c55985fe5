#!/usr/bin/env bash
# The multi-host test (tests/multihost/README.md). Five "hosts" are network namespaces, each
# with one veth link into a sixth namespace that holds a bridge (the switch):
#   ba  10.250.0.1  yard-broker A          bb  10.250.0.2  yard-broker B
#   act 10.250.0.3  yard-actor echo (2 replicas, listing A and B)
#   gw  10.250.0.4  yard-gateway (listing A and B), HTTP on :8080
#   cl  10.250.0.5  mh_driver (calls, a publisher, two subscribers) and curl
# Everything speaks CURVE with keys made here by `yard keygen`; heartbeats are 500 ms, so a
# peer gives up on a silent broker after 3 intervals (1.5 s), inside the 2 s failover bound.
# Scenario: steady; cut A's link at the switch; restore it (A must list the replicas again and
# take new clients); SIGKILL B. The driver's checks and this script's HTTP checks must pass.
# Exit 0 pass, 1 fail, 77 skipped (not root, or the kernel refuses network namespaces).
# MH_LOGS=DIR keeps every process's log there.
# The 10.250.0.0/24 addresses exist only inside these namespaces, which have no route out.
set -uo pipefail

skip() {
    echo "SKIP multihost: $*"
    exit 77
}

[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces (CI runs it as root)"
command -v ip >/dev/null || skip "needs ip (iproute2)"
command -v curl >/dev/null || skip "needs curl"
BIN=${YARD_BIN_DIR:?set YARD_BIN_DIR to the bin folder of a build}
DRIVER=${MH_DRIVER:?set MH_DRIVER to the mh_driver binary}
for p in yard yard-broker yard-actor yard-gateway; do
    [ -x "$BIN/$p" ] || { echo "FAIL multihost: $BIN/$p is missing"; exit 1; }
done

TAG=ymh$$ # namespace names: unique per run, and recognisable if a killed run left any
HOSTS=(ba bb act gw cl)
declare -A ADDR=([ba]=10.250.0.1 [bb]=10.250.0.2 [act]=10.250.0.3 [gw]=10.250.0.4 [cl]=10.250.0.5)
EP_A=tcp://${ADDR[ba]}:5555
EP_B=tcp://${ADDR[bb]}:5555
GW_URL=http://${ADDR[gw]}:8080
HB_MS=500
GW_TIMEOUT_S=4     # the gateway route's deadline: 504 after it
GW_FAILOVER_S=2    # the gateway's clients heartbeat every HB_MS too: 3 x 0.5 s, plus margin
RUN_BOUND_S=90
TMP=$(mktemp -d /tmp/yard-mh.XXXXXX)
PIDS=()
FAILED=0
T0=$(date +%s.%N)

since() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }
log() { printf '[%6s] %s\n' "$(since "$T0")" "$*"; }
fail() {
    echo "check FAIL $*"
    FAILED=1
}

# --- cleanup on every exit path ------------------------------------------------------------

cleanup() {
    set +e
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for _ in $(seq 1 30); do
        alive=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ $alive -eq 0 ] && break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    for h in "${HOSTS[@]}" sw; do ip netns del "$TAG-$h" 2>/dev/null; done
    [ -n "${MH_LOGS:-}" ] && mkdir -p "$MH_LOGS" && cp "$TMP"/*.log "$TMP"/*.txt "$MH_LOGS"/
    if [ "$FAILED" -ne 0 ]; then
        for f in "$TMP"/*.log; do
            [ -f "$f" ] || continue
            echo "--- last lines of $(basename "$f")"
            tail -n 25 "$f"
        done
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo "multihost: interrupted"; FAILED=1; exit 1' INT TERM

# Namespaces a killed earlier run left behind (its shell is gone): remove them.
for ns in $(ip netns list 2>/dev/null | grep -o '^ymh[0-9]*-[a-z]*'); do
    pid=${ns#ymh}
    pid=${pid%%-*}
    kill -0 "$pid" 2>/dev/null || ip netns del "$ns" 2>/dev/null
done

# The whole run is bounded: past RUN_BOUND_S the watchdog stops it through the TERM trap.
(
    trap 'kill "$sp" 2>/dev/null; exit 0' TERM
    sleep "$RUN_BOUND_S" &
    sp=$!
    wait "$sp" && echo "multihost: over ${RUN_BOUND_S} s, stopping" && kill -TERM $$
) >/dev/null 2>&1 &
PIDS+=($!)

# --- the network ---------------------------------------------------------------------------

ip netns add "$TAG-sw" 2>"$TMP/netns.err" ||
    skip "the kernel refused 'ip netns add': $(cat "$TMP/netns.err")"
ip -n "$TAG-sw" link add br0 type bridge && ip -n "$TAG-sw" link set br0 up || exit 1
for h in "${HOSTS[@]}"; do
    ip netns add "$TAG-$h" &&
        ip -n "$TAG-$h" link set lo up &&
        ip -n "$TAG-$h" link add eth0 type veth peer name "p-$h" netns "$TAG-sw" &&
        ip -n "$TAG-$h" addr add "${ADDR[$h]}/24" dev eth0 &&
        ip -n "$TAG-$h" link set eth0 up &&
        ip -n "$TAG-sw" link set "p-$h" master br0 up || {
        echo "FAIL multihost: cannot wire host $h"
        exit 1
    }
done
log "network up: ${HOSTS[*]} on a bridge in $TAG-sw"

# --- keys (docs/security.md "How to deploy with keys") -------------------------------------

K=$TMP/keys
mkdir -p "$K/allowed"
"$BIN/yard" keygen "$K/broker" >/dev/null &&
    "$BIN/yard" keygen "$K/actor" --offer echo --call '' >/dev/null &&
    "$BIN/yard" keygen "$K/gateway" --call echo --offer '' --tap no >/dev/null &&
    "$BIN/yard" keygen "$K/driver" >/dev/null || {
    echo "FAIL multihost: yard keygen"
    exit 1
}
cp "$K/actor" "$K/gateway" "$K/driver" "$K/allowed/"

# on HOST NAME KEY CMD...: starts CMD in HOST's namespace as CURVE key NAME, logging to
# NAME.log; its pid (ip netns exec and env exec, so it is the program's) goes to PID_<name>.
on() {
    local host=$1 name=$2 key=$3
    shift 3
    ip netns exec "$TAG-$host" env YARD_CURVE_KEY="$K/${key}_secret" \
        YARD_CURVE_BROKER_KEY="$K/broker" YARD_LOG_LEVEL=info "$@" >"$TMP/$name.log" 2>&1 &
    PIDS+=($!)
    printf -v "PID_$name" '%s' $!
    disown $! # killed by pid below; bash need not report it
}

broker() {
    on "$1" "broker_$1" broker "$BIN/yard-broker" --bind "tcp://${ADDR[$1]}:5555" \
        --heartbeat-ms $HB_MS --key "$K/broker_secret" --keys-dir "$K/allowed"
}
broker ba
broker bb
on act actor actor "$BIN/yard-actor" echo --broker "$EP_A,$EP_B" --heartbeat-ms $HB_MS \
    --replicas 2
cat >"$TMP/gateway.yaml" <<EOF
broker: $EP_A,$EP_B
gateway:
  listen: ${ADDR[gw]}:8080
  heartbeat_ms: $HB_MS
  default_route:
    services: [echo]
    timeout: ${GW_TIMEOUT_S}s
EOF
on gw gateway gateway "$BIN/yard-gateway" --config "$TMP/gateway.yaml"

# --- the driver, as a coprocess that takes commands and answers one line each --------------

coproc DRV {
    exec ip netns exec "$TAG-cl" env YARD_CURVE_KEY="$K/driver_secret" \
        YARD_CURVE_BROKER_KEY="$K/broker" "$DRIVER" --broker-a "$EP_A" --broker-b "$EP_B" \
        --service echo --replicas 2 --rate 100 --pub-rate 50 --timeout-ms 3000 \
        --heartbeat-ms $HB_MS --window-ms 2000 --clean steady,restored \
        --rejoin-max-ms 5000 --probe-n 12 --max-run-s 80 2>"$TMP/driver.log"
}
DRIVER_PID=$DRV_PID # bash unsets DRV_PID when the coprocess exits
PIDS+=("$DRIVER_PID")
exec {TO_DRV}>&"${DRV[1]}" {FROM_DRV}<&"${DRV[0]}"

# drv CMD [TIMEOUT_S]: sends CMD (unless empty) and waits for one answer line.
drv() {
    [ -n "$1" ] && echo "$1" >&"$TO_DRV"
    local line
    if ! read -r -t "${2:-20}" line <&"$FROM_DRV"; then
        fail "driver: no answer to '${1:-start}'"
        exit 1
    fi
    log "driver: $line"
    case $line in ok* | ready) ;; *) fail "driver: '$line'" ;; esac
}

drv "" 30 # "ready": both brokers list both replicas, the subscribers heard the warm-up

for _ in $(seq 1 50); do
    code=$(ip netns exec "$TAG-cl" curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
        "$GW_URL/readyz")
    [ "$code" = 200 ] && break
    sleep 0.1
done
[ "$code" = 200 ] || fail "gateway: /readyz answered '$code'"

# --- HTTP through the gateway during a fault -----------------------------------------------

HTTP_PIDS=()
# http_burst NAME COUNT: one POST /v1/echo every 0.35 s in the background; each writes
# "i launched_after_s code time_total" to http-NAME.txt and its body to http-NAME-i.body.
http_burst() {
    local name=$1 count=$2 start
    start=$(date +%s.%N)
    for i in $(seq 1 "$count"); do
        (
            at=$(since "$start")
            out=$(ip netns exec "$TAG-cl" curl -s -o "$TMP/http-$name-$i.body" \
                -w '%{http_code} %{time_total}' --max-time $((GW_TIMEOUT_S + 6)) \
                -H 'Content-Type: application/json' -d "{\"i\":$i}" "$GW_URL/v1/echo")
            echo "$i $at $out" >>"$TMP/http-$name.txt"
        ) &
        HTTP_PIDS+=($!)
        sleep 0.35
    done
}

# Every request ended, in a 2xx or a 5xx with an error body, within the route's deadline
# (plus a second), and some launched after the gateway's failover time were answered 2xx.
# A 5xx after that time is reported, not failed: a gateway loop that was idle when the link
# went down starts counting the broker's silence only with its next request (1.5 s more).
http_check() {
    local name=$1 count=$2 n=0 ok=0 bad=0 ok_late=0 late_5xx=0
    for pid in "${HTTP_PIDS[@]}"; do wait "$pid"; done
    HTTP_PIDS=()
    while read -r i at code took; do
        n=$((n + 1))
        local body late=0
        body=$(cat "$TMP/http-$name-$i.body" 2>/dev/null)
        awk -v a="$at" -v b="$GW_FAILOVER_S" 'BEGIN { exit !(a >= b) }' && late=1
        if [[ $code == 2?? ]]; then
            ok=$((ok + 1))
            ok_late=$((ok_late + late))
        elif [[ $code == 5?? && $body == *'"error"'* ]]; then
            late_5xx=$((late_5xx + late))
            [ $late -eq 1 ] && echo "note http.$name: request $i, launched ${at}s into the fault, answered $code $body after ${took}s"
        else
            fail "http.$name: request $i answered '$code' ($body) after ${took}s"
            bad=$((bad + 1))
        fi
        if awk -v a="$took" -v b="$GW_TIMEOUT_S" 'BEGIN { exit !(a > b + 1) }'; then
            fail "http.$name: request $i took ${took}s (deadline ${GW_TIMEOUT_S}s)"
            bad=$((bad + 1))
        fi
    done <"$TMP/http-$name.txt"
    log "http $name: $(sort -k3 "$TMP/http-$name.txt" | awk '{print $3}' | uniq -c | tr '\n' ' ')"
    [ "$n" -eq "$count" ] || fail "http.$name: $n of $count requests ended"
    [ "$ok_late" -gt 0 ] || fail "http.$name: no request launched ${GW_FAILOVER_S}s or more into the fault was answered 2xx"
    [ "$bad" -eq 0 ] && [ "$n" -eq "$count" ] && [ "$ok_late" -gt 0 ] &&
        echo "check ok http.$name $ok of $n answered 2xx ($ok_late launched after ${GW_FAILOVER_S}s; $late_5xx of those 5xx), the rest a 5xx with an error body, each within its deadline"
}

# --- the scenario --------------------------------------------------------------------------

drv "phase steady"
sleep 4

drv "phase cut_a"
ip -n "$TAG-sw" link set p-ba down
log "cut: broker A's link is down"
http_burst cut_a 16
sleep 1
http_check cut_a 16
drv "counters published" # what each broker took from publishers so far (A: cut off)

drv "phase restored"
ip -n "$TAG-sw" link set p-ba up
log "restored: broker A's link is up"
drv "rejoin" 15
drv "probe" 30
sleep 2

drv "phase kill_b"
# shellcheck disable=SC2154 # set by on() through printf -v
kill -KILL "$PID_broker_bb"
log "killed broker B (SIGKILL)"
http_burst kill_b 16
sleep 1
http_check kill_b 16
drv "counters published"

# --- the summary ---------------------------------------------------------------------------

echo "end" >&"$TO_DRV"
while read -r -t 30 line <&"$FROM_DRV"; do
    echo "$line"
    [[ $line == "check FAIL"* ]] && FAILED=1
done
wait "$DRIVER_PID"
rc=$?
[ "$rc" -eq 0 ] || { [ "$rc" -ne 1 ] && fail "driver exited $rc"; FAILED=1; }
log "done (driver exit $rc)"
[ "$FAILED" -eq 0 ] && echo "PASS multihost" || echo "FAIL multihost"
exit "$FAILED"
