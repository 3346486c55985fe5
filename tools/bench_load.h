/* The load a bus bench puts on one service, and the figures it yields. Shared by `yard bench`
 * (echo) and `yard bench auth` (verify, then echo) so that both drive the bus the same way and
 * their figures compare; the start gate and the counting are shared with the raw libzmq
 * baseline (bench_baseline.c) for the same reason. Private to tools/.
 *
 * The load: `clients` threads, each with its own yard client, each keeping `window` async calls
 * outstanding for `duration_s` seconds, all starting on one clock. Latencies go into
 * per-thread histograms merged at the end. After the duration each client drains what is
 * outstanding with a deadline; lost = sent - replies - errors counts calls that ended in
 * neither. */
#ifndef YARD_TOOLS_BENCH_LOAD_H
#define YARD_TOOLS_BENCH_LOAD_H

#include "cli.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* What to send where, and how hard. Every pointer is borrowed for the run. */
typedef struct {
    const char *endpoint; /* the broker the clients connect to */
    void *zmq_ctx;        /* the clients' context: keep it apart from the bus's */
    const char *service;
    const char *op; /* NULL: none */
    const void *body;
    size_t size;
    int clients, window;
    double duration_s;
    /* Before the clock starts each client makes one call, which must succeed. With warmup_ms
     * > 0 a failed one is retried for that long (replicas register asynchronously, so the
     * first calls can meet NO_SERVICE); with 0 the caller has already waited for the service. */
    int warmup_ms;
} yard_bench_load_t;

/* Runs the load and fills *out (zeroed first). Returns 0, or the first client's error when a
 * client could not connect or its first call failed (nothing is printed: the caller knows
 * what the service is to the user). */
int yard__bench_load_run(const yard_bench_load_t *load, yard_bench_result_t *out);

/* The echo load of `yard bench`: `size`-byte msgpack bodies to service at endpoint, from
 * clients in a ZeroMQ context of their own (kept apart from the bus's). When the service does
 * not answer, says so on stderr as "yard bench: ..." and returns -1; else 0. */
int yard__bench_echo_load(const char *endpoint, const char *service, size_t size, int clients,
                          int window, double duration_s, int warmup_ms, yard_bench_result_t *out);

/* --- pieces the raw baseline shares --------------------------------------------------------- */

/* Starts every load thread on one clock, once all have set up: the setup (connecting, the
 * warm-up call) must not eat into anyone's duration. */
typedef struct {
    pthread_barrier_t ready, go;
    uint64_t start_ns; /* written between the two barriers, which order it for the readers */
} yard_bench_gate_t;

/* For `threads` load threads plus the one that opens the gate. */
void yard__bench_gate_init(yard_bench_gate_t *gate, int threads);
/* In a load thread, after its setup (failed or not): waits until the gate opens. Returns the
 * time the load ends, start + duration_s, in yard__now_ns() nanoseconds. */
uint64_t yard__bench_gate_pass(yard_bench_gate_t *gate, double duration_s);
/* In the starting thread, after creating the load threads: waits until all are set up, then
 * stamps the start and lets them go. */
void yard__bench_gate_open(yard_bench_gate_t *gate);
/* After every load thread has passed. */
void yard__bench_gate_destroy(yard_bench_gate_t *gate);

/* Adds one thread's counts and histogram into into (seconds is left alone). */
void yard__bench_result_add(yard_bench_result_t *into, const yard_bench_result_t *from);

/* --- what the commands print ---------------------------------------------------------------- */

/* Replies per second that arrived within the duration; 0 when nothing was measured. */
double yard__bench_rate(const yard_bench_result_t *r);
/* The latency at quantile q (0..1), in microseconds. */
double yard__bench_us(const yard_bench_result_t *r, double q);
/* The latency of the calls that got a reply (ok), of those that ended in an error answer
 * (failed: their count is every error, the percentiles cover the ones with a time), and of
 * both (all), each as count, p50, p99 and max:
 *   JSON: "ok":{"count":N,"p50_us":X,"p99_us":X,"max_us":X},"failed":{...},"all":{...}
 *   text: three lines "latency ok     count N  p50 X  p99 X  max X" (units as fit). */
void yard__bench_latency_json(const yard_bench_result_t *r);
void yard__bench_latency_text(const yard_bench_result_t *r);

/* The name of error_counts[code]: the error table's name, or "LOCAL" for index 0.
 * Borrowed; static; do not free. */
const char *yard__bench_error_name(int code);

#endif
