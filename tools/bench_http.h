/* yard bench http's shared parts: its options, each body size's figures, and the report
 * (bench_http_report.c) that prints them as a table or one JSON object. Used by
 * cmd_bench_http.c only. */
#ifndef YARD_TOOLS_BENCH_HTTP_H
#define YARD_TOOLS_BENCH_HTTP_H

#include "bench_http_baseline.h"
#include "bench_wrk.h"

#include <stdbool.h>
#include <stddef.h>

#define YARD__BENCH_HTTP_SIZES 8 /* --body-sizes: at most this many */

/* The command's flags. */
typedef struct {
    unsigned connections, threads, duration_s, replicas, http_threads;
    bool post, json, tcp, require_nginx;
    const char *url, *nginx;
    size_t sizes[YARD__BENCH_HTTP_SIZES];
    unsigned nsizes;
} yard_bench_http_opts_t;

/* One body size: its request and each side's figures. */
typedef struct {
    size_t bytes;
    char *body;   /* NULL for GET */
    char *script; /* wrk's script: unlink and free */
    yard_http_answer_t *answer;
    yard_bench_wrk_t gw, bare, ngx;
    bool have_bare, have_ngx;
} yard_bench_http_size_t;

/* What a report prints: all borrowed, valid during the call. */
typedef struct {
    const yard_bench_http_opts_t *o;
    const yard_bench_http_size_t *sizes; /* o->nsizes of them */
    unsigned threads;                    /* the gateway's serving threads, nginx's workers */
    const char *url;                     /* the gateway's URL */
    const char *nginx_version;           /* "nginx/1.22.1", or "" */
    const char *nginx_skip;              /* why nginx's rows are missing, or NULL */
} yard_bench_http_report_t;

/* Prints one JSON object: the run's shape, the first size's figures at the top level (as
 * before body sizes existed), and every size in "sizes". */
void yard__bench_http_print_json(const yard_bench_http_report_t *r);

/* Prints the table: a row per side and size, then the ratios gateway / bare and
 * gateway / nginx, and any errors. */
void yard__bench_http_print_table(const yard_bench_http_report_t *r);

#endif
