/* Two health replicas (two actors, as two processes would be) on one real redis-server: each
 * check runs once per interval however many replicas there are (counted at the target: one
 * request per interval, never two within half an interval), any replica answers status, and
 * when the replica holding the checks stops, the other takes them over (the released lease)
 * and the requests go on at the same pace. Skips without redis-server. */
#include "bus_json.h"
#include "fixture.h"
#include "harness.h"
#include "http_fake.h"
#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/registry.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_EVERY_MS 500
#define S_MAX_HITS 4096

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static long long s_hits[S_MAX_HITS];
static int s_nhits;

/* The target: records when each check's request arrives. */
static bool
s_record(const yh_http_fake_req_t *req, yh_http_reply_t *reply, void *arg)
{
    (void)req;
    (void)arg;
    pthread_mutex_lock(&s_lock);
    if (s_nhits < S_MAX_HITS) {
        s_hits[s_nhits++] = yh_now_ms();
    }
    pthread_mutex_unlock(&s_lock);
    *reply = (yh_http_reply_t){.status = 200, .body = "ok"};
    return true;
}

static int
s_count_since(long long from, long long to)
{
    int n = 0;
    pthread_mutex_lock(&s_lock);
    for (int i = 0; i < s_nhits; i++) {
        n += s_hits[i] >= from && s_hits[i] < to;
    }
    pthread_mutex_unlock(&s_lock);
    return n;
}

/* The shortest and the longest gap between requests arriving in [from, to). */
static void
s_gaps(long long from, long long to, long long *min_gap, long long *max_gap)
{
    *min_gap = 1000000;
    *max_gap = 0;
    long long prev = -1;
    pthread_mutex_lock(&s_lock);
    for (int i = 0; i < s_nhits; i++) {
        if (s_hits[i] < from || s_hits[i] >= to) {
            continue;
        }
        if (prev >= 0) {
            long long g = s_hits[i] - prev;
            *min_gap = g < *min_gap ? g : *min_gap;
            *max_gap = g > *max_gap ? g : *max_gap;
        }
        prev = s_hits[i];
    }
    pthread_mutex_unlock(&s_lock);
}

/* A measurement window: the test watches the target for this long (it waits for time to
 * pass, not for an event: the point is how many requests a span of time holds). */
static void
s_watch(int ms)
{
    long long end = yh_now_ms() + ms;
    while (yh_now_ms() < end) {
        usleep(20000);
    }
}

static void
test_once_per_interval(void **state)
{
    (void)state;
    int rport = 0;
    char *rdir = NULL;
    pid_t redis = yh_redis_start(&rport, &rdir);
    if (redis <= 0) {
        skip(); /* no redis-server */
    }
    yard_log_set_level(YARD_LOG_WARN);
    yh_http_fake_t *f = yh_http_fake_start();
    yh_http_fake_handler(f, s_record, NULL);
    char *dir = yh_tmpdir();
    char text[1024];
    snprintf(text, sizeof text,
             "store: redis://127.0.0.1:%d/0\n"
             "health:\n"
             "  checks:\n"
             "    - {name: site, http: '%s', every: %dms, timeout: 400ms}\n",
             rport, yh_http_fake_url(f, "/"), S_EVERY_MS);
    yard_config_t *cfg = yh_config_in(dir, text);
    int port = 0;
    yard_broker_t *broker = yh_broker_start(&port);
    char *flags[] = {"--heartbeat-ms=100", NULL};
    yard_actor_t *a = yh_actor_start(&yard_actor_health, cfg, port, flags);
    yard_actor_t *b = yh_actor_start(&yard_actor_health, cfg, port, flags);

    /* warm up: both replicas registered and the lease taken */
    long long end = yh_now_ms() + 15000;
    while (s_count_since(0, yh_now_ms() + 1) < 3) {
        assert_true(yh_now_ms() < end);
        usleep(20000);
    }
    long long t0 = yh_now_ms();
    s_watch(5000);
    int n = s_count_since(t0, t0 + 5000);
    long long min_gap, max_gap;
    s_gaps(t0, t0 + 5000, &min_gap, &max_gap);
    printf("two replicas, 5 s at every %d ms (jitter 10%%): %d requests, gaps %lld..%lld ms\n",
           S_EVERY_MS, n, min_gap, max_gap);
    /* 10 intervals; each replica alone would make 10, both unguarded 20 */
    assert_true(n >= 8 && n <= 12);
    assert_true(min_gap >= S_EVERY_MS / 2);

    /* any replica answers status: several calls, the broker spreads them over both */
    yard_client_t *c = NULL;
    assert_int_equal(yard_client_new(yh_endpoint(port), NULL, &c), 0);
    for (int i = 0; i < 6; i++) {
        yh_result_t r = yh_call_json_ready(c, "health", "status", NULL, NULL, 5000);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.json, "\"state\":\"up\""));
        yh_result_free(&r);
    }

    /* each replica stopped in turn (one of them holds the check): the other carries on */
    for (int round = 0; round < 2; round++) {
        yard_actor_t **stop = round == 0 ? &a : &b;
        yard_actor_destroy(stop);
        long long t1 = yh_now_ms();
        s_watch(3500);
        int m = s_count_since(t1 + 1000, t1 + 3500);
        s_gaps(t1 - 1000, t1 + 3500, &min_gap, &max_gap);
        printf("replica %c stopped: %d requests in the 2.5 s after its first second, gaps "
               "%lld..%lld ms\n",
               round == 0 ? 'a' : 'b', m, min_gap, max_gap);
        assert_true(m >= 4 && m <= 6);
        assert_true(min_gap >= S_EVERY_MS / 2);
        assert_true(max_gap < 2000); /* a released lease is taken at the next try (ttl / 3) */
        *stop = yh_actor_start(&yard_actor_health, cfg, port, flags);
    }
    yard_client_destroy(&c);
    yard_actor_destroy(&a);
    yard_actor_destroy(&b);
    yard_broker_destroy(&broker);
    yard_config_destroy(&cfg);
    yh_http_fake_stop(&f);
    yh_rmtree(dir);
    free(dir);
    yh_redis_stop(redis, rdir);
}

int
main(void)
{
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_once_per_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
