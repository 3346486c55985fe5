#!/usr/bin/env bash
# Runs the libFuzzer targets (tests/fuzz/) for a fixed time each, one after another.
#   scripts/fuzz.sh TARGET|all SECONDS
# TARGET is a fuzzer's name (fuzz_wire) or its short form (wire); `all` runs every one.
# Builds them first in $YARD_FUZZ_BUILD (default build-fuzz/: CC=clang, YARD_FUZZ=ON), unless
# YARD_FUZZ_NO_BUILD is set.
# Each run starts by replaying the seeds and regressions in tests/fuzz/corpus/TARGET (read
# only); inputs it finds go to BUILD/fuzz-corpus/TARGET, logs to BUILD/fuzz-logs/TARGET.log.
# A crash, leak, timeout or sanitizer report is copied to BUILD/fuzz-crashes/TARGET/ (the
# path is printed) and the script exits 1 once every target has run. To keep a crash as a
# regression, fix it and copy the file into tests/fuzz/corpus/TARGET/ as crash-<what>.
# Prints one summary line per target: seconds, executions, exec/s, corpus, cov, ft, crashes.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
    echo "usage: scripts/fuzz.sh TARGET|all SECONDS" >&2
    exit 2
fi
build=${YARD_FUZZ_BUILD:-build-fuzz}
all=(fuzz_wire fuzz_broker fuzz_json fuzz_msgpack fuzz_routes fuzz_framing fuzz_cron fuzz_jwt
     fuzz_config)
if [ "$1" = all ]; then
    targets=("${all[@]}")
else
    t=$1
    [[ "$t" == fuzz_* ]] || t=fuzz_$t
    if [ ! -f "tests/fuzz/$t.c" ]; then
        echo "unknown fuzz target '$1': one of ${all[*]} or all" >&2
        exit 2
    fi
    targets=("$t")
fi

if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=${CC:-clang} cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DYARD_FUZZ=ON \
        --log-level=WARNING
fi
if [ -z "${YARD_FUZZ_NO_BUILD:-}" ]; then # set it to run the binaries already built
    cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" >/dev/null
fi

# Leaks count as crashes; a stuck input (10 s) or a memory blow-up (2 GiB) too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
printf '%-14s %7s %12s %8s %7s %6s %7s %s\n' target seconds execs exec/s corpus cov ft crashes
for t in "${targets[@]}"; do
    corpus=$build/fuzz-corpus/$t crashes=$build/fuzz-crashes/$t log=$build/fuzz-logs/$t.log
    mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
    rc=0 t0=$(date +%s)
    "$build/fuzz/$t" -max_total_time="$2" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$crashes/" "$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    secs=$(($(date +%s) - t0)) # less than asked for when it stopped at a crash
    last=$(grep -E '^#[0-9]+.*(cov|DONE)' "$log" | tail -1 || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    ncorp=$(find "$corpus" -type f | wc -l)
    found=$(find "$crashes" -type f | wc -l)
    printf '%-14s %7s %12s %8s %7s %6s %7s %s\n' "$t" "$secs" "${execs:-?}" "${rate:-?}" "$ncorp" \
        "${cov:-?}" "${ft:-?}" "$found"
    if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
        failed+=("$t")
        echo "FAILED: $t (exit $rc); log: $log" >&2
        find "$crashes" -type f -printf '  crash: %p\n' >&2
        grep -m1 -E 'ERROR: |runtime error|SUMMARY' "$log" >&2 || true
    fi
done
if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzzing found problems in: ${failed[*]}" >&2
    exit 1
fi
