/* Jobs and plans against a fake clock: interval and date semantics, misfire grace,
 * coalescing, long downtimes, and job definitions refused with the field named. */
#include "job.h"
#include "plan.h"
#include "yard/json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1795000000LL /* a fixed "now" */

/* A job from JSON (through msgpack, as the bus delivers it). NULL with why on error. */
static sched_job_t *
s_job(const char *json, char *why, size_t whylen)
{
    void *mp = NULL;
    size_t n = 0;
    char err[200];
    assert_int_equal(yard_json_to_msgpack(json, strlen(json), &mp, &n, err, sizeof err), 0);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    assert_int_equal(msgpack_unpack_next(&up, mp, n, NULL), MSGPACK_UNPACK_SUCCESS);
    sched_job_t *j = NULL;
    char w[200] = "";
    sched_job_from_map(&up.data, T0, &j, why ? why : w, why ? whylen : sizeof w);
    msgpack_unpacked_destroy(&up);
    free(mp);
    return j;
}

static sched_job_t *
s_ok(const char *json)
{
    char why[200] = "";
    sched_job_t *j = s_job(json, why, sizeof why);
    if (!j) {
        fail_msg("%s: %s", json, why);
    }
    return j;
}

static void
test_interval_and_date(void **state)
{
    (void)state;
    sched_job_t *j = s_ok("{\"id\":\"i\",\"every\":\"5m\",\"service\":\"echo\"}");
    assert_int_equal(j->start, T0); /* no start: counted from when it was made */
    assert_int_equal(sched_job_next(j, T0), T0 + 300);
    assert_int_equal(sched_job_next(j, T0 + 299), T0 + 300);
    assert_int_equal(sched_job_next(j, T0 + 300), T0 + 600);
    assert_int_equal(sched_job_next(j, T0 - 1000), T0); /* before start: start itself */
    sched_job_destroy(&j);
    j = s_ok("{\"id\":\"i2\",\"every\":10,\"start\":\"2026-11-22T10:00:00Z\",\"end\":"
             "\"2026-11-22T10:00:30Z\",\"subject\":\"ticks\"}");
    int64_t start = j->start;
    assert_int_equal(sched_job_next(j, start), start + 10);
    assert_int_equal(sched_job_next(j, start + 25), start + 30);
    assert_int_equal(sched_job_next(j, start + 30), -1); /* past end */
    assert_int_equal(j->mode, SCHED_PUBLISH);
    sched_job_destroy(&j);
    j = s_ok(
        "{\"id\":\"d\",\"at\":1795000100,\"service\":\"mail\",\"op\":\"send\",\"mode\":\"send\"}");
    assert_int_equal(sched_job_next(j, T0), 1795000100);
    assert_int_equal(sched_job_next(j, 1795000100), -1); /* once */
    assert_int_equal(j->mode, SCHED_SEND);
    sched_job_destroy(&j);
    /* A local date in a zone: 09:00 in Berlin on 2026-12-01 is 08:00 UTC. */
    j = s_ok("{\"id\":\"d2\",\"at\":\"2026-12-01T09:00:00\",\"tz\":\"Europe/Berlin\","
             "\"service\":\"x\"}");
    assert_int_equal(j->at, 1796112000LL); /* 2026-12-01T08:00:00Z */
    sched_job_destroy(&j);
}

static void
test_defaults_and_round_trip(void **state)
{
    (void)state;
    sched_job_t *j = s_ok("{\"id\":\"c\",\"cron\":\"0 9 * * mon-fri\",\"tz\":\"America/New_York\","
                          "\"service\":\"reports\",\"body\":{\"kind\":\"daily\",\"n\":[1,2]}}");
    assert_int_equal(j->misfire_grace_s, 60); /* not APScheduler's 1 s */
    assert_true(j->coalesce);
    assert_int_equal(j->max_instances, 1);
    assert_int_equal(j->deadline_ms, 30000);
    assert_int_equal(j->retries, 0);
    assert_int_equal(j->jitter_s, 0);
    assert_int_equal(j->mode, SCHED_CALL);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    sched_job_pack(j, &pk);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    assert_int_equal(msgpack_unpack_next(&up, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    sched_job_t *k = NULL;
    char why[200] = "";
    assert_int_equal(sched_job_from_map(&up.data, T0 + 999, &k, why, sizeof why), 0);
    assert_string_equal(k->cron, j->cron);
    assert_string_equal(k->tz, "America/New_York");
    assert_int_equal(k->created, j->created);
    assert_int_equal(k->body_len, j->body_len);
    assert_memory_equal(k->body, j->body, j->body_len);
    assert_int_equal(sched_job_next(k, T0), sched_job_next(j, T0));
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    sched_job_destroy(&j);
    sched_job_destroy(&k);
}

static void
test_bad_jobs_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *json, *needle;
    } rows[] = {
        {"{\"cron\":\"* * * * *\",\"service\":\"x\"}", "'id' is required"},
        {"{\"id\":\"a b\",\"cron\":\"* * * * *\",\"service\":\"x\"}", "'id' must be"},
        {"{\"id\":\"a\",\"service\":\"x\"}", "exactly one of 'cron', 'every' or 'at'"},
        {"{\"id\":\"a\",\"cron\":\"* * * * *\",\"every\":5,\"service\":\"x\"}", "exactly one of"},
        {"{\"id\":\"a\",\"cron\":\"61 * * * *\",\"service\":\"x\"}", "'cron' minute"},
        {"{\"id\":\"a\",\"cron\":\"* * * *\",\"service\":\"x\"}", "'cron'"},
        {"{\"id\":\"a\",\"cron\":\"* * * * *\",\"tz\":\"Mars/Olympus\",\"service\":\"x\"}", "'tz'"},
        {"{\"id\":\"a\",\"cron\":\"* * * * *\",\"tz\":\"../etc/passwd\",\"service\":\"x\"}",
         "'tz'"},
        {"{\"id\":\"a\",\"cron\":\"* * * * *\"}", "exactly one of 'service' or 'subject'"},
        {"{\"id\":\"a\",\"every\":\"5 minutes\",\"service\":\"x\"}", "'every' is not a duration"},
        {"{\"id\":\"a\",\"every\":0,\"service\":\"x\"}", "'every' must be between"},
        {"{\"id\":\"a\",\"at\":\"tomorrow\",\"service\":\"x\"}", "'at' is not an ISO 8601"},
        {"{\"id\":\"a\",\"every\":5,\"service\":\"x\",\"max_instances\":0}", "'max_instances'"},
        {"{\"id\":\"a\",\"every\":5,\"service\":\"x\",\"coalesce\":\"yes\"}", "'coalesce' must be"},
        {"{\"id\":\"a\",\"every\":5,\"service\":\"x\",\"mode\":\"publish\"}", "'mode'"},
        {"{\"id\":\"a\",\"every\":5,\"service\":\"x\",\"retry\":3}", "unknown field 'retry'"},
        {"{\"id\":\"a\",\"every\":5,\"service\":7}", "'service' must be a string"},
        {"{\"id\":\"a\",\"every\":5,\"service\":\"x\",\"start\":20,\"end\":10}", "'end' is before"},
        {"[1,2]", "a job must be a map"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char why[200] = "";
        sched_job_t *j = s_job(rows[i].json, why, sizeof why);
        if (j || !strstr(why, rows[i].needle)) {
            fail_msg("row %zu %s: got '%s'", i, rows[i].json, why);
        }
    }
}

static void
test_plan_on_time_and_late(void **state)
{
    (void)state;
    sched_job_t *j = s_ok("{\"id\":\"p\",\"every\":10,\"service\":\"x\",\"misfire_grace\":5}");
    sched_due_t due[SCHED_PLAN_MAX + 1];
    int64_t nn = 0;
    /* not yet due */
    assert_int_equal(sched_plan(j, T0 + 10, T0 + 9, due, &nn), 0);
    assert_int_equal(nn, T0 + 10);
    /* on time */
    assert_int_equal(sched_plan(j, T0 + 10, T0 + 10, due, &nn), 1);
    assert_true(due[0].fire);
    assert_int_equal(due[0].t, T0 + 10);
    assert_int_equal(nn, T0 + 20);
    /* 4 s late: within grace */
    assert_int_equal(sched_plan(j, T0 + 10, T0 + 14, due, &nn), 1);
    assert_true(due[0].fire);
    /* 6 s late: missed, and the next one is still ahead */
    assert_int_equal(sched_plan(j, T0 + 10, T0 + 16, due, &nn), 1);
    assert_false(due[0].fire);
    assert_int_equal(nn, T0 + 20);
    /* paused: nothing */
    j->paused = true;
    assert_int_equal(sched_plan(j, T0 + 10, T0 + 100, due, &nn), 0);
    sched_job_destroy(&j);
}

static void
test_plan_coalesce(void **state)
{
    (void)state;
    /* Down for 35 s with an every-10-s job: runs at +10, +20, +30 and +40 are due by +45. */
    sched_job_t *j = s_ok("{\"id\":\"c\",\"every\":10,\"service\":\"x\",\"misfire_grace\":60}");
    sched_due_t due[SCHED_PLAN_MAX + 1];
    int64_t nn = 0;
    assert_int_equal(sched_plan(j, T0 + 10, T0 + 45, due, &nn), 1); /* coalesced: one run */
    assert_true(due[0].fire);
    assert_int_equal(due[0].t, T0 + 40); /* the latest */
    assert_int_equal(due[0].n, 4);
    assert_int_equal(nn, T0 + 50);
    sched_job_destroy(&j);
    /* Without coalescing: each, fired while within grace. */
    j = s_ok("{\"id\":\"c2\",\"every\":10,\"service\":\"x\",\"misfire_grace\":20,"
             "\"coalesce\":false}");
    assert_int_equal(sched_plan(j, T0 + 10, T0 + 45, due, &nn), 4);
    assert_false(due[0].fire); /* +10: 35 s late */
    assert_false(due[1].fire); /* +20: 25 s late */
    assert_true(due[2].fire);  /* +30: 15 s late */
    assert_true(due[3].fire);  /* +40 */
    assert_int_equal(nn, T0 + 50);
    sched_job_destroy(&j);
    /* Coalesced, but even the latest is past grace: one miss standing for all. */
    j = s_ok("{\"id\":\"c3\",\"every\":10,\"service\":\"x\",\"misfire_grace\":3}");
    assert_int_equal(sched_plan(j, T0 + 10, T0 + 45, due, &nn), 1);
    assert_false(due[0].fire);
    assert_int_equal(due[0].n, 4);
    sched_job_destroy(&j);
}

static void
test_plan_long_downtime(void **state)
{
    (void)state;
    /* An every-second job down for a week: one fold of the ancient runs, a bounded list. */
    sched_job_t *j = s_ok("{\"id\":\"w\",\"every\":1,\"service\":\"x\",\"coalesce\":false}");
    sched_due_t due[SCHED_PLAN_MAX + 1];
    int64_t nn = 0;
    int64_t now = T0 + 7 * 86400;
    size_t n = sched_plan(j, T0 + 1, now, due, &nn);
    assert_true(n <= SCHED_PLAN_MAX + 1);
    assert_false(due[0].fire);
    int64_t total = 0, fired = 0;
    for (size_t i = 0; i < n; i++) {
        total += due[i].n;
        fired += due[i].fire;
    }
    assert_int_equal(total, now - T0); /* every scheduled run accounted for */
    assert_int_equal(fired, 61);       /* the ones within the 60 s grace, now included */
    assert_int_equal(nn, now + 1);
    sched_job_destroy(&j);
    /* A cron far behind: coalesced into one run, quickly. */
    j = s_ok("{\"id\":\"cw\",\"cron\":\"* * * * * *\",\"service\":\"x\"}");
    n = sched_plan(j, T0 + 1, now, due, &nn);
    assert_int_equal(n, 1);
    assert_true(due[0].fire);
    assert_int_equal(due[0].t, now);
    assert_int_equal(nn, now + 1);
    sched_job_destroy(&j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interval_and_date),
        cmocka_unit_test(test_defaults_and_round_trip),
        cmocka_unit_test(test_bad_jobs_name_the_field),
        cmocka_unit_test(test_plan_on_time_and_late),
        cmocka_unit_test(test_plan_coalesce),
        cmocka_unit_test(test_plan_long_downtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
