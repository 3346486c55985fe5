/* `yard bench http` from outside, as a user runs it: `yard` as a child with stdout and stderr
 * captured. The full run (in-process broker, echo replicas and gateway, then the bare
 * libmicrohttpd server, both driven by wrk) must print one JSON object whose figures are
 * real on both sides, with no non-2xx answers and no timeouts; without wrk on PATH the command
 * says to install it; bad flags are usage errors. The wrk tests skip when wrk is missing. */
#include "harness.h"

#include <jansson.h>

#include <fcntl.h>
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

#define S_OUT_MAX 65536

typedef struct {
    int status; /* exit code, or 128 + signal, or -1 when it ran past the deadline */
    char out[S_OUT_MAX];
    char err[S_OUT_MAX];
} s_run_t;

/* True when wrk is on PATH, as the command looks for it. */
static bool
s_have_wrk(void)
{
    const char *path = getenv("PATH");
    char *copy = strdup(path ? path : "");
    assert_non_null(copy);
    bool found = false;
    for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        char full[4096];
        snprintf(full, sizeof full, "%s/wrk", dir);
        found = access(full, X_OK) == 0;
    }
    free(copy);
    return found;
}

static void
s_read_some(int fd, char *buf, size_t *len, bool *open)
{
    ssize_t n = read(fd, buf + *len, S_OUT_MAX - 1 - *len);
    if (n <= 0) {
        *open = false;
        return;
    }
    *len += (size_t)n;
    buf[*len] = '\0';
}

/* Runs `yard args...` (NULL ended) to completion with env_path as $PATH when not NULL; output
 * is collected until both pipes close, then the exit status, within timeout_ms (past it the
 * child is killed and status is -1). Caller frees the result. */
static s_run_t *
s_run(const char *env_path, int timeout_ms, ...)
{
    char *argv[32] = {"yard"};
    int n = 1;
    va_list ap;
    va_start(ap, timeout_ms);
    while (n < 31 && (argv[n] = va_arg(ap, char *)) != NULL) {
        n++;
    }
    argv[n] = NULL;
    va_end(ap);
    const char *dir = getenv("YARD_BIN_DIR");
    char *prog = NULL;
    assert_true(asprintf(&prog, "%s/yard", dir ? dir : ".") > 0);
    s_run_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    int out[2], err[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    assert_int_equal(pipe2(err, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        if (env_path) {
            setenv("PATH", env_path, 1);
        }
        execv(prog, argv);
        _exit(127);
    }
    free(prog);
    close(out[1]);
    close(err[1]);
    size_t olen = 0, elen = 0;
    bool out_open = true, err_open = true;
    long long deadline = yh_now_ms() + timeout_ms;
    while ((out_open || err_open) && yh_now_ms() < deadline) {
        struct pollfd p[2] = {{.fd = out_open ? out[0] : -1, .events = POLLIN},
                              {.fd = err_open ? err[0] : -1, .events = POLLIN}};
        int left = (int)(deadline - yh_now_ms());
        if (poll(p, 2, left > 0 ? left : 0) <= 0) {
            continue;
        }
        if (out_open && (p[0].revents & (POLLIN | POLLHUP))) {
            s_read_some(out[0], r->out, &olen, &out_open);
        }
        if (err_open && (p[1].revents & (POLLIN | POLLHUP))) {
            s_read_some(err[0], r->err, &elen, &err_open);
        }
    }
    close(out[0]);
    close(err[0]);
    int ws = yh_stop(pid, 0, (out_open || err_open) ? 1 : 5000);
    if (out_open || err_open || ws < 0) {
        r->status = -1;
    } else {
        r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    }
    return r;
}

static double
s_num(json_t *doc, const char *key)
{
    json_t *v = json_object_get(doc, key);
    if (!json_is_number(v)) {
        fail_msg("bench http JSON: %s is not a number", key);
    }
    return json_number_value(v);
}

/* One side's errors object: every wrk error kind is there; no non-2xx, no timeouts. */
static void
s_check_errors(json_t *doc, const char *key)
{
    json_t *e = json_object_get(doc, key);
    assert_true(json_is_object(e));
    static const char *const kinds[] = {"connect", "read", "write", "status", "timeout"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (!json_is_number(json_object_get(e, kinds[i]))) {
            fail_msg("%s lacks %s", key, kinds[i]);
        }
    }
    assert_int_equal(json_number_value(json_object_get(e, "status")), 0);
    assert_int_equal(json_number_value(json_object_get(e, "timeout")), 0);
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
    s_run_t *r = s_run(NULL, 120000, "bench", "http", "--duration", "1", "--connections", "8",
                       "--json", NULL);
    if (r->status != 0) {
        fail_msg("exit %d\nstdout: %s\nstderr: %s", r->status, r->out, r->err);
    }
    json_error_t err;
    json_t *doc = json_loads(r->out, 0, &err);
    if (!doc) {
        fail_msg("bench http output is not JSON (%s): %s", err.text, r->out);
    }
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
    json_decref(doc);
    free(r);
}

/* Without wrk the command fails before starting anything and says what to install. */
static void
test_bench_http_without_wrk(void **state)
{
    (void)state;
    char *dir = yh_tmpdir();
    s_run_t *r = s_run(dir, 20000, "bench", "http", "--duration", "1", NULL);
    assert_int_equal(r->status, 1);
    if (!strstr(r->err, "install wrk")) {
        fail_msg("stderr does not say 'install wrk': %s", r->err);
    }
    assert_string_equal(r->out, "");
    free(r);
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
    s_run_t *r = s_run(NULL, 30000, "bench", "http", "--duration", "1", "--connections", "2",
                       "--json", "--url", url, NULL);
    assert_int_equal(r->status, 1);
    assert_string_equal(r->out, "");
    if (!strstr(r->err, "wrk against")) {
        fail_msg("stderr does not report wrk's failure: %s", r->err);
    }
    free(r);
}

static void
test_bench_http_usage(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"--method", "PUT"},  {"--connections", "0"}, {"--duration", "1.5"},
        {"--url", "ftp://x"}, {"--threads", "9"}, /* more threads than the 8 connections */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_run_t *r =
            s_run(NULL, 10000, "bench", "http", "--connections", "8", bad[i][0], bad[i][1], NULL);
        if (r->status != 2) {
            fail_msg("%s %s: exit %d, want 2 (stderr: %s)", bad[i][0], bad[i][1], r->status,
                     r->err);
        }
        free(r);
    }
    s_run_t *r = s_run(NULL, 10000, "bench", "http", "--help", NULL);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "--connections"));
    free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_http_usage),
        cmocka_unit_test(test_bench_http_without_wrk),
        cmocka_unit_test(test_bench_http_url_unreachable),
        cmocka_unit_test(test_bench_http_json),
    };
    return cmocka_run_group_tests_name("yard bench http", tests, NULL, NULL);
}
