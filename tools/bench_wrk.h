/* yard bench http's load generator: wrk, a separate process (the load must not share our
 * threads), driven with a Lua script written to a temp file that sets the method, the JSON
 * body and its Content-Type, and whose `done` hook prints one line of counts and latency
 * percentiles that we parse, so nothing depends on the layout of wrk's human-readable report.
 * The same script drives every side of a run (gateway, bare server, nginx). */
#ifndef YARD_TOOLS_BENCH_WRK_H
#define YARD_TOOLS_BENCH_WRK_H

#include <stdbool.h>
#include <stddef.h>

/* Bounds of a request body the bench builds (yard__bench_wrk_body()). */
#define YARD__BENCH_BODY_MIN 64u
#define YARD__BENCH_BODY_MAX (16u * 1024 * 1024)

/* What wrk's done hook reported for one side. */
typedef struct {
    double requests, duration_us, bytes;
    double connect, read, write, status, timeout; /* wrk's error counts */
    double p50, p75, p90, p99, max;               /* microseconds */
} yard_bench_wrk_t;

/* How wrk runs: its threads, connections (each with one request outstanding) and seconds. */
typedef struct {
    unsigned threads, connections, duration_s;
} yard_bench_wrk_opts_t;

/* The full path of prog found on $PATH, else in each of fallback (a ':'-separated list of
 * directories, or NULL), or NULL. Caller owns the result; free with free(). */
char *yard__bench_which(const char *prog, const char *fallback);

/* The JSON body of exactly bytes bytes (YARD__BENCH_BODY_MIN..YARD__BENCH_BODY_MAX): an object
 * with a number, a string, an array and a padding string. Caller owns the result; free with
 * free(). */
char *yard__bench_wrk_body(size_t bytes);

/* Writes the wrk script for a POST of body (NULL: a GET) to a temp file; returns its path
 * (caller unlinks and frees it) or NULL with the reason on stderr. */
char *yard__bench_wrk_script(const char *body);

/* Runs wrk (its path) with script against url and parses its done line into *out. Returns 0,
 * or -1 with wrk's own output on stderr. */
int yard__bench_wrk_run(const char *wrk, const yard_bench_wrk_opts_t *o, const char *script,
                        const char *url, yard_bench_wrk_t *out);

/* Requests per second, and the sum of wrk's error counts. */
double yard__bench_wrk_rps(const yard_bench_wrk_t *w);
double yard__bench_wrk_errors(const yard_bench_wrk_t *w);

#endif
