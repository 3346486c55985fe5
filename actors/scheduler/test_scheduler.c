/* The scheduler actor on a real broker (memory store, one replica) firing at a sink actor in
 * this process: job.* operations, runs, events, history, failures and retries, max_instances,
 * and jobs from the config file (a bad one named with its line, the rest loaded). */
#include "bus_json.h"
#include "fixture.h"
#include "harness.h"
#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/json.h"
#include "yard/log.h"
#include "yard/msg.h"
#include "yard/registry.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char s_config[] = "scheduler:\n"
                               "  jobs:\n"
                               "    - id: from-config\n"
                               "      every: 1h\n"
                               "      service: sink\n"
                               "    - id: broken\n"
                               "      cron: \"0 25 * * *\"\n"
                               "      service: sink\n"
                               "    - id: also-from-config\n"
                               "      cron: \"0 9 * * mon\"\n"
                               "      tz: Europe/Berlin\n"
                               "      subject: reports.weekly\n"
                               "    - id: ended-in-config\n"
                               "      every: 5m\n"
                               "      end: 2020-01-01T00:00:00+01:00\n"
                               "      service: sink\n"
                               "    - id: written-as-people-do\n"
                               "      every: 1h30m\n"
                               "      start: 2030-10-31T02:30:00+01:00\n"
                               "      backoff: 0.5s\n"
                               "      service: sink\n";

/* --- the sink: counts runs by op -------------------------------------------------------- */

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static int s_ticks, s_fails, s_hangs;
static char s_last_run[128];
static yard_deferred_t *s_held[64];
static int s_nheld;

static int
s_tick(yard_request_t *req, void *state)
{
    (void)state;
    pthread_mutex_lock(&s_lock);
    s_ticks++;
    const char *run = yard_request_header(req, "sched.run");
    snprintf(s_last_run, sizeof s_last_run, "%s", run ? run : "");
    pthread_mutex_unlock(&s_lock);
    return yard_request_reply(req, "\x81\xa2ok\xc3", 5); /* {"ok": true} */
}

static int
s_fail(yard_request_t *req, void *state)
{
    (void)state;
    pthread_mutex_lock(&s_lock);
    s_fails++;
    pthread_mutex_unlock(&s_lock);
    return yard_request_fail(req, YARD_E_SERVICE, "BROKEN", "the sink is broken today");
}

/* Holds the request until the test ends: the caller's deadline answers it. */
static int
s_hang(yard_request_t *req, void *state)
{
    (void)state;
    pthread_mutex_lock(&s_lock);
    s_hangs++;
    if (s_nheld < 64) {
        s_held[s_nheld++] = yard_request_defer(req);
    } else {
        yard_request_reply(req, NULL, 0);
    }
    pthread_mutex_unlock(&s_lock);
    return 0;
}

/* The half-second job's runs: each one's sched.run header, in arrival order. */
#define S_HALF_MAX 64
static char s_half[S_HALF_MAX][128];
static int s_halves;

static int
s_half_tick(yard_request_t *req, void *state)
{
    (void)state;
    const char *run = yard_request_header(req, "sched.run");
    pthread_mutex_lock(&s_lock);
    if (s_halves < S_HALF_MAX) {
        snprintf(s_half[s_halves], sizeof s_half[0], "%s", run ? run : "");
    }
    s_halves++;
    pthread_mutex_unlock(&s_lock);
    return yard_request_reply(req, NULL, 0);
}

static const yard_handler_def_t s_sink_handlers[] = {
    {"tick", s_tick, "counts"}, {"half", s_half_tick, "records each run of the half-second job"},
    {"fail", s_fail, "fails"},  {"hang", s_hang, "never answers in time"},
    {NULL, NULL, NULL},
};

static const yard_actor_def_t s_sink_def = {
    .name = "sink", .description = "test sink", .handlers = s_sink_handlers, .credit = 64};

static int
s_count(int *v)
{
    pthread_mutex_lock(&s_lock);
    int n = *v;
    pthread_mutex_unlock(&s_lock);
    return n;
}

/* --- fixture ----------------------------------------------------------------------------- */

static struct {
    char *dir;
    yard_config_t *cfg;
    int bport;
    yard_broker_t *broker;
    yard_actor_t *sched, *sink;
    yard_client_t *client;
} F;

static yh_result_t
s_call(const char *op, const char *json)
{
    return yh_call_json(F.client, "scheduler", op, json, NULL, 5000);
}

/* Calls op and asserts success. */
static void
s_ok(const char *op, const char *json)
{
    yh_result_t r = s_call(op, json);
    if (r.status != 0) {
        fail_msg("%s %s: %d %s", op, json, r.status, r.json ? r.json : "");
    }
    yh_result_free(&r);
}

/* Waits (dispatching the client) until *v reaches want or the deadline passes. */
static int
s_wait_count(int *v, int want, int timeout_ms)
{
    long long until = yh_now_ms() + timeout_ms;
    while (s_count(v) < want && yh_now_ms() < until) {
        yard_client_dispatch(F.client, 20);
    }
    return s_count(v);
}

static int
s_setup(void **state)
{
    (void)state;
    yard_log_set_level(YARD_LOG_ERROR);
    F.dir = yh_tmpdir();
    F.cfg = yh_config_in(F.dir, s_config);
    F.broker = yh_broker_start(&F.bport);
    char *sink_flags[] = {"--heartbeat-ms=200", NULL};
    F.sink = yh_actor_start(&s_sink_def, NULL, F.bport, sink_flags);
    assert_non_null(F.sink);
    F.sched = yh_actor_start(yard_registry_find("scheduler"), F.cfg, F.bport, NULL);
    yard_client_opts_t co = {.default_timeout_ms = 5000};
    assert_int_equal(yard_client_new(yh_endpoint(F.bport), &co, &F.client), 0);
    yh_result_t r = yh_call_json_ready(F.client, "scheduler", "job.list", "{}", NULL, 10000);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    yard_client_destroy(&F.client);
    yard_actor_destroy(&F.sched);
    pthread_mutex_lock(&s_lock);
    for (int i = 0; i < s_nheld; i++) {
        yard_deferred_reply(&s_held[i], NULL, 0); /* long past their deadline: dropped */
    }
    s_nheld = 0;
    pthread_mutex_unlock(&s_lock);
    yard_actor_destroy(&F.sink);
    yard_broker_destroy(&F.broker);
    yard_config_destroy(&F.cfg);
    yh_rmtree(F.dir);
    free(F.dir);
    return 0;
}

/* --- tests ------------------------------------------------------------------------------- */

static void
test_config_jobs_load_and_a_bad_one_is_skipped(void **state)
{
    (void)state;
    yh_result_t r = s_call("job.list", "{}");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"id\":\"from-config\""));
    assert_non_null(strstr(r.json, "\"id\":\"also-from-config\""));
    assert_non_null(strstr(r.json, "cron '0 9 * * mon' Europe/Berlin"));
    assert_null(strstr(r.json, "\"id\":\"broken\""));
    assert_null(strstr(r.json, "\"id\":\"ended-in-config\"")); /* could never fire: skipped */
    assert_non_null(strstr(r.json, "\"id\":\"written-as-people-do\""));
    assert_non_null(strstr(r.json, "\"next_run\":1919640600"));
    assert_non_null(strstr(r.json, "\"backoff\":\"500ms\""));
    yh_result_free(&r);
}

static void
test_add_get_list_remove(void **state)
{
    (void)state;
    s_ok("job.add", "{\"id\":\"daily\",\"cron\":\"30 6 * * *\",\"tz\":\"America/New_York\","
                    "\"service\":\"sink\",\"op\":\"tick\",\"body\":{\"report\":\"daily\"}}");
    yh_result_t r = s_call("job.add", "{\"id\":\"daily\",\"every\":5,\"service\":\"sink\"}");
    assert_int_equal(r.status, YARD_E_SERVICE);
    assert_string_equal(r.app, "CONFLICT");
    yh_result_free(&r);
    r = s_call("job.add", "{\"id\":\"bad\",\"cron\":\"* * 32 * *\",\"service\":\"sink\"}");
    assert_int_equal(r.status, YARD_E_BAD_REQUEST);
    assert_non_null(strstr(r.json, "'cron'"));
    assert_non_null(strstr(r.json, "day-of-month"));
    yh_result_free(&r);
    r = s_call("job.get", "{\"id\":\"daily\"}");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"next_run\":"));
    assert_null(strstr(r.json, "\"next_run\":null"));
    assert_non_null(strstr(r.json, "\"report\":\"daily\""));
    yh_result_free(&r);
    s_ok("job.update", "{\"id\":\"daily\",\"cron\":\"45 6 * * *\",\"service\":\"sink\"}");
    r = s_call("job.get", "{\"id\":\"daily\"}");
    assert_non_null(strstr(r.json, "45 6 * * *"));
    yh_result_free(&r);
    s_ok("job.remove", "{\"id\":\"daily\"}");
    r = s_call("job.get", "{\"id\":\"daily\"}");
    assert_int_equal(r.status, YARD_E_NOT_FOUND);
    yh_result_free(&r);
    r = s_call("job.remove", "{\"id\":\"daily\"}");
    assert_int_equal(r.status, YARD_E_NOT_FOUND);
    yh_result_free(&r);
    r = s_call("job.get", "{}");
    assert_int_equal(r.status, YARD_E_BAD_REQUEST);
    assert_non_null(strstr(r.json, "'id'"));
    yh_result_free(&r);
}

typedef struct {
    int fired, succeeded, failed, missed;
} s_events_t;

static void
s_on_event(const yard_msg_t *m, void *arg)
{
    s_events_t *e = arg;
    size_t n = 0;
    const void *b = yard_msg_body(m, &n);
    char *json = NULL, err[64];
    if (!n || yard_json_from_msgpack(b, n, &json, NULL, err, sizeof err) != 0) {
        return;
    }
    bool ours = strstr(json, "\"job\":\"ev\"") != NULL;
    free(json);
    const char *subj = yard_msg_subject(m);
    if (!ours || !subj) {
        return;
    }
    pthread_mutex_lock(&s_lock);
    e->fired += strcmp(subj, "scheduler.job.fired") == 0;
    e->succeeded += strcmp(subj, "scheduler.job.succeeded") == 0;
    e->failed += strcmp(subj, "scheduler.job.failed") == 0;
    e->missed += strcmp(subj, "scheduler.job.missed") == 0;
    pthread_mutex_unlock(&s_lock);
}

static void
test_run_now_events_and_history(void **state)
{
    (void)state;
    s_events_t ev = {0};
    assert_int_equal(yard_client_subscribe(F.client, "scheduler.job.>", s_on_event, &ev), 0);
    s_ok("job.add", "{\"id\":\"ev\",\"every\":\"1h\",\"service\":\"sink\",\"op\":\"tick\"}");
    int before = s_count(&s_ticks);
    s_ok("job.run_now", "{\"id\":\"ev\"}");
    assert_int_equal(s_wait_count(&s_ticks, before + 1, 5000), before + 1);
    assert_int_equal(s_wait_count(&ev.succeeded, 1, 3000), 1);
    assert_int_equal(s_count(&ev.fired), 1);
    pthread_mutex_lock(&s_lock);
    assert_non_null(strstr(s_last_run, "ev@"));
    pthread_mutex_unlock(&s_lock);
    yh_result_t r = s_call("job.history", "{\"id\":\"ev\"}");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"status\":\"ok\""));
    assert_non_null(strstr(r.json, "\"reply\":{\"ok\":true}"));
    assert_non_null(strstr(r.json, "\"duration_ms\":"));
    yh_result_free(&r);
    /* A failing target, retried twice with a 1 s backoff that doubles: 3 attempts. */
    s_ok("job.update", "{\"id\":\"ev\",\"every\":\"1h\",\"service\":\"sink\",\"op\":\"fail\","
                       "\"retries\":2,\"backoff\":1}");
    int fails = s_count(&s_fails);
    s_ok("job.run_now", "{\"id\":\"ev\"}");
    assert_int_equal(s_wait_count(&s_fails, fails + 3, 8000), fails + 3);
    assert_int_equal(s_wait_count(&ev.failed, 3, 3000), 3);
    r = s_call("job.history", "{\"id\":\"ev\"}");
    assert_non_null(strstr(r.json, "\"status\":\"error\""));
    assert_non_null(strstr(r.json, "BROKEN: the sink is broken today"));
    assert_non_null(strstr(r.json, "\"attempt\":3"));
    yh_result_free(&r);
    yard_client_unsubscribe(F.client, "scheduler.job.>");
}

static void
test_schedule_fires_and_pause_stops_it(void **state)
{
    (void)state;
    int before = s_count(&s_ticks);
    s_ok("job.add", "{\"id\":\"every-second\",\"every\":1,\"service\":\"sink\",\"op\":\"tick\"}");
    assert_true(s_wait_count(&s_ticks, before + 3, 6000) >= before + 3);
    s_ok("job.pause", "{\"id\":\"every-second\"}");
    yh_result_t r = s_call("job.get", "{\"id\":\"every-second\"}");
    assert_non_null(strstr(r.json, "\"paused\":true"));
    assert_non_null(strstr(r.json, "\"next_run\":null"));
    yh_result_free(&r);
    /* In-flight ticks may land just after the pause; after that, nothing. */
    s_wait_count(&s_ticks, INT32_MAX, 600);
    int paused_at = s_count(&s_ticks);
    assert_int_equal(s_wait_count(&s_ticks, paused_at + 1, 2500), paused_at);
    s_ok("job.resume", "{\"id\":\"every-second\"}");
    assert_true(s_wait_count(&s_ticks, paused_at + 2, 5000) >= paused_at + 2);
    s_ok("job.remove", "{\"id\":\"every-second\"}");
}

static void
test_max_instances_skips_and_records(void **state)
{
    (void)state;
    int before = s_count(&s_hangs);
    s_ok("job.add", "{\"id\":\"overlap\",\"every\":1,\"service\":\"sink\",\"op\":\"hang\","
                    "\"deadline_ms\":3500,\"max_instances\":1}");
    /* One run hangs for 3.5 s; the runs due meanwhile would be a second instance: skipped. */
    s_wait_count(&s_hangs, before + 1, 4000);
    long long until = yh_now_ms() + 3000;
    while (yh_now_ms() < until) {
        yard_client_dispatch(F.client, 50);
    }
    assert_int_equal(s_count(&s_hangs), before + 1);
    yh_result_t r = s_call("job.history", "{\"id\":\"overlap\"}");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"status\":\"skipped\""));
    assert_non_null(strstr(r.json, "max_instances reached"));
    yh_result_free(&r);
    s_ok("job.remove", "{\"id\":\"overlap\"}");
}

/* "half@1796421350.500" -> its run time in ms (-1 when it is not one). */
static long long
s_run_ms(const char *run)
{
    const char *at = strchr(run, '@');
    long long s = 0, ms = 0;
    if (!at || sscanf(at + 1, "%lld", &s) != 1) {
        return -1;
    }
    const char *dot = strchr(at, '.');
    if (dot && sscanf(dot + 1, "%3lld", &ms) != 1) {
        return -1;
    }
    return s * 1000 + ms;
}

/* every: "0.5s" fires about twice a second, each run once, 500 ms apart, on the half second
 * too (runs are identified to the millisecond: they were refused as sub-second). */
static void
test_half_second_job_fires_twice_a_second(void **state)
{
    (void)state;
    s_ok("job.add", "{\"id\":\"half\",\"every\":\"0.5s\",\"service\":\"sink\",\"op\":\"half\"}");
    assert_true(s_wait_count(&s_halves, 1, 3000) >= 1); /* the first run is 0.5 s away */
    /* A fixed 4 s window, waited out on the bus: 8 runs expected; the tolerance allows for
     * a loaded machine (a late tick coalesces), and still tells twice a second from once. */
    int start = s_count(&s_halves);
    long long t0 = yh_now_ms();
    s_wait_count(&s_halves, INT32_MAX, 4000);
    long long took = yh_now_ms() - t0;
    int got = s_count(&s_halves) - start;
    double rate = (double)got * 1000.0 / (double)took;
    fprintf(stderr, "half-second job: %d runs in %lld ms = %.2f per second\n", got, took, rate);
    s_ok("job.pause", "{\"id\":\"half\"}");
    yh_result_t r = s_call("job.get", "{\"id\":\"half\"}");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"trigger\":\"every 500 ms\""));
    assert_non_null(strstr(r.json, "\"every\":\"500ms\""));
    yh_result_free(&r);
    r = s_call("job.history", "{\"id\":\"half\"}");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, ".5,\"scheduled_ms\":")); /* a run on the half second */
    assert_non_null(strstr(r.json, "\"status\":\"ok\""));
    yh_result_free(&r);
    /* Each run once, in order, on the job's 500 ms grid. */
    pthread_mutex_lock(&s_lock);
    int n = s_halves < S_HALF_MAX ? s_halves : S_HALF_MAX;
    int halves = 0;
    for (int i = 0; i < n; i++) {
        long long t = s_run_ms(s_half[i]);
        assert_true(t > 0);
        halves += t % 1000 == 500;
        if (i > 0) {
            long long gap = t - s_run_ms(s_half[i - 1]);
            assert_true(gap > 0 && gap % 500 == 0); /* a late tick may coalesce two runs */
        }
    }
    pthread_mutex_unlock(&s_lock);
    assert_true(halves >= 3);
    assert_true(got >= 6 && got <= 10); /* 1.5 to 2.5 a second: not once a second */
    s_ok("job.remove", "{\"id\":\"half\"}");
}

/* job.add refuses, with the field named, a job that could never fire or whose target the
 * broker would refuse on every run; nothing is stored. */
static void
test_add_refuses_jobs_that_can_never_fire(void **state)
{
    (void)state;
    long long now = (long long)time(NULL);
    char json[300];
    static const struct {
        const char *fmt, *needle;
    } rows[] = {
        {"{\"id\":\"r\",\"every\":5,\"end\":%lld,\"service\":\"sink\",\"op\":\"tick\"}", "'end' ("},
        {"{\"id\":\"r\",\"at\":%lld,\"service\":\"sink\",\"op\":\"tick\"}", "'at' ("},
        {"{\"id\":\"r\",\"cron\":\"0 0 30 2 *\",\"service\":\"sink\",\"x\":%lld}", "unknown field"},
        {"{\"id\":\"r\",\"cron\":\"0 0 30 2 *\",\"service\":\"sink\",\"created\":%lld}",
         "'cron' '0 0 30 2 *' never matches"},
        {"{\"id\":\"r\",\"every\":5,\"subject\":\"a.*\",\"created\":%lld}", "'subject'"},
        {"{\"id\":\"r\",\"every\":5,\"subject\":\">\",\"created\":%lld}", "'subject'"},
        {"{\"id\":\"r\",\"every\":\"50ms\",\"service\":\"sink\",\"created\":%lld}",
         "'every' must be between 100ms and 3650d"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(json, sizeof json, rows[i].fmt, now - 10);
        yh_result_t r = s_call("job.add", json);
        if (r.status != YARD_E_BAD_REQUEST || !r.json || !strstr(r.json, rows[i].needle)) {
            fail_msg("row %zu %s: %d %s", i, json, r.status, r.json ? r.json : "");
        }
        yh_result_free(&r);
        r = s_call("job.get", "{\"id\":\"r\"}");
        assert_int_equal(r.status, YARD_E_NOT_FOUND);
        yh_result_free(&r);
    }
}

/* Durations, the @every macro and ISO 8601 times with an offset, as people write them. */
static void
test_add_accepts_what_people_write(void **state)
{
    (void)state;
    s_ok("job.add", "{\"id\":\"macro\",\"cron\":\"@every 5m\",\"service\":\"sink\",\"op\":\"tick\","
                    "\"backoff\":\"0.5s\"}");
    yh_result_t r = s_call("job.get", "{\"id\":\"macro\"}");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"trigger\":\"every 300 s\""));
    assert_non_null(strstr(r.json, "\"backoff\":\"500ms\""));
    assert_non_null(strstr(r.json, "\"state\":\"scheduled\""));
    yh_result_free(&r);
    s_ok("job.add", "{\"id\":\"mixed\",\"every\":\"1h30m\",\"service\":\"sink\",\"op\":\"tick\","
                    "\"start\":\"2030-10-31T02:30:00+01:00\",\"end\":\"2031-01-01T00:00:00Z\"}");
    r = s_call("job.get", "{\"id\":\"mixed\"}");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"every\":5400"));
    assert_non_null(strstr(r.json, "\"start\":1919640600")); /* 2030-10-31T01:30:00Z */
    assert_non_null(strstr(r.json, "\"next_run\":1919640600"));
    yh_result_free(&r);
    s_ok("job.add", "{\"id\":\"once\",\"at\":\"2030-10-31T02:30:00+01:00\",\"service\":\"sink\"}");
    r = s_call("job.get", "{\"id\":\"once\"}");
    assert_non_null(strstr(r.json, "\"next_run\":1919640600"));
    yh_result_free(&r);
    s_ok("job.remove", "{\"id\":\"macro\"}");
    s_ok("job.remove", "{\"id\":\"mixed\"}");
    s_ok("job.remove", "{\"id\":\"once\"}");
}

/* Waits until job id's state is want; returns the last job.get reply's JSON (caller frees). */
static char *
s_wait_state(const char *id, const char *want, int timeout_ms)
{
    char req[96], needle[64];
    snprintf(req, sizeof req, "{\"id\":\"%s\"}", id);
    snprintf(needle, sizeof needle, "\"state\":\"%s\"", want);
    long long until = yh_now_ms() + timeout_ms;
    for (;;) {
        yh_result_t r = s_call("job.get", req);
        if ((r.status == 0 && strstr(r.json, needle)) || yh_now_ms() >= until) {
            char *out = r.json ? strdup(r.json) : strdup("");
            yh_result_free(&r);
            return out;
        }
        yh_result_free(&r);
        yard_client_dispatch(F.client, 100);
    }
}

/* A job whose runs are over is finished, quietly: no next run, and job.get, job.history,
 * job.pause and job.resume keep answering (they answered UNREACHABLE for such a job). */
static void
test_a_finished_job_keeps_answering(void **state)
{
    (void)state;
    long long now = (long long)time(NULL);
    char json[200];
    snprintf(json, sizeof json,
             "{\"id\":\"short\",\"every\":1,\"end\":%lld,\"service\":\"sink\",\"op\":\"tick\"}",
             now + 2);
    int before = s_count(&s_ticks);
    s_ok("job.add", json);
    char *got = s_wait_state("short", "finished", 8000);
    assert_non_null(strstr(got, "\"state\":\"finished\""));
    assert_non_null(strstr(got, "\"next_run\":null"));
    free(got);
    assert_true(s_count(&s_ticks) > before);
    yh_result_t r = s_call("job.history", "{\"id\":\"short\"}");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"status\":\"ok\""));
    yh_result_free(&r);
    s_ok("job.pause", "{\"id\":\"short\"}");
    r = s_call("job.resume", "{\"id\":\"short\"}");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"next_run\":null"));
    yh_result_free(&r);
    r = s_call("job.list", "{}");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"state\":\"finished\""));
    yh_result_free(&r);
    s_ok("job.remove", "{\"id\":\"short\"}");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_jobs_load_and_a_bad_one_is_skipped),
        cmocka_unit_test(test_add_get_list_remove),
        cmocka_unit_test(test_run_now_events_and_history),
        cmocka_unit_test(test_schedule_fires_and_pause_stops_it),
        cmocka_unit_test(test_max_instances_skips_and_records),
        cmocka_unit_test(test_half_second_job_fires_twice_a_second),
        cmocka_unit_test(test_add_refuses_jobs_that_can_never_fire),
        cmocka_unit_test(test_add_accepts_what_people_write),
        cmocka_unit_test(test_a_finished_job_keeps_answering),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
