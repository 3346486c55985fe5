/* The broker refuses a stateful replica whose store is not its service's (docs/protocol.md
 * 6.1), on the wire with raw DEALER peers: the answer (ERROR FORBIDDEN without id, naming both
 * stores), the counter, the `replica_refused` event, and what is not refused — the same store,
 * replicas without a store identity, a service whose only other replica is draining, and a
 * service whose stateful replicas have all gone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#include "test_broker_util.h"
#include "yard/error.h"

#define WAIT 2000

static const char s_mem_a[] = "memory:host-a:100:0123456789abcdef";
static const char s_mem_b[] = "memory:host-b:200:fedcba9876543210";
static const char s_redis[] = "redis://cache:6379/0";

/* Sends READY for service with store (NULL: none) and replica name; returns the answer's
 * command (READY or ERROR) with *m holding it (close it). */
static int
s_ready(tb_env_t *env, void *sock, const char *service, const char *store, const char *name,
        tb_msg_t *m)
{
    yard_header_t h = {.service = yard_str(service),
                       .credit = 4,
                       .heartbeat_ms = 1000,
                       .replica = yard_str(name),
                       .store = yard_str(store)};
    tb_send(sock, YARD_CMD_READY, &h, NULL, 0);
    assert_true(tb_recv(env, sock, m, WAIT));
    return m->cmd;
}

static void
s_accepted(tb_env_t *env, void *sock, const char *service, const char *store, const char *name)
{
    tb_msg_t m;
    assert_int_equal(s_ready(env, sock, service, store, name, &m), YARD_CMD_READY);
    tb_msg_close(&m);
}

/* The string at key in the map body of m, or "" (copied into out). */
static void
s_field(const tb_msg_t *m, const char *key, char *out, size_t cap)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    out[0] = '\0';
    size_t off = 0;
    if (msgpack_unpack_next(&up, zmq_msg_data((zmq_msg_t *)&m->body),
                            zmq_msg_size((zmq_msg_t *)&m->body), &off) == MSGPACK_UNPACK_SUCCESS &&
        up.data.type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < up.data.via.map.size; i++) {
            const msgpack_object_kv *kv = &up.data.via.map.ptr[i];
            if (kv->key.type == MSGPACK_OBJECT_STR && kv->val.type == MSGPACK_OBJECT_STR &&
                kv->key.via.str.size == strlen(key) &&
                memcmp(kv->key.via.str.ptr, key, strlen(key)) == 0) {
                snprintf(out, cap, "%.*s", (int)kv->val.via.str.size, kv->val.via.str.ptr);
            }
        }
    }
    msgpack_unpacked_destroy(&up);
}

/* Waits for the next `$sys.events` event named event (others are skipped). */
static bool
s_wait_event(tb_env_t *env, void *sub, const char *event, tb_msg_t *out)
{
    for (;;) {
        if (!tb_recv(env, sub, out, WAIT)) {
            return false;
        }
        char name[64];
        s_field(out, "event", name, sizeof name);
        if (strcmp(name, event) == 0) {
            return true;
        }
        tb_msg_close(out);
    }
}

static void
test_other_store_refused(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *sub = tb_subscriber(&env, (const char *const[]){"$sys.events"}, 1);
    void *a = tb_peer(&env), *b = tb_peer(&env), *client = tb_peer(&env);
    s_accepted(&env, a, "auth", s_mem_a, "host-a/100/0");

    tb_msg_t m;
    assert_int_equal(s_ready(&env, b, "auth", s_mem_b, "host-b/200/0", &m), YARD_CMD_ERROR);
    assert_int_equal(m.h.id, 0); /* the answer to a READY */
    assert_int_equal(yard_err_from_wire(m.h.error), YARD_E_FORBIDDEN);
    char text[YARD_WIRE_TEXT_MAX + 1];
    snprintf(text, sizeof text, "%.*s", (int)m.h.error_text.len, m.h.error_text.ptr);
    print_message("refusal: %s\n", text);
    assert_non_null(strstr(text, s_mem_a)); /* both stores, the other replica, what to do */
    assert_non_null(strstr(text, s_mem_b));
    assert_non_null(strstr(text, "host-a/100/0"));
    assert_non_null(strstr(text, "shared store"));
    tb_msg_close(&m);

    tb_msg_t ev;
    assert_true(s_wait_event(&env, sub, "replica_refused", &ev));
    char f[600];
    s_field(&ev, "service", f, sizeof f);
    assert_string_equal(f, "auth");
    s_field(&ev, "replica", f, sizeof f);
    assert_string_equal(f, "host-b/200/0");
    s_field(&ev, "store", f, sizeof f);
    assert_string_equal(f, s_mem_b);
    s_field(&ev, "expected", f, sizeof f);
    assert_string_equal(f, s_mem_a);
    tb_msg_close(&ev);

    /* counted; not registered: the service still has one replica, and b's heartbeat is
     * answered DISCONNECT (the broker does not know it) */
    assert_int_equal(tb_stat(&env, client, NULL, "replicas_refused"), 1);
    assert_int_equal(tb_stat(&env, client, "auth", "replicas"), 1);
    yard_header_t hb = {.heartbeat_ms = 1000, .credit = 4};
    tb_send(b, YARD_CMD_HEARTBEAT, &hb, NULL, 0);
    tb_expect(&env, b, YARD_CMD_DISCONNECT, &m, WAIT);
    tb_msg_close(&m);

    /* a Redis store is another store too */
    assert_int_equal(s_ready(&env, b, "auth", s_redis, "host-b/200/0", &m), YARD_CMD_ERROR);
    assert_int_equal(yard_err_from_wire(m.h.error), YARD_E_FORBIDDEN);
    tb_msg_close(&m);
    assert_int_equal(tb_stat(&env, client, NULL, "replicas_refused"), 2);

    /* a re-READY of the registered replica (a credit change) is still accepted */
    s_accepted(&env, a, "auth", s_mem_a, "host-a/100/0");
    assert_int_equal(tb_stat(&env, client, "auth", "replicas"), 1);
    zmq_close(a);
    zmq_close(b);
    zmq_close(client);
    zmq_close(sub);
    tb_stop(&env);
}

/* The same store, no store identity (stateless), another service: all accepted. */
static void
test_same_store_and_stateless_accepted(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *r1 = tb_peer(&env), *r2 = tb_peer(&env), *r3 = tb_peer(&env), *r4 = tb_peer(&env);
    void *client = tb_peer(&env);
    s_accepted(&env, r1, "auth", s_redis, "h/1/0");
    s_accepted(&env, r2, "auth", s_redis, "h/2/0");
    s_accepted(&env, r3, "auth", NULL, "h/3/0"); /* no identity: not compared */
    s_accepted(&env, r4, "scheduler", s_mem_a, "h/4/0");
    assert_int_equal(tb_stat(&env, client, "auth", "replicas"), 3);
    assert_int_equal(tb_stat(&env, client, NULL, "replicas_refused"), 0);
    zmq_close(r1);
    zmq_close(r2);
    zmq_close(r3);
    zmq_close(r4);
    zmq_close(client);
    tb_stop(&env);
}

/* Only live replicas count: one that drains takes no new requests (a rolling restart), and
 * one that went away leaves no store behind. */
static void
test_draining_and_gone_replicas_do_not_count(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *old = tb_peer(&env), *fresh = tb_peer(&env), *third = tb_peer(&env);
    s_accepted(&env, old, "auth", s_mem_a, "h/1/0");
    yard_header_t none = {0};
    tb_send(old, YARD_CMD_DRAIN, &none, NULL, 0);
    /* The broker answers this HEARTBEAT after it has taken the DRAIN (one connection keeps
     * order; fresh's READY on another would not wait for it). */
    yard_header_t hb = {.heartbeat_ms = 1000, .credit = 4};
    tb_send(old, YARD_CMD_HEARTBEAT, &hb, NULL, 0);
    tb_msg_t m;
    int cmd;
    do {
        assert_true(tb_recv(&env, old, &m, WAIT));
        cmd = m.cmd;
        tb_msg_close(&m);
    } while (cmd != YARD_CMD_HEARTBEAT);
    s_accepted(&env, fresh, "auth", s_mem_b, "h/2/0"); /* old drains: fresh is accepted */
    assert_int_equal(s_ready(&env, third, "auth", s_mem_a, "h/3/0", &m), YARD_CMD_ERROR);
    tb_msg_close(&m); /* but old's store no longer counts */

    tb_send(fresh, YARD_CMD_DISCONNECT, &none, NULL, 0);
    tb_send(old, YARD_CMD_DISCONNECT, &none, NULL, 0);
    /* the DISCONNECTs are taken before this READY when it is sent after a round trip */
    void *client = tb_peer(&env);
    assert_true(tb_wait_stat(&env, client, "auth", "replicas", 0, WAIT) == 0);
    s_accepted(&env, third, "auth", s_mem_a, "h/3/0");
    zmq_close(old);
    zmq_close(fresh);
    zmq_close(third);
    zmq_close(client);
    tb_stop(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_other_store_refused),
        cmocka_unit_test(test_same_store_and_stateless_accepted),
        cmocka_unit_test(test_draining_and_gone_replicas_do_not_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
