#!/usr/bin/env bash
# Installs the dependencies, builds, and runs every test with ctest.
#   scripts/test.sh          the default build (warnings are errors)
#   scripts/test.sh --asan   the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

dir=build type=RelWithDebInfo sanitize=OFF
if [ "${1:-}" = "--asan" ]; then
    dir=build-asan type=Debug sanitize=ON
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DYARD_SANITIZE="$sanitize" >/dev/null
cmake --build "$dir" -j"$(nproc)"
cd "$dir"
ctest --output-on-failure --timeout 120 -j2
