/* Several brokers: publications reach a subscriber exactly once whichever broker the
 * publisher uses, clients spread over the brokers they are given, a replica serving two
 * brokers never holds more than its credit in total and its credit follows the load, and
 * publications made while a client reconnects are sent once it is back. Every wait polls
 * with a deadline. */
#include "fixture.h"
#include "harness.h"
#include "test_broker_util.h"
#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define S_HB   200
#define S_WAIT 5000
#define S_SEQ  50

/* --- an actor whose replicas hold every request until the test lets it go ------------------ */

#define S_HELD_MAX 256

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static yard_deferred_t *s_held[S_HELD_MAX];
static int s_nheld, s_max_held;

static int
s_op_hold(yard_request_t *req, void *state)
{
    (void)state;
    yard_deferred_t *d = yard_request_defer(req);
    pthread_mutex_lock(&s_lock);
    assert_true(s_nheld < S_HELD_MAX);
    s_held[s_nheld++] = d;
    if (s_nheld > s_max_held) {
        s_max_held = s_nheld;
    }
    pthread_mutex_unlock(&s_lock);
    return 0;
}

static int
s_op_echo(yard_request_t *req, void *state)
{
    (void)state;
    size_t size;
    const void *body = yard_request_body(req, &size);
    return yard_request_reply(req, body, size);
}

static const yard_handler_def_t s_handlers[] = {
    {"hold", s_op_hold, "held until the test answers"},
    {NULL, s_op_echo, "echoes"},
    {NULL, NULL, NULL},
};

static const yard_actor_def_t s_def = {.name = "multi",
                                       .description = "several-broker test actor",
                                       .handlers = s_handlers,
                                       .credit = 4};

static int
s_held_now(void)
{
    pthread_mutex_lock(&s_lock);
    int n = s_nheld;
    pthread_mutex_unlock(&s_lock);
    return n;
}

/* Answers everything held. Returns how many. */
static int
s_release(void)
{
    pthread_mutex_lock(&s_lock);
    int n = s_nheld;
    for (int i = 0; i < n; i++) {
        assert_int_equal(yard_deferred_reply(&s_held[i], "ok", 2), 0);
    }
    s_nheld = 0;
    pthread_mutex_unlock(&s_lock);
    return n;
}

/* --- fixtures ------------------------------------------------------------------------------ */

static yard_client_t *
s_client(const char *brokers, bool in_order)
{
    yard_client_opts_t o = {.heartbeat_ms = S_HB, .default_timeout_ms = 3000, .in_order = in_order};
    yard_client_t *c = NULL;
    assert_int_equal(yard_client_new(brokers, &o, &c), 0);
    return c;
}

static yard_actor_t *
s_actor(const char *brokers)
{
    yard_actor_opts_t o = {
        .broker = (char *)brokers, .replicas = 1, .heartbeat_ms = S_HB, .drain_ms = 1000};
    yard_actor_t *a = NULL;
    assert_int_equal(yard_actor_start(&s_def, &o, NULL, &a), 0);
    return a;
}

/* Two brokers, and their list "A,B" in both. */
static void
s_two_brokers(tb_env_t *a, tb_env_t *b, char *both, size_t cap)
{
    tb_start(a, NULL);
    tb_start(b, NULL);
    snprintf(both, cap, "%s,%s", a->endpoint, b->endpoint);
}

/* Calls op on service until it answers, up to a deadline. Returns the last status. */
static int
s_call_until_up(yard_client_t *c, const char *service)
{
    long long until = yh_now_ms() + S_WAIT;
    yard_call_opts_t co = {.timeout_ms = 500};
    int rc;
    do {
        rc = yard_client_call(c, service, "x", 1, &co, NULL);
    } while (rc != 0 && yh_now_ms() < until);
    return rc;
}

typedef struct {
    int seen[2][S_SEQ];
    int probes;
    int total;
} s_got_t;

static void
s_on_pub(const yard_msg_t *m, void *arg)
{
    s_got_t *g = arg;
    size_t size;
    const char *bytes = yard_msg_body(m, &size);
    char body[32] = ""; /* a body is not NUL-terminated */
    memcpy(body, bytes, size < sizeof body - 1 ? size : sizeof body - 1);
    int from, seq;
    g->total++;
    if (size == 5 && memcmp(body, "probe", 5) == 0) {
        g->probes++;
    } else if (sscanf(body, "%d:%d", &from, &seq) == 2 && from >= 0 && from < 2 && seq >= 0 &&
               seq < S_SEQ) {
        g->seen[from][seq]++;
    }
}

/* Publishes probes through pub until sub has one, dispatching both. */
static void
s_probe(yard_client_t *pub, yard_client_t *sub, s_got_t *g)
{
    long long until = yh_now_ms() + S_WAIT;
    int before = g->probes;
    while (g->probes == before && yh_now_ms() < until) {
        assert_int_equal(yard_client_publish(pub, "multi.events", "probe", 5), 0);
        yard_client_dispatch(pub, 0);
        yard_client_dispatch(sub, 50);
    }
    assert_true(g->probes > before);
}

/* --- tests --------------------------------------------------------------------------------- */

static void
test_publications_reach_subscribers_once_from_any_broker(void **state)
{
    (void)state;
    tb_env_t a, b;
    char both[256];
    s_two_brokers(&a, &b, both, sizeof both);
    snprintf(both, sizeof both, "%s,%s", b.endpoint, a.endpoint); /* B first, as in the bug */
    yard_client_t *sub = s_client(both, true);
    s_got_t g = {0};
    assert_int_equal(yard_client_subscribe(sub, "multi.>", s_on_pub, &g), 0);
    yard_client_t *pub[2] = {s_client(a.endpoint, true), s_client(b.endpoint, true)};
    s_probe(pub[0], sub, &g);
    s_probe(pub[1], sub, &g);
    for (int seq = 0; seq < S_SEQ; seq++) {
        for (int from = 0; from < 2; from++) {
            char body[32];
            int n = snprintf(body, sizeof body, "%d:%d", from, seq);
            assert_int_equal(yard_client_publish(pub[from], "multi.events", body, (size_t)n), 0);
        }
    }
    long long until = yh_now_ms() + S_WAIT;
    int want = g.total + 2 * S_SEQ;
    while (g.total < want && yh_now_ms() < until) {
        yard_client_dispatch(pub[0], 0);
        yard_client_dispatch(pub[1], 0);
        yard_client_dispatch(sub, 50);
    }
    yard_client_dispatch(sub, 100); /* a duplicate would arrive by now */
    for (int from = 0; from < 2; from++) {
        for (int seq = 0; seq < S_SEQ; seq++) {
            assert_int_equal(g.seen[from][seq], 1);
        }
    }
    yard_client_destroy(&pub[0]);
    yard_client_destroy(&pub[1]);
    yard_client_destroy(&sub);
    tb_stop(&a);
    tb_stop(&b);
}

static void
test_clients_spread_over_brokers(void **state)
{
    (void)state;
    tb_env_t a, b;
    char both[256];
    s_two_brokers(&a, &b, both, sizeof both);
    yard_actor_t *actor = s_actor(both);
    enum { N = 24 };
    yard_client_t *c[N];
    int on_a = 0;
    for (int i = 0; i < N; i++) {
        c[i] = s_client(both, false);
        assert_int_equal(s_call_until_up(c[i], "multi"), 0);
        yard_client_state_t st;
        yard_client_state(c[i], &st);
        assert_true(st.connected);
        on_a += strcmp(st.endpoint, a.endpoint) == 0;
    }
    /* Each broker served some: the chance that 24 random starts all pick one is 2^-23. */
    void *peer = tb_peer(&a);
    assert_true(tb_stat(&a, peer, "multi", "requests") > 0);
    zmq_close(peer);
    peer = tb_peer(&b);
    assert_true(tb_stat(&b, peer, "multi", "requests") > 0);
    zmq_close(peer);
    assert_true(on_a > 0 && on_a < N);
    for (int i = 0; i < N; i++) {
        yard_client_destroy(&c[i]);
    }
    yard_actor_destroy(&actor);
    tb_stop(&a);
    tb_stop(&b);
}

typedef struct {
    int done, ok;
} s_tally_t;

static void
s_tally(const yard_msg_t *m, void *arg)
{
    s_tally_t *t = arg;
    t->done++;
    t->ok += yard_msg_status(m) == 0;
}

/* Waits, dispatching the clients, until pred holds or the deadline passes. */
static bool
s_until(yard_client_t **c, int n, bool (*pred)(void *), void *arg)
{
    long long until = yh_now_ms() + S_WAIT;
    while (!pred(arg) && yh_now_ms() < until) {
        for (int i = 0; i < n; i++) {
            yard_client_dispatch(c[i], i + 1 == n ? 10 : 0);
        }
    }
    return pred(arg);
}

static bool
s_held_is(void *arg)
{
    return s_held_now() == *(int *)arg;
}

static bool
s_done_is(void *arg)
{
    s_tally_t *t = arg;
    return t->done == t->ok && t->done == 40;
}

/* Sends n calls to op hold through c, each tallied in t. */
static void
s_hold_calls(yard_client_t *c, int n, int timeout_ms, s_tally_t *t)
{
    yard_call_opts_t co = {.op = "hold", .timeout_ms = timeout_ms};
    for (int i = 0; i < n; i++) {
        assert_int_equal(yard_client_call_async(c, "multi", "x", 1, &co, s_tally, t), 0);
    }
}

/* Answers what the replica holds while both clients dispatch, until t has `total` answers,
 * checking all along that the replica never holds more than its credit (4). */
static void
s_release_until_done(yard_client_t **c, s_tally_t *t, int total)
{
    long long until = yh_now_ms() + 3 * S_WAIT;
    while (t->done < total && yh_now_ms() < until) {
        s_release();
        yard_client_dispatch(c[0], 0);
        yard_client_dispatch(c[1], 5);
        assert_true(s_held_now() <= 4);
    }
}

static void
test_replica_credit_is_shared_over_brokers(void **state)
{
    (void)state;
    tb_env_t a, b;
    char both[256];
    s_two_brokers(&a, &b, both, sizeof both);
    yard_actor_t *actor = s_actor(both); /* credit 4: 2 for each broker at first */
    yard_client_t *c[2] = {s_client(a.endpoint, true), s_client(b.endpoint, true)};
    assert_int_equal(s_call_until_up(c[0], "multi"), 0);
    assert_int_equal(s_call_until_up(c[1], "multi"), 0);
    pthread_mutex_lock(&s_lock);
    s_max_held = 0;
    pthread_mutex_unlock(&s_lock);
    /* Load on broker B only: the credit moves to it, until the replica holds all 4. */
    s_tally_t t = {0};
    s_hold_calls(c[1], 20, 4000, &t);
    int four = 4;
    assert_true(s_until(c, 2, s_held_is, &four));
    /* Now both brokers press: the replica never holds more than its credit. */
    s_hold_calls(c[0], 20, 4000, &t);
    s_release_until_done(c, &t, 40);
    assert_true(s_done_is(&t));
    pthread_mutex_lock(&s_lock);
    assert_int_equal(s_max_held, 4);
    pthread_mutex_unlock(&s_lock);
    yard_client_destroy(&c[0]);
    yard_client_destroy(&c[1]);
    yard_actor_destroy(&actor);
    tb_stop(&a);
    tb_stop(&b);
}

/* A broker at a given endpoint (tb_start picks a free port): the one that comes back. */
static void
s_start_at(tb_env_t *env, const char *endpoint)
{
    memset(env, 0, sizeof *env);
    env->ctx = zmq_ctx_new();
    env->codec = yard_codec_new();
    yard_broker_opts_t o = {.bind = (char *)endpoint, .heartbeat_ms = S_HB};
    long long until = yh_now_ms() + S_WAIT;
    int rc;
    do { /* the port may linger a moment after the first broker closed it */
        rc = yard_broker_new(&o, env->ctx, &env->broker);
        rc = rc == 0 ? yard_broker_start(env->broker) : rc;
        if (rc != 0) {
            yard_broker_destroy(&env->broker);
            zmq_poll(NULL, 0, 20);
        }
    } while (rc != 0 && yh_now_ms() < until);
    assert_int_equal(rc, 0);
    snprintf(env->endpoint, sizeof env->endpoint, "%s", endpoint);
}

static bool
s_disconnected(void *arg)
{
    yard_client_state_t st;
    yard_client_state(arg, &st);
    return !st.connected;
}

static void
test_publications_wait_while_reconnecting(void **state)
{
    (void)state;
    tb_env_t a;
    tb_start(&a, NULL);
    char *ep = strdup(a.endpoint);
    yard_client_t *pub = s_client(ep, true);
    s_got_t g = {0};
    yard_client_t *sub = s_client(ep, true);
    assert_int_equal(yard_client_subscribe(sub, "multi.>", s_on_pub, &g), 0);
    s_probe(pub, sub, &g);
    long long until = yh_now_ms() + S_WAIT;
    while (s_disconnected(pub) && yh_now_ms() < until) { /* its CONNECTED seen */
        yard_client_dispatch(pub, 20);
    }
    assert_false(s_disconnected(pub));
    /* The broker goes away: the publisher notices, and what it publishes now waits. */
    tb_stop(&a);
    until = yh_now_ms() + S_WAIT;
    while (!s_disconnected(pub) && yh_now_ms() < until) {
        yard_client_dispatch(pub, 20);
    }
    assert_true(s_disconnected(pub));
    for (int seq = 0; seq < S_SEQ; seq++) {
        char body[32];
        int n = snprintf(body, sizeof body, "0:%d", seq);
        assert_int_equal(yard_client_publish(pub, "multi.events", body, (size_t)n), 0);
    }
    yard_client_state_t st;
    yard_client_state(pub, &st);
    assert_int_equal(st.publications_waiting, S_SEQ);
    /* The buffer is bounded: past 10000 a publication is refused, and counted. */
    int filled = 0, rc = 0;
    while (filled < 20000 && (rc = yard_client_publish(pub, "multi.fill", "f", 1)) == 0) {
        filled++;
    }
    assert_int_equal(rc, YARD_E_OVERLOADED);
    assert_int_equal(filled + S_SEQ, 10000);
    yard_client_state(pub, &st);
    assert_int_equal(st.publications_dropped, 1);
    /* The broker comes back; the subscriber renews its subscription before the publisher is
     * given a chance to send (it only moves when dispatched). */
    tb_env_t back;
    s_start_at(&back, ep);
    void *peer = tb_peer(&back);
    until = yh_now_ms() + S_WAIT;
    while (tb_stat(&back, peer, NULL, "subscribers") != 1 && yh_now_ms() < until) {
        yard_client_dispatch(sub, 20);
    }
    zmq_close(peer);
    until = yh_now_ms() + S_WAIT;
    int want = g.total + S_SEQ + filled;
    while (g.total < want && yh_now_ms() < until) {
        yard_client_dispatch(pub, 0);
        yard_client_dispatch(sub, 20);
    }
    for (int seq = 0; seq < S_SEQ; seq++) {
        assert_int_equal(g.seen[0][seq], 1);
    }
    yard_client_state(pub, &st);
    assert_int_equal(st.publications_waiting, 0);
    assert_int_equal(st.publications_dropped, 1);
    assert_int_equal(g.total, want);
    yard_client_destroy(&pub);
    yard_client_destroy(&sub);
    tb_stop(&back);
    free(ep);
}

/* A broker of the list is down: the replica's READY waits for the connection, so that broker's
 * share of the credit is not parked there while requests wait at the live one (the replica
 * served at half its credit for as long as the other broker stayed away); once that broker
 * is up it gets credit as any other, and the replica still never holds more than its credit. */
static void
test_credit_is_not_parked_at_a_dead_broker(void **state)
{
    (void)state;
    tb_env_t a, b;
    tb_start(&a, NULL);
    char dead[64], both[256];
    snprintf(dead, sizeof dead, "%s", yh_endpoint(yh_free_port()));
    snprintf(both, sizeof both, "%s,%s", a.endpoint, dead);
    yard_actor_t *actor = s_actor(both); /* credit 4 over two brokers */
    yard_client_t *c[2] = {s_client(a.endpoint, true), NULL};
    assert_int_equal(s_call_until_up(c[0], "multi"), 0);
    s_tally_t t = {0};
    s_hold_calls(c[0], 20, 6000, &t);
    int four = 4;
    assert_true(s_until(c, 1, s_held_is, &four));

    s_start_at(&b, dead);
    c[1] = s_client(dead, true);
    s_hold_calls(c[1], 20, 6000, &t);
    s_release_until_done(c, &t, 40);
    assert_true(s_done_is(&t)); /* the calls through the broker that came up were served */
    yard_client_destroy(&c[0]);
    yard_client_destroy(&c[1]);
    yard_actor_destroy(&actor);
    tb_stop(&a);
    tb_stop(&b);
}

static void
test_broker_restart_is_not_a_no_service_burst(void **state)
{
    (void)state;
    tb_env_t a;
    tb_start(&a, NULL);
    char *ep = strdup(a.endpoint);
    yard_actor_t *actor = s_actor(ep);
    yard_client_t *c = s_client(ep, true);
    assert_int_equal(s_call_until_up(c, "multi"), 0);
    tb_stop(&a);
    tb_env_t back;
    s_start_at(&back, ep);
    /* At once, before the replica found the new broker: the broker's start-up grace holds
     * the calls until it registers again (within its reconnect interval), so none of them is
     * answered NO_SERVICE. The client may see its connection drop: the calls are idempotent. */
    yard_call_opts_t co = {.timeout_ms = 3000, .flags = YARD_FLAG_IDEMPOTENT};
    for (int i = 0; i < 20; i++) {
        int rc = yard_client_call(c, "multi", "x", 1, &co, NULL);
        assert_int_not_equal(rc, YARD_E_NO_SERVICE);
        assert_int_equal(rc, 0);
    }
    void *peer = tb_peer(&back);
    assert_int_equal(tb_stat(&back, peer, NULL, "error.NO_SERVICE"), 0);
    zmq_close(peer);
    yard_client_destroy(&c);
    yard_actor_destroy(&actor);
    tb_stop(&back);
    free(ep);
}

static void
test_a_publisher_leaves_a_silent_broker(void **state)
{
    (void)state;
    /* The first broker accepts the connection and then says nothing (a cut link, a frozen
     * process): a client that only publishes must notice as one with calls would, and move
     * on, or its publications pour into a dead connection. */
    void *zctx = zmq_ctx_new();
    void *silent = zmq_socket(zctx, ZMQ_ROUTER);
    char silent_ep[64];
    snprintf(silent_ep, sizeof silent_ep, "%s", yh_endpoint(yh_free_port()));
    assert_int_equal(zmq_bind(silent, silent_ep), 0);
    tb_env_t real;
    tb_start(&real, NULL);
    char both[256];
    snprintf(both, sizeof both, "%s,%s", silent_ep, real.endpoint);
    yard_client_t *pub = s_client(both, true);
    yard_client_t *sub = s_client(real.endpoint, true);
    s_got_t g = {0};
    assert_int_equal(yard_client_subscribe(sub, "multi.>", s_on_pub, &g), 0);
    long long until = yh_now_ms() + S_WAIT;
    int seq = 0;
    while (g.total == 0 && yh_now_ms() < until) {
        char body[32];
        int n = snprintf(body, sizeof body, "0:%d", seq++ % S_SEQ);
        assert_int_equal(yard_client_publish(pub, "multi.events", body, (size_t)n), 0);
        yard_client_dispatch(pub, 0);
        yard_client_dispatch(sub, 20);
    }
    assert_true(g.total > 0);
    yard_client_state_t st;
    yard_client_state(pub, &st);
    assert_string_equal(st.endpoint, real.endpoint);
    yard_client_destroy(&pub);
    yard_client_destroy(&sub);
    tb_stop(&real);
    zmq_close(silent);
    zmq_ctx_term(zctx);
}

static int
s_setup(void **state)
{
    (void)state;
    yard_log_set_level(YARD_LOG_ERROR);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publications_reach_subscribers_once_from_any_broker),
        cmocka_unit_test(test_clients_spread_over_brokers),
        cmocka_unit_test(test_replica_credit_is_shared_over_brokers),
        cmocka_unit_test(test_credit_is_not_parked_at_a_dead_broker),
        cmocka_unit_test(test_publications_wait_while_reconnecting),
        cmocka_unit_test(test_broker_restart_is_not_a_no_service_burst),
        cmocka_unit_test(test_a_publisher_leaves_a_silent_broker),
    };
    return cmocka_run_group_tests(tests, s_setup, NULL);
}
