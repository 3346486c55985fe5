/* yard bench http's report: the figures of every side and size as a table or one JSON
 * object (bench_http.h). */
#include "bench_http.h"

#include <stdio.h>

/* --- output -------------------------------------------------------------------------------- */

static double
s_ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void
s_json_side(const char *prefix, const yard_bench_wrk_t *w)
{
    printf("\"%srequests\":%.0f,\"%srps\":%.1f,\"%sp50_us\":%.0f,\"%sp75_us\":%.0f,"
           "\"%sp90_us\":%.0f,\"%sp99_us\":%.0f,\"%smax_us\":%.0f,\"%serrors\":{\"connect\":%.0f,"
           "\"read\":%.0f,\"write\":%.0f,\"status\":%.0f,\"timeout\":%.0f}",
           prefix, w->requests, prefix, yard__bench_wrk_rps(w), prefix, w->p50, prefix, w->p75,
           prefix, w->p90, prefix, w->p99, prefix, w->max, prefix, w->connect, w->read, w->write,
           w->status, w->timeout);
}

/* One size's figures as JSON members (no braces): the gateway's unprefixed, the bare
 * server's as baseline_*, nginx's as nginx_*, and the ratios (null where a side is missing). */
static void
s_json_size(const yard_bench_http_size_t *z)
{
    printf("\"body_bytes\":%zu,", z->bytes);
    s_json_side("", &z->gw);
    if (z->have_bare) {
        printf(",");
        s_json_side("baseline_", &z->bare);
        printf(",\"ratio\":%.3f,\"p99_ratio\":%.3f",
               s_ratio(yard__bench_wrk_rps(&z->gw), yard__bench_wrk_rps(&z->bare)),
               s_ratio(z->gw.p99, z->bare.p99));
    } else {
        printf(",\"baseline_rps\":null,\"baseline_p99_us\":null,\"ratio\":null");
    }
    if (z->have_ngx) {
        printf(",");
        s_json_side("nginx_", &z->ngx);
        printf(",\"ratio_nginx\":%.3f,\"p99_ratio_nginx\":%.3f",
               s_ratio(yard__bench_wrk_rps(&z->gw), yard__bench_wrk_rps(&z->ngx)),
               s_ratio(z->gw.p99, z->ngx.p99));
    } else {
        printf(",\"nginx_rps\":null,\"nginx_p99_us\":null,\"ratio_nginx\":null");
    }
}

/* A JSON string of text's printable ASCII (what nginx's version and skip reasons hold). */
static void
s_json_str(const char *text)
{
    putchar('"');
    for (const char *c = text; *c; c++) {
        if (*c >= 0x20 && *c < 0x7f && *c != '"' && *c != '\\') {
            putchar(*c);
        }
    }
    putchar('"');
}

void
yard__bench_http_print_json(const yard_bench_http_report_t *r)
{
    const yard_bench_http_opts_t *o = r->o;
    printf("{\"connections\":%u,\"threads\":%u,\"duration_s\":%u,\"method\":\"%s\",",
           o->connections, o->threads, o->duration_s, o->post ? "POST" : "GET");
    printf("\"in_process\":%s,", o->url ? "false" : "true");
    if (!o->url) {
        printf("\"replicas\":%u,\"http_threads\":%u,\"wiring\":\"%s\",", o->replicas, r->threads,
               o->tcp ? "tcp" : "inproc");
    }
    printf("\"nginx\":");
    if (r->nginx_skip) {
        printf("null,\"nginx_skipped\":");
        s_json_str(r->nginx_skip);
    } else {
        printf("{\"version\":");
        s_json_str(r->nginx_version);
        printf(",\"workers\":%u,\"upstream_keepalive\":%u}", r->threads, o->connections);
    }
    printf(",");
    s_json_size(&r->sizes[0]);
    printf(",\"sizes\":[");
    for (unsigned i = 0; i < o->nsizes; i++) {
        printf("%s{", i ? "," : "");
        s_json_size(&r->sizes[i]);
        printf("}");
    }
    printf("]}\n");
}

static void
s_print_row(const char *size, const char *name, const yard_bench_wrk_t *w)
{
    printf("%-8s %-20s %10.0f %9.0f %9.0f %9.0f %9.0f %11.0f %7.0f\n", size, name,
           yard__bench_wrk_rps(w), w->p50, w->p75, w->p90, w->p99, w->requests,
           yard__bench_wrk_errors(w));
}

static void
s_print_errors(const char *side, const yard_bench_wrk_t *w)
{
    if (yard__bench_wrk_errors(w) > 0) {
        printf("         errors (%s): connect %.0f, read %.0f, write %.0f, non-2xx %.0f, "
               "timeout %.0f\n",
               side, w->connect, w->read, w->write, w->status, w->timeout);
    }
}

static void
s_size_label(size_t bytes, char *out, size_t cap)
{
    if (bytes >= 1048576 && bytes % 1048576 == 0) {
        snprintf(out, cap, "%zu MiB", bytes / 1048576);
    } else if (bytes >= 1024 && bytes % 1024 == 0) {
        snprintf(out, cap, "%zu KiB", bytes / 1024);
    } else {
        snprintf(out, cap, "%zu B", bytes);
    }
}

static void
s_print_size(const yard_bench_http_report_t *r, const yard_bench_http_size_t *z)
{
    char size[32];
    s_size_label(z->bytes, size, sizeof size);
    if (!r->o->post) {
        snprintf(size, sizeof size, "GET");
    }
    s_print_row(size, r->o->url ? "gateway (existing)" : "gateway + bus", &z->gw);
    if (z->have_bare) {
        s_print_row(size, "bare libmicrohttpd", &z->bare);
    }
    if (z->have_ngx) {
        s_print_row(size, "nginx -> bare", &z->ngx);
    } else if (r->nginx_skip) {
        printf("%-8s %-20s skipped: %s\n", size, "nginx -> bare", r->nginx_skip);
    }
    double gw = yard__bench_wrk_rps(&z->gw);
    if (z->have_bare) {
        printf("         ratio gateway / bare: %.3f (requests/s), p99 %.2fx",
               s_ratio(gw, yard__bench_wrk_rps(&z->bare)), s_ratio(z->gw.p99, z->bare.p99));
        if (z->have_ngx) {
            printf("; gateway / nginx: %.3f, p99 %.2fx", s_ratio(gw, yard__bench_wrk_rps(&z->ngx)),
                   s_ratio(z->gw.p99, z->ngx.p99));
        }
        printf("\n");
    }
    s_print_errors("gateway", &z->gw);
    if (z->have_bare) {
        s_print_errors("bare", &z->bare);
    }
    if (z->have_ngx) {
        s_print_errors("nginx", &z->ngx);
    }
}

void
yard__bench_http_print_table(const yard_bench_http_report_t *r)
{
    const yard_bench_http_opts_t *o = r->o;
    printf("yard bench http: wrk -t%u -c%u -d%us, %s %s", o->threads, o->connections, o->duration_s,
           o->post ? "POST" : "GET", r->url);
    if (!o->url) {
        printf(", %u echo replicas, %u HTTP thread%s", o->replicas, r->threads,
               r->threads == 1 ? "" : "s");
        if (!r->nginx_skip) {
            printf("; %s, %u worker%s, upstream keep-alive",
                   r->nginx_version[0] ? r->nginx_version : "nginx", r->threads,
                   r->threads == 1 ? "" : "s");
        }
    }
    printf("\n%-8s %-20s %10s %9s %9s %9s %9s %11s %7s\n", "body", "path", "req/s", "p50 us",
           "p75 us", "p90 us", "p99 us", "requests", "errors");
    for (unsigned i = 0; i < o->nsizes; i++) {
        s_print_size(r, &r->sizes[i]);
    }
}
