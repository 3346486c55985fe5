/* Runtime-managed leases between real processes on a real redis-server: lease_holder
 * processes (tests/integration/lease_holder.c) keep one lease and print a JSON line with a
 * CLOCK_MONOTONIC time when they acquire or lose it.
 *   - one holder at a time, and a takeover after the holder is SIGKILLed within TTL + one
 *     renewal period (TTL / 3), and not before the killed holder's key could have lapsed;
 *   - the loss callback when Redis goes away (fired by the time the holding runs out) and
 *     when it restarts empty (the renewal finds the key gone), then the lease taken back.
 * The measured takeover and loss times are printed. Skipped when redis-server is not
 * installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "fixture.h"
#include "harness.h"
#include "run.h"
#include "yard/broker.h"

#define S_TTL_MS    900
#define S_PERIOD_MS (S_TTL_MS / 3)
/* Time a busy 2-core machine may take to schedule a process that is due to act. */
#define S_SLACK_MS 150

static struct {
    pid_t redis;
    int redis_port;
    char *redis_dir;
    char store[64];
    yard_broker_t *broker;
    int broker_port;
    char broker_ep[64];
} F;

typedef struct {
    char event[16];
    long long t_ms;
    long pid;
} s_ev_t;

static int
setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    F.redis = yh_redis_start(&F.redis_port, &F.redis_dir);
    if (F.redis < 0) {
        return 0; /* the tests skip */
    }
    snprintf(F.store, sizeof F.store, "redis://127.0.0.1:%d", F.redis_port);
    F.broker = yh_broker_start(&F.broker_port);
    snprintf(F.broker_ep, sizeof F.broker_ep, "%s", yh_endpoint(F.broker_port));
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    yard_broker_destroy(&F.broker);
    yh_redis_stop(F.redis, F.redis_dir); /* frees dir */
    F.redis = 0;
    F.redis_dir = NULL;
    return 0;
}

static yh_run_t *
s_holder(void)
{
    char ttl[32];
    snprintf(ttl, sizeof ttl, "--ttl-ms=%d", S_TTL_MS);
    return yh_run_startl("lease_holder", NULL, "--store", F.store, "--broker", F.broker_ep, ttl,
                         "--heartbeat-ms", "200", NULL);
}

/* The events r printed so far, in order; returns how many (at most max). */
static size_t
s_events(const yh_run_t *r, s_ev_t *out, size_t max)
{
    size_t n = 0;
    for (const char *p = r->out; p && *p && n < max;) {
        const char *nl = strchr(p, '\n');
        if (!nl) {
            break; /* a line still being written */
        }
        s_ev_t e = {0};
        if (sscanf(p, "{\"event\":\"%15[a-z]\",\"lease\":\"%*[^\"]\",\"t_ms\":%lld,\"pid\":%ld}",
                   e.event, &e.t_ms, &e.pid) == 3) {
            out[n++] = e;
        }
        p = nl + 1;
    }
    return n;
}

/* The i-th event of r when it is there. */
static bool
s_event_at(const yh_run_t *r, size_t i, s_ev_t *ev)
{
    s_ev_t evs[64];
    size_t n = s_events(r, evs, 64);
    if (i >= n) {
        return false;
    }
    *ev = evs[i];
    return true;
}

/* Pumps every run until run w has printed its i-th event (within timeout_ms); false when not. */
static bool
s_wait_event(yh_run_t **runs, size_t nruns, size_t w, size_t i, s_ev_t *ev, int timeout_ms)
{
    long long deadline = yh_now_ms() + timeout_ms;
    while (!s_event_at(runs[w], i, ev)) {
        long long left = deadline - yh_now_ms();
        if (left <= 0) {
            return false;
        }
        for (size_t k = 0; k < nruns; k++) {
            if (runs[k]) {
                yh_run_pump(runs[k], k == w ? (int)(left < 50 ? left : 50) : 0);
            }
        }
    }
    return true;
}

static size_t
s_count(const yh_run_t *r, const char *event)
{
    s_ev_t evs[64];
    size_t n = s_events(r, evs, 64), c = 0;
    for (size_t i = 0; i < n; i++) {
        c += strcmp(evs[i].event, event) == 0;
    }
    return c;
}

static void
s_dump(const yh_run_t *r)
{
    if (r) {
        fprintf(stderr, "--- lease_holder %d stdout:\n%s--- stderr:\n%s\n", (int)r->pid, r->out,
                r->err);
    }
}

/* Two holders: exactly one acquires; the other stays out for 3 TTLs of renewals; the holder is
 * SIGKILLed and the other takes over within TTL + one renewal period. Three rounds, a fresh
 * holder joining each time. */
static void
test_one_holder_and_takeover(void **state)
{
    (void)state;
    if (F.redis <= 0) {
        skip(); /* redis-server is not installed */
    }
    yh_run_t *runs[2] = {s_holder(), s_holder()};
    size_t seen[2] = {0, 0}; /* events of each run already accounted for */
    s_ev_t ev;
    /* whoever acquires first */
    long long deadline = yh_now_ms() + 15000;
    int holder = -1;
    while (holder < 0 && yh_now_ms() < deadline) {
        for (int k = 0; k < 2 && holder < 0; k++) {
            yh_run_pump(runs[k], 25);
            if (s_event_at(runs[k], 0, &ev)) {
                holder = k;
            }
        }
    }
    if (holder < 0) {
        s_dump(runs[0]);
        s_dump(runs[1]);
    }
    assert_true(holder >= 0);
    assert_string_equal(ev.event, "acquired");
    seen[holder] = 1;
    long long worst = 0, total = 0;
    for (int round = 0; round < 3; round++) {
        int other = 1 - holder;
        /* one holder at a time: for 3 TTLs the other gets nothing and the holder loses nothing */
        long long until = yh_now_ms() + 3 * S_TTL_MS;
        while (yh_now_ms() < until) {
            yh_run_pump(runs[0], 20);
            yh_run_pump(runs[1], 20);
        }
        if (s_count(runs[other], "acquired") != 0 || s_count(runs[holder], "lost") != 0) {
            s_dump(runs[0]);
            s_dump(runs[1]);
        }
        assert_int_equal(s_count(runs[other], "acquired"), 0);
        assert_int_equal(s_count(runs[holder], "lost"), 0);

        /* SIGKILL: nothing is released; the key lapses at most a TTL after the last renewal */
        long long killed = yh_now_ms();
        assert_int_equal(kill(runs[holder]->pid, SIGKILL), 0);
        bool took = s_wait_event(runs, 2, (size_t)other, seen[other], &ev, 10000);
        if (!took) {
            s_dump(runs[other]);
        }
        assert_true(took);
        assert_string_equal(ev.event, "acquired");
        long long took_ms = ev.t_ms - killed;
        fprintf(stderr,
                "takeover %d: %lld ms after SIGKILL (TTL %d, renewal %d: bound %d + slack %d)\n",
                round + 1, took_ms, S_TTL_MS, S_PERIOD_MS, S_TTL_MS + S_PERIOD_MS, S_SLACK_MS);
        /* not before the dead holder's key could lapse: its last renewal was at most one
         * period before the kill */
        assert_true(took_ms >= S_TTL_MS - S_PERIOD_MS - S_SLACK_MS);
        assert_true(took_ms <= S_TTL_MS + S_PERIOD_MS + S_SLACK_MS);
        worst = took_ms > worst ? took_ms : worst;
        total += took_ms;
        seen[other]++;

        /* a fresh process joins in place of the dead one */
        yh_run_wait(runs[holder], 5000);
        yh_run_destroy(&runs[holder]);
        runs[holder] = s_holder();
        seen[holder] = 0;
        holder = other;
    }
    fprintf(stderr, "takeover after SIGKILL: worst %lld ms, mean %lld ms over 3 (bound %d ms)\n",
            worst, total / 3, S_TTL_MS + S_PERIOD_MS);
    /* stopping the holder releases the lease at once: the other takes it within a period */
    long long stopped = yh_now_ms();
    assert_int_equal(kill(runs[holder]->pid, SIGTERM), 0);
    assert_true(s_wait_event(runs, 2, (size_t)(1 - holder), seen[1 - holder], &ev, 10000));
    assert_string_equal(ev.event, "acquired");
    fprintf(stderr, "takeover after SIGTERM (released on drain): %lld ms\n", ev.t_ms - stopped);
    assert_true(ev.t_ms - stopped <= S_PERIOD_MS + S_SLACK_MS + 1000 /* drain */);
    assert_int_equal(yh_run_wait(runs[holder], 10000), 0);
    assert_true(strstr(runs[holder]->out, "\"lost\"") != NULL); /* told on drain */
    yh_run_destroy(&runs[0]);
    yh_run_destroy(&runs[1]);
}

static pid_t
s_redis_restart(void)
{
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", F.redis_port);
    char logfile[4096];
    snprintf(logfile, sizeof logfile, "%s/redis.log", F.redis_dir);
    char *argv[] = {"redis-server", "--save", "",          "--appendonly", "no",        "--port",
                    port_s,         "--dir",  F.redis_dir, "--bind",       "127.0.0.1", "--logfile",
                    logfile,        NULL};
    pid_t pid = yh_spawn("redis-server", argv, NULL, F.redis_dir);
    assert_true(pid > 0);
    assert_true(yh_wait_port(F.redis_port, 10000));
    return pid;
}

/* The holder is told the moment the lease is lost when Redis goes away (at the end of the
 * holding's validity) and when Redis comes back empty (the renewal finds no key), and takes
 * the lease back once Redis answers again. */
static void
test_loss_on_redis_restart(void **state)
{
    (void)state;
    if (F.redis <= 0) {
        skip(); /* redis-server is not installed */
    }
    yh_run_t *runs[1] = {s_holder()};
    s_ev_t ev;
    if (!s_wait_event(runs, 1, 0, 0, &ev, 15000)) {
        s_dump(runs[0]);
        fail();
    }
    assert_string_equal(ev.event, "acquired");

    /* 1. Redis is killed and stays away: lost when the holding runs out, within a TTL */
    long long killed = yh_now_ms();
    assert_true(yh_stop(F.redis, SIGKILL, 5000) != -1);
    F.redis = -1;
    assert_true(s_wait_event(runs, 1, 0, 1, &ev, 10000));
    assert_string_equal(ev.event, "lost");
    long long lost_ms = ev.t_ms - killed;
    fprintf(stderr, "Redis down: loss reported %lld ms after the kill (TTL %d)\n", lost_ms,
            S_TTL_MS);
    assert_true(lost_ms <= S_TTL_MS + S_SLACK_MS);

    /* back: the lease is taken again */
    F.redis = s_redis_restart();
    assert_true(s_wait_event(runs, 1, 0, 2, &ev, 10000));
    assert_string_equal(ev.event, "acquired");

    /* 2. Redis restarts at once, empty: the next renewal finds the key gone */
    killed = yh_now_ms();
    assert_true(yh_stop(F.redis, SIGKILL, 5000) != -1);
    F.redis = s_redis_restart();
    assert_true(s_wait_event(runs, 1, 0, 3, &ev, 10000));
    assert_string_equal(ev.event, "lost");
    lost_ms = ev.t_ms - killed;
    fprintf(stderr, "Redis restarted empty: loss reported %lld ms after the kill\n", lost_ms);
    assert_true(lost_ms <= S_TTL_MS + S_SLACK_MS);
    assert_true(s_wait_event(runs, 1, 0, 4, &ev, 10000));
    assert_string_equal(ev.event, "acquired");

    assert_int_equal(kill(runs[0]->pid, SIGTERM), 0);
    assert_int_equal(yh_run_wait(runs[0], 10000), 0);
    yh_run_destroy(&runs[0]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_holder_and_takeover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loss_on_redis_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
