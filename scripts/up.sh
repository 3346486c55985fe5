#!/usr/bin/env bash
# Installs the dependencies, builds, and runs the whole bus (broker + every actor) in the
# foreground on the embedded default (no Redis). Ctrl-C drains and stops it.
# Extra arguments go to `yard up` (e.g. --config yard.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
exec build/bin/yard up "$@"
