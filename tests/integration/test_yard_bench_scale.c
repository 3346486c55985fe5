/* `yard bench` from outside, short runs only (no timing asserted): failed calls are reported
 * with their own count and percentiles next to the replies' and all calls' (replicas made to
 * fail every third request), `--replicas` lists and ranges run one round each while bad
 * values are refused naming the bad entry, and each scaling round reports the per-replica
 * counts and their spread (and the NATS side's when the run had NATS). */
#include "harness.h"
#include "json_doc.h"
#include "run.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *const s_env[] = {"YARD_BROKER", "YARD_CONFIG", NULL};
#define s_run(timeout_ms, ...) yh_runl("yard", s_env, (timeout_ms), __VA_ARGS__)

static yh_json_t *
s_json_of(yh_run_t *r)
{
    if (r->status != 0) {
        fail_msg("yard bench exited %d: %s", r->status, r->err);
    }
    yh_json_t *doc = yh_json_parse(r->out, strlen(r->out));
    if (!doc) {
        fail_msg("yard bench --json is not JSON: %s", r->out);
    }
    return doc;
}

static int64_t
s_int(const msgpack_object *o, const char *path)
{
    int64_t v = yh_json_int(o, path);
    if (v == INT64_MIN) {
        fail_msg("%s is not an integer", path);
    }
    return v;
}

static double
s_num(const msgpack_object *o, const char *path)
{
    double v = yh_json_num(o, path);
    if (isnan(v)) {
        fail_msg("%s is not a number", path);
    }
    return v;
}

/* ok / failed / all: count and percentiles present; all's count is the other two's. */
static void
s_check_latency(const msgpack_object *o, bool failures)
{
    static const char *const parts[] = {"ok", "failed", "all"};
    char path[64];
    for (int i = 0; i < 3; i++) {
        static const char *const keys[] = {"count", "p50_us", "p99_us", "max_us"};
        for (int k = 0; k < 4; k++) {
            snprintf(path, sizeof path, "%s.%s", parts[i], keys[k]);
            s_num(o, path);
        }
    }
    int64_t ok = s_int(o, "ok.count"), failed = s_int(o, "failed.count");
    assert_int_equal(s_int(o, "all.count"), ok + failed);
    assert_true(ok > 0);
    if (failures) {
        assert_true(failed > 0);
        assert_true(s_num(o, "failed.p50_us") > 0);
        assert_true(s_num(o, "failed.p99_us") >= s_num(o, "failed.p50_us"));
        assert_true(s_num(o, "failed.max_us") >= s_num(o, "failed.p99_us"));
        assert_true(s_num(o, "all.max_us") >= s_num(o, "failed.max_us"));
    } else {
        assert_int_equal(failed, 0);
    }
}

static void
test_bench_failed_calls_reported(void **state)
{
    (void)state;
    yh_run_t *r = s_run(60000, "bench", "--replicas", "2", "--fail-every", "3", "--duration", "0.5",
                        "--clients", "1", "--window", "4", "--json", NULL);
    yh_json_t *doc = s_json_of(r);
    const msgpack_object *root = yh_json_root(doc);
    s_check_latency(root, true);
    /* every third request of each replica fails: the failed count is the INTERNAL errors */
    assert_int_equal(s_int(root, "failed.count"), s_int(root, "errors.INTERNAL"));
    assert_int_equal(s_int(root, "lost"), 0);
    int64_t failed = s_int(root, "failed.count"), ok = s_int(root, "ok.count");
    assert_true(failed * 4 >= ok && failed <= ok); /* about one in three */
    yh_json_destroy(&doc);
    yh_run_destroy(&r);

    r = s_run(60000, "bench", "--replicas", "1", "--fail-every", "2", "--duration", "0.3",
              "--clients", "1", "--window", "2", NULL);
    assert_int_equal(r->status, 0);
    if (!strstr(r->out, "latency failed") || !strstr(r->out, "latency ok") ||
        !strstr(r->out, "latency all")) {
        fail_msg("no latency lines for ok, failed and all:\n%s", r->out);
    }
    yh_run_destroy(&r);
}

static void
test_bench_replicas_list_refused(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"0", "'0'"},       {"1,x", "'x'"}, {"4-2", "'4-2'"},      {"1,,2", "'1,,2'"},
        {"2000", "'2000'"}, {"", "''"},     {"1-40", "more than"}, {"-3", "'-3'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yh_run_t *r = s_run(10000, "bench", "--replicas", bad[i][0], NULL);
        if (r->status != 2 || !strstr(r->err, "--replicas") || !strstr(r->err, bad[i][1])) {
            fail_msg("--replicas %s: exit %d, stderr: %s", bad[i][0], r->status, r->err);
        }
        yh_run_destroy(&r);
    }
    /* the bench's own replicas' shape does not go with an existing bus */
    yh_run_t *r = s_run(10000, "bench", "--replicas", "1,2", "--broker", "tcp://127.0.0.1:1",
                        "--service", "echo", NULL);
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "not with --broker"));
    yh_run_destroy(&r);
    r = s_run(10000, "bench", "--serial", NULL); /* a serial handler needs a handler time */
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "--serial needs --handler-ms"));
    yh_run_destroy(&r);
    static const char *const bad_other[][2] = {
        {"--handler-ms", "x"}, {"--handler-ms", "10001"}, {"--credit", "0"}, {"--fail-every", "0"}};
    for (size_t i = 0; i < sizeof bad_other / sizeof bad_other[0]; i++) {
        r = s_run(10000, "bench", bad_other[i][0], bad_other[i][1], NULL);
        if (r->status != 2 || !strstr(r->err, bad_other[i][0])) {
            fail_msg("%s %s: exit %d, stderr: %s", bad_other[i][0], bad_other[i][1], r->status,
                     r->err);
        }
        yh_run_destroy(&r);
    }
}

/* One side of a round: rate, per-replica counts and their spread. */
static void
s_check_side(const msgpack_object *side, int replicas)
{
    assert_true(s_num(side, "rt_per_s") > 0);
    s_num(side, "speedup");
    s_check_latency(side, false);
    const msgpack_object *served = yh_json_at(side, "served");
    assert_int_equal(yh_json_count(served, ""), replicas);
    int64_t total = 0, min = INT64_MAX, max = 0;
    for (int i = 0; i < replicas; i++) {
        int64_t v = (int64_t)served->via.array.ptr[i].via.u64;
        total += v;
        min = v < min ? v : min;
        max = v > max ? v : max;
    }
    assert_true(total >= s_int(side, "replies")); /* warm-up calls are counted too */
    assert_int_equal(s_int(side, "spread.replicas"), replicas);
    assert_int_equal(s_int(side, "spread.replicas_seen"), replicas);
    assert_int_equal(s_int(side, "spread.min"), min);
    assert_int_equal(s_int(side, "spread.max"), max);
    s_num(side, "spread.mean");
    s_num(side, "spread.max_dev_pct");
    if (min > 0) {
        assert_true(fabs(s_num(side, "spread.max_min_ratio") - (double)max / (double)min) < 0.01);
    }
}

static void
test_bench_scaling_rounds_and_spread(void **state)
{
    (void)state;
    yh_run_t *r = s_run(120000, "bench", "--replicas", "1,3", "--handler-ms", "1", "--duration",
                        "0.5", "--clients", "1", "--window", "8", "--json", NULL);
    yh_json_t *doc = s_json_of(r);
    const msgpack_object *root = yh_json_root(doc);
    assert_int_equal(s_int(root, "handler_ms"), 1);
    assert_int_equal(s_int(root, "credit"), 1);
    bool nats = yh_json_bool(root, "nats") == 1;
    const msgpack_object *rounds = yh_json_at(root, "rounds");
    assert_int_equal(yh_json_count(rounds, ""), 2);
    static const int want[] = {1, 3};
    for (int i = 0; i < 2; i++) {
        const msgpack_object *round = &rounds->via.array.ptr[i];
        assert_int_equal(s_int(round, "replicas"), want[i]);
        s_check_side(yh_json_at(round, "yard"), want[i]);
        /* 1 ms, credit 1: a replica can give at most 1000 round trips/s */
        assert_true(fabs(s_num(round, "yard.ideal_rt_per_s") - 1000.0 * want[i]) < 0.5);
        if (nats) {
            s_check_side(yh_json_at(round, "nats"), want[i]);
        } else {
            assert_int_equal(yh_json_type(round, "nats"), MSGPACK_OBJECT_NIL);
        }
    }
    yh_json_destroy(&doc);
    yh_run_destroy(&r);

    /* the table, without NATS; a range is one round per value; serial with a prefetch */
    r = s_run(120000, "bench", "--replicas", "1-2", "--handler-ms", "1", "--duration", "0.3",
              "--clients", "1", "--window", "4", "--no-nats", "--serial", "--credit", "2", NULL);
    assert_int_equal(r->status, 0);
    if (!strstr(r->out, "max/min") || !strstr(r->out, "max dev") || !strstr(r->out, "speedup") ||
        !strstr(r->out, "of ideal") || !strstr(r->out, "(serial), credit 2") ||
        strstr(r->out, " nats ")) {
        fail_msg("no spread table (or a NATS row with --no-nats):\n%s", r->out);
    }
    int rows = 0;
    for (const char *l = r->out; (l = strstr(l, "  yard ")) != NULL; l++) {
        rows++;
    }
    assert_int_equal(rows, 2);
    yh_run_destroy(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_failed_calls_reported),
        cmocka_unit_test(test_bench_replicas_list_refused),
        cmocka_unit_test(test_bench_scaling_rounds_and_spread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
