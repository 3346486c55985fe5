/* `yard bench memory` from outside, as a user runs it: `yard` as a child with stdout and
 * stderr captured. A short run (20 peers, 200 ms settles) must start both processes (the
 * broker and the raw proxy), get every peer answered, and print one JSON object whose
 * readings are real (resident, within the peak, with peers above zero) and whose per-peer
 * figure is the one its readings give; bad flags are usage errors. No figure is compared with
 * a bound: the machine is shared. */
#include "harness.h"
#include "json_doc.h"
#include "run.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define s_run(timeout_ms, ...) yh_runl("yard", NULL, (timeout_ms), __VA_ARGS__)

static double
s_num(const msgpack_object *doc, const char *path)
{
    double v = yh_json_num(doc, path);
    if (isnan(v)) {
        fail_msg("bench memory JSON: %s is not a number", path);
    }
    return v;
}

/* One side's readings: each resident, never above the peak so far. */
static void
s_check_side(const msgpack_object *doc, const char *side)
{
    static const char *const steps[] = {"idle", "peers", "after"};
    char path[64], hwm[64];
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s.%s.rss_kib", side, steps[i]);
        snprintf(hwm, sizeof hwm, "%s.%s.hwm_kib", side, steps[i]);
        assert_true(s_num(doc, path) > 0);
        assert_true(s_num(doc, path) <= s_num(doc, hwm));
    }
    snprintf(path, sizeof path, "%s.idle.anon_kib", side);
    assert_true(s_num(doc, path) > 0);
    snprintf(path, sizeof path, "%s.idle.file_kib", side);
    assert_true(s_num(doc, path) > 0);
    snprintf(path, sizeof path, "%s.idle.rss_kib", side);
    double idle = s_num(doc, path);
    snprintf(path, sizeof path, "%s.peers.rss_kib", side);
    double with = s_num(doc, path);
    snprintf(path, sizeof path, "%s.per_peer_kib", side);
    assert_true(fabs(s_num(doc, path) - (with - idle) / 20.0) < 0.01);
    snprintf(path, sizeof path, "%s.admit_ms", side);
    assert_true(s_num(doc, path) >= 0);
}

static void
test_bench_mem_json(void **state)
{
    (void)state;
    yh_run_t *r =
        s_run(50000, "bench", "memory", "--peers", "20", "--settle-ms", "200", "--json", NULL);
    if (r->status != 0) {
        fail_msg("exit %d\nstdout: %s\nstderr: %s", r->status, r->out, r->err);
    }
    yh_json_t *json = yh_json_parse(r->out, strlen(r->out));
    assert_non_null(json); /* the reason is on stderr */
    const msgpack_object *doc = yh_json_root(json);
    assert_int_equal(s_num(doc, "peers"), 20);
    assert_int_equal(s_num(doc, "clients"), 10);
    assert_int_equal(s_num(doc, "replicas"), 10);
    s_check_side(doc, "broker");
    s_check_side(doc, "proxy");
    assert_true(fabs(s_num(doc, "broker_own_per_peer_kib") -
                     (s_num(doc, "broker.per_peer_kib") - s_num(doc, "proxy.per_peer_kib"))) <
                0.02);
    yh_json_destroy(&json);
    yh_run_destroy(&r);
}

static void
test_bench_mem_table(void **state)
{
    (void)state;
    yh_run_t *r = s_run(50000, "bench", "memory", "--peers", "3", "--settle-ms", "0", NULL);
    if (r->status != 0) {
        fail_msg("exit %d\nstdout: %s\nstderr: %s", r->status, r->out, r->err);
    }
    assert_non_null(strstr(r->out, "3 peers (clients 2, replicas 1)"));
    assert_non_null(strstr(r->out, "yard-broker"));
    assert_non_null(strstr(r->out, "raw zmq_proxy"));
    assert_non_null(strstr(r->out, "the broker's own per peer"));
    yh_run_destroy(&r);
}

static void
test_bench_mem_usage(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"--peers", "0"},
        {"--peers", "20001"},
        {"--peers", "many"},
        {"--settle-ms", "-1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yh_run_t *r = s_run(10000, "bench", "memory", bad[i][0], bad[i][1], NULL);
        if (r->status != 2 || !strstr(r->err, bad[i][0])) {
            fail_msg("%s %s: exit %d, want 2 naming the flag (stderr: %s)", bad[i][0], bad[i][1],
                     r->status, r->err);
        }
        yh_run_destroy(&r);
    }
    yh_run_t *r = s_run(10000, "bench", "memory", "--help", NULL);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "--peers"));
    yh_run_destroy(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_mem_usage),
        cmocka_unit_test(test_bench_mem_table),
        cmocka_unit_test(test_bench_mem_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
