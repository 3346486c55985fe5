/* `yard bench auth` from outside, as a user runs it: `yard` as a child with stdout and stderr
 * captured. A short run on the memory store must print one JSON object with real figures on
 * every side (verify through the bus, echo, the local signature check) and no errors or lost
 * calls; more than one replica on the memory store, and bad flags, are usage errors. */
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

static double
s_num(const msgpack_object *doc, const char *key)
{
    double v = yh_json_num(doc, key);
    if (isnan(v)) {
        fail_msg("bench auth JSON: %s is not a number", key);
    }
    return v;
}

static void
test_bench_auth_json(void **state)
{
    (void)state;
    yh_run_t *r = s_run(60000, "bench", "auth", "--duration", "1", "--json", NULL);
    if (r->status != 0) {
        fail_msg("exit %d\nstdout: %s\nstderr: %s", r->status, r->out, r->err);
    }
    yh_json_t *json = yh_json_parse(r->out, strlen(r->out));
    assert_non_null(json); /* the reason is on stderr */
    const msgpack_object *doc = yh_json_root(json);
    assert_true(s_num(doc, "verify_rps") > 0);
    assert_true(s_num(doc, "verify_p50_us") > 0);
    assert_true(s_num(doc, "verify_p50_us") <= s_num(doc, "verify_p99_us"));
    assert_true(s_num(doc, "echo_rps") > 0);
    assert_true(s_num(doc, "local_verify_per_s") > 0);
    assert_true(s_num(doc, "ratio") > 0);
    assert_int_equal(s_num(doc, "errors"), 0);
    assert_int_equal(s_num(doc, "lost"), 0);
    assert_int_equal(s_num(doc, "replicas"), 1);
    assert_string_equal(yh_json_str(doc, "store"), "memory");
    yh_json_destroy(&json);
    yh_run_destroy(&r);
}

static void
test_bench_auth_usage(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"--replicas", "2"}, /* auth keeps state: more than one replica needs redis */
        {"--store", "postgres://x"},
        {"--clients", "0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yh_run_t *r = s_run(10000, "bench", "auth", bad[i][0], bad[i][1], NULL);
        if (r->status != 2) {
            fail_msg("%s %s: exit %d, want 2 (stderr: %s)", bad[i][0], bad[i][1], r->status,
                     r->err);
        }
        yh_run_destroy(&r);
    }
    yh_run_t *r = s_run(10000, "bench", "auth", "--help", NULL);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "--store"));
    yh_run_destroy(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_auth_usage),
        cmocka_unit_test(test_bench_auth_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
