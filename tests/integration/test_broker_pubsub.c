/* Pub/sub through the broker (wildcards, once per peer, unsubscribe), the `$sys` service
 * (ping, stats, unknown op) and its `$sys.events` (socket monitor and replica events). */
#include "test_broker_util.h"
#include "yard/error.h"

#include <msgpack.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define WAIT 2000

static void
s_expect_pub(tb_env_t *env, void *sub, const char *subject, const char *body)
{
    tb_msg_t m;
    tb_expect(env, sub, YARD_CMD_PUBLISH, &m, WAIT);
    assert_true(yard_str_eq_cstr(m.h.service, subject));
    assert_true(tb_body_is(&m, body));
    tb_msg_close(&m);
}

static void
s_publish(void *pub, const char *subject, const char *body)
{
    yard_header_t h = {.service = yard_str(subject)};
    tb_send(pub, YARD_CMD_PUBLISH, &h, body, strlen(body));
}

static void
test_publish_fans_out_with_wildcards_once_per_peer(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    const char *p1[] = {"jobs.*"};
    const char *p2[] = {"jobs.>", "jobs.mail.sent"};
    const char *p3[] = {"other"};
    void *star = tb_subscriber(&env, p1, 1);
    void *rest = tb_subscriber(&env, p2, 2);
    void *other = tb_subscriber(&env, p3, 1);
    void *pub = tb_peer(&env);

    s_publish(pub, "jobs.mail", "one");
    s_expect_pub(&env, star, "jobs.mail", "one");
    s_expect_pub(&env, rest, "jobs.mail", "one");
    s_publish(pub, "jobs.mail.sent", "two"); /* two of rest's patterns match: sent once */
    s_expect_pub(&env, rest, "jobs.mail.sent", "two");
    assert_true(tb_quiet(&env, rest, 30));
    assert_true(tb_quiet(&env, star, 0));
    assert_true(tb_quiet(&env, other, 0));

    yard_header_t un = {.service = yard_str("jobs.>")};
    tb_send(rest, YARD_CMD_UNSUBSCRIBE, &un, NULL, 0);
    yard_header_t hb = {0};
    tb_send(rest, YARD_CMD_HEARTBEAT, &hb, NULL, 0);
    tb_msg_t m;
    tb_expect(&env, rest, YARD_CMD_HEARTBEAT, &m, WAIT);
    tb_msg_close(&m);
    s_publish(pub, "jobs.x", "three");
    s_expect_pub(&env, star, "jobs.x", "three");
    assert_true(tb_quiet(&env, rest, 30));
    assert_int_equal(tb_stat(&env, pub, NULL, "delivered"), 4);
    zmq_close(star);
    zmq_close(rest);
    zmq_close(other);
    zmq_close(pub);
    tb_stop(&env);
}

static void
test_sys_ping_stats_and_unknown_op(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *replica = tb_replica(&env, "svc", 3, 1000);
    void *client = tb_peer(&env);
    yard_header_t h = {.id = 1, .service = yard_str("$sys"), .op = yard_str("ping")};
    tb_send(client, YARD_CMD_REQUEST, &h, "", 0);
    tb_msg_t m;
    tb_expect(&env, client, YARD_CMD_REPLY, &m, WAIT);
    assert_int_equal(m.h.id, 1);
    assert_true(tb_body_is(&m, "\x80")); /* an empty msgpack map */
    tb_msg_close(&m);
    h.id = 2;
    h.op = yard_str("reboot");
    tb_send(client, YARD_CMD_REQUEST, &h, "", 0);
    tb_expect(&env, client, YARD_CMD_ERROR, &m, WAIT);
    assert_int_equal(m.h.error, yard_err_to_wire(YARD_E_BAD_REQUEST));
    tb_msg_close(&m);
    assert_int_equal(tb_stat(&env, client, "svc", "credit"), 3);
    assert_int_equal(tb_stat(&env, client, "svc", "replicas"), 1);
    assert_int_equal(tb_stat(&env, client, NULL, "peers"), 1);
    assert_true(tb_stat(&env, client, NULL, "uptime_ms") < 60000);
    assert_int_equal(tb_stat(&env, client, NULL, "error.BAD_REQUEST"), 1);
    zmq_close(replica);
    zmq_close(client);
    tb_stop(&env);
}

typedef struct {
    const char *event;
    const char *service; /* NULL: any */
    bool seen;
} s_expect_t;

/* Marks the expectations that one $sys.events message meets. */
static void
s_match_event(const tb_msg_t *m, s_expect_t *want, int n)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    msgpack_unpack_next(&up, zmq_msg_data((zmq_msg_t *)&m->body),
                        zmq_msg_size((zmq_msg_t *)&m->body), NULL);
    yard_str_t ev = {0}, svc = {0};
    for (uint32_t i = 0; up.data.type == MSGPACK_OBJECT_MAP && i < up.data.via.map.size; i++) {
        msgpack_object_kv *kv = &up.data.via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR) {
            continue;
        }
        yard_str_t k = {kv->key.via.str.ptr, kv->key.via.str.size};
        yard_str_t v = {kv->val.via.str.ptr, kv->val.via.str.size};
        if (yard_str_eq_cstr(k, "event")) {
            ev = v;
        } else if (yard_str_eq_cstr(k, "service")) {
            svc = v;
        }
    }
    for (int i = 0; i < n; i++) {
        want[i].seen |= yard_str_eq_cstr(ev, want[i].event) &&
                        (!want[i].service || yard_str_eq_cstr(svc, want[i].service));
    }
    msgpack_unpacked_destroy(&up);
}

/* Returns true when every expected event has arrived, in any order: socket monitor events
 * reach the broker asynchronously, so they may come before or after the messages that
 * caused them. */
static bool
s_wait_events(tb_env_t *env, void *sub, s_expect_t *want, int n)
{
    tb_msg_t m;
    for (;;) {
        int missing = 0;
        for (int i = 0; i < n; i++) {
            missing += !want[i].seen;
        }
        if (missing == 0) {
            return true;
        }
        if (!tb_recv(env, sub, &m, WAIT)) {
            for (int i = 0; i < n; i++) {
                if (!want[i].seen) {
                    print_message("missing event %s\n", want[i].event);
                }
            }
            return false;
        }
        s_match_event(&m, want, n);
        tb_msg_close(&m);
    }
}

static void
test_sys_events_report_sockets_and_replicas(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    const char *pat[] = {"$sys.events"};
    void *sub = tb_subscriber(&env, pat, 1);
    void *replica = tb_replica(&env, "watched", 1, 1000);
    s_expect_t joined[] = {{"accepted", NULL, false}, {"replica_ready", "watched", false}};
    assert_true(s_wait_events(&env, sub, joined, 2));
    yard_header_t none = {0};
    tb_send(replica, YARD_CMD_DRAIN, &none, NULL, 0);
    tb_send(replica, YARD_CMD_DISCONNECT, &none, NULL, 0);
    s_expect_t drained[] = {{"replica_drained", "watched", false}};
    assert_true(s_wait_events(&env, sub, drained, 1));
    zmq_close(replica);
    s_expect_t gone[] = {{"disconnected", NULL, false}};
    assert_true(s_wait_events(&env, sub, gone, 1));
    zmq_close(sub);
    tb_stop(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_fans_out_with_wildcards_once_per_peer),
        cmocka_unit_test(test_sys_ping_stats_and_unknown_op),
        cmocka_unit_test(test_sys_events_report_sockets_and_replicas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
