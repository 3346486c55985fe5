#!/usr/bin/env bash
# Installs the dependencies, builds the programs (Release, in build-release/, apart from the
# build/ that scripts/test.sh uses, so neither undoes the other), and runs the whole bus
# (broker + actors + gateway) in the foreground on the embedded default (no Redis). Ctrl-C
# drains and stops it. Extra arguments go to `yard up` (e.g. --config yard.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
dir=build-release
echo "up.sh: building the programs in $dir/ (the first build takes a few minutes)" >&2
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release --log-level=WARNING
cmake --build "$dir" -j"$(nproc)" --target yard_cli yard-broker yard-actor yard-gateway
exec "$dir/bin/yard" up "$@"
