/* The bad-input table of docs/protocol.md section 8: each malformed message is counted under
 * its kind, answered where it should be (with the id when one was readable), and leaves the
 * broker answering a normal request right after. */
#include "test_broker_util.h"
#include "yard/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define WAIT     2000
#define MAX_BODY 1024

static uint8_t s_big[YARD_WIRE_HEADER_MAX + YARD_WIRE_INLINE_MAX + 100];

typedef struct {
    const char *name;
    const char *fault; /* counter fault.<kind> */
    int answer;        /* expected ERROR code, 0: none */
    bool from_replica; /* sent by the registered replica */
    int nframes;
    const void *frames[4];
    size_t sizes[4];
} s_case_t;

/* Head frames: a 4-byte prefix, then a header. Each case gets its own buffer. */
typedef struct {
    uint8_t bytes[128];
    size_t len;
} s_head_t;

enum {
    H_BAD_SIG,
    H_BAD_VERSION,
    H_BAD_CMD,
    H_REQ,
    H_TRUNCATED,
    H_NOT_MAP,
    H_WRONG_TYPE,
    H_NO_ID,
    H_REPLY_UNKNOWN,
    H_REQ_TRAIL,
    H_MAX_
};
static s_head_t s_heads[H_MAX_];
static uint8_t s_body[MAX_BODY * 2];

static void
s_head(int slot, const char *prefix, const void *hdr, size_t len)
{
    s_head_t *h = &s_heads[slot];
    memcpy(h->bytes, prefix, 4);
    memcpy(h->bytes + 4, hdr, len);
    h->len = 4 + len;
}

static void
s_heads_init(void)
{
    uint8_t hdr[64];
    yard_header_t h = {.id = 1, .service = yard_str("echo")};
    int n = yard_wire_encode(YARD_CMD_REQUEST, &h, hdr, sizeof hdr);
    assert_true(n > 4);
    const uint8_t *good = hdr + 4;
    size_t good_len = (size_t)n - 4;
    s_head(H_BAD_SIG, "XD\x01\x02", good, good_len);
    s_head(H_BAD_VERSION, "YD\x04\x02", good, good_len);
    s_head(H_BAD_CMD, "YD\x03\x63", good, good_len);
    s_head(H_REQ, "YD\x03\x02", good, good_len);
    s_head(H_TRUNCATED, "YD\x03\x02", "\x82\x01", 2);
    s_head(H_NOT_MAP, "YD\x03\x02", "\x93\x01\x02\x03", 4);
    s_head(H_WRONG_TYPE, "YD\x03\x02", "\x82\x01\x01\x02\x05", 5);
    uint8_t trail[64];
    memcpy(trail, good, good_len);
    memcpy(trail + good_len, "zz", 2); /* an inline body, and then a body frame too */
    s_head(H_REQ_TRAIL, "YD\x03\x02", trail, good_len + 2);
    yard_header_t noid = {.service = yard_str("echo")};
    n = yard_wire_encode(YARD_CMD_REQUEST, &noid, s_heads[H_NO_ID].bytes, 128);
    assert_true(n > 0);
    s_heads[H_NO_ID].len = (size_t)n;
    yard_header_t unk = {.id = 999};
    n = yard_wire_encode(YARD_CMD_REPLY, &unk, s_heads[H_REPLY_UNKNOWN].bytes, 128);
    assert_true(n > 0);
    s_heads[H_REPLY_UNKNOWN].len = (size_t)n;
    memset(s_big, 0x80, sizeof s_big);
    memcpy(s_big, "YD\x03\x02", 4);
}

#define HEAD(k) s_heads[k].bytes
#define HLEN(k) s_heads[k].len

static void
s_table(s_case_t *t, int *n)
{
    int i = 0;
    t[i++] = (s_case_t){"bad signature",        "fault.protocol",    YARD_E_PROTOCOL, false, 2,
                        {HEAD(H_BAD_SIG), "x"}, {HLEN(H_BAD_SIG), 1}};
    t[i++] = (s_case_t){"bad version",
                        "fault.protocol",
                        YARD_E_PROTOCOL,
                        false,
                        2,
                        {HEAD(H_BAD_VERSION), "x"},
                        {HLEN(H_BAD_VERSION), 1}};
    t[i++] = (s_case_t){"unknown command",      "fault.protocol",    YARD_E_PROTOCOL, false, 2,
                        {HEAD(H_BAD_CMD), "x"}, {HLEN(H_BAD_CMD), 1}};
    t[i++] = (s_case_t){"head shorter than its prefix",
                        "fault.protocol",
                        YARD_E_PROTOCOL,
                        false,
                        2,
                        {"YD\x02", "x"},
                        {3, 1}};
    t[i++] = (s_case_t){
        "an inline body and a body frame", "fault.bad_header",    YARD_E_BAD_REQUEST, false, 2,
        {HEAD(H_REQ_TRAIL), "x"},          {HLEN(H_REQ_TRAIL), 1}};
    t[i++] = (s_case_t){"four frames",
                        "fault.bad_frames",
                        YARD_E_BAD_REQUEST,
                        false,
                        4,
                        {HEAD(H_REQ), "x", "y", "z"},
                        {HLEN(H_REQ), 1, 1, 1}};
    t[i++] =
        (s_case_t){"truncated msgpack",      "fault.bad_header",    YARD_E_BAD_REQUEST, false, 2,
                   {HEAD(H_TRUNCATED), "x"}, {HLEN(H_TRUNCATED), 1}};
    t[i++] = (s_case_t){"header not a map",     "fault.bad_header",  YARD_E_BAD_REQUEST, false, 2,
                        {HEAD(H_NOT_MAP), "x"}, {HLEN(H_NOT_MAP), 1}};
    t[i++] =
        (s_case_t){"service of wrong type",   "fault.bad_header",     YARD_E_BAD_REQUEST, false, 2,
                   {HEAD(H_WRONG_TYPE), "x"}, {HLEN(H_WRONG_TYPE), 1}};
    t[i++] = (s_case_t){"oversize head", "fault.header_too_large", YARD_E_TOO_LARGE, false, 2,
                        {s_big, "x"},    {sizeof s_big, 1}};
    t[i++] =
        (s_case_t){"body over max_body",  "fault.body_too_large",      YARD_E_TOO_LARGE, false, 2,
                   {HEAD(H_REQ), s_body}, {HLEN(H_REQ), sizeof s_body}};
    t[i++] = (s_case_t){"REQUEST without id", "fault.missing_field", YARD_E_BAD_REQUEST, false, 2,
                        {HEAD(H_NO_ID), "x"}, {HLEN(H_NO_ID), 1}};
    t[i++] = (s_case_t){"REPLY for an unknown id",    "fault.unknown_id",        0, true, 2,
                        {HEAD(H_REPLY_UNKNOWN), "x"}, {HLEN(H_REPLY_UNKNOWN), 1}};
    *n = i;
}

static void
s_round_trip(tb_env_t *env, void *client, void *replica, uint64_t id)
{
    tb_request(client, id, "echo", 0, 0, "ping");
    tb_msg_t m;
    tb_expect(env, replica, YARD_CMD_REQUEST, &m, WAIT);
    yard_header_t r = {.id = m.h.id};
    tb_msg_close(&m);
    tb_send(replica, YARD_CMD_REPLY, &r, "pong", 4);
    tb_expect(env, client, YARD_CMD_REPLY, &m, WAIT);
    assert_int_equal(m.h.id, id);
    tb_msg_close(&m);
}

static void
test_bad_input_is_counted_answered_and_survived(void **state)
{
    (void)state;
    s_heads_init();

    tb_env_t env;
    yard_broker_opts_t o = {.max_body = MAX_BODY};
    tb_start(&env, &o);
    void *replica = tb_replica(&env, "echo", 4, 1000);
    void *client = tb_peer(&env);
    s_case_t table[16];
    int n = 0;
    s_table(table, &n);
    for (int i = 0; i < n; i++) {
        const s_case_t *c = &table[i];
        print_message("case: %s\n", c->name);
        uint64_t before = tb_stat(&env, client, NULL, c->fault);
        void *bad = c->from_replica ? replica : tb_peer(&env);
        tb_send_raw(bad, c->frames, c->sizes, c->nframes);
        if (c->answer) {
            tb_msg_t m;
            tb_expect(&env, bad, YARD_CMD_ERROR, &m, WAIT);
            assert_int_equal(m.h.error, yard_err_to_wire(c->answer));
            if (c->answer == YARD_E_TOO_LARGE && c->frames[0] == HEAD(H_REQ)) {
                assert_int_equal(m.h.id, 1); /* the head was readable: its id is echoed */
            }
            tb_msg_close(&m);
        }
        assert_int_equal(tb_wait_stat(&env, client, NULL, c->fault, before + 1, WAIT), before + 1);
        s_round_trip(&env, client, replica, 100 + (uint64_t)i);
        if (!c->from_replica) {
            zmq_close(bad);
        }
    }
    zmq_close(client);
    zmq_close(replica);
    tb_stop(&env);
}

/* A field out of range (timeout_ms over 32 bits, or negative) is answered BAD_REQUEST with
 * the request's id, readable before or after the bad field, and a reason naming the field. */
static void
test_bad_field_answer_names_request_and_field(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *client = tb_peer(&env);
    /* {1: 77, 2: "echo", 4: 2^32} and {4: -1, 2: "echo", 1: 78} */
    const uint8_t over[] = {'Y', 'D',  3,    2, 0x83, 0x01, 77, 0x02, 0xa4, 'e', 'c', 'h',
                            'o', 0x04, 0xcf, 0, 0,    0,    1,  0,    0,    0,   0};
    const uint8_t negative[] = {'Y',  'D', 3,   2,   0x83, 0x04, 0xff, 0x02,
                                0xa4, 'e', 'c', 'h', 'o',  0x01, 78};
    const void *frames[2][2] = {{over, "x"}, {negative, "x"}};
    const size_t sizes[2][2] = {{sizeof over, 1}, {sizeof negative, 1}};
    for (int i = 0; i < 2; i++) {
        tb_send_raw(client, frames[i], sizes[i], 2);
        tb_msg_t m;
        tb_expect(&env, client, YARD_CMD_ERROR, &m, WAIT);
        assert_int_equal(m.h.error, yard_err_to_wire(YARD_E_BAD_REQUEST));
        assert_int_equal(m.h.id, 77 + i);
        assert_true(
            yard_str_eq_cstr(m.h.error_text, "timeout_ms is not an unsigned 32-bit integer"));
        tb_msg_close(&m);
    }
    zmq_close(client);
    tb_stop(&env);
}

/* READY offers a service under the name requests give: wildcards and `$` names are refused
 * with an ERROR naming the rule, and nothing is registered. */
static void
test_ready_for_a_wildcard_name_is_refused(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *client = tb_peer(&env);
    const char *names[] = {"a.*", ">", "*", "a.>", "a..b", "a b", "$sys", "$x.y"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *peer = tb_peer(&env);
        yard_header_t h = {.service = yard_str(names[i]), .credit = 1, .heartbeat_ms = 1000};
        tb_send(peer, YARD_CMD_READY, &h, NULL, 0);
        tb_msg_t m;
        tb_expect(&env, peer, YARD_CMD_ERROR, &m, WAIT);
        assert_int_equal(m.h.error, yard_err_to_wire(YARD_E_BAD_REQUEST));
        char text[YARD_WIRE_TEXT_MAX + 1];
        snprintf(text, sizeof text, "%.*s", (int)m.h.error_text.len, m.h.error_text.ptr);
        print_message("READY %s: %s\n", names[i], text);
        if (names[i][0] == '$') {
            assert_non_null(strstr(text, "'$' are the broker's"));
        } else {
            assert_non_null(strstr(text, names[i]));
            assert_non_null(strstr(text, "wildcards '*' and '>'"));
        }
        tb_msg_close(&m);
        zmq_close(peer);
    }
    assert_int_equal(tb_stat(&env, client, NULL, "peers"), 0);
    /* A concrete name with dots is still a service. */
    void *ok = tb_replica(&env, "jobs.mail", 1, 1000);
    zmq_close(ok);
    zmq_close(client);
    tb_stop(&env);
}

/* A peer of a previous protocol version is refused in words it can read: ERROR PROTOCOL in
 * a frame of its own version, naming both versions. */
static void
s_refused_in_its_version(uint8_t version, const char *text)
{
    tb_env_t env;
    tb_start(&env, NULL);
    void *peer = tb_peer(&env);
    uint8_t head[64];
    yard_header_t h = {.id = 5, .service = yard_str("echo")};
    int n = yard_wire_encode(YARD_CMD_REQUEST, &h, head, sizeof head);
    assert_true(n > 0);
    head[2] = version; /* its REQUEST: the header was encoded the same way */
    const void *frames[] = {head, "x"};
    const size_t sizes[] = {(size_t)n, 1};
    tb_send_raw(peer, frames, sizes, 2);
    zmq_pollitem_t item = {.socket = peer, .events = ZMQ_POLLIN};
    assert_int_equal(zmq_poll(&item, 1, 2000), 1);
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, peer, 0) > 4);
    uint8_t *got = zmq_msg_data(&m);
    assert_int_equal(got[2], version);
    assert_int_equal(got[3], YARD_CMD_ERROR);
    got[2] = YARD_WIRE_VERSION; /* read it with this codec */
    yard_cmd_t cmd;
    yard_header_t e;
    const char *why = NULL;
    assert_int_equal(yard_wire_decode(env.codec, got, zmq_msg_size(&m), &cmd, &e, &why), 0);
    assert_int_equal(e.error, yard_err_to_wire(YARD_E_PROTOCOL));
    assert_non_null(strstr(e.error_text.ptr, text));
    zmq_msg_close(&m);
    zmq_close(peer);
    tb_stop(&env);
}

static void
test_a_yd1_peer_is_refused_in_yd1(void **state)
{
    (void)state;
    s_refused_in_its_version(1, "YD/1, this one YD/3");
}

static void
test_a_yd2_peer_is_refused_in_yd2(void **state)
{
    (void)state;
    s_refused_in_its_version(2, "YD/2, this one YD/3");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input_is_counted_answered_and_survived),
        cmocka_unit_test(test_bad_field_answer_names_request_and_field),
        cmocka_unit_test(test_ready_for_a_wildcard_name_is_refused),
        cmocka_unit_test(test_a_yd1_peer_is_refused_in_yd1),
        cmocka_unit_test(test_a_yd2_peer_is_refused_in_yd2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
