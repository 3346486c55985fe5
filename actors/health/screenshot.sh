#!/bin/sh
# Renders the health actor's status page in a real browser (Debian's headless Chromium) and
# writes a PNG: starts a broker, `yard-actor health` with four checks against local targets
# (the gateway's own /healthz, the broker's TCP port, the health actor itself over the bus,
# and a TCP port nobody listens on, which goes down), and a gateway in its default
# configuration, which serves the page at GET /status without auth. Waits until the page
# shows three checks up and one down, then takes a phone-sized screenshot (412x915).
#
#   usage: actors/health/screenshot.sh [BUILD_DIR] [OUT.png]
#          (defaults: build, actors/health/status-page.png)
#   needs: chromium (apt-get install chromium), curl, python3; the build's yard-broker,
#          yard-actor and yard-gateway (cmake --build BUILD --target yard-broker yard-actor
#          yard-gateway)
set -eu

BUILD=${1:-build}
OUT=${2:-actors/health/status-page.png}
BIN=$BUILD/bin
for p in yard-broker yard-actor yard-gateway; do
    [ -x "$BIN/$p" ] || { echo "screenshot.sh: $BIN/$p is not built" >&2; exit 2; }
done
command -v chromium >/dev/null || { echo "screenshot.sh: no chromium (apt-get install chromium)" >&2; exit 2; }

DIR=$(mktemp -d)
PIDS=""
cleanup() {
    for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

# Three free ports: the broker, the gateway, and one left closed (the check that goes down).
set -- $(python3 -c 'import socket
s=[socket.socket() for _ in range(3)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
BPORT=$1 GPORT=$2 CLOSED=$3

cat >"$DIR/yard.yaml" <<EOF
broker: tcp://127.0.0.1:$BPORT
bind: tcp://127.0.0.1:$BPORT
log_level: warn
gateway:
  listen: 127.0.0.1:$GPORT
health:
  down_after: 2
  up_after: 2
  checks:
    - {name: website, http: 'http://127.0.0.1:$GPORT/healthz', every: 1s}
    - {name: message-broker, tcp: '127.0.0.1:$BPORT', every: 1s}
    - {name: health-actor, bus: health, op: metrics, every: 1s, min_replicas: 1}
    - {name: backup-server, tcp: '127.0.0.1:$CLOSED', every: 1s, timeout: 500ms}
EOF

"$BIN/yard-broker" --config "$DIR/yard.yaml" 2>"$DIR/broker.log" & PIDS="$PIDS $!"
"$BIN/yard-actor" health --config "$DIR/yard.yaml" 2>"$DIR/health.log" & PIDS="$PIDS $!"
"$BIN/yard-gateway" --config "$DIR/yard.yaml" 2>"$DIR/gateway.log" & PIDS="$PIDS $!"

URL="http://127.0.0.1:$GPORT/status"
i=0
until curl -fsS "$URL" 2>/dev/null | python3 -c 'import sys
page = sys.stdin.read()
sys.exit(0 if page.count("<li class=\"up\">") == 3 and page.count("<li class=\"down\">") == 1 else 1)'; do
    i=$((i + 1))
    if [ $i -gt 150 ]; then
        echo "screenshot.sh: the page never showed 3 up and 1 down; logs in $DIR:" >&2
        cat "$DIR"/*.log >&2
        exit 1
    fi
    sleep 0.2
done

# --no-sandbox: Chromium's sandbox refuses to run as root (CI containers).
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
    --window-size=412,915 --screenshot="$DIR/page.png" "$URL" >"$DIR/chromium.log" 2>&1 || {
    cat "$DIR/chromium.log" >&2
    exit 1
}
cp "$DIR/page.png" "$OUT"
echo "screenshot.sh: wrote $OUT ($(wc -c <"$OUT") bytes) from $URL"
