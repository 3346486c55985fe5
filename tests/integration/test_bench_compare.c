/* `yard bench compare` from outside, as a user runs it: `yard` as a child with stdout and
 * stderr captured. A short run must print one JSON object with every row measured through
 * Switchyard, NATS (both client configurations) and the raw zmq_proxy, with no errors or lost
 * calls. Without nats-server the command must say which package to install and exit 1; that is
 * checked everywhere (YARD_NATS_SERVER names a program that is not there), while the measured
 * run is skipped, as a pass, on a machine without nats-server. */
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

/* Runs `yard args...` (NULL ended) to completion within timeout_ms. Caller owns the result;
 * free with yh_run_destroy(). */
#define s_run(timeout_ms, ...) yh_runl("yard", NULL, (timeout_ms), __VA_ARGS__)

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
s_num(const msgpack_object *obj, const char *key, const char *where)
{
    double v = yh_json_num(obj, key);
    if (isnan(v)) {
        fail_msg("bench compare JSON: %s.%s is not a number", where, key);
    }
    return v;
}

static void
test_bench_compare_json(void **state)
{
    (void)state;
    if (!s_have_nats_server()) {
        print_message("skipped: nats-server is not installed (Debian package nats-server)\n");
        skip();
    }
    yh_run_t *r = s_run(180000, "bench", "compare", "--duration", "1", "--json", NULL);
    if (r->status != 0) {
        fail_msg("exit %d\nstdout: %s\nstderr: %s", r->status, r->out, r->err);
    }
    yh_json_t *json = yh_json_parse(r->out, strlen(r->out));
    assert_non_null(json); /* the reason is on stderr */
    const msgpack_object *doc = yh_json_root(json);
    assert_int_equal(s_num(doc, "size", "top"), 64);
    const msgpack_object *rows = yh_json_at(doc, "rows");
    assert_int_equal(yh_json_type(rows, ""), MSGPACK_OBJECT_ARRAY);
    assert_int_equal(yh_json_count(rows, ""), 4);
    static const char *const systems[] = {"yard", "nats", "nats_default", "nats_send_asap",
                                          "zmq_proxy"};
    for (size_t i = 0; i < rows->via.array.size; i++) {
        const msgpack_object *row = &rows->via.array.ptr[i];
        int responders = (int)s_num(row, "responders", "row");
        const char *mode = yh_json_str(row, "mode");
        assert_non_null(mode);
        /* Rows in order: 1 responder pipelined, one; 4 responders pipelined, one. */
        assert_int_equal(responders, i < 2 ? 1 : 4);
        assert_string_equal(mode, i % 2 == 0 ? "pipelined" : "one");
        assert_int_equal(s_num(row, "window", "row"), i % 2 == 0 ? 64 : 1);
        for (size_t s = 0; s < sizeof systems / sizeof systems[0]; s++) {
            const msgpack_object *sys = yh_json_at(row, systems[s]);
            if (yh_json_type(sys, "") != MSGPACK_OBJECT_MAP) {
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
    yh_json_destroy(&json);
    yh_run_destroy(&r);
}

static void
test_bench_compare_no_nats_server(void **state)
{
    (void)state;
    char *saved = getenv("YARD_NATS_SERVER") ? strdup(getenv("YARD_NATS_SERVER")) : NULL;
    setenv("YARD_NATS_SERVER", "/nonexistent/nats-server", 1);
    yh_run_t *r = s_run(10000, "bench", "compare", "--duration", "1", NULL);
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
    yh_run_destroy(&r);
}

static void
test_bench_compare_usage(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"--duration", "0"}, {"--duration", "soon"}, {"--clients", "4"}, /* the rows are fixed */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yh_run_t *r = s_run(10000, "bench", "compare", bad[i][0], bad[i][1], NULL);
        if (r->status != 2) {
            fail_msg("%s %s: exit %d, want 2 (stderr: %s)", bad[i][0], bad[i][1], r->status,
                     r->err);
        }
        yh_run_destroy(&r);
    }
    yh_run_t *r = s_run(10000, "bench", "compare", "--help", NULL);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "ratio_yard_nats"));
    yh_run_destroy(&r);
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
