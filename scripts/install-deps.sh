#!/usr/bin/env bash
# Installs what Switchyard needs to build, run and test, from Debian's packages only.
# Safe to run again: apt-get skips what is already there.
set -euo pipefail

packages=(
    build-essential cmake pkg-config clang-format
    libzmq3-dev libmsgpack-dev libhiredis-dev libyajl-dev libyaml-dev libcmocka-dev
    libsodium-dev libczmq-dev tzdata
    redis-server tmux
    libmicrohttpd-dev libcurl4-openssl-dev wrk
    nginx # yard bench http: nginx as a reverse proxy beside the gateway (tools/bench_nginx.c)
    nats-server libnats-dev
    clang libclang-rt-14-dev # libFuzzer and its sanitizers: scripts/fuzz.sh, tests/fuzz/
    openssl # makes the gateway's HTTPS test certificate (tests/integration/test_gateway_tls.c)
    python3-yaml python3-kubernetes docker-compose # tests/deploy: reads and checks deploy/
    python3-zmq python3-msgpack # proto/python: the Python actors and client, and their tests
    iproute2 curl # tests/multihost: network namespaces, veth links, HTTP through the gateway
)
# tests/deploy renders deploy/k8s with `kubectl kustomize`: Debian's kubectl only if none is here
command -v kubectl >/dev/null || packages+=(kubernetes-client)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
