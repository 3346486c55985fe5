/* `yard bench` over a list of replica counts (--replicas 1,2,4,8,16) with a handler time
 * (--handler-ms): one round per count, each on a fresh in-process bus of bench_echo.h's held
 * echo replicas, and the same round through NATS queue groups (bench_nats.c, when built with
 * libnats and nats-server is found) with as many responders doing the same work. Each round
 * reports round trips/s, the speedup over the first round per replica, how evenly the
 * requests spread over the replicas (per-replica counts from the broker's `$sys replicas`
 * `served`, before and after the load; NATS: each responder's own count), and the latency of
 * ok, failed and all calls. Private to tools/. */
#ifndef YARD_TOOLS_BENCH_SCALE_H
#define YARD_TOOLS_BENCH_SCALE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YARD_BENCH_ROUNDS_MAX 32

typedef struct {
    int replicas[YARD_BENCH_ROUNDS_MAX];
    int rounds;
    int clients, window;
    double duration_s;
    size_t size;
    uint32_t handler_ms, fail_every;
    int64_t credit; /* each replica's; every NATS responder serves one request at a time */
    bool serial;    /* bench_echo.h: a replica works on one held request at a time */
    bool nats;      /* also run NATS (skipped with a note when unavailable) */
    bool json;
} yard_bench_scale_t;

/* Runs every round and prints the table (or one JSON object). Returns the exit code: 0, or
 * 1 when a round of the bus could not be measured. */
int yard__bench_scale(const yard_bench_scale_t *s);

/* The spread of per-replica counts: min, max, mean, max/min (0 when min is 0: unbounded),
 * and the largest deviation from the mean in percent of the mean. */
typedef struct {
    uint64_t min, max, total;
    double mean, ratio, dev_pct;
} yard_bench_spread_t;
void yard__bench_spread(const uint64_t *counts, int n, yard_bench_spread_t *out);

#endif
