#!/usr/bin/env bash
# The out-of-tree actor of docs/actors.md, built as its readers build it: installs the build
# in $1 (default build/) into a temporary prefix with `cmake --install`, builds
# docs/examples/greet against it through pkg-config (yard.pc) with nothing from the source
# tree, runs `greet --help`, then calls it through the installed yard-broker and yard.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
tmp="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# docs/actors.md shows greet.c as it is (its first ```c block), and it stays under 35 lines.
lines="$(wc -l <docs/examples/greet/greet.c)"
if [ "$lines" -ge 35 ]; then
    echo "check-example: docs/examples/greet/greet.c has $lines lines, want under 35" >&2
    exit 1
fi
if ! awk '/^```c$/ && !n++ {p=1; next} p && /^```$/ {exit} p' docs/actors.md |
    cmp -s - docs/examples/greet/greet.c; then
    echo "check-example: docs/actors.md's first code block differs from docs/examples/greet/greet.c" >&2
    exit 1
fi

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cp -r docs/examples/greet "$tmp/greet"
PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" make -s -C "$tmp/greet"
"$tmp/greet/greet" --help | grep -q -- "--greeting" || {
    echo "check-example: greet --help does not list --greeting" >&2
    exit 1
}

# The broker on a free port below the kernel's ephemeral range (32768 up by default): a port
# there can be some other connection's local end, which refuses a connect and still refuses
# the bind. Another program can take the port between the choice and the bind, so a broker
# that exits is started again on another.
ep=""
for _ in $(seq 1 10); do
    port=$((20000 + RANDOM % 12000))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        continue
    fi
    # It says "broker running" once bound, or exits; its log shows which.
    "$tmp/prefix/bin/yard-broker" --bind "tcp://127.0.0.1:$port" 2>"$tmp/broker.log" &
    broker=$!
    for _ in $(seq 1 50); do
        if grep -q '"broker running"' "$tmp/broker.log" || ! kill -0 "$broker" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    if kill -0 "$broker" 2>/dev/null; then
        pids+=("$broker")
        ep="tcp://127.0.0.1:$port"
        break
    fi
    wait "$broker" 2>/dev/null || true
done
if [ -z "$ep" ]; then
    echo "check-example: yard-broker did not start on any of 10 ports; its last log:" >&2
    cat "$tmp/broker.log" >&2
    exit 1
fi
"$tmp/greet/greet" --broker "$ep" --greeting Hi --log-level warn &
pids+=($!)

# The first calls may come before greet registered (NO_SERVICE): retry for up to 10 s.
want='{"greeting":"Hi","name":"Ada"}'
got=""
for _ in $(seq 1 50); do
    got="$("$tmp/prefix/bin/yard" call --broker "$ep" --timeout 1000 greet --op hello \
        '{"name":"Ada"}' 2>/dev/null)" && break
    sleep 0.2
done
if [ "$got" != "$want" ]; then
    echo "check-example: yard call greet --op hello gave '$got', want '$want'" >&2
    exit 1
fi
echo "check-example: greet built against the installed libyard (pkg-config yard) and answered $got"
