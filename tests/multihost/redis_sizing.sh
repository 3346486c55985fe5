#!/usr/bin/env bash
# What Switchyard's state costs in Redis, for docs/architecture.md ("Redis sizing"). Not a
# test: a measuring script, run by hand:
#   tests/multihost/redis_sizing.sh BUILD_BIN_DIR [JOBS] [LOGINS]
# In a temp dir it starts redis-server, a broker, 2 scheduler replicas and 1 auth replica on
# that Redis (loopback, free ports), then:
#   - adds JOBS scheduler jobs (every 5 s, a send to `echo`), lets them run 12 s;
#   - logs in LOGINS times (one user; rate limits raised for the run), then LOGINS more
#     sessions that each refresh once and log out (what refresh and revocation keep);
# and after each step prints Redis' used_memory and key count, and per key family the number
# of keys, the median MEMORY USAGE and whether they expire (TTL). Stops everything it started.
set -uo pipefail
BIN=${1:?usage: redis_sizing.sh BUILD_BIN_DIR [JOBS] [LOGINS]}
JOBS=${2:-1000}
LOGINS=${3:-500}
TMP=$(mktemp -d /tmp/yard-rz.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    wait 2>/dev/null
    redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RP=$(free_port)
BP=$(free_port)
redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$TMP" --logfile "$TMP/redis.log"
for _ in $(seq 1 50); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.1; done
R="redis://127.0.0.1:$RP/0"
EP="tcp://127.0.0.1:$BP"
"$BIN/yard-broker" --bind "$EP" --log-level warn &
PIDS+=($!)
"$BIN/yard-actor" echo --broker "$EP" --log-level warn &
PIDS+=($!)
"$BIN/yard-actor" scheduler --broker "$EP" --store "$R" --replicas 2 --log-level warn &
PIDS+=($!)
PASS=sizing-passphrase-$$
YARD_AUTH_ADMIN_PASSWORD=$PASS "$BIN/yard-actor" auth --broker "$EP" --store "$R" \
    --admin-user sizer --login-burst-user 100000 --login-per-min-user 100000 \
    --login-burst-source 100000 --login-per-min-source 100000 --log-level warn &
PIDS+=($!)
for _ in $(seq 1 100); do
    "$BIN/yard" call scheduler --op job.list '{}' --broker "$EP" >/dev/null 2>&1 &&
        "$BIN/yard" call auth --op login "{\"username\":\"sizer\",\"password\":\"$PASS\"}" \
            --broker "$EP" >/dev/null 2>&1 && break
    sleep 0.1
done

report() {
    echo "== $1: used_memory $(redis-cli -p "$RP" info memory | grep '^used_memory:' | cut -d: -f2 | tr -d '\r') bytes, $(redis-cli -p "$RP" dbsize) keys"
    redis-cli -p "$RP" --scan | sed -E 's/^(([a-z]+:[a-z]+)(:.*)?)$/\2/' | sort | uniq -c |
        while read -r n fam; do
            sizes=$(redis-cli -p "$RP" --scan --pattern "$fam*" | head -200 |
                while read -r k; do redis-cli -p "$RP" memory usage "$k"; done | sort -n)
            med=$(echo "$sizes" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
            one=$(redis-cli -p "$RP" --scan --pattern "$fam*" | head -1)
            ttl=$(redis-cli -p "$RP" pttl "$one")
            printf '   %-14s %6d keys, median %5s bytes (MEMORY USAGE), pttl of one: %s ms\n' \
                "$fam" "$n" "$med" "$ttl"
        done
}

report "start (scheduler and auth idle)"
for i in $(seq 1 "$JOBS"); do
    echo "{\"id\":\"j$i\",\"every\":\"5s\",\"service\":\"echo\",\"mode\":\"send\"}"
done | while read -r job; do
    "$BIN/yard" call scheduler --op job.add "$job" --broker "$EP" >/dev/null || echo "job.add failed"
done
report "$JOBS jobs added"
sleep 12
report "$JOBS jobs after 12 s of runs"
for i in $(seq 1 "$LOGINS"); do
    "$BIN/yard" call auth --op login "{\"username\":\"sizer\",\"password\":\"$PASS\"}" \
        --broker "$EP" >/dev/null || echo "login failed"
done
report "$LOGINS logins"
tok() { python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])'; }
for i in $(seq 1 "$LOGINS"); do
    rt=$("$BIN/yard" call auth --op login "{\"username\":\"sizer\",\"password\":\"$PASS\"}" \
        --broker "$EP" | tok)
    rt=$("$BIN/yard" call auth --op refresh "{\"refresh_token\":\"$rt\"}" --broker "$EP" | tok)
    "$BIN/yard" call auth --op logout "{\"refresh_token\":\"$rt\"}" --broker "$EP" >/dev/null ||
        echo "logout failed"
done
report "$LOGINS more sessions, each refreshed once and logged out"
