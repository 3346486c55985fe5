/* `yard bench compare` from outside, as a user runs it: `yard` as a child with stdout and
 * stderr captured. A short run must print one JSON object with every row measured through
 * Switchyard, NATS (both client configurations) and the raw zmq_proxy, with no errors or lost
 * calls. Without nats-server the command must say which package to install and exit 1; that is
 * checked everywhere (YARD_NATS_SERVER names a program that is not there), while the measured
 * run is skipped, as a pass, on a machine without nats-server. */
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

/* Runs `yard args...` (NULL ended) to completion: output is collected until both pipes close,
 * then the exit status, within timeout_ms (past it the child is killed and status is -1).
 * Caller frees the result. */
static s_run_t *
s_run(int timeout_ms, ...)
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

/* Whether nats-server is where `yard bench compare` looks for it. */
static bool
s_have_nats_server(void)
{
    const char *env = getenv("YARD_NATS_SERVER");
    if (env && env[0]) {
        return access(env, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    char *dirs = NULL;
    assert_true(asprintf(&dirs, "%s:/usr/local/sbin:/usr/sbin:/sbin", path ? path : "") > 0);
    bool found = false;
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char prog[4096];
        snprintf(prog, sizeof prog, "%s/nats-server", d);
        found = access(prog, X_OK) == 0;
    }
    free(dirs);
    return found;
}

static double
s_num(json_t *obj, const char *key, const char *where)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_number(v)) {
        fail_msg("bench compare JSON: %s.%s is not a number", where, key);
    }
    return json_number_value(v);
}

static void
test_bench_compare_json(void **state)
{
    (void)state;
    if (!s_have_nats_server()) {
        print_message("skipped: nats-server is not installed (Debian package nats-server)\n");
        skip();
    }
    s_run_t *r = s_run(180000, "bench", "compare", "--duration", "1", "--json", NULL);
    if (r->status != 0) {
        fail_msg("exit %d\nstdout: %s\nstderr: %s", r->status, r->out, r->err);
    }
    json_error_t err;
    json_t *doc = json_loads(r->out, 0, &err);
    if (!doc) {
        fail_msg("bench compare output is not JSON (%s): %s", err.text, r->out);
    }
    assert_int_equal(s_num(doc, "size", "top"), 64);
    json_t *rows = json_object_get(doc, "rows");
    assert_true(json_is_array(rows));
    assert_int_equal(json_array_size(rows), 4);
    static const char *const systems[] = {"yard", "nats", "nats_default", "nats_send_asap",
                                          "zmq_proxy"};
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        int responders = (int)s_num(row, "responders", "row");
        const char *mode = json_string_value(json_object_get(row, "mode"));
        assert_non_null(mode);
        /* Rows in order: 1 responder pipelined, one; 4 responders pipelined, one. */
        assert_int_equal(responders, i < 2 ? 1 : 4);
        assert_string_equal(mode, i % 2 == 0 ? "pipelined" : "one");
        assert_int_equal(s_num(row, "window", "row"), i % 2 == 0 ? 64 : 1);
        for (size_t s = 0; s < sizeof systems / sizeof systems[0]; s++) {
            json_t *sys = json_object_get(row, systems[s]);
            if (!json_is_object(sys)) {
                fail_msg("row %zu has no %s", i, systems[s]);
            }
            if (!(s_num(sys, "rt_per_s", systems[s]) > 0)) {
                fail_msg("row %zu %s: rt_per_s %g", i, systems[s],
                         s_num(sys, "rt_per_s", systems[s]));
            }
            assert_true(s_num(sys, "p50_us", systems[s]) > 0);
            assert_true(s_num(sys, "p50_us", systems[s]) <= s_num(sys, "p99_us", systems[s]));
            if (s_num(sys, "errors", systems[s]) != 0 || s_num(sys, "lost", systems[s]) != 0) {
                fail_msg("row %zu %s: %g errors, %g lost", i, systems[s],
                         s_num(sys, "errors", systems[s]), s_num(sys, "lost", systems[s]));
            }
        }
        assert_true(s_num(row, "ratio_yard_nats", "row") > 0);
    }
    json_decref(doc);
    free(r);
}

static void
test_bench_compare_no_nats_server(void **state)
{
    (void)state;
    char *saved = getenv("YARD_NATS_SERVER") ? strdup(getenv("YARD_NATS_SERVER")) : NULL;
    setenv("YARD_NATS_SERVER", "/nonexistent/nats-server", 1);
    s_run_t *r = s_run(10000, "bench", "compare", "--duration", "1", NULL);
    if (saved) {
        setenv("YARD_NATS_SERVER", saved, 1);
        free(saved);
    } else {
        unsetenv("YARD_NATS_SERVER");
    }
    if (r->status != 1) {
        fail_msg("exit %d, want 1\nstderr: %s", r->status, r->err);
    }
    assert_non_null(strstr(r->err, "install the Debian package nats-server"));
    assert_string_equal(r->out, "");
    free(r);
}

static void
test_bench_compare_usage(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"--duration", "0"}, {"--duration", "soon"}, {"--clients", "4"}, /* the rows are fixed */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_run_t *r = s_run(10000, "bench", "compare", bad[i][0], bad[i][1], NULL);
        if (r->status != 2) {
            fail_msg("%s %s: exit %d, want 2 (stderr: %s)", bad[i][0], bad[i][1], r->status,
                     r->err);
        }
        free(r);
    }
    s_run_t *r = s_run(10000, "bench", "compare", "--help", NULL);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "ratio_yard_nats"));
    free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_compare_usage),
        cmocka_unit_test(test_bench_compare_no_nats_server),
        cmocka_unit_test(test_bench_compare_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
