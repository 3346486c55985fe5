/* yard/bus.h end to end, through a real broker in this process on a free TCP port: an actor
 * ("relay") that calls another service ("target") from a handler and answers with its reply
 * or its error, that subscribes in init and republishes what it hears, whose calls still in
 * flight at stop end with YARD_E_SHUTDOWN before fini, and the same calls under the actor test
 * harness. Every wait polls a client or the harness with a deadline. */
#include "fixture.h"
#include "harness.h"
#include "yard/actor.h"
#include "yard/actor_test.h"
#include "yard/broker.h"
#include "yard/bus.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/mp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- "target": answers "same" with its body, fails "nope", holds "hang" ------------------ */

static _Atomic(yard_deferred_t *) s_hung; /* target's held request */

static int
s_target_same(yard_request_t *req, void *state)
{
    (void)state;
    size_t size;
    const void *body = yard_request_body(req, &size);
    return yard_request_reply(req, body, size);
}

static int
s_target_nope(yard_request_t *req, void *state)
{
    (void)state;
    return yard_request_fail(req, YARD_E_SERVICE, "nope", "target says no");
}

static int
s_target_hang(yard_request_t *req, void *state)
{
    (void)state;
    atomic_store(&s_hung, yard_request_defer(req)); /* the test completes it */
    return 0;
}

static const yard_handler_def_t s_target_handlers[] = {
    {"same", s_target_same, "echo the body"},
    {"nope", s_target_nope, "always fails"},
    {"hang", s_target_hang, "never answers"},
    {NULL, NULL, NULL},
};

static const yard_actor_def_t s_target = {
    .name = "target", .description = "bus test target", .handlers = s_target_handlers};

/* --- "relay": calls {service, op} with {body} and answers with the outcome --------------- */

static atomic_int s_shutdown_seen; /* calls that ended with YARD_E_SHUTDOWN */
static atomic_int s_fini_ran;
static atomic_int s_cb_after_fini; /* callbacks after fini: must stay 0 */

static void
s_relay_done(yard_ctx_t *ctx, const yard_msg_t *reply, void *arg)
{
    (void)ctx;
    yard_deferred_t *d = arg;
    if (atomic_load(&s_fini_ran)) {
        atomic_fetch_add(&s_cb_after_fini, 1);
    }
    int st = yard_msg_status(reply);
    if (st == YARD_E_SHUTDOWN) {
        atomic_fetch_add(&s_shutdown_seen, 1);
    }
    if (st != 0) {
        yard_deferred_fail(&d, st, yard_msg_app_error(reply), yard_msg_error_text(reply));
        return;
    }
    size_t size;
    const void *body = yard_msg_body(reply, &size);
    yard_deferred_reply(&d, body, size);
}

static int
s_relay(yard_request_t *req, void *state)
{
    (void)state;
    const char *service, *op, *text;
    int rc = yard_req_str(req, "service", &service);
    rc = rc ? rc : yard_req_str(req, "op", &op);
    rc = rc ? rc : yard_req_str(req, "text", &text);
    if (rc != 0) {
        return rc;
    }
    yard_deferred_t *d = yard_request_defer(req);
    rc = yard_bus_call(yard_request_ctx(req), service, op, text, strlen(text), 10000, s_relay_done,
                       d);
    if (rc != 0) {
        yard_deferred_fail(&d, rc, NULL, "bus call refused");
    }
    return 0;
}

/* A publication on ping.X comes back as pong.X with the same body. */
static void
s_on_ping(yard_ctx_t *ctx, const yard_msg_t *msg, void *arg)
{
    (void)arg;
    char subject[256];
    snprintf(subject, sizeof subject, "pong.%s", yard_msg_subject(msg) + strlen("ping."));
    size_t size;
    const void *body = yard_msg_body(msg, &size);
    yard_ctx_publish(ctx, subject, body, size);
}

/* "burst": publishes S_BURST events burst.<i> through the bus client, then flushes; answers
 * with the flush's status once it ran. */
#define S_BURST 500

static void
s_burst_flushed(yard_ctx_t *ctx, int status, void *arg)
{
    (void)ctx;
    yard_deferred_t *d = arg;
    if (status != 0) {
        yard_deferred_fail(&d, status, NULL, "flush failed");
        return;
    }
    yard_deferred_reply(&d, NULL, 0);
}

static int
s_burst(yard_request_t *req, void *state)
{
    (void)state;
    yard_ctx_t *ctx = yard_request_ctx(req);
    assert_int_equal(yard_bus_publish(ctx, "bad..subject", NULL, 0), YARD_E_INVALID);
    for (int i = 0; i < S_BURST; i++) {
        char n[16];
        int len = snprintf(n, sizeof n, "%d", i);
        int rc = yard_bus_publish(ctx, "burst.n", n, (size_t)len);
        if (rc != 0) {
            return yard_request_fail(req, rc, NULL, "publish refused");
        }
    }
    yard_deferred_t *d = yard_request_defer(req);
    int rc = yard_bus_flush(ctx, 5000, s_burst_flushed, d);
    if (rc != 0) {
        yard_deferred_fail(&d, rc, NULL, "flush refused");
    }
    return 0;
}

static yard_ctx_t *s_relay_ctx;
/* 1: the next fini calls yard_bus_flush() and stores its result here (must be SHUTDOWN) */
static atomic_int s_flush_in_fini;

static void
s_never(yard_ctx_t *ctx, int status, void *arg)
{
    (void)ctx;
    (void)status;
    (void)arg;
    fail_msg("a refused flush called back");
}

static int
s_relay_init(void *state, const yard_actor_env_t *env)
{
    (void)state;
    s_relay_ctx = env->ctx;
    atomic_store(&s_fini_ran, 0);
    assert_int_equal(yard_bus_subscribe(env->ctx, "bad..pattern", s_on_ping, NULL), YARD_E_INVALID);
    return yard_bus_subscribe(env->ctx, "ping.>", s_on_ping, NULL);
}

static void
s_relay_fini(void *state)
{
    (void)state;
    if (atomic_load(&s_flush_in_fini) == 1) { /* set by test_publish_then_flush only */
        atomic_store(&s_flush_in_fini, yard_bus_flush(s_relay_ctx, 0, s_never, NULL));
    }
    atomic_store(&s_fini_ran, 1);
}

static const yard_handler_def_t s_relay_handlers[] = {
    {"relay", s_relay, "call {service, op} with {text}"},
    {"burst", s_burst, "publish a burst through the bus client, then flush"},
    {NULL, NULL, NULL},
};

static const yard_actor_def_t s_relay_def = {.name = "relay",
                                             .description = "bus test relay",
                                             .handlers = s_relay_handlers,
                                             .init = s_relay_init,
                                             .fini = s_relay_fini};

/* --- fixture ------------------------------------------------------------------------------ */

typedef struct {
    int port;
    yard_broker_t *broker;
    yard_actor_t *target;
    yard_actor_t *relay;
    yard_client_t *client;
} s_fix_t;

/* Replicas register with the broker asynchronously: wait until name is served. */
static void
s_wait_service(yard_client_t *client, const char *name, const char *op)
{
    long long deadline = yh_now_ms() + 5000;
    yard_call_opts_t o = {.op = op, .timeout_ms = 1000};
    for (;;) {
        yard_msg_t *reply = NULL;
        int rc = yard_client_call(client, name, NULL, 0, &o, &reply);
        yard_msg_destroy(&reply);
        if (rc != YARD_E_NO_SERVICE || yh_now_ms() > deadline) {
            assert_int_not_equal(rc, YARD_E_NO_SERVICE);
            return;
        }
        yard_client_dispatch(client, 10);
    }
}

static int
setup(void **state)
{
    s_fix_t *f = calloc(1, sizeof *f);
    f->broker = yh_broker_start(&f->port);
    assert_non_null(f->broker);
    f->target = yh_actor_start(&s_target, NULL, f->port, NULL);
    assert_non_null(f->target);
    char *argv[] = {"--drain-ms=300", NULL};
    f->relay = yh_actor_start(&s_relay_def, NULL, f->port, argv);
    assert_non_null(f->relay);
    yard_client_opts_t co = {.default_timeout_ms = 5000};
    assert_int_equal(yard_client_new(yh_endpoint(f->port), &co, &f->client), 0);
    s_wait_service(f->client, "target", "same");
    s_wait_service(f->client, "relay", "relay");
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    s_fix_t *f = *state;
    yard_client_destroy(&f->client);
    yard_actor_destroy(&f->relay);
    yard_actor_destroy(&f->target);
    yard_broker_destroy(&f->broker);
    free(f);
    return 0;
}

/* {service, op, text} as msgpack. Caller frees *out. */
static void
s_body(const char *service, const char *op, const char *text, void **out, size_t *size)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "service", service);
    yard_mpw_kstr(w, "op", op);
    yard_mpw_kstr(w, "text", text);
    yard_mpw_end(w);
    const void *data;
    assert_int_equal(yard_mpw_finish(w, &data, size), 0);
    *out = malloc(*size);
    memcpy(*out, data, *size);
    yard_mpw_destroy(&w);
}

static int
s_relay_call(s_fix_t *f, const char *service, const char *op, const char *text, yard_msg_t **reply)
{
    void *body;
    size_t size;
    s_body(service, op, text, &body, &size);
    yard_call_opts_t o = {.op = "relay"};
    int rc = yard_client_call(f->client, "relay", body, size, &o, reply);
    free(body);
    return rc;
}

/* --- tests -------------------------------------------------------------------------------- */

static void
test_call_reply_and_errors(void **state)
{
    s_fix_t *f = *state;
    yard_msg_t *reply = NULL;
    assert_int_equal(s_relay_call(f, "target", "same", "hello", &reply), 0);
    size_t size;
    const char *body = yard_msg_body(reply, &size);
    assert_int_equal(size, 5);
    assert_memory_equal(body, "hello", 5);
    yard_msg_destroy(&reply);

    /* a service's own error travels back with its name */
    assert_int_equal(s_relay_call(f, "target", "nope", "x", &reply), YARD_E_SERVICE);
    assert_non_null(reply);
    assert_string_equal(yard_msg_app_error(reply), "nope");
    yard_msg_destroy(&reply);

    /* and so does the broker's */
    assert_int_equal(s_relay_call(f, "nosuch", "same", "x", &reply), YARD_E_NO_SERVICE);
    yard_msg_destroy(&reply);
}

static void
s_on_pong(const yard_msg_t *msg, void *arg)
{
    char *got = arg;
    size_t size;
    const char *body = yard_msg_body(msg, &size);
    snprintf(got, 64, "%s=%.*s", yard_msg_subject(msg), (int)size, body);
}

static void
test_subscribe_in_init(void **state)
{
    s_fix_t *f = *state;
    char got[64] = "";
    assert_int_equal(yard_client_subscribe(f->client, "pong.>", s_on_pong, got), 0);
    /* the subscriptions reach the broker asynchronously: publish until the echo comes */
    long long deadline = yh_now_ms() + 5000;
    while (!got[0] && yh_now_ms() < deadline) {
        assert_int_equal(yard_client_publish(f->client, "ping.a.b", "42", 2), 0);
        yard_client_dispatch(f->client, 50);
    }
    assert_string_equal(got, "pong.a.b=42");
}

static void
s_on_async(const yard_msg_t *reply, void *arg)
{
    *(int *)arg = yard_msg_status(reply);
}

static void
test_calls_in_flight_end_at_stop(void **state)
{
    s_fix_t *f = *state;
    atomic_store(&s_shutdown_seen, 0);
    atomic_store(&s_cb_after_fini, 0);
    void *body;
    size_t size;
    s_body("target", "hang", "x", &body, &size);
    int outcome = 1;
    yard_call_opts_t o = {.op = "relay", .timeout_ms = 8000};
    assert_int_equal(
        yard_client_call_async(f->client, "relay", body, size, &o, s_on_async, &outcome), 0);
    free(body);
    /* wait until target holds the call, then stop relay: its drain waits drain_ms for the
     * call, and the runtime ends it with SHUTDOWN before fini */
    long long deadline = yh_now_ms() + 5000;
    while (!atomic_load(&s_hung) && yh_now_ms() < deadline) {
        yard_client_dispatch(f->client, 10);
    }
    assert_non_null(atomic_load(&s_hung));
    long long t0 = yh_now_ms();
    yard_actor_stop(f->relay);
    long long took = yh_now_ms() - t0;
    assert_int_equal(atomic_load(&s_shutdown_seen), 1);
    assert_int_equal(atomic_load(&s_cb_after_fini), 0);
    assert_int_equal(atomic_load(&s_fini_ran), 1);
    assert_true(took < 5000); /* bounded by drain_ms (300), far from the call's 8 s */
    while (outcome == 1 && yh_now_ms() < deadline + 5000) {
        yard_client_dispatch(f->client, 50);
    }
    assert_int_not_equal(outcome, 0); /* the caller got an error, not silence */
    yard_deferred_t *hung = atomic_exchange(&s_hung, NULL);
    yard_deferred_fail(&hung, YARD_E_INTERNAL, NULL, "test over"); /* thread-safe */
}

static void
s_on_burst(const yard_msg_t *msg, void *arg)
{
    int *seen = arg;
    size_t size;
    const char *body = yard_msg_body(msg, &size);
    char n[16];
    snprintf(n, sizeof n, "%.*s", (int)(size < 15 ? size : 15), body);
    int i = atoi(n);
    if (i >= 0 && i < S_BURST) {
        seen[i]++;
    }
}

/* publish N, flush: once the flush answered 0 the broker has passed every one on, so a
 * subscriber gets all N; a flush after stop is refused with SHUTDOWN */
static void
test_publish_then_flush(void **state)
{
    s_fix_t *f = *state;
    static int seen[S_BURST];
    memset(seen, 0, sizeof seen);
    assert_int_equal(yard_client_subscribe(f->client, "burst.>", s_on_burst, seen), 0);
    yard_msg_t *reply = NULL;
    yard_call_opts_t po = {.op = "ping"};
    /* the ping's answer says the broker took the subscription (same connection, in order) */
    assert_int_equal(yard_client_call(f->client, "$sys", NULL, 0, &po, &reply), 0);
    yard_msg_destroy(&reply);
    yard_call_opts_t o = {.op = "burst", .timeout_ms = 10000};
    assert_int_equal(yard_client_call(f->client, "relay", NULL, 0, &o, &reply), 0);
    assert_int_equal(yard_msg_status(reply), 0);
    yard_msg_destroy(&reply);
    int got = 0;
    long long deadline = yh_now_ms() + 10000;
    while (got < S_BURST && yh_now_ms() < deadline) {
        yard_client_dispatch(f->client, 20);
        got = 0;
        for (int i = 0; i < S_BURST; i++) {
            got += seen[i] > 0;
        }
    }
    assert_int_equal(got, S_BURST);
    for (int i = 0; i < S_BURST; i++) {
        assert_int_equal(seen[i], 1);
    }
    atomic_store(&s_flush_in_fini, 1);
    yard_actor_stop(f->relay);
    assert_int_equal(atomic_load(&s_flush_in_fini), YARD_E_SHUTDOWN);
}

static bool
s_answered(void *arg)
{
    return yard_request_outcome_test(arg, NULL, NULL, NULL) != 1;
}

static void
test_under_the_actor_harness(void **state)
{
    s_fix_t *f = *state;
    char yaml[128];
    snprintf(yaml, sizeof yaml, "broker: %s\n", yh_endpoint(f->port));
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&s_relay_def, yaml, &t), 0);
    void *body;
    size_t size;
    s_body("target", "same", "via harness", &body, &size);
    yard_request_t *req = yard_actor_test_call(t, "relay", body, size);
    free(body);
    assert_int_equal(yard_actor_test_run(t, 5000, s_answered, req), 0);
    const void *out;
    size_t out_size;
    assert_int_equal(yard_request_outcome_test(req, &out, &out_size, NULL), 0);
    assert_int_equal(out_size, strlen("via harness"));
    assert_memory_equal(out, "via harness", out_size);
    yard_request_destroy_test(&req);
    yard_actor_test_destroy(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_call_reply_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_in_init, setup, teardown),
        cmocka_unit_test_setup_teardown(test_calls_in_flight_end_at_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_under_the_actor_harness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_then_flush, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
