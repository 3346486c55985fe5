/* `yard bench http` from outside, as a user runs it: `yard` as a child with stdout and stderr
 * captured. The full run (in-process broker, echo replicas and gateway, then the bare
 * libmicrohttpd server, then nginx proxying to it, all driven by wrk) must print one JSON
 * object whose figures are real on every side, with no non-2xx answers and no timeouts, and
 * the ratios gateway / bare and gateway / nginx; --body-sizes gives a row per side and size;
 * without nginx its rows are skipped (or the run fails with --require-nginx); without wrk on
 * PATH the command says to install it; bad flags are usage errors. The wrk tests skip when wrk
 * is missing; the nginx figures are checked when nginx is installed (CI installs it). Runs
 * are 1 s per side: nothing here asserts a speed. */
#include "harness.h"
#include "json_doc.h"
#include "run.h"

#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* The child's extra environment: {"PATH=<path>", NULL} when path is not NULL, else none.
 * Borrowed; valid until the next call. */
static char *const *
s_path_env(const char *path)
{
    static char kv[4096];
    static char *env[] = {kv, NULL};
    if (!path) {
        return NULL;
    }
    snprintf(kv, sizeof kv, "PATH=%s", path);
    return env;
}

/* Runs `yard args...` (NULL ended) to completion within timeout_ms, with env_path as $PATH
 * when not NULL. Caller owns the result; free with yh_run_destroy(). */
#define s_run(env_path, timeout_ms, ...)                                                           \
    yh_runl("yard", s_path_env(env_path), (timeout_ms), __VA_ARGS__)

/* True when prog is on PATH, or (when fallback is not NULL) in the directory fallback, as the
 * command looks for it. */
static bool
s_have(const char *prog, const char *fallback)
{
    const char *path = getenv("PATH");
    char *copy = strdup(path ? path : "");
    assert_non_null(copy);
    bool found = false;
    for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", dir, prog);
        found = access(full, X_OK) == 0;
    }
    free(copy);
    if (!found && fallback) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", fallback, prog);
        found = access(full, X_OK) == 0;
    }
    return found;
}

static bool
s_have_wrk(void)
{
    return s_have("wrk", NULL);
}

/* nginx where the command finds it: on PATH, or Debian's /usr/sbin. */
static bool
s_have_nginx(void)
{
    return s_have("nginx", "/usr/sbin") || s_have("nginx", "/sbin");
}

static double
s_num(const msgpack_object *doc, const char *key)
{
    double v = yh_json_num(doc, key);
    if (isnan(v)) {
        fail_msg("bench http JSON: %s is not a number", key);
    }
    return v;
}

/* One side's errors object: every wrk error kind is there; no non-2xx, no timeouts. */
static void
s_check_errors(const msgpack_object *doc, const char *key)
{
    const msgpack_object *e = yh_json_at(doc, key);
    assert_int_equal(yh_json_type(e, ""), MSGPACK_OBJECT_MAP);
    static const char *const kinds[] = {"connect", "read", "write", "status", "timeout"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (isnan(yh_json_num(e, kinds[i]))) {
            fail_msg("%s lacks %s", key, kinds[i]);
        }
    }
    assert_int_equal(yh_json_num(e, "status"), 0);
    assert_int_equal(yh_json_num(e, "timeout"), 0);
}

/* nginx's side of one size (members under prefix): real figures, no non-2xx, no timeouts,
 * and the ratios gateway / nginx. */
static void
s_check_nginx(const msgpack_object *doc, const char *prefix)
{
    char key[64];
    static const char *const nums[] = {"nginx_rps", "nginx_requests", "ratio_nginx",
                                       "p99_ratio_nginx"};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        snprintf(key, sizeof key, "%s%s", prefix, nums[i]);
        assert_true(s_num(doc, key) > 0);
    }
    snprintf(key, sizeof key, "%snginx_p50_us", prefix);
    double p50 = s_num(doc, key);
    snprintf(key, sizeof key, "%snginx_p99_us", prefix);
    assert_true(p50 > 0 && p50 <= s_num(doc, key));
    snprintf(key, sizeof key, "%snginx_errors", prefix);
    s_check_errors(doc, key);
}

static void
test_bench_http_json(void **state)
{
    (void)state;
    if (!s_have_wrk()) {
        print_message("wrk is not installed (scripts/install-deps.sh installs it): skipped\n");
        skip();
    }
#ifndef YARD_HAVE_GATEWAY
    print_message("this tree has no gateway library yet: skipped\n");
    skip();
#endif
    /* With nginx installed its side must be measured: --require-nginx fails the run if not. */
    bool nginx = s_have_nginx();
    yh_run_t *r = s_run(NULL, 120000, "bench", "http", "--duration", "1", "--connections", "8",
                        "--json", nginx ? "--require-nginx" : NULL, NULL);
    if (r->status != 0) {
        fail_msg("exit %d\nstdout: %s\nstderr: %s", r->status, r->out, r->err);
    }
    yh_json_t *json = yh_json_parse(r->out, strlen(r->out));
    assert_non_null(json); /* the reason is on stderr */
    const msgpack_object *doc = yh_json_root(json);
    double rps = s_num(doc, "rps"), base_rps = s_num(doc, "baseline_rps");
    double p50 = s_num(doc, "p50_us"), p99 = s_num(doc, "p99_us");
    double bp50 = s_num(doc, "baseline_p50_us"), bp99 = s_num(doc, "baseline_p99_us");
    double ratio = s_num(doc, "ratio");
    assert_true(rps > 0);
    assert_true(base_rps > 0);
    assert_true(p50 > 0 && p50 <= p99);
    assert_true(bp50 > 0 && bp50 <= bp99);
    assert_true(ratio > 0);
    assert_true(s_num(doc, "requests") > 0 && s_num(doc, "baseline_requests") > 0);
    s_check_errors(doc, "errors");
    s_check_errors(doc, "baseline_errors");
    assert_int_equal(s_num(doc, "connections"), 8);
    /* One size, the default 64 bytes, repeated in "sizes". */
    assert_int_equal(s_num(doc, "body_bytes"), 64);
    assert_int_equal(yh_json_count(doc, "sizes"), 1);
    assert_int_equal(s_num(doc, "sizes.0.body_bytes"), 64);
    assert_true(s_num(doc, "sizes.0.rps") == rps);
    if (nginx) {
        s_check_nginx(doc, "");
        assert_non_null(strstr(yh_json_str(doc, "nginx.version"), "nginx/"));
        assert_int_equal(s_num(doc, "nginx.workers"), s_num(doc, "http_threads"));
        assert_int_equal(s_num(doc, "nginx.upstream_keepalive"), 8);
    } else {
        print_message("nginx is not installed: its figures are not checked\n");
        assert_int_equal(yh_json_type(doc, "ratio_nginx"), MSGPACK_OBJECT_NIL);
    }
    yh_json_destroy(&json);
    yh_run_destroy(&r);
}

/* --body-sizes: a row per side and size, in the table with both ratios, and in "sizes". */
static void
test_bench_http_body_sizes(void **state)
{
    (void)state;
    if (!s_have_wrk()) {
        print_message("wrk is not installed: skipped\n");
        skip();
    }
    bool nginx = s_have_nginx();
    yh_run_t *r = s_run(NULL, 120000, "bench", "http", "--duration", "1", "--connections", "4",
                        "--body-sizes", "64,4096", nginx ? "--require-nginx" : "--json", NULL);
    if (r->status != 0) {
        fail_msg("exit %d\nstdout: %s\nstderr: %s", r->status, r->out, r->err);
    }
    static const char *const rows[] = {"64 B     gateway + bus", "64 B     bare libmicrohttpd",
                                       "4 KiB    gateway + bus", "4 KiB    bare libmicrohttpd"};
    if (!nginx) {
        print_message("nginx is not installed: the table is not checked\n");
        yh_json_t *json = yh_json_parse(r->out, strlen(r->out));
        assert_non_null(json);
        assert_int_equal(yh_json_count(yh_json_root(json), "sizes"), 2);
        assert_int_equal(s_num(yh_json_root(json), "sizes.1.body_bytes"), 4096);
        yh_json_destroy(&json);
        yh_run_destroy(&r);
        return;
    }
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (!strstr(r->out, rows[i])) {
            fail_msg("no row '%s' in:\n%s", rows[i], r->out);
        }
    }
    assert_non_null(strstr(r->out, "64 B     nginx -> bare"));
    assert_non_null(strstr(r->out, "4 KiB    nginx -> bare"));
    /* Both ratios, once per size. */
    const char *p = r->out;
    int ratios = 0;
    while ((p = strstr(p, "ratio gateway / bare: "))) {
        const char *eol = strchr(p, '\n');
        const char *ng = strstr(p, "gateway / nginx: ");
        assert_true(ng && (!eol || ng < eol));
        double a = 0, b = 0;
        assert_int_equal(sscanf(p, "ratio gateway / bare: %lf", &a), 1);
        assert_int_equal(sscanf(ng, "gateway / nginx: %lf", &b), 1);
        assert_true(a > 0 && b > 0);
        ratios++;
        p += 1;
    }
    assert_int_equal(ratios, 2);
    yh_run_destroy(&r);
}

/* Without nginx its rows are skipped and the rest is measured; --require-nginx fails at
 * once instead. */
static void
test_bench_http_nginx_missing(void **state)
{
    (void)state;
    if (!s_have_wrk()) {
        print_message("wrk is not installed: skipped\n");
        skip();
    }
    yh_run_t *r = s_run(NULL, 20000, "bench", "http", "--duration", "1", "--nginx",
                        "/nonexistent/nginx", "--require-nginx", NULL);
    assert_int_equal(r->status, 1);
    assert_string_equal(r->out, "");
    if (!strstr(r->err, "--require-nginx") || !strstr(r->err, "/nonexistent/nginx")) {
        fail_msg("stderr does not name the flag and the path: %s", r->err);
    }
    yh_run_destroy(&r);
#ifndef YARD_HAVE_GATEWAY
    skip();
#endif
    r = s_run(NULL, 120000, "bench", "http", "--duration", "1", "--connections", "4", "--nginx",
              "/nonexistent/nginx", "--json", NULL);
    if (r->status != 0) {
        fail_msg("exit %d\nstdout: %s\nstderr: %s", r->status, r->out, r->err);
    }
    yh_json_t *json = yh_json_parse(r->out, strlen(r->out));
    assert_non_null(json);
    const msgpack_object *doc = yh_json_root(json);
    assert_true(s_num(doc, "rps") > 0 && s_num(doc, "baseline_rps") > 0);
    assert_int_equal(yh_json_type(doc, "nginx"), MSGPACK_OBJECT_NIL);
    assert_int_equal(yh_json_type(doc, "nginx_rps"), MSGPACK_OBJECT_NIL);
    assert_int_equal(yh_json_type(doc, "ratio_nginx"), MSGPACK_OBJECT_NIL);
    assert_non_null(strstr(yh_json_str(doc, "nginx_skipped"), "--nginx"));
    yh_json_destroy(&json);
    yh_run_destroy(&r);
}

/* Without wrk the command fails before starting anything and says what to install. */
static void
test_bench_http_without_wrk(void **state)
{
    (void)state;
    char *dir = yh_tmpdir();
    yh_run_t *r = s_run(dir, 20000, "bench", "http", "--duration", "1", NULL);
    assert_int_equal(r->status, 1);
    if (!strstr(r->err, "install wrk")) {
        fail_msg("stderr does not say 'install wrk': %s", r->err);
    }
    assert_string_equal(r->out, "");
    yh_run_destroy(&r);
    yh_rmtree(dir);
    free(dir);
}

/* An existing gateway nobody listens for: wrk's failure is reported, exit 1, no JSON. */
static void
test_bench_http_url_unreachable(void **state)
{
    (void)state;
    if (!s_have_wrk()) {
        print_message("wrk is not installed: skipped\n");
        skip();
    }
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/echo", yh_free_port());
    yh_run_t *r = s_run(NULL, 30000, "bench", "http", "--duration", "1", "--connections", "2",
                        "--json", "--url", url, NULL);
    assert_int_equal(r->status, 1);
    assert_string_equal(r->out, "");
    if (!strstr(r->err, "wrk against")) {
        fail_msg("stderr does not report wrk's failure: %s", r->err);
    }
    yh_run_destroy(&r);
}

static void
test_bench_http_usage(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"--method", "PUT"},
        {"--connections", "0"},
        {"--duration", "1.5"},
        {"--url", "ftp://x"},
        {"--threads", "9"}, /* more threads than the 8 connections */
        {"--body-sizes", ""},
        {"--body-sizes", "4k"},
        {"--body-sizes", "63"},
        {"--body-sizes", "16777217"},
        {"--body-sizes", "64,,128"},
        {"--body-sizes", "64,"},
        {"--body-sizes", "64,64,64,64,64,64,64,64,64"}, /* more than 8 sizes */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yh_run_t *r =
            s_run(NULL, 10000, "bench", "http", "--connections", "8", bad[i][0], bad[i][1], NULL);
        if (r->status != 2) {
            fail_msg("%s %s: exit %d, want 2 (stderr: %s)", bad[i][0], bad[i][1], r->status,
                     r->err);
        }
        yh_run_destroy(&r);
    }
    /* A bad size is named, with the range. */
    yh_run_t *r = s_run(NULL, 10000, "bench", "http", "--body-sizes", "64,4k,1048576", NULL);
    assert_int_equal(r->status, 2);
    if (!strstr(r->err, "'4k'") || !strstr(r->err, "--body-sizes") || !strstr(r->err, "64..")) {
        fail_msg("stderr does not name the bad size and the range: %s", r->err);
    }
    yh_run_destroy(&r);
    /* A GET has no body to size. */
    r = s_run(NULL, 10000, "bench", "http", "--method", "GET", "--body-sizes", "64", NULL);
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "--body-sizes needs --method POST"));
    yh_run_destroy(&r);
    r = s_run(NULL, 10000, "bench", "http", "--help", NULL);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "--connections"));
    assert_non_null(strstr(r->out, "--body-sizes"));
    assert_non_null(strstr(r->out, "--require-nginx"));
    yh_run_destroy(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_http_usage),
        cmocka_unit_test(test_bench_http_without_wrk),
        cmocka_unit_test(test_bench_http_url_unreachable),
        cmocka_unit_test(test_bench_http_json),
        cmocka_unit_test(test_bench_http_body_sizes),
        cmocka_unit_test(test_bench_http_nginx_missing),
    };
    return cmocka_run_group_tests_name("yard bench http", tests, NULL, NULL);
}
