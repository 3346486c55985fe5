/* `yard bench --sizes` from outside, short runs only (no timing asserted): bad lists are
 * refused naming the bad entry, --sizes does not go with the flags that shape another run,
 * and a run gives one row per size whose broker counters show what the wire promises: a 64-byte
 * body travels inline (the broker copies it, at least once each way, and moves no frame), a
 * 1 MiB body keeps its own frame, which the broker moves on and never copies (0 bytes copied,
 * 2 frames per round trip), with the window capped so that at most 16 MiB is in flight. */
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

static void
test_sizes_refused(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"0", "'0'"},
        {"64,x", "'x'"},
        {"1048577", "'1048577'"},
        {"64,,4096", "'64,,4096'"},
        {"", "''"},
        {"-5", "'-5'"},
        {"64,", "'64,'"},
        {"1,2,3,4,5,6,7,8,9", "more than 8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yh_run_t *r = s_run(10000, "bench", "--sizes", bad[i][0], NULL);
        if (r->status != 2 || !strstr(r->err, "--sizes") || !strstr(r->err, bad[i][1])) {
            fail_msg("--sizes %s: exit %d, stderr: %s", bad[i][0], r->status, r->err);
        }
        yh_run_destroy(&r);
    }
    static const char *const other[][2] = {
        {"--size", "64"}, {"--handler-ms", "1"}, {"--fail-every", "3"}, {"--replicas", "1,2"}};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        yh_run_t *r = s_run(10000, "bench", "--sizes", "64", other[i][0], other[i][1], NULL);
        if (r->status != 2 || !strstr(r->err, "--sizes runs the plain echo")) {
            fail_msg("--sizes 64 %s %s: exit %d, stderr: %s", other[i][0], other[i][1], r->status,
                     r->err);
        }
        yh_run_destroy(&r);
    }
}

/* One side's figures are there; the bus side had every call answered. */
static void
s_check_side(const msgpack_object *row, const char *side)
{
    char path[64];
    static const char *const keys[] = {"rt_per_s", "mb_per_s", "p50_us", "p99_us"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        snprintf(path, sizeof path, "%s.%s", side, keys[k]);
        assert_true(s_num(row, path) > 0);
    }
    snprintf(path, sizeof path, "%s.lost", side);
    assert_int_equal(s_int(row, path), 0);
    snprintf(path, sizeof path, "%s.errors", side);
    assert_int_equal(s_int(row, path), 0);
}

static void
test_sizes_rows_and_broker_counters(void **state)
{
    (void)state;
    yh_run_t *r = s_run(120000, "bench", "--sizes", "64,1048576", "--duration", "0.3", "--clients",
                        "2", "--replicas", "2", "--json", NULL);
    if (r->status != 0) {
        fail_msg("yard bench --sizes exited %d: %s", r->status, r->err);
    }
    yh_json_t *doc = yh_json_parse(r->out, strlen(r->out));
    if (!doc) {
        fail_msg("yard bench --sizes --json is not JSON: %s", r->out);
    }
    const msgpack_object *root = yh_json_root(doc);
    assert_int_equal(s_int(root, "window"), 64);
    assert_int_equal(s_int(root, "inflight_max_bytes"), 16 << 20);
    const msgpack_object *rows = yh_json_at(root, "rows");
    assert_int_equal(yh_json_count(rows, ""), 2);
    const msgpack_object *small = &rows->via.array.ptr[0], *large = &rows->via.array.ptr[1];

    assert_int_equal(s_int(small, "size"), 64);
    assert_int_equal(s_int(small, "window"), 64);
    s_check_side(small, "yard");
    s_check_side(small, "baseline");
    assert_true(s_num(small, "ratio") > 0);
    int64_t rts = s_int(small, "broker.round_trips");
    assert_true(rts >= s_int(small, "yard.replies")); /* and the warm-up calls */
    assert_int_equal(s_int(small, "broker.body_frames_moved"), 0);
    assert_true(s_int(small, "broker.body_bytes_copied") >= 2 * 64 * rts);

    /* 2 clients x 1 MiB: 8 each keep 16 MiB in flight */
    assert_int_equal(s_int(large, "size"), 1048576);
    assert_int_equal(s_int(large, "window"), 8);
    s_check_side(large, "yard");
    s_check_side(large, "baseline");
    rts = s_int(large, "broker.round_trips");
    assert_true(rts >= s_int(large, "yard.replies") && rts > 0);
    assert_int_equal(s_int(large, "broker.body_bytes_copied"), 0);
    assert_int_equal(s_int(large, "broker.body_frames_moved"), 2 * rts);
    assert_int_equal(s_int(large, "broker.body_bytes_moved"), 2 * 1048576 * rts);
    assert_true(fabs(s_num(large, "broker.frames_moved_per_rt") - 2.0) < 1e-9);
    assert_true(s_num(large, "broker.copied_per_rt") == 0);
    yh_json_destroy(&doc);
    yh_run_destroy(&r);

    /* the table: a row per size, the window used, the broker's columns */
    r = s_run(120000, "bench", "--sizes", "100,1048576", "--duration", "0.2", "--clients", "1",
              "--replicas", "1", "--window", "32", NULL);
    assert_int_equal(r->status, 0);
    if (!strstr(r->out, "broker, per round trip") || !strstr(r->out, "copied B") ||
        !strstr(r->out, "\n100          32 |") || !strstr(r->out, "\n1048576      16 |")) {
        fail_msg("no sizes table:\n%s", r->out);
    }
    yh_run_destroy(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes_refused),
        cmocka_unit_test(test_sizes_rows_and_broker_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
