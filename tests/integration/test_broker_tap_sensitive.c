/* Sensitive ops and the tap, on the wire (docs/protocol.md, "Taps"): a replica's READY lists
 * the ops whose bodies carry secrets, and the broker's copies of their requests and answers
 * carry no body frame, only tap.size and tap.hidden; every other op is copied as before. The
 * list is a union over the service's replicas, patterns match as subjects do, more than 64
 * distinct ops hide every body, and a READY whose list is not made of op names or patterns
 * is refused. An in-process broker and raw DEALER peers, so the test sees exactly the wire. */
#include "test_broker_util.h"
#include "yard/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define WAIT 2000

/* The value of a tap header of m, or NULL. Borrowed from m. */
static const char *
s_tap_header(const tb_msg_t *m, const char *key, char *buf, size_t cap)
{
    for (uint32_t i = 0; i < m->h.header_count; i++) {
        if (yard_str_eq_cstr(m->h.headers[i].key, key)) {
            snprintf(buf, cap, "%.*s", (int)m->h.headers[i].value.len, m->h.headers[i].value.ptr);
            return buf;
        }
    }
    return NULL;
}

/* A replica of service listing ops (n of them) as sensitive; waits for the broker's READY. */
static void *
s_replica(tb_env_t *env, const char *service, const char *const *ops, uint32_t n)
{
    yard_str_t list[YARD_WIRE_SENSITIVE_MAX];
    for (uint32_t i = 0; i < n; i++) {
        list[i] = yard_str(ops[i]);
    }
    void *s = tb_peer(env);
    yard_header_t h = {.service = yard_str(service),
                       .credit = 8,
                       .heartbeat_ms = 1000,
                       .sensitive = list,
                       .sensitive_count = n};
    tb_ready(env, s, &h);
    return s;
}

/* The replica leaves (DISCONNECT, then closed); returns once the broker counts left replicas
 * of service, so that no request is routed to it after. */
static void
s_leave(tb_env_t *env, void *client, void *replica, const char *service, uint64_t left)
{
    yard_header_t none = {0};
    tb_send(replica, YARD_CMD_DISCONNECT, &none, NULL, 0);
    assert_int_equal(tb_wait_stat(env, client, service, "replicas", left, WAIT), left);
    zmq_close(replica);
}

/* A tapper on `$tap.PATTERN`, once the broker said hello. */
static void *
s_tapper(tb_env_t *env, const char *pattern)
{
    void *s = tb_peer(env);
    char sub[300];
    snprintf(sub, sizeof sub, "$tap.%s", pattern);
    yard_header_t h = {.service = yard_str(sub)};
    tb_send(s, YARD_CMD_SUBSCRIBE, &h, NULL, 0);
    tb_msg_t m;
    tb_expect(env, s, YARD_CMD_PUBLISH, &m, WAIT);
    char v[32];
    assert_non_null(s_tap_header(&m, "tap.kind", v, sizeof v));
    assert_string_equal(v, "hello");
    tb_msg_close(&m);
    return s;
}

/* Expects the tap's copy of kind next; checks it is hidden (no body, its size) or shown (the
 * body as sent). */
static void
s_expect_copy(tb_env_t *env, void *tap, const char *kind, const char *body, bool hidden)
{
    tb_msg_t m;
    tb_expect(env, tap, YARD_CMD_PUBLISH, &m, WAIT);
    char v[64], size[32];
    assert_non_null(s_tap_header(&m, "tap.kind", v, sizeof v));
    assert_string_equal(v, kind);
    if (hidden) {
        assert_int_equal(zmq_msg_size(&m.body), 0);
        assert_non_null(s_tap_header(&m, "tap.hidden", v, sizeof v));
        assert_string_equal(v, "sensitive");
        snprintf(v, sizeof v, "%zu", strlen(body));
        assert_non_null(s_tap_header(&m, "tap.size", size, sizeof size));
        assert_string_equal(size, v);
    } else {
        assert_true(tb_body_is(&m, body));
        assert_null(s_tap_header(&m, "tap.hidden", v, sizeof v));
    }
    tb_msg_close(&m);
}

/* One call of op through the broker with both bodies, checked on the tap. */
static void
s_call(tb_env_t *env, void *client, void *replica, void *tap, const char *service, const char *op,
       bool hidden)
{
    static uint64_t id = 1;
    const char *req = "{\"password\":\"secret-1\"}";
    const char *rep = "{\"token\":\"secret-2\"}";
    yard_header_t h = {.id = ++id, .service = yard_str(service), .op = yard_str(op)};
    tb_send(client, YARD_CMD_REQUEST, &h, req, strlen(req));
    tb_msg_t m;
    tb_expect(env, replica, YARD_CMD_REQUEST, &m, WAIT);
    assert_true(tb_body_is(&m, req)); /* the replica always gets the body */
    yard_header_t r = {.id = m.h.id};
    tb_msg_close(&m);
    tb_send(replica, YARD_CMD_REPLY, &r, rep, strlen(rep));
    tb_expect(env, client, YARD_CMD_REPLY, &m, WAIT);
    assert_true(tb_body_is(&m, rep)); /* and the client its reply */
    tb_msg_close(&m);
    print_message("%s %s: %s\n", service, op[0] ? op : "(no op)", hidden ? "hidden" : "shown");
    s_expect_copy(env, tap, "request", req, hidden);
    s_expect_copy(env, tap, "reply", rep, hidden);
}

static void
test_sensitive_ops_are_never_copied(void **state)
{
    (void)state;
    tb_env_t env;
    yard_broker_opts_t o = {.tap = true};
    tb_start(&env, &o);
    const char *ops[] = {"login", "user.*"};
    void *a = s_replica(&env, "auth", ops, 2);
    void *tap = s_tapper(&env, "auth");
    void *client = tb_peer(&env);
    s_call(&env, client, a, tap, "auth", "login", true);
    s_call(&env, client, a, tap, "auth", "user.create", true);
    s_call(&env, client, a, tap, "auth", "user", false); /* "user.*" needs a second token */
    s_call(&env, client, a, tap, "auth", "ping", false);
    s_call(&env, client, a, tap, "auth", "", false);

    /* A second replica adds its own: the union holds, for requests to either. */
    const char *more[] = {"refresh"};
    void *b = s_replica(&env, "auth", more, 1);
    s_leave(&env, client, a, "auth", 1); /* b takes everything now, and the union stays */
    s_call(&env, client, b, tap, "auth", "refresh", true);
    s_call(&env, client, b, tap, "auth", "login", true);

    /* An error answer to a sensitive op: its name, not its text. */
    yard_header_t h = {.id = 99, .service = yard_str("auth"), .op = yard_str("login")};
    tb_send(client, YARD_CMD_REQUEST, &h, "x", 1);
    tb_msg_t m;
    tb_expect(&env, b, YARD_CMD_REQUEST, &m, WAIT);
    yard_header_t e = {.id = m.h.id,
                       .error = yard_err_to_wire(YARD_E_SERVICE),
                       .app_error = yard_str("BAD_PASSWORD"),
                       .error_text = yard_str("password secret-1 is wrong")};
    tb_msg_close(&m);
    tb_send(b, YARD_CMD_ERROR, &e, NULL, 0);
    tb_expect(&env, client, YARD_CMD_ERROR, &m, WAIT);
    tb_msg_close(&m);
    s_expect_copy(&env, tap, "request", "x", true);
    tb_expect(&env, tap, YARD_CMD_PUBLISH, &m, WAIT);
    char v[64];
    assert_string_equal(s_tap_header(&m, "tap.kind", v, sizeof v), "error");
    assert_string_equal(s_tap_header(&m, "tap.error", v, sizeof v), "BAD_PASSWORD");
    assert_string_equal(s_tap_header(&m, "tap.hidden", v, sizeof v), "sensitive");
    assert_null(s_tap_header(&m, "tap.text", v, sizeof v));
    tb_msg_close(&m);

    zmq_close(b);
    zmq_close(tap);
    zmq_close(client);
    tb_stop(&env);
}

/* ">" hides every op, requests without an op included; more distinct ops than 64 over a
 * service's replicas hide every body too (the side to err on). */
static void
test_everything_hidden(void **state)
{
    (void)state;
    tb_env_t env;
    yard_broker_opts_t o = {.tap = true};
    tb_start(&env, &o);
    void *client = tb_peer(&env);
    const char *all[] = {">"};
    void *vault = s_replica(&env, "vault", all, 1);
    void *tap = s_tapper(&env, "*");
    s_call(&env, client, vault, tap, "vault", "", true);
    s_call(&env, client, vault, tap, "vault", "get.one", true);

    char names[YARD_WIRE_SENSITIVE_MAX][16];
    const char *ops[YARD_WIRE_SENSITIVE_MAX];
    for (int i = 0; i < YARD_WIRE_SENSITIVE_MAX; i++) {
        snprintf(names[i], sizeof names[i], "op%d", i);
        ops[i] = names[i];
    }
    void *wide = s_replica(&env, "wide", ops, YARD_WIRE_SENSITIVE_MAX);
    s_call(&env, client, wide, tap, "wide", "op7", true);
    s_call(&env, client, wide, tap, "wide", "other", false);
    const char *extra[] = {"one.more"};
    void *wide2 = s_replica(&env, "wide", extra, 1);
    s_leave(&env, client, wide, "wide", 1);
    s_call(&env, client, wide2, tap, "wide", "other", true);

    zmq_close(wide2);
    zmq_close(vault);
    zmq_close(tap);
    zmq_close(client);
    tb_stop(&env);
}

/* A sensitive list that is not op names or patterns is refused with the READY. */
static void
test_bad_sensitive_list_is_refused(void **state)
{
    (void)state;
    tb_env_t env;
    yard_broker_opts_t o = {.tap = true};
    tb_start(&env, &o);
    void *client = tb_peer(&env);
    const char *bad[] = {"a..b", "x.>.y", "has space"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *s = tb_peer(&env);
        yard_str_t list[] = {yard_str("login"), yard_str(bad[i])};
        yard_header_t h = {.service = yard_str("auth"),
                           .credit = 1,
                           .heartbeat_ms = 1000,
                           .sensitive = list,
                           .sensitive_count = 2};
        tb_send(s, YARD_CMD_READY, &h, NULL, 0);
        tb_msg_t m;
        tb_expect(&env, s, YARD_CMD_ERROR, &m, WAIT);
        assert_int_equal(m.h.error, yard_err_to_wire(YARD_E_BAD_REQUEST));
        char text[YARD_WIRE_TEXT_MAX + 1];
        snprintf(text, sizeof text, "%.*s", (int)m.h.error_text.len, m.h.error_text.ptr);
        print_message("%s: %s\n", bad[i], text);
        assert_non_null(strstr(text, bad[i]));
        assert_non_null(strstr(text, "is not an op name or pattern"));
        tb_msg_close(&m);
        zmq_close(s);
    }
    assert_int_equal(tb_stat(&env, client, NULL, "peers"), 0);
    zmq_close(client);
    tb_stop(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sensitive_ops_are_never_copied),
        cmocka_unit_test(test_everything_hidden),
        cmocka_unit_test(test_bad_sensitive_list_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
