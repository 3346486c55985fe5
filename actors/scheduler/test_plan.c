/* Jobs and plans against a fake clock: interval and date semantics, misfire grace,
 * coalescing, long downtimes, and job definitions refused with the field named. */
#include "job.h"
#include "plan.h"
#include "timetext.h"
#include "yard/json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0    1795000000LL /* a fixed "now" */
#define MS(s) ((s)*1000LL) /* run times are unix ms */

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
    /* as job.add: the definition, then whether it can still fire */
    if (sched_job_from_map(&up.data, T0, &j, why ? why : w, why ? whylen : sizeof w) == 0 &&
        sched_job_check_fires(j, T0, why ? why : w, why ? whylen : sizeof w) != 0) {
        sched_job_destroy(&j);
    }
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
    assert_int_equal(sched_job_next_ms(j, MS(T0)), MS(T0 + 300));
    assert_int_equal(sched_job_next_ms(j, MS(T0 + 299)), MS(T0 + 300));
    assert_int_equal(sched_job_next_ms(j, MS(T0 + 300)), MS(T0 + 600));
    assert_int_equal(sched_job_next_ms(j, MS(T0 - 1000)), MS(T0)); /* before start: start itself */
    sched_job_destroy(&j);
    j = s_ok("{\"id\":\"i2\",\"every\":10,\"start\":\"2026-11-22T10:00:00Z\",\"end\":"
             "\"2026-11-22T10:00:30Z\",\"subject\":\"ticks\"}");
    int64_t start = j->start;
    assert_int_equal(sched_job_next_ms(j, MS(start)), MS(start + 10));
    assert_int_equal(sched_job_next_ms(j, MS(start + 25)), MS(start + 30));
    assert_int_equal(sched_job_next_ms(j, MS(start + 30)), -1); /* past end */
    assert_int_equal(j->mode, SCHED_PUBLISH);
    sched_job_destroy(&j);
    j = s_ok(
        "{\"id\":\"d\",\"at\":1795000100,\"service\":\"mail\",\"op\":\"send\",\"mode\":\"send\"}");
    assert_int_equal(sched_job_next_ms(j, MS(T0)), MS(1795000100));
    assert_int_equal(sched_job_next_ms(j, MS(1795000100)), -1); /* once */
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
    assert_int_equal(j->misfire_grace_ms, 60000); /* not APScheduler's 1 s */
    assert_true(j->coalesce);
    assert_int_equal(j->max_instances, 1);
    assert_int_equal(j->deadline_ms, 30000);
    assert_int_equal(j->retries, 0);
    assert_int_equal(j->jitter_ms, 0);
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
    assert_int_equal(sched_job_next_ms(k, MS(T0)), sched_job_next_ms(j, MS(T0)));
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
        {"{\"id\":\"a\",\"every\":\"5 minutes\",\"service\":\"x\"}",
         "'every' '5 minutes' is not a duration"},
        {"{\"id\":\"a\",\"every\":0,\"service\":\"x\"}", "'every' must be between"},
        {"{\"id\":\"a\",\"at\":\"tomorrow\",\"service\":\"x\"}",
         "'at' 'tomorrow' is not an ISO 8601"},
        {"{\"id\":\"a\",\"every\":5,\"service\":\"x\",\"max_instances\":0}", "'max_instances'"},
        {"{\"id\":\"a\",\"every\":5,\"service\":\"x\",\"coalesce\":\"yes\"}", "'coalesce' must be"},
        {"{\"id\":\"a\",\"every\":5,\"service\":\"x\",\"mode\":\"publish\"}", "'mode'"},
        {"{\"id\":\"a\",\"every\":5,\"service\":\"x\",\"retry\":3}", "unknown field 'retry'"},
        {"{\"id\":\"a\",\"every\":5,\"service\":7}", "'service' must be a string"},
        {"{\"id\":\"a\",\"every\":5,\"service\":\"x\",\"start\":1795000200,\"end\":1795000100}",
         "'end' is before 'start'"},
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
    assert_int_equal(sched_plan_ms(j, MS(T0 + 10), MS(T0 + 9), due, &nn), 0);
    assert_int_equal(nn, MS(T0 + 10));
    /* on time */
    assert_int_equal(sched_plan_ms(j, MS(T0 + 10), MS(T0 + 10), due, &nn), 1);
    assert_true(due[0].fire);
    assert_int_equal(due[0].t, MS(T0 + 10));
    assert_int_equal(nn, MS(T0 + 20));
    /* 4 s late: within grace */
    assert_int_equal(sched_plan_ms(j, MS(T0 + 10), MS(T0 + 14), due, &nn), 1);
    assert_true(due[0].fire);
    /* 6 s late: missed, and the next one is still ahead */
    assert_int_equal(sched_plan_ms(j, MS(T0 + 10), MS(T0 + 16), due, &nn), 1);
    assert_false(due[0].fire);
    assert_int_equal(nn, MS(T0 + 20));
    /* paused: nothing */
    j->paused = true;
    assert_int_equal(sched_plan_ms(j, MS(T0 + 10), MS(T0 + 100), due, &nn), 0);
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
    assert_int_equal(sched_plan_ms(j, MS(T0 + 10), MS(T0 + 45), due, &nn),
                     1); /* coalesced: one run */
    assert_true(due[0].fire);
    assert_int_equal(due[0].t, MS(T0 + 40)); /* the latest */
    assert_int_equal(due[0].n, 4);
    assert_int_equal(nn, MS(T0 + 50));
    sched_job_destroy(&j);
    /* Without coalescing: each, fired while within grace. */
    j = s_ok("{\"id\":\"c2\",\"every\":10,\"service\":\"x\",\"misfire_grace\":20,"
             "\"coalesce\":false}");
    assert_int_equal(sched_plan_ms(j, MS(T0 + 10), MS(T0 + 45), due, &nn), 4);
    assert_false(due[0].fire); /* +10: 35 s late */
    assert_false(due[1].fire); /* +20: 25 s late */
    assert_true(due[2].fire);  /* +30: 15 s late */
    assert_true(due[3].fire);  /* +40 */
    assert_int_equal(nn, MS(T0 + 50));
    sched_job_destroy(&j);
    /* Coalesced, but even the latest is past grace: one miss standing for all. */
    j = s_ok("{\"id\":\"c3\",\"every\":10,\"service\":\"x\",\"misfire_grace\":3}");
    assert_int_equal(sched_plan_ms(j, MS(T0 + 10), MS(T0 + 45), due, &nn), 1);
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
    size_t n = sched_plan_ms(j, MS(T0 + 1), MS(now), due, &nn);
    assert_true(n <= SCHED_PLAN_MAX + 1);
    assert_false(due[0].fire);
    int64_t total = 0, fired = 0;
    for (size_t i = 0; i < n; i++) {
        total += due[i].n;
        fired += due[i].fire;
    }
    assert_int_equal(total, now - T0); /* every scheduled run accounted for */
    assert_int_equal(fired, 61);       /* the ones within the 60 s grace, now included */
    assert_int_equal(nn, MS(now + 1));
    sched_job_destroy(&j);
    /* A cron far behind: coalesced into one run, quickly. */
    j = s_ok("{\"id\":\"cw\",\"cron\":\"* * * * * *\",\"service\":\"x\"}");
    n = sched_plan_ms(j, MS(T0 + 1), MS(now), due, &nn);
    assert_int_equal(n, 1);
    assert_true(due[0].fire);
    assert_int_equal(due[0].t, MS(now));
    assert_int_equal(nn, MS(now + 1));
    sched_job_destroy(&j);
}

/* A half-second interval: runs are identified, planned, missed and coalesced to the ms. */
static void
test_plan_subsecond(void **state)
{
    (void)state;
    sched_job_t *j = s_ok("{\"id\":\"h\",\"every\":\"0.5s\",\"service\":\"x\","
                          "\"misfire_grace\":\"0.2s\"}");
    assert_int_equal(j->every_ms, 500);
    assert_int_equal(j->misfire_grace_ms, 200);
    assert_int_equal(sched_job_next_ms(j, MS(T0)), MS(T0) + 500);
    assert_int_equal(sched_job_next_ms(j, MS(T0) + 499), MS(T0) + 500);
    assert_int_equal(sched_job_next_ms(j, MS(T0) + 500), MS(T0) + 1000);
    sched_due_t due[SCHED_PLAN_MAX + 1];
    int64_t nn = 0;
    assert_int_equal(sched_plan_ms(j, MS(T0) + 500, MS(T0) + 499, due, &nn), 0); /* not yet */
    assert_int_equal(nn, MS(T0) + 500);
    /* 150 ms late: within the 200 ms grace */
    assert_int_equal(sched_plan_ms(j, MS(T0) + 500, MS(T0) + 650, due, &nn), 1);
    assert_true(due[0].fire);
    assert_int_equal(due[0].t, MS(T0) + 500);
    assert_int_equal(nn, MS(T0) + 1000);
    /* 250 ms late: missed; the next run (+1000) is still ahead */
    assert_int_equal(sched_plan_ms(j, MS(T0) + 500, MS(T0) + 750, due, &nn), 1);
    assert_false(due[0].fire);
    assert_int_equal(nn, MS(T0) + 1000);
    sched_job_destroy(&j);
    /* Runs at +0.5, +1, +1.5 and +2 s are due at +2.2 s: coalesced into the latest. */
    j = s_ok("{\"id\":\"h2\",\"every\":\"500ms\",\"service\":\"x\",\"misfire_grace\":1}");
    assert_int_equal(sched_plan_ms(j, MS(T0) + 500, MS(T0) + 2200, due, &nn), 1);
    assert_true(due[0].fire);
    assert_int_equal(due[0].t, MS(T0) + 2000);
    assert_int_equal(due[0].n, 4);
    assert_int_equal(nn, MS(T0) + 2500);
    sched_job_destroy(&j);
    /* Not coalesced, 700 ms grace: the two oldest missed, the two newest fired. */
    j = s_ok("{\"id\":\"h3\",\"every\":\"0.5s\",\"service\":\"x\",\"misfire_grace\":\"700ms\","
             "\"coalesce\":false}");
    assert_int_equal(sched_plan_ms(j, MS(T0) + 500, MS(T0) + 2200, due, &nn), 4);
    assert_false(due[0].fire); /* +500: 1700 ms late */
    assert_false(due[1].fire); /* +1000: 1200 ms late */
    assert_true(due[2].fire);  /* +1500: 700 ms late, the grace itself */
    assert_true(due[3].fire);  /* +2000 */
    assert_int_equal(due[2].t, MS(T0) + 1500);
    assert_int_equal(nn, MS(T0) + 2500);
    sched_job_destroy(&j);
    /* The shortest interval down for a day: every run accounted for, a bounded list. */
    j = s_ok("{\"id\":\"h4\",\"every\":\"100ms\",\"service\":\"x\",\"misfire_grace\":\"2s\","
             "\"coalesce\":false}");
    int64_t now = MS(T0 + 86400) + 50;
    size_t n = sched_plan_ms(j, MS(T0) + 100, now, due, &nn);
    assert_true(n <= SCHED_PLAN_MAX + 1);
    int64_t total = 0, fired = 0;
    for (size_t i = 0; i < n; i++) {
        total += due[i].n;
        fired += due[i].fire;
    }
    assert_int_equal(total, 864000); /* +100 ms .. +86400 s */
    assert_int_equal(fired, 20);     /* the runs within the last 2 s (2050 ms) */
    assert_int_equal(nn, MS(T0 + 86400) + 100);
    sched_job_destroy(&j);
    /* A cron still fires on whole seconds, looked at from any millisecond. */
    j = s_ok("{\"id\":\"hc\",\"cron\":\"* * * * * *\",\"service\":\"x\"}");
    assert_int_equal(sched_job_next_ms(j, MS(T0) + 1), MS(T0 + 1));
    assert_int_equal(sched_job_next_ms(j, MS(T0) + 999), MS(T0 + 1));
    assert_int_equal(sched_job_next_ms(j, MS(T0 + 1)), MS(T0 + 2));
    sched_job_destroy(&j);
}

/* A sub-second job's stored form reads back; so does a record an older version wrote, with
 * whole seconds as integers, and the run times of keys and the stored next run. */
static void
test_subsecond_stored_forms(void **state)
{
    (void)state;
    sched_job_t *j = s_ok("{\"id\":\"h\",\"every\":\"0.5s\",\"service\":\"x\","
                          "\"misfire_grace\":\"1.5s\"}");
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
    assert_int_equal(k->every_ms, 500);
    assert_int_equal(k->misfire_grace_ms, 1500);
    assert_int_equal(k->start, T0);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    sched_job_destroy(&k);
    sched_job_destroy(&j);
    /* As the second-based version stored it (every, misfire_grace, backoff: integers). */
    const char *old = "{\"id\":\"old\",\"every\":5,\"tz\":\"UTC\",\"start\":1794999900,"
                      "\"service\":\"x\",\"mode\":\"call\",\"misfire_grace\":60,\"coalesce\":true,"
                      "\"max_instances\":1,\"deadline_ms\":30000,\"retries\":0,\"backoff\":1,"
                      "\"jitter\":0,\"paused\":false,\"created\":1794999900}";
    void *mp = NULL;
    size_t n = 0;
    assert_int_equal(yard_json_to_msgpack(old, strlen(old), &mp, &n, why, sizeof why), 0);
    msgpack_unpacked_init(&up);
    assert_int_equal(msgpack_unpack_next(&up, mp, n, NULL), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(sched_job_from_map(&up.data, T0, &k, why, sizeof why), 0);
    assert_int_equal(k->every_ms, 5000);
    assert_int_equal(k->misfire_grace_ms, 60000);
    assert_int_equal(k->backoff_ms, 1000);
    assert_int_equal(sched_job_next_ms(k, MS(T0)), MS(T0 + 5));
    sched_job_destroy(&k);
    msgpack_unpacked_destroy(&up);
    free(mp);
    /* Run times as text: whole seconds as older versions wrote them, else with ".mmm". */
    char text[32];
    int64_t ms = 0;
    sched_run_time_format(MS(T0), text, sizeof text);
    assert_string_equal(text, "1795000000");
    sched_run_time_format(MS(T0) + 500, text, sizeof text);
    assert_string_equal(text, "1795000000.500");
    sched_run_time_format(MS(T0) + 7, text, sizeof text);
    assert_string_equal(text, "1795000000.007");
    assert_int_equal(sched_run_time_parse("1795000000.007", &ms), 0);
    assert_int_equal(ms, MS(T0) + 7);
    assert_int_equal(sched_run_time_parse("1795000000", &ms), 0); /* an older next run */
    assert_int_equal(ms, MS(T0));
    assert_int_equal(sched_run_time_parse("-1", &ms), 0);
    assert_int_equal(ms, -1);
    assert_int_equal(sched_run_time_parse("", &ms), -1);
    assert_int_equal(sched_run_time_parse("12.5", &ms), -1);
    assert_int_equal(sched_run_time_parse("12x", &ms), -1);
    assert_int_equal(sched_run_time_parse("99999999999999999999", &ms), -1);
}

/* What job.add refuses because the job could never fire, or could never be sent, each with
 * the field named (T0 is "now"). */
static void
test_jobs_that_can_never_fire_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *json, *needle;
    } rows[] = {
        /* an end that has passed: the bug's input (it was stored, then never loaded again) */
        {"{\"id\":\"a\",\"every\":5,\"end\":1794999990,\"service\":\"x\"}",
         "'end' (2026-11-18T11:06:30Z) is not after now (2026-11-18T11:06:40Z)"},
        {"{\"id\":\"a\",\"cron\":\"* * * * *\",\"end\":\"2020-01-01T00:00:00Z\",\"service\":\"x\"}",
         "'end' (2020-01-01T00:00:00Z) is not after now"},
        {"{\"id\":\"a\",\"at\":1795000000,\"service\":\"x\"}",
         "'at' (2026-11-18T11:06:40Z) is not after now"},
        {"{\"id\":\"a\",\"at\":\"2020-01-01T00:00:00+01:00\",\"service\":\"x\"}",
         "'at' (2019-12-31T23:00:00Z) is not after now"},
        {"{\"id\":\"a\",\"cron\":\"0 0 30 2 *\",\"service\":\"x\"}",
         "'cron' '0 0 30 2 *' never matches a date in the 8 years searched"},
        {"{\"id\":\"a\",\"cron\":\"0 0 31 4,6,9,11 *\",\"tz\":\"Europe/Berlin\",\"service\":\"x\"}",
         "'cron' '0 0 31 4,6,9,11 *' never matches"},
        {"{\"id\":\"a\",\"cron\":\"0 0 1 1 *\",\"end\":1795000100,\"service\":\"x\"}",
         "'end' comes before the first time 'cron' matches"},
        {"{\"id\":\"a\",\"every\":\"1h\",\"start\":1794999900,\"end\":1795000100,\"service\":"
         "\"x\"}",
         "'end' comes before the first run"},
        {"{\"id\":\"a\",\"every\":5,\"start\":1795000200,\"end\":1795000100,\"service\":\"x\"}",
         "'end' is before 'start'"},
        /* targets the broker refuses on every run */
        {"{\"id\":\"a\",\"every\":5,\"subject\":\"a.*\"}",
         "'subject' must be dot-separated tokens"},
        {"{\"id\":\"a\",\"every\":5,\"subject\":\">\"}", "'subject' must be"},
        {"{\"id\":\"a\",\"every\":5,\"subject\":\"jobs.>\"}", "'subject' must be"},
        {"{\"id\":\"a\",\"every\":5,\"subject\":\"a..b\"}", "'subject' must be"},
        {"{\"id\":\"a\",\"every\":5,\"subject\":\"a b\"}", "'subject' must be"},
        {"{\"id\":\"a\",\"every\":5,\"subject\":\"$sys.events\"}",
         "'subject' must not start with '$'"},
        {"{\"id\":\"a\",\"every\":5,\"service\":\"mail.*\"}", "'service' must be dot-separated"},
        {"{\"id\":\"a\",\"every\":5,\"service\":\"\"}", "'service' must be"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char why[200] = "";
        sched_job_t *j = s_job(rows[i].json, why, sizeof why);
        if (j || !strstr(why, rows[i].needle)) {
            fail_msg("row %zu %s: got '%s'", i, rows[i].json, why);
        }
    }
}

/* The bug behind "end in the past": the definition check compared end with start before an
 * interval's start was defaulted to now, so job.add stored a job whose own stored form was
 * refused on every later load (the runner logged it every second; job.get, job.history and
 * job.pause answered UNREACHABLE). Whatever sched_job_from_map() accepts must read back from
 * its stored form at any later time; a job with no run left reads back as finished. */
static void
test_stored_form_reads_back_at_any_time(void **state)
{
    (void)state;
    static const char *const defs[] = {
        "{\"id\":\"ended\",\"every\":5,\"end\":1794999990,\"service\":\"x\"}",
        "{\"id\":\"ended2\",\"cron\":\"*/5 * * * *\",\"end\":1794999990,\"service\":\"x\"}",
        "{\"id\":\"past\",\"at\":1794000000,\"service\":\"x\"}",
        "{\"id\":\"never\",\"cron\":\"0 0 30 2 *\",\"service\":\"x\"}",
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        void *mp = NULL;
        size_t n = 0;
        char why[200] = "";
        assert_int_equal(yard_json_to_msgpack(defs[i], strlen(defs[i]), &mp, &n, why, sizeof why),
                         0);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        assert_int_equal(msgpack_unpack_next(&up, mp, n, NULL), MSGPACK_UNPACK_SUCCESS);
        sched_job_t *j = NULL;
        if (sched_job_from_map(&up.data, T0, &j, why, sizeof why) != 0) {
            fail_msg("%s: %s", defs[i], why);
        }
        assert_int_equal(sched_job_check_fires(j, T0, why, sizeof why), -1); /* job.add refuses */
        /* ... but once stored (by an older version, say), it loads, and has no next run */
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        sched_job_pack(j, &pk);
        msgpack_unpacked back;
        msgpack_unpacked_init(&back);
        assert_int_equal(msgpack_unpack_next(&back, sb.data, sb.size, NULL),
                         MSGPACK_UNPACK_SUCCESS);
        sched_job_t *k = NULL;
        if (sched_job_from_map(&back.data, T0 + 999, &k, why, sizeof why) != 0) {
            fail_msg("%s: its stored form does not load: %s", defs[i], why);
        }
        assert_int_equal(sched_job_next_ms(k, MS(T0 + 999)), -1);
        sched_job_destroy(&k);
        msgpack_unpacked_destroy(&back);
        msgpack_sbuffer_destroy(&sb);
        sched_job_destroy(&j);
        msgpack_unpacked_destroy(&up);
        free(mp);
    }
}

/* What APScheduler, cron and Go users write for durations and times. */
static void
test_durations_and_iso_times_as_people_write_them(void **state)
{
    (void)state;
    sched_job_t *j =
        s_ok("{\"id\":\"a\",\"every\":\"1h30m\",\"service\":\"x\",\"backoff\":\"0.5s\","
             "\"jitter\":\"1.5s\",\"misfire_grace\":\"2m\"}");
    assert_int_equal(j->every_ms, 5400000);
    assert_int_equal(j->backoff_ms, 500);
    assert_int_equal(j->jitter_ms, 1500);
    assert_int_equal(j->misfire_grace_ms, 120000);
    /* sub-second values survive the stored form */
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
    assert_int_equal(sched_job_from_map(&up.data, T0, &k, why, sizeof why), 0);
    assert_int_equal(k->backoff_ms, 500);
    assert_int_equal(k->jitter_ms, 1500);
    assert_int_equal(k->every_ms, 5400000);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    sched_job_destroy(&k);
    sched_job_destroy(&j);

    j = s_ok("{\"id\":\"a\",\"every\":1.5e2,\"service\":\"x\"}"); /* a JSON float, seconds */
    assert_int_equal(j->every_ms, 150000);
    sched_job_destroy(&j);
    j = s_ok("{\"id\":\"a\",\"every\":\"1.5m\",\"service\":\"x\"}");
    assert_int_equal(j->every_ms, 90000);
    sched_job_destroy(&j);
    /* the cron macro form of an interval */
    j = s_ok("{\"id\":\"a\",\"cron\":\"@every 5m\",\"service\":\"x\"}");
    assert_int_equal(j->kind, SCHED_INTERVAL);
    assert_int_equal(j->every_ms, 300000);
    assert_int_equal(sched_job_next_ms(j, MS(T0)), MS(T0 + 300));
    sched_job_destroy(&j);
    j = s_ok("{\"id\":\"a\",\"cron\":\" @EVERY  1h30m \",\"service\":\"x\"}");
    assert_int_equal(j->every_ms, 5400000);
    sched_job_destroy(&j);

    /* ISO 8601 with an offset: 02:30 at +01:00 on 2027-10-31 is 01:30Z, the second of the two
     * 02:30s in Berlin that night; without an offset, Berlin's 02:30 is the first (00:30Z). */
    static const struct {
        const char *at, *tz;
        int64_t want;
    } times[] = {
        {"2027-10-31T02:30:00+01:00", "Europe/Berlin", 1824946200},
        {"2027-10-31T02:30:00+0100", NULL, 1824946200},
        {"2027-10-31T02:30+01", NULL, 1824946200},
        {"2027-10-31T01:30:00Z", NULL, 1824946200},
        {"2027-10-31t01:30:00z", NULL, 1824946200},
        {"2027-10-31 01:30:00Z", NULL, 1824946200},
        {"2027-10-31T01:30:00.000Z", NULL, 1824946200},
        {"2027-10-31T01:29:59.25Z", NULL, 1824946200}, /* a fraction rounds up: never early */
        {"2027-10-31T02:30:00-05:30", NULL, 1824969600},
        {"2027-10-31T02:30:00", "Europe/Berlin", 1824942600},
        {"2027-10-31", "Europe/Berlin", 1824933600},
        {"2027-10-31T01:30:00", NULL, 1824946200}, /* no offset, no tz: UTC */
    };
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        char json[200];
        snprintf(json, sizeof json, "{\"id\":\"t\",\"at\":\"%s\",\"tz\":\"%s\",\"service\":\"x\"}",
                 times[i].at, times[i].tz ? times[i].tz : "UTC");
        j = s_ok(json);
        if (j->at != times[i].want) {
            fail_msg("'%s' in %s: got %lld, want %lld", times[i].at,
                     times[i].tz ? times[i].tz : "UTC", (long long)j->at, (long long)times[i].want);
        }
        sched_job_destroy(&j);
    }
}

/* Durations and times refused, bounded, with a reason naming the field. */
static void
test_bad_durations_and_times(void **state)
{
    (void)state;
    static const struct {
        const char *json, *needle;
    } rows[] = {
        {"{\"id\":\"a\",\"every\":\"0.5s\",\"service\":\"x\"}", NULL}, /* runs are to the ms */
        {"{\"id\":\"a\",\"every\":\"1500ms\",\"service\":\"x\"}", NULL},
        {"{\"id\":\"a\",\"every\":\"100ms\",\"service\":\"x\"}", NULL}, /* the shortest */
        {"{\"id\":\"a\",\"every\":\"99ms\",\"service\":\"x\"}",
         "'every' must be between 100ms and 3650d"},
        {"{\"id\":\"a\",\"every\":0.05,\"service\":\"x\"}",
         "'every' must be between 100ms and 3650d"},
        {"{\"id\":\"a\",\"every\":\"0s\",\"service\":\"x\"}",
         "'every' must be between 100ms and 3650d"},
        {"{\"id\":\"a\",\"every\":-5,\"service\":\"x\"}",
         "'every' must be between 100ms and 3650d"},
        {"{\"id\":\"a\",\"every\":-0.5,\"service\":\"x\"}", "'every' must be between"},
        {"{\"id\":\"a\",\"every\":\"-5s\",\"service\":\"x\"}", "'every' '-5s' is negative"},
        {"{\"id\":\"a\",\"every\":\"+5s\",\"service\":\"x\"}", "'every' '+5s' is not a duration"},
        {"{\"id\":\"a\",\"every\":\"11w\",\"service\":\"x\"}", NULL}, /* 77 days: fine */
        {"{\"id\":\"a\",\"every\":\"3651d\",\"service\":\"x\"}",
         "'every' must be between 100ms and 3650d"},
        {"{\"id\":\"a\",\"every\":1e300,\"service\":\"x\"}", "'every' must be between"},
        {"{\"id\":\"a\",\"every\":18446744073709551615,\"service\":\"x\"}",
         "'every' must be between"},
        {"{\"id\":\"a\",\"every\":\"999999999999w\",\"service\":\"x\"}",
         "'every' '999999999999w' is far too long"},
        {"{\"id\":\"a\",\"every\":\"9999999999999s\",\"service\":\"x\"}", "is not a duration"},
        {"{\"id\":\"a\",\"every\":\"1h30\",\"service\":\"x\"}",
         "the number '30' after a unit needs one too"},
        {"{\"id\":\"a\",\"every\":\"5y\",\"service\":\"x\"}",
         "unknown unit 'y' (use ms, s, m, h, d or w)"},
        {"{\"id\":\"a\",\"every\":\"5.s\",\"service\":\"x\"}", NULL},
        {"{\"id\":\"a\",\"every\":\".s\",\"service\":\"x\"}", "is not a duration"},
        {"{\"id\":\"a\",\"every\":\"\",\"service\":\"x\"}", "'every' is empty"},
        {"{\"id\":\"a\",\"every\":\"1h 30m\",\"service\":\"x\"}", "is not a duration"},
        {"{\"id\":\"a\",\"every\":true,\"service\":\"x\"}", "'every' must be a number of seconds"},
        {"{\"id\":\"a\",\"every\":5,\"service\":\"x\",\"misfire_grace\":\"1.5s\"}", NULL},
        {"{\"id\":\"a\",\"every\":5,\"service\":\"x\",\"misfire_grace\":\"50ms\"}",
         "'misfire_grace' must be between 100ms and 3650d"},
        {"{\"id\":\"a\",\"every\":5,\"service\":\"x\",\"backoff\":\"0ms\"}",
         "'backoff' must be between 1ms"},
        {"{\"id\":\"a\",\"every\":5,\"service\":\"x\",\"jitter\":\"2d\"}",
         "'jitter' must be between 0 and 1d"},
        {"{\"id\":\"a\",\"cron\":\"@every\",\"service\":\"x\"}",
         "'cron' '@every' takes one duration"},
        {"{\"id\":\"a\",\"cron\":\"@every 5m 3s\",\"service\":\"x\"}", "'cron' '@every' takes one"},
        {"{\"id\":\"a\",\"cron\":\"@every 0.5s\",\"service\":\"x\"}", NULL},
        {"{\"id\":\"a\",\"cron\":\"@every 10ms\",\"service\":\"x\"}",
         "'cron' '@every' must be between 100ms and 3650d"},
        {"{\"id\":\"a\",\"cron\":\"@every 5x\",\"service\":\"x\"}",
         "'cron' '@every': '5x': unknown unit 'x'"},
        {"{\"id\":\"a\",\"cron\":\"@every 5m\",\"every\":5,\"service\":\"x\"}", "exactly one of"},
        {"{\"id\":\"a\",\"cron\":\"@everyday\",\"service\":\"x\"}",
         "'cron' unknown macro '@everyday'"},
        {"{\"id\":\"a\",\"at\":\"2027-02-29T00:00:00Z\",\"service\":\"x\"}",
         "'at' '2027-02-29T00:00:00Z' is not a date"},
        {"{\"id\":\"a\",\"at\":\"2027-13-01T00:00:00Z\",\"service\":\"x\"}", "is not a date"},
        {"{\"id\":\"a\",\"at\":\"2027-10-31T24:00:00Z\",\"service\":\"x\"}",
         "is not a time of day"},
        {"{\"id\":\"a\",\"at\":\"2027-10-31T23:59:60Z\",\"service\":\"x\"}",
         "is not a time of day"},
        {"{\"id\":\"a\",\"at\":\"2027-10-31T02:30:00+24:00\",\"service\":\"x\"}",
         "is not an ISO 8601 time"},
        {"{\"id\":\"a\",\"at\":\"2027-10-31T02:30:00 +01:00\",\"service\":\"x\"}",
         "is not an ISO 8601 time"},
        {"{\"id\":\"a\",\"at\":\"2027-10-31T02:30:00+01:00x\",\"service\":\"x\"}",
         "is not an ISO 8601 time"},
        {"{\"id\":\"a\",\"at\":\"27-10-31T02:30:00Z\",\"service\":\"x\"}",
         "is not an ISO 8601 time"},
        {"{\"id\":\"a\",\"at\":\"2027-10-31T2:30:00Z\",\"service\":\"x\"}",
         "is not an ISO 8601 time"},
        {"{\"id\":\"a\",\"at\":\"2027-10-31T02:30:00.Z\",\"service\":\"x\"}",
         "is not an ISO 8601 time"},
        {"{\"id\":\"a\",\"at\":\"1969-12-31T23:59:59Z\",\"service\":\"x\"}",
         "is not a date between 1970"},
        {"{\"id\":\"a\",\"at\":\"9999-12-31T23:59:59-01:00\",\"service\":\"x\"}",
         "is not between 1970 and 9999"},
        {"{\"id\":\"a\",\"at\":\"2027-10-31T02:30:00.1234567890Z\",\"service\":\"x\"}",
         "is not an ISO 8601"},
        {"{\"id\":\"a\",\"at\":\"2027-10-31T02:30:00+01:00:00:00:00:00:00:00\",\"service\":\"x\"}",
         "'at' is longer than 40 characters"},
        {"{\"id\":\"a\",\"at\":-5,\"service\":\"x\"}", "'at' must be"},
        {"{\"id\":\"a\",\"every\":5,\"start\":\"2027-10-31T02:30:00+01:00\",\"end\":\"soon\","
         "\"service\":\"x\"}",
         "'end' 'soon' is not an ISO 8601 time"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char why[200] = "";
        sched_job_t *j = s_job(rows[i].json, why, sizeof why);
        if (!rows[i].needle ? !j : (j || !strstr(why, rows[i].needle))) {
            fail_msg("row %zu %s: got '%s'", i, rows[i].json, j ? "accepted" : why);
        }
        sched_job_destroy(&j);
    }
    /* the text forms read back to their value */
    static const int64_t values[] = {1,     500,     1000,     1500,     59000,
                                     90000, 5400000, 86400000, 90061000, 7 * 86400000LL};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char text[SCHED_DURATION_TEXT_MAX];
        int64_t back = -1;
        sched_duration_format(values[i], text, sizeof text);
        assert_int_equal(sched_duration_parse(text, &back, NULL, 0), 0);
        assert_int_equal(back, values[i]);
    }
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
        cmocka_unit_test(test_plan_subsecond),
        cmocka_unit_test(test_subsecond_stored_forms),
        cmocka_unit_test(test_jobs_that_can_never_fire_are_refused),
        cmocka_unit_test(test_stored_form_reads_back_at_any_time),
        cmocka_unit_test(test_durations_and_iso_times_as_people_write_them),
        cmocka_unit_test(test_bad_durations_and_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
