/* The dns actor's state and leases on a real redis-server (skipped without one): two actors
 * on one store update each record once, even with an update held in flight while the other
 * runs its cycle; an actor that restarts between cycles does not update again; a record held
 * for a bad password stays held across a restart until the configuration changes. Each actor
 * is a yard/actor_test.h replica on the same Redis, as two processes would be. */
#include "dns_internal.h"

#include "cloudflare_fake.h"
#include "dyndns2_fake.h"
#include "fixture.h"
#include "harness.h"
#include "ipecho_fake.h"

#include "yard/actor_test.h"
#include "yard/client.h"
#include "yard/msg.h"
#include "yard/error.h"
#include "yard/json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

extern const yard_actor_def_t yard_actor_dns;

#define S_INTERVAL 300000
#define S_RUN_MS   15000

static struct {
    pid_t redis;
    char *dir;
    int port;
} F;

typedef struct {
    yard_actor_test_t *t;
    uint64_t want;
} s_wait_t;

static dns_t *
s_state(yard_actor_test_t *t)
{
    return yard_ctx_state(yard_actor_test_ctx(t));
}

static bool
s_cycles_reached(void *arg)
{
    s_wait_t *w = arg;
    return s_state(w->t)->cycles >= w->want && !s_state(w->t)->cycle;
}

static void
s_run_cycles(yard_actor_test_t *t, uint64_t want)
{
    s_wait_t w = {t, want};
    assert_int_equal(yard_actor_test_run(t, S_RUN_MS, s_cycles_reached, &w), 0);
}

static void
s_next_cycle(yard_actor_test_t *t)
{
    uint64_t want = s_state(t)->cycles + 1;
    yard_actor_test_advance(t, S_INTERVAL * 6 / 5);
    s_run_cycles(t, want);
}

static bool
s_held2(void *arg)
{
    return yh_dyndns2_waiting(arg) >= 2;
}

/* Two dyndns2 records (names unique to the test: the Redis is shared by the tests). */
static char *
s_config_iv(yh_ipecho_t *echo, yh_dyndns2_t *dyn, const char *prefix, const char *password,
            const char *interval, const char *min_interval)
{
    char *yaml = malloc(4096);
    snprintf(yaml, 4096,
             "store: redis://127.0.0.1:%d\n"
             "dns:\n"
             "  interval: %s\n"
             "  min_interval: %s\n"
             "  ip:\n"
             "    v4: {web: ['%s']}\n"
             "  records:\n"
             "    - {name: %s-a.example.com, provider: dyndns2, server: '%s', username: me,\n"
             "       password: '%s'}\n"
             "    - {name: %s-b.example.com, provider: dyndns2, server: '%s', username: me,\n"
             "       password: '%s'}\n",
             F.port, interval, min_interval, yh_ipecho_url(echo), prefix, yh_dyndns2_url(dyn),
             password, prefix, yh_dyndns2_url(dyn), password);
    return yaml;
}

static char *
s_config(yh_ipecho_t *echo, yh_dyndns2_t *dyn, const char *prefix, const char *password)
{
    return s_config_iv(echo, dyn, prefix, password, "5m", "1m");
}

static yard_actor_test_t *
s_start(const char *yaml)
{
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&yard_actor_dns, yaml, &t), 0);
    return t;
}

#define S_NEED_REDIS()                                                                             \
    do {                                                                                           \
        if (F.redis <= 0) {                                                                        \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* Replica A's updates are held in flight (the provider is slow) while replica B runs its
 * cycle: B finds both leases taken and calls nobody. Once A's answers arrive, later cycles of
 * both make no call; an address change is updated once per record, by whichever comes first. */
static void
t_two_replicas_update_each_record_once(void **state)
{
    (void)state;
    S_NEED_REDIS();
    yh_ipecho_t *echo = yh_ipecho_start();
    yh_dyndns2_t *dyn = yh_dyndns2_start("me", "pw");
    yh_dyndns2_add_host(dyn, "two-a.example.com");
    yh_dyndns2_add_host(dyn, "two-b.example.com");
    char *yaml = s_config(echo, dyn, "two", "pw");
    yard_actor_test_t *a = s_start(yaml), *b = s_start(yaml);

    yh_dyndns2_hold(dyn, true);
    assert_int_equal(yard_actor_test_run(a, S_RUN_MS, s_held2, dyn), 0);
    assert_int_equal(yh_dyndns2_calls(dyn), 2);
    s_run_cycles(b, 1); /* B's first cycle, with A's two updates in flight */
    assert_int_equal(yh_dyndns2_calls(dyn), 2);
    int err = 0;
    yh_dyndns2_hold(dyn, false);
    yh_dyndns2_release(dyn);
    s_run_cycles(a, 1);
    char buf[64];
    assert_string_equal(yh_dyndns2_addr(dyn, "two-a.example.com", buf, sizeof buf), "1.2.3.4");
    assert_string_equal(yh_dyndns2_addr(dyn, "two-b.example.com", buf, sizeof buf), "1.2.3.4");
    for (int i = 0; i < 5; i++) {
        s_next_cycle(a);
        s_next_cycle(b);
    }
    assert_int_equal(yh_dyndns2_calls(dyn), 2);
    (void)err;

    yh_ipecho_set(echo, 200, "5.6.7.8");
    s_next_cycle(b);
    s_next_cycle(a);
    s_next_cycle(b);
    s_next_cycle(a);
    assert_int_equal(yh_dyndns2_calls(dyn), 4);
    assert_string_equal(yh_dyndns2_addr(dyn, "two-b.example.com", buf, sizeof buf), "5.6.7.8");
    assert_int_equal(s_state(a)->provider_calls + s_state(b)->provider_calls, 4);

    /* Any replica answers status, from the store: A sees what B set. */
    yard_request_t *req = yard_actor_test_call(a, "status", NULL, 0);
    const void *out;
    size_t size;
    assert_int_equal(yard_request_outcome_test(req, &out, &size, NULL), 0);
    char *json = NULL;
    assert_int_equal(yard_json_from_msgpack(out, size, &json, NULL, NULL, 0), 0);
    assert_non_null(strstr(json, "\"name\":\"two-b.example.com\",\"type\":\"A\",\"provider\":"
                                 "\"dyndns2\",\"address\":\"5.6.7.8\""));
    free(json);
    yard_request_destroy_test(&req);
    yard_actor_test_destroy(&a);
    yard_actor_test_destroy(&b);
    free(yaml);
    yh_dyndns2_stop(&dyn);
    yh_ipecho_stop(&echo);
}

/* A restart between cycles: the new actor reads what the provider has from the store and
 * calls nobody; it updates only on a change. */
static void
t_restart_does_not_update_again(void **state)
{
    (void)state;
    S_NEED_REDIS();
    yh_ipecho_t *echo = yh_ipecho_start();
    yh_dyndns2_t *dyn = yh_dyndns2_start("me", "pw");
    yh_dyndns2_add_host(dyn, "rs-a.example.com");
    yh_dyndns2_add_host(dyn, "rs-b.example.com");
    char *yaml = s_config(echo, dyn, "rs", "pw");
    yard_actor_test_t *t = s_start(yaml);
    s_run_cycles(t, 1);
    s_next_cycle(t);
    assert_int_equal(yh_dyndns2_calls(dyn), 2);
    yard_actor_test_destroy(&t);

    t = s_start(yaml); /* the restart: its first cycle runs at once */
    s_run_cycles(t, 1);
    for (int i = 0; i < 3; i++) {
        s_next_cycle(t);
    }
    assert_int_equal(yh_dyndns2_calls(dyn), 2);
    yh_ipecho_set(echo, 200, "5.6.7.8");
    s_next_cycle(t);
    assert_int_equal(yh_dyndns2_calls(dyn), 4);
    yard_actor_test_destroy(&t);
    free(yaml);
    yh_dyndns2_stop(&dyn);
    yh_ipecho_stop(&echo);
}

/* badauth holds the records until their configuration changes: a restart with the same
 * configuration calls nobody; one with another password tries again. */
static void
t_badauth_hold_survives_restart_until_config_changes(void **state)
{
    (void)state;
    S_NEED_REDIS();
    yh_ipecho_t *echo = yh_ipecho_start();
    yh_dyndns2_t *dyn = yh_dyndns2_start("me", "right-pw");
    yh_dyndns2_add_host(dyn, "ba-a.example.com");
    yh_dyndns2_add_host(dyn, "ba-b.example.com");
    char *wrong = s_config(echo, dyn, "ba", "wrong-pw");
    yard_actor_test_t *t = s_start(wrong);
    s_run_cycles(t, 1);
    assert_int_equal(yh_dyndns2_calls(dyn), 2); /* badauth, twice */
    yard_actor_test_destroy(&t);
    t = s_start(wrong);
    s_run_cycles(t, 1);
    s_next_cycle(t);
    assert_int_equal(yh_dyndns2_calls(dyn), 2); /* still held */
    yard_actor_test_destroy(&t);
    char *right = s_config(echo, dyn, "ba", "right-pw");
    t = s_start(right);
    s_run_cycles(t, 1);
    assert_int_equal(yh_dyndns2_calls(dyn), 4);
    char buf[64];
    assert_string_equal(yh_dyndns2_addr(dyn, "ba-a.example.com", buf, sizeof buf), "1.2.3.4");
    yard_actor_test_destroy(&t);
    free(wrong);
    free(right);
    yh_dyndns2_stop(&dyn);
    yh_ipecho_stop(&echo);
}

typedef struct {
    yh_dyndns2_t *dyn;
    const char *addr;
} s_both_t;

static bool
s_both_have(const s_both_t *w)
{
    char a[64], b[64];
    yh_dyndns2_addr(w->dyn, "rt-a.example.com", a, sizeof a);
    yh_dyndns2_addr(w->dyn, "rt-b.example.com", b, sizeof b);
    return strcmp(a, w->addr) == 0 && strcmp(b, w->addr) == 0;
}

/* Waits (real time, polling with a deadline) until both records have addr. */
static void
s_wait_both(yh_dyndns2_t *dyn, const char *addr)
{
    s_both_t w = {dyn, addr};
    long long deadline = yh_now_ms() + 20000;
    while (!s_both_have(&w) && yh_now_ms() < deadline) {
        usleep(20000);
    }
    assert_true(s_both_have(&w));
}

/* The same in real time: a broker and two actor processes' worth of replicas (2 x 2 threads),
 * cycling every 200 ms (+-20 %) on one Redis, so their cycles race. Each record is updated
 * once, and once more after a change; the extra cycles call nobody. */
static void
t_real_time_replicas(void **state)
{
    (void)state;
    S_NEED_REDIS();
    yh_ipecho_t *echo = yh_ipecho_start();
    yh_dyndns2_t *dyn = yh_dyndns2_start("me", "pw");
    yh_dyndns2_add_host(dyn, "rt-a.example.com");
    yh_dyndns2_add_host(dyn, "rt-b.example.com");
    char *yaml = s_config_iv(echo, dyn, "rt", "pw", "200ms", "0");
    char *dir = yh_tmpdir();
    yard_config_t *cfg = yh_config_in(dir, yaml);
    int port = 0;
    yard_broker_t *broker = yh_broker_start(&port);
    char *argv[] = {"--replicas=2", NULL};
    yard_actor_t *a = yh_actor_start(&yard_actor_dns, cfg, port, argv);
    yard_actor_t *b = yh_actor_start(&yard_actor_dns, cfg, port, argv);
    s_wait_both(dyn, "1.2.3.4");
    long long until = yh_now_ms() + 1500; /* ~7 cycles of each replica */
    while (yh_now_ms() < until) {
        usleep(50000);
    }
    assert_int_equal(yh_dyndns2_calls(dyn), 2);
    yh_ipecho_set(echo, 200, "5.6.7.8");
    s_wait_both(dyn, "5.6.7.8");
    until = yh_now_ms() + 1500;
    while (yh_now_ms() < until) {
        usleep(50000);
    }
    assert_int_equal(yh_dyndns2_calls(dyn), 4);
    /* Every replica answers status through the bus, from the store. */
    yard_client_t *c = NULL;
    assert_int_equal(yard_client_new(yh_endpoint(port), NULL, &c), 0);
    yard_call_opts_t co = {.op = "status", .timeout_ms = 5000};
    for (int i = 0; i < 8; i++) {
        yard_msg_t *reply = NULL;
        assert_int_equal(yard_client_call(c, "dns", NULL, 0, &co, &reply), 0);
        size_t size = 0;
        const void *body = yard_msg_body(reply, &size);
        char *json = NULL;
        assert_int_equal(yard_json_from_msgpack(body, size, &json, NULL, NULL, 0), 0);
        assert_non_null(strstr(json, "\"name\":\"rt-a.example.com\",\"type\":\"A\","
                                     "\"provider\":\"dyndns2\",\"address\":\"5.6.7.8\""));
        assert_non_null(strstr(json, "\"name\":\"rt-b.example.com\",\"type\":\"A\","
                                     "\"provider\":\"dyndns2\",\"address\":\"5.6.7.8\""));
        free(json);
        yard_msg_destroy(&reply);
    }
    yard_client_destroy(&c);
    yard_actor_destroy(&a);
    yard_actor_destroy(&b);
    yard_broker_destroy(&broker);
    yard_config_destroy(&cfg);
    yh_rmtree(dir);
    free(dir);
    free(yaml);
    yh_dyndns2_stop(&dyn);
    yh_ipecho_stop(&echo);
}

static int
s_setup(void **state)
{
    (void)state;
    F.redis = yh_redis_start(&F.port, &F.dir);
    if (F.redis <= 0) {
        fprintf(stderr, "redis-server not available: skipping\n");
    }
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    if (F.redis > 0) {
        yh_redis_stop(F.redis, F.dir);
    }
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_two_replicas_update_each_record_once),
        cmocka_unit_test(t_restart_does_not_update_again),
        cmocka_unit_test(t_badauth_hold_survives_restart_until_config_changes),
        cmocka_unit_test(t_real_time_replicas),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
