/* The broker's request path seen from raw peers: routing, round-robin, credit, the bounded
 * queue, deadlines (queued and held), replica death (WORKER_LOST, IDEMPOTENT re-send),
 * NO_SERVICE, grace, DRAIN, DISCONNECT to unknown replicas, SEND and heartbeats. */
#include "test_broker_util.h"
#include "yard/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define WAIT 2000 /* ms: the longest any expected message may take */

/* The replica receives a REQUEST and answers it with body. */
static void
s_serve(tb_env_t *env, void *replica, const char *expect_body, const char *reply_body)
{
    tb_msg_t m;
    tb_expect(env, replica, YARD_CMD_REQUEST, &m, WAIT);
    if (expect_body) {
        assert_true(tb_body_is(&m, expect_body));
    }
    yard_header_t r = {.id = m.h.id};
    tb_msg_close(&m);
    tb_send(replica, YARD_CMD_REPLY, &r, reply_body, strlen(reply_body));
}

static void
test_routes_request_and_reply(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *replica = tb_replica(&env, "echo", 1, 1000);
    void *client = tb_peer(&env);
    yard_kv_t kv = {yard_str("trace"), yard_str("abc")};
    yard_header_t h = {.id = 7,
                       .service = yard_str("echo"),
                       .op = yard_str("say"),
                       .headers = &kv,
                       .header_count = 1};
    tb_send(client, YARD_CMD_REQUEST, &h, "hi", 2);

    tb_msg_t m;
    tb_expect(&env, replica, YARD_CMD_REQUEST, &m, WAIT);
    assert_true(tb_body_is(&m, "hi"));
    assert_true(yard_str_eq_cstr(m.h.service, "echo"));
    assert_true(yard_str_eq_cstr(m.h.op, "say"));
    assert_int_equal(m.h.header_count, 1);
    assert_true(m.h.timeout_ms > 0 && m.h.timeout_ms <= 5000);
    yard_header_t r = {.id = m.h.id};
    tb_msg_close(&m);
    tb_send(replica, YARD_CMD_REPLY, &r, "ho", 2);

    tb_expect(&env, client, YARD_CMD_REPLY, &m, WAIT);
    assert_int_equal(m.h.id, 7);
    assert_true(tb_body_is(&m, "ho"));
    tb_msg_close(&m);
    assert_int_equal(tb_stat(&env, client, "echo", "replies"), 1);
    zmq_close(client);
    zmq_close(replica);
    tb_stop(&env);
}

static void
test_round_robin_over_three_replicas(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *reps[3];
    for (int i = 0; i < 3; i++) {
        reps[i] = tb_replica(&env, "rr", 10, 1000);
    }
    void *client = tb_peer(&env);
    for (int i = 1; i <= 9; i++) {
        tb_request(client, (uint64_t)i, "rr", 0, 0, "x");
    }
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 3; k++) {
            s_serve(&env, reps[i], "x", "y");
        }
        assert_true(tb_quiet(&env, reps[i], 20));
    }
    tb_msg_t m;
    for (int i = 0; i < 9; i++) {
        tb_expect(&env, client, YARD_CMD_REPLY, &m, WAIT);
        tb_msg_close(&m);
    }
    for (int i = 0; i < 3; i++) {
        zmq_close(reps[i]);
    }
    zmq_close(client);
    tb_stop(&env);
}

/* READY with FILL for service with credit; waits for the broker's READY. */
static void *
s_fill_replica(tb_env_t *env, const char *service, uint32_t credit)
{
    void *s = tb_peer(env);
    yard_header_t h = {.service = yard_str(service),
                       .credit = credit,
                       .heartbeat_ms = 1000,
                       .flags = YARD_FLAG_FILL};
    tb_ready(env, s, &h);
    return s;
}

/* The replica receives n REQUESTs whose bodies are first, first+1, ... (one digit each), and
 * answers none of them yet: their ids go to ids. */
static void
s_take(tb_env_t *env, void *replica, char first, int n, uint64_t *ids)
{
    for (int i = 0; i < n; i++) {
        tb_msg_t m;
        tb_expect(env, replica, YARD_CMD_REQUEST, &m, WAIT);
        char want[2] = {(char)(first + i), 0};
        if (!tb_body_is(&m, want)) {
            fail_msg("request %d of the replica is not body %s", i, want);
        }
        ids[i] = m.h.id;
        tb_msg_close(&m);
    }
    assert_true(tb_quiet(env, replica, 20));
}

/* A FILL replica keeps the turn while it has credit; past it, round-robin goes on over the
 * others, and a FILL replica it reaches keeps the turn in its turn. A later READY without
 * FILL gives the replica the plain round-robin again. */
static void
test_fill_replica_keeps_the_turn_while_it_has_credit(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *a = s_fill_replica(&env, "fill", 3);
    void *b = tb_replica(&env, "fill", 3, 1000);
    void *c = s_fill_replica(&env, "fill", 3);
    void *client = tb_peer(&env);
    for (char i = '1'; i <= '7'; i++) {
        char body[2] = {i, 0};
        tb_request(client, (uint64_t)(i - '0'), "fill", 0, 0, body);
    }
    uint64_t ids[3][3];
    s_take(&env, a, '1', 3, ids[0]); /* a fills its credit */
    s_take(&env, b, '4', 1, ids[1]); /* b is plain: one, then round-robin goes on */
    s_take(&env, c, '5', 3, ids[2]); /* c fills its credit */
    /* a answers one: its credit is back, but round-robin has moved on from it */
    yard_header_t r = {.id = ids[0][0]};
    tb_send(a, YARD_CMD_REPLY, &r, "", 0);
    tb_msg_t m;
    tb_expect(&env, client, YARD_CMD_REPLY, &m, WAIT);
    tb_msg_close(&m);
    tb_request(client, 8, "fill", 0, 0, "8");
    s_take(&env, a, '8', 1, ids[0]); /* c is full: round-robin's next, a, takes it */
    /* b asks for FILL now: taken next, it keeps the turn for its two free credits */
    yard_header_t ready = {
        .service = yard_str("fill"), .credit = 3, .heartbeat_ms = 1000, .flags = YARD_FLAG_FILL};
    tb_ready(&env, b, &ready);
    for (int i = 0; i < 3; i++) { /* c answers: after b, round-robin would go on to c */
        r.id = ids[2][i];
        tb_send(c, YARD_CMD_REPLY, &r, "", 0);
        tb_expect(&env, client, YARD_CMD_REPLY, &m, WAIT);
        tb_msg_close(&m);
    }
    tb_request(client, 9, "fill", 0, 0, "9");
    s_take(&env, b, '9', 1, ids[1] + 1);
    tb_request(client, 10, "fill", 0, 0, ":"); /* ':' follows '9' */
    s_take(&env, b, ':', 1, ids[1] + 2);
    zmq_close(a);
    zmq_close(b);
    zmq_close(c);
    zmq_close(client);
    tb_stop(&env);
}

static void
test_credit_is_never_exceeded(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *replica = tb_replica(&env, "slow", 2, 1000);
    void *client = tb_peer(&env);
    for (int i = 1; i <= 5; i++) {
        tb_request(client, (uint64_t)i, "slow", 0, 0, "x");
    }
    assert_int_equal(tb_stat(&env, client, "slow", "queued"), 3);
    assert_int_equal(tb_stat(&env, client, "slow", "in_flight"), 2);
    tb_msg_t a, b;
    tb_expect(&env, replica, YARD_CMD_REQUEST, &a, WAIT);
    tb_expect(&env, replica, YARD_CMD_REQUEST, &b, WAIT);
    assert_true(tb_quiet(&env, replica, 50));
    yard_header_t r = {.id = a.h.id};
    tb_send(replica, YARD_CMD_REPLY, &r, "", 0);
    tb_msg_close(&a);
    tb_msg_close(&b);
    tb_msg_t c;
    tb_expect(&env, replica, YARD_CMD_REQUEST, &c, WAIT); /* the credit came back */
    tb_msg_close(&c);
    assert_true(tb_quiet(&env, replica, 30));
    zmq_close(client);
    zmq_close(replica);
    tb_stop(&env);
}

static void
test_full_queue_answers_overloaded(void **state)
{
    (void)state;
    tb_env_t env;
    yard_broker_opts_t o = {.queue_max = 2};
    tb_start(&env, &o);
    void *replica = tb_replica(&env, "q", 1, 1000);
    void *client = tb_peer(&env);
    for (int i = 1; i <= 4; i++) {
        tb_request(client, (uint64_t)i, "q", 0, 0, "x");
    }
    tb_expect_error(&env, client, 4, YARD_E_OVERLOADED);
    assert_int_equal(tb_stat(&env, client, NULL, "error.OVERLOADED"), 1);
    zmq_close(client);
    zmq_close(replica);
    tb_stop(&env);
}

static void
test_queued_request_times_out(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *replica = tb_replica(&env, "busy", 1, 1000);
    void *client = tb_peer(&env);
    tb_request(client, 1, "busy", 5000, 0, "held");
    tb_request(client, 2, "busy", 100, 0, "queued");
    tb_expect_error(&env, client, 2, YARD_E_TIMEOUT);
    assert_int_equal(tb_stat(&env, client, "busy", "queued"), 0);
    zmq_close(client);
    zmq_close(replica);
    tb_stop(&env);
}

static void
test_held_request_times_out_and_late_reply_is_dropped(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *replica = tb_replica(&env, "late", 1, 1000);
    void *client = tb_peer(&env);
    tb_request(client, 1, "late", 100, 0, "x");
    tb_msg_t m;
    tb_expect(&env, replica, YARD_CMD_REQUEST, &m, WAIT);
    tb_expect_error(&env, client, 1, YARD_E_TIMEOUT);
    yard_header_t r = {.id = m.h.id};
    tb_msg_close(&m);
    tb_send(replica, YARD_CMD_REPLY, &r, "late", 4);
    tb_request(client, 2, "late", 0, 0, "next"); /* needs the returned credit */
    s_serve(&env, replica, "next", "ok");
    tb_expect(&env, client, YARD_CMD_REPLY, &m, WAIT);
    assert_int_equal(m.h.id, 2); /* never the late one */
    tb_msg_close(&m);
    assert_int_equal(tb_stat(&env, client, NULL, "late_replies"), 1);
    zmq_close(client);
    zmq_close(replica);
    tb_stop(&env);
}

static void
test_silent_replica_gives_worker_lost(void **state)
{
    (void)state;
    tb_env_t env;
    yard_broker_opts_t o = {.heartbeat_min_ms = 20};
    tb_start(&env, &o);
    void *replica = tb_replica(&env, "dies", 1, 30);
    void *client = tb_peer(&env);
    tb_request(client, 9, "dies", 5000, 0, "x");
    tb_msg_t m;
    tb_expect(&env, replica, YARD_CMD_REQUEST, &m, WAIT);
    tb_msg_close(&m);
    tb_expect_error(&env, client, 9, YARD_E_WORKER_LOST); /* after 3 silent intervals */
    assert_int_equal(tb_stat(&env, client, NULL, "replicas_dead"), 1);
    zmq_close(client);
    zmq_close(replica);
    tb_stop(&env);
}

static void
test_idempotent_request_is_resent_to_another_replica(void **state)
{
    (void)state;
    tb_env_t env;
    yard_broker_opts_t o = {.heartbeat_min_ms = 20};
    tb_start(&env, &o);
    void *dying = tb_replica(&env, "idem", 1, 30);
    void *alive = tb_replica(&env, "idem", 1, 5000);
    void *client = tb_peer(&env);
    tb_request(client, 5, "idem", 5000, YARD_FLAG_IDEMPOTENT, "again");
    tb_msg_t m;
    tb_expect(&env, dying, YARD_CMD_REQUEST, &m, WAIT); /* round-robin starts at the first */
    tb_msg_close(&m);
    tb_expect(&env, alive, YARD_CMD_REQUEST, &m, WAIT); /* re-sent when the first dies */
    assert_true(tb_body_is(&m, "again"));
    assert_int_equal(m.h.flags, YARD_FLAG_IDEMPOTENT);
    yard_header_t r = {.id = m.h.id};
    tb_msg_close(&m);
    tb_send(alive, YARD_CMD_REPLY, &r, "done", 4);
    tb_expect(&env, client, YARD_CMD_REPLY, &m, WAIT);
    assert_int_equal(m.h.id, 5);
    assert_true(tb_body_is(&m, "done"));
    tb_msg_close(&m);
    assert_int_equal(tb_stat(&env, client, NULL, "retries"), 1);
    zmq_close(client);
    zmq_close(dying);
    zmq_close(alive);
    tb_stop(&env);
}

static void
test_unknown_service_is_no_service_after_the_startup_grace(void **state)
{
    (void)state;
    tb_env_t env;
    yard_broker_opts_t o = {.grace_ms = 50};
    tb_start(&env, &o);
    void *client = tb_peer(&env);
    /* Asked within the start-up grace: it waits for the grace, then NO_SERVICE; asked after
     * it, NO_SERVICE comes at once. Either way the text says nobody offers it. */
    tb_request(client, 3, "nobody", 0, 0, "x");
    tb_expect_error(&env, client, 3, YARD_E_NO_SERVICE);
    tb_request(client, 4, "nobody.else", 0, 0, "x");
    tb_expect_error(&env, client, 4, YARD_E_NO_SERVICE);
    assert_int_equal(tb_stat(&env, client, NULL, "error.NO_SERVICE"), 2);
    zmq_close(client);
    tb_stop(&env);
}

static void
test_startup_grace_holds_requests_until_replicas_register(void **state)
{
    (void)state;
    tb_env_t env;
    yard_broker_opts_t o = {.grace_ms = 5000};
    tb_start(&env, &o);
    void *client = tb_peer(&env);
    /* A broker that has just (re)started: the request comes before the replica found it. */
    tb_request(client, 1, "late", 0, 0, "wait");
    assert_int_equal(tb_wait_stat(&env, client, "late", "queued", 1, WAIT), 1);
    void *replica = tb_replica(&env, "late", 1, 1000);
    s_serve(&env, replica, "wait", "ok");
    tb_msg_t m;
    tb_expect(&env, client, YARD_CMD_REPLY, &m, WAIT);
    assert_int_equal(m.h.id, 1);
    tb_msg_close(&m);
    assert_int_equal(tb_stat(&env, client, NULL, "error.NO_SERVICE"), 0);
    zmq_close(replica);
    zmq_close(client);
    tb_stop(&env);
}

static void
test_credit_zero_waits_and_heartbeat_tells_the_demand(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    /* A replica with no credit to give this broker yet (its credit is in use at another):
     * it is registered, a request waits, and the answer to its heartbeat says one waits. */
    void *replica = tb_replica(&env, "shared", 0, 1000);
    void *client = tb_peer(&env);
    tb_request(client, 7, "shared", 0, 0, "later");
    assert_int_equal(tb_wait_stat(&env, client, "shared", "queued", 1, WAIT), 1);
    /* Told at once, unasked (no heartbeat_ms: it answers nothing), and not sent the request. */
    tb_msg_t m;
    tb_expect(&env, replica, YARD_CMD_HEARTBEAT, &m, WAIT);
    assert_int_equal(m.h.credit, 1);
    assert_int_equal(m.h.heartbeat_ms, 0);
    tb_msg_close(&m);
    assert_true(tb_quiet(&env, replica, 50));
    /* And in the answer to its own heartbeat. */
    yard_header_t hb = {.heartbeat_ms = 1000, .credit = 4};
    tb_send(replica, YARD_CMD_HEARTBEAT, &hb, NULL, 0);
    tb_expect(&env, replica, YARD_CMD_HEARTBEAT, &m, WAIT);
    assert_int_equal(m.h.credit, 1);
    assert_int_equal(m.h.heartbeat_ms, 1000);
    tb_msg_close(&m);
    yard_header_t ready = {.service = yard_str("shared"), .credit = 1, .heartbeat_ms = 1000};
    tb_send(replica, YARD_CMD_READY, &ready, NULL, 0);
    tb_expect(&env, replica, YARD_CMD_READY, &m, WAIT);
    assert_int_equal(m.h.credit, 1);
    tb_msg_close(&m);
    s_serve(&env, replica, "later", "done");
    tb_expect(&env, client, YARD_CMD_REPLY, &m, WAIT);
    assert_int_equal(m.h.id, 7);
    tb_msg_close(&m);
    zmq_close(replica);
    zmq_close(client);
    tb_stop(&env);
}

static void
test_grace_keeps_requests_for_a_restarting_replica(void **state)
{
    (void)state;
    tb_env_t env;
    yard_broker_opts_t o = {.grace_ms = 300};
    tb_start(&env, &o);
    void *first = tb_replica(&env, "g", 1, 1000);
    yard_header_t none = {0};
    tb_send(first, YARD_CMD_DISCONNECT, &none, NULL, 0);
    zmq_close(first);
    void *client = tb_peer(&env);
    assert_int_equal(tb_wait_stat(&env, client, "g", "replicas", 0, WAIT), 0);
    tb_request(client, 1, "g", 0, 0, "wait");
    void *second = tb_replica(&env, "g", 1, 1000); /* restarted within the grace */
    s_serve(&env, second, "wait", "ok");
    tb_msg_t m;
    tb_expect(&env, client, YARD_CMD_REPLY, &m, WAIT);
    assert_int_equal(m.h.id, 1);
    tb_msg_close(&m);

    tb_send(second, YARD_CMD_DISCONNECT, &none, NULL, 0);
    assert_int_equal(tb_wait_stat(&env, client, "g", "replicas", 0, WAIT), 0);
    tb_request(client, 2, "g", 0, 0, "lost"); /* no replica comes back */
    tb_expect_error(&env, client, 2, YARD_E_NO_SERVICE);
    tb_request(client, 3, "g", 0, 0, "gone"); /* the service is forgotten */
    tb_expect_error(&env, client, 3, YARD_E_NO_SERVICE);
    zmq_close(second);
    zmq_close(client);
    tb_stop(&env);
}

static void
test_drain_sends_nothing_new(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *a = tb_replica(&env, "d", 5, 1000);
    void *b = tb_replica(&env, "d", 5, 1000);
    void *client = tb_peer(&env);
    tb_request(client, 1, "d", 0, 0, "held"); /* goes to a */
    tb_msg_t m;
    tb_expect(&env, a, YARD_CMD_REQUEST, &m, WAIT);
    yard_header_t held = {.id = m.h.id};
    tb_msg_close(&m);
    yard_header_t none = {0};
    tb_send(a, YARD_CMD_DRAIN, &none, NULL, 0);
    yard_header_t hb = {.credit = 5};
    tb_send(a, YARD_CMD_HEARTBEAT, &hb, NULL, 0);
    tb_expect(&env, a, YARD_CMD_HEARTBEAT, &m, WAIT); /* so the DRAIN before it was handled */
    tb_msg_close(&m);
    for (int i = 2; i <= 5; i++) {
        tb_request(client, (uint64_t)i, "d", 0, 0, "new");
    }
    for (int i = 2; i <= 5; i++) {
        s_serve(&env, b, "new", "ok");
    }
    assert_true(tb_quiet(&env, a, 30));
    tb_send(a, YARD_CMD_REPLY, &held, "fin", 3); /* finishes what it holds */
    tb_send(a, YARD_CMD_DISCONNECT, &none, NULL, 0);
    for (int i = 1; i <= 5; i++) {
        tb_expect(&env, client, YARD_CMD_REPLY, &m, WAIT);
        tb_msg_close(&m);
    }
    assert_int_equal(tb_wait_stat(&env, client, "d", "replicas", 1, WAIT), 1);
    zmq_close(a);
    zmq_close(b);
    zmq_close(client);
    tb_stop(&env);
}

static void
test_unknown_replica_gets_disconnect(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *stranger = tb_peer(&env);
    yard_header_t reply = {.id = 123};
    tb_send(stranger, YARD_CMD_REPLY, &reply, "x", 1);
    tb_msg_t m;
    tb_expect(&env, stranger, YARD_CMD_DISCONNECT, &m, WAIT);
    tb_msg_close(&m);
    yard_header_t hb = {.credit = 4};
    tb_send(stranger, YARD_CMD_HEARTBEAT, &hb, NULL, 0);
    tb_expect(&env, stranger, YARD_CMD_DISCONNECT, &m, WAIT);
    tb_msg_close(&m);
    yard_header_t plain = {0};
    tb_send(stranger, YARD_CMD_HEARTBEAT, &plain, NULL, 0); /* a client's heartbeat */
    tb_expect(&env, stranger, YARD_CMD_HEARTBEAT, &m, WAIT);
    tb_msg_close(&m);
    zmq_close(stranger);
    tb_stop(&env);
}

static void
test_send_consumes_credit_and_gets_no_answer(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *replica = tb_replica(&env, "oneway", 1, 1000);
    void *client = tb_peer(&env);
    yard_header_t h = {.service = yard_str("oneway")};
    tb_send(client, YARD_CMD_SEND, &h, "a", 1);
    tb_send(client, YARD_CMD_SEND, &h, "b", 1);
    tb_msg_t m;
    tb_expect(&env, replica, YARD_CMD_SEND, &m, WAIT);
    assert_true(tb_body_is(&m, "a"));
    assert_true(tb_quiet(&env, replica, 30)); /* credit 1: b waits */
    yard_header_t r = {.id = m.h.id};
    tb_msg_close(&m);
    tb_send(replica, YARD_CMD_REPLY, &r, "", 0);
    tb_expect(&env, replica, YARD_CMD_SEND, &m, WAIT);
    assert_true(tb_body_is(&m, "b"));
    tb_msg_close(&m);
    assert_true(tb_quiet(&env, client, 30));
    zmq_close(client);
    zmq_close(replica);
    tb_stop(&env);
}

static void
test_heartbeat_is_answered_with_negotiated_interval(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *replica = tb_peer(&env);
    yard_header_t ready = {.service = yard_str("hb"), .credit = 1, .heartbeat_ms = 5};
    tb_send(replica, YARD_CMD_READY, &ready, NULL, 0);
    tb_msg_t m;
    tb_expect(&env, replica, YARD_CMD_READY, &m, WAIT);
    assert_int_equal(m.h.heartbeat_ms, 100); /* clamped to heartbeat_min_ms */
    tb_msg_close(&m);
    yard_header_t hb = {.credit = 1};
    tb_send(replica, YARD_CMD_HEARTBEAT, &hb, NULL, 0);
    tb_expect(&env, replica, YARD_CMD_HEARTBEAT, &m, WAIT);
    assert_int_equal(m.h.heartbeat_ms, 100);
    tb_msg_close(&m);
    zmq_close(replica);
    tb_stop(&env);
}

/* Bind errors say whose fault they are: a malformed endpoint is a configuration error (the
 * program exits 2), a port someone else holds is not (exit 1). */
static void
test_bind_errors(void **state)
{
    (void)state;
    yard_broker_t *b = NULL;
    yard_broker_opts_t bad = {.bind = "nonsense"};
    assert_int_equal(yard_broker_new(&bad, NULL, &b), YARD_E_CONFIG);
    assert_null(b);
    tb_env_t env;
    tb_start(&env, NULL);
    yard_broker_opts_t taken = {.bind = env.endpoint};
    assert_int_equal(yard_broker_new(&taken, NULL, &b), YARD_E_IO);
    assert_null(b);
    tb_stop(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind_errors),
        cmocka_unit_test(test_routes_request_and_reply),
        cmocka_unit_test(test_round_robin_over_three_replicas),
        cmocka_unit_test(test_fill_replica_keeps_the_turn_while_it_has_credit),
        cmocka_unit_test(test_credit_is_never_exceeded),
        cmocka_unit_test(test_full_queue_answers_overloaded),
        cmocka_unit_test(test_queued_request_times_out),
        cmocka_unit_test(test_held_request_times_out_and_late_reply_is_dropped),
        cmocka_unit_test(test_silent_replica_gives_worker_lost),
        cmocka_unit_test(test_idempotent_request_is_resent_to_another_replica),
        cmocka_unit_test(test_unknown_service_is_no_service_after_the_startup_grace),
        cmocka_unit_test(test_startup_grace_holds_requests_until_replicas_register),
        cmocka_unit_test(test_grace_keeps_requests_for_a_restarting_replica),
        cmocka_unit_test(test_credit_zero_waits_and_heartbeat_tells_the_demand),
        cmocka_unit_test(test_drain_sends_nothing_new),
        cmocka_unit_test(test_unknown_replica_gets_disconnect),
        cmocka_unit_test(test_send_consumes_credit_and_gets_no_answer),
        cmocka_unit_test(test_heartbeat_is_answered_with_negotiated_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
