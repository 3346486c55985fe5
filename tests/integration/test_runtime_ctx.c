/* The replica context end to end, through a real broker in this process on a free TCP port (and
 * over inproc, as `yard up`): a timer's events reach a subscriber, drain stops the timers at once
 * (no callback after it starts), a loop source keeps the drain going while busy, and is destroyed
 * (answering the request it held) before fini. Every wait polls a client with a deadline. */
#include "harness.h"
#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/loop.h"
#include "yard/timer.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_HB       100
#define S_TICK_MS  20
#define S_LINGER   150 /* how long the source stays busy once draining: ~7 tick periods */
#define S_TRAIL_SZ 128

/* --- "ticker": publishes a counter every S_TICK_MS; holds requests in its source ---------- */

static atomic_int s_ticks;
static atomic_int s_late_ticks; /* ticks that ran after the drain began: must stay 0 */
static atomic_bool s_draining;
static atomic_int s_held;
static atomic_int s_init_publish; /* what publishing returned in init and in fini */
static atomic_int s_fini_publish;
static pthread_mutex_t s_trail_lock = PTHREAD_MUTEX_INITIALIZER;
static char s_trail[S_TRAIL_SZ];

static void
s_note(const char *what)
{
    pthread_mutex_lock(&s_trail_lock);
    strncat(s_trail, what, sizeof s_trail - strlen(s_trail) - 1);
    pthread_mutex_unlock(&s_trail_lock);
}

/* The source: a request held for the stop, and a busy spell of S_LINGER ms at drain. */
typedef struct {
    yard_ctx_t *ctx;
    yard_deferred_t *held;
    int64_t busy_until;
} s_src_t;

typedef struct {
    yard_ctx_t *ctx;
    yard_timer_t *tick;
    s_src_t *src;
    uint32_t n;
} s_state_t;

static int
s_src_prepare(void *c, yard_wait_item_t *items, int max, int64_t *wake_ms)
{
    (void)items;
    (void)max;
    s_src_t *s = c;
    if (s->busy_until && s->busy_until < *wake_ms) {
        *wake_ms = s->busy_until; /* the loop must turn when the spell ends */
    }
    return 0;
}

static void
s_src_drain(void *c)
{
    s_src_t *s = c;
    atomic_store(&s_draining, true);
    s->busy_until = yard_loop_now_ms() + S_LINGER;
    s_note("drain,");
}

static bool
s_src_busy(void *c)
{
    s_src_t *s = c;
    return yard_loop_now_ms() < s->busy_until;
}

static void
s_src_destroy(void *c)
{
    s_src_t *s = c;
    if (s->held) {
        yard_deferred_fail(&s->held, YARD_E_SHUTDOWN, NULL, "aborted at stop");
    }
    s_note("destroy,");
    free(s);
}

static void
s_tick(yard_ctx_t *ctx, void *arg)
{
    s_state_t *st = arg;
    if (atomic_load(&s_draining)) {
        atomic_fetch_add(&s_late_ticks, 1);
    }
    st->n++;
    unsigned char body[5] = {0xce, (unsigned char)(st->n >> 24), (unsigned char)(st->n >> 16),
                             (unsigned char)(st->n >> 8), (unsigned char)st->n}; /* uint32 */
    /* Counted before it is published: the subscriber may see it before this thread goes on. */
    atomic_fetch_add(&s_ticks, 1);
    assert_int_equal(yard_ctx_publish(ctx, "ticker.tick", body, sizeof body), 0);
}

static int
s_init(void *state, const yard_actor_env_t *env)
{
    s_state_t *st = state;
    st->ctx = env->ctx;
    atomic_store(&s_init_publish, yard_ctx_publish(env->ctx, "ticker.init", NULL, 0));
    st->src = calloc(1, sizeof *st->src);
    if (!st->src) {
        return YARD_E_INTERNAL;
    }
    st->src->ctx = env->ctx;
    yard_loop_source_t src = {.ctx = st->src,
                              .prepare = s_src_prepare,
                              .drain = s_src_drain,
                              .busy = s_src_busy,
                              .destroy = s_src_destroy};
    int rc = yard_ctx_add_source(env->ctx, &src);
    if (rc != 0) {
        free(st->src);
        return rc;
    }
    st->tick = yard_timer_every(env->ctx, S_TICK_MS, 10, s_tick, st);
    return st->tick ? 0 : YARD_E_INTERNAL;
}

static void
s_fini(void *state)
{
    s_state_t *st = state;
    yard_timer_cancel(&st->tick); /* still valid here: the runtime only stopped it */
    atomic_store(&s_fini_publish, yard_ctx_publish(st->ctx, "ticker.fini", NULL, 0));
    s_note("fini,");
}

static int
s_hold(yard_request_t *req, void *state)
{
    s_state_t *st = state;
    st->src->held = yard_request_defer(req);
    atomic_fetch_add(&s_held, 1);
    return 0;
}

static int
s_echo(yard_request_t *req, void *state)
{
    (void)state;
    size_t size;
    const void *body = yard_request_body(req, &size);
    return yard_request_reply(req, body, size);
}

static const yard_handler_def_t s_handlers[] = {
    {"hold", s_hold, "held by the source until the stop"},
    {NULL, s_echo, "echo"},
    {NULL, NULL, NULL},
};

static const yard_actor_def_t s_ticker = {
    .name = "ticker",
    .handlers = s_handlers,
    .state_size = sizeof(s_state_t),
    .init = s_init,
    .fini = s_fini,
};

/* --- fixtures ---------------------------------------------------------------------------- */

typedef struct {
    yard_broker_t *broker;
    yard_actor_t *actor;
    yard_client_t *client;
    char *ep;
    void *zctx; /* shared by all three over inproc; NULL over tcp */
} s_bus_t;

/* The broker, the ticker and a client, over tcp, or over inproc in one ZeroMQ context as
 * `yard up` runs them (libzmq sends no monitor events for inproc connections). */
static void
s_bus_up_on(s_bus_t *bus, bool inproc)
{
    atomic_store(&s_ticks, 0);
    atomic_store(&s_late_ticks, 0);
    atomic_store(&s_draining, false);
    atomic_store(&s_held, 0);
    s_trail[0] = '\0';
    bus->ep = strdup(inproc ? "inproc://ticker-test" : yh_endpoint(yh_free_port()));
    bus->zctx = inproc ? zmq_ctx_new() : NULL;
    yard_broker_opts_t bo = {.bind = bus->ep, .heartbeat_ms = S_HB, .grace_ms = 2000};
    assert_int_equal(yard_broker_new(&bo, bus->zctx, &bus->broker), 0);
    assert_int_equal(yard_broker_start(bus->broker), 0);
    yard_actor_opts_t ao = {
        .broker = bus->ep, .heartbeat_ms = S_HB, .drain_ms = 500, .zmq_context = bus->zctx};
    assert_int_equal(yard_actor_start(&s_ticker, &ao, NULL, &bus->actor), 0);
    yard_client_opts_t co = {
        .heartbeat_ms = S_HB, .default_timeout_ms = 3000, .zmq_context = bus->zctx};
    assert_int_equal(yard_client_new(bus->ep, &co, &bus->client), 0);
}

static void
s_bus_up(s_bus_t *bus)
{
    s_bus_up_on(bus, false);
}

static void
s_bus_down(s_bus_t *bus)
{
    yard_client_destroy(&bus->client);
    yard_actor_destroy(&bus->actor);
    yard_broker_destroy(&bus->broker);
    free(bus->ep);
    if (bus->zctx) {
        zmq_ctx_term(bus->zctx);
    }
}

typedef struct {
    int got;
    uint32_t last;
    bool in_order;
    bool subject_ok;
    int inits;
} s_sub_t;

static void
s_sub_cb(const yard_msg_t *msg, void *arg)
{
    s_sub_t *s = arg;
    size_t size;
    const unsigned char *b = yard_msg_body(msg, &size);
    if (strcmp(yard_msg_subject(msg), "ticker.init") == 0) {
        s->inits++; /* published in init, sent once a broker was connected */
        return;
    }
    uint32_t n = size == 5 && b[0] == 0xce
                     ? (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4]
                     : 0;
    s->in_order = s->in_order && n > s->last;
    s->subject_ok = s->subject_ok && strcmp(yard_msg_subject(msg), "ticker.tick") == 0;
    s->last = n;
    s->got++;
}

typedef struct {
    int done;
    int status;
    char text[128];
} s_answer_t;

static void
s_answer_cb(const yard_msg_t *reply, void *arg)
{
    s_answer_t *a = arg;
    a->done++;
    a->status = yard_msg_status(reply);
}

static void *
s_stopper(void *arg)
{
    yard_actor_stop(arg);
    return NULL;
}

/* --- tests ------------------------------------------------------------------------------- */

static void
s_events_reach_a_subscriber(bool inproc)
{
    s_bus_t bus = {0};
    s_bus_up_on(&bus, inproc);
    s_sub_t sub = {.in_order = true, .subject_ok = true};
    assert_int_equal(yard_client_subscribe(bus.client, "ticker.*", s_sub_cb, &sub), 0);
    long long until = yh_now_ms() + 5000;
    while (sub.got < 5 && yh_now_ms() < until) {
        yard_client_dispatch(bus.client, 20);
    }
    assert_true(sub.got >= 5);
    assert_true(sub.in_order);
    assert_true(sub.subject_ok);
    assert_true(sub.inits <= 1);
    assert_true(atomic_load(&s_ticks) >= sub.got);
    s_bus_down(&bus);
    assert_string_equal(s_trail, "drain,destroy,fini,");
}

static void
test_timer_events_reach_a_subscriber(void **state)
{
    (void)state;
    s_events_reach_a_subscriber(false);
}

/* Over inproc no CONNECTED event ever comes: a replica that waited for one to publish kept
 * every event of `yard up`'s actors in its reconnect buffer. */
static void
test_events_reach_a_subscriber_over_inproc(void **state)
{
    (void)state;
    s_events_reach_a_subscriber(true);
}

static void
test_drain_stops_timers_and_ends_sources_before_fini(void **state)
{
    (void)state;
    s_bus_t bus = {0};
    s_bus_up(&bus);
    /* A request the source holds until the stop; the answer comes from its destroy. */
    s_answer_t held = {0};
    yard_call_opts_t co = {.op = "hold", .timeout_ms = 5000};
    long long until = yh_now_ms() + 5000;
    while (atomic_load(&s_held) == 0 && yh_now_ms() < until) {
        if (held.done == 0 && held.status == 0) {
            assert_int_equal(
                yard_client_call_async(bus.client, "ticker", "\xc0", 1, &co, s_answer_cb, &held),
                0);
            held.status = 1; /* sent: wait for it to be held (or refused, e.g. NO_SERVICE) */
        }
        yard_client_dispatch(bus.client, 20);
        if (held.done) { /* refused before the replica registered: send again */
            held = (s_answer_t){0};
        }
    }
    assert_int_equal(atomic_load(&s_held), 1);
    while (atomic_load(&s_ticks) < 3 && yh_now_ms() < until) {
        yard_client_dispatch(bus.client, 20);
    }
    assert_true(atomic_load(&s_ticks) >= 3);

    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_stopper, bus.actor), 0);
    until = yh_now_ms() + 5000;
    while (held.done == 0 && yh_now_ms() < until) {
        yard_client_dispatch(bus.client, 20);
    }
    pthread_join(th, NULL);
    assert_int_equal(held.done, 1);
    assert_int_equal(held.status, YARD_E_SHUTDOWN);
    int ticks = atomic_load(&s_ticks);
    /* The source stayed busy for S_LINGER ms (several tick periods) and no tick ran. */
    assert_int_equal(atomic_load(&s_late_ticks), 0);
    assert_string_equal(s_trail, "drain,destroy,fini,");
    /* In init no link is connected yet: the event waits in the reconnect buffer (sent once
     * one is); in fini the links are gone. */
    assert_int_equal(atomic_load(&s_init_publish), 0);
    assert_int_equal(atomic_load(&s_fini_publish), YARD_E_SHUTDOWN);
    s_bus_down(&bus);
    assert_int_equal(atomic_load(&s_ticks), ticks);
}

static int
s_setup(void **state)
{
    (void)state;
    yard_log_set_level(YARD_LOG_WARN);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_events_reach_a_subscriber),
        cmocka_unit_test(test_events_reach_a_subscriber_over_inproc),
        cmocka_unit_test(test_drain_stops_timers_and_ends_sources_before_fini),
    };
    return cmocka_run_group_tests(tests, s_setup, NULL);
}
