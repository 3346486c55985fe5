#!/usr/bin/env bash
# Installs the dependencies, builds, and runs every test with ctest; then installs libyard
# into a temporary prefix and builds and runs the out-of-tree example actor against it
# (scripts/check-example.sh).
#   scripts/test.sh          the default build (build/, RelWithDebInfo, warnings are errors)
#   scripts/test.sh --asan   the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer
#                            (build-asan/), except the tests labelled `slow`: those measure
#                            wall-clock behaviour (a rate limit over 100 s, an outage of 2
#                            minutes) that the plain pass already shows, and their code paths
#                            run under the sanitizers in the short tests beside them
# NATS is required here (YARD_WITH_NATS=ON), so that `yard bench compare` stays built and
# tested; the product itself builds without it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

dir=build type=RelWithDebInfo sanitize=OFF exclude=()
if [ "${1:-}" = "--asan" ]; then
    dir=build-asan type=Debug sanitize=ON
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    exclude=(-LE slow)
fi
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DYARD_SANITIZE="$sanitize" -DYARD_WITH_NATS=ON \
    --log-level=WARNING
cmake --build "$dir" -j"$(nproc)"
(cd "$dir" && ctest --output-on-failure --timeout 120 -j2 "${exclude[@]}")
if [ "$sanitize" = OFF ]; then
    scripts/check-example.sh "$dir"
fi
