/* The bad-input table of docs/protocol.md section 8: each malformed message is counted under
 * its kind, answered where it should be (with the id when one was readable), and leaves the
 * broker answering a normal request right after. */
#include "test_broker_util.h"
#include "yard/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define WAIT     2000
#define MAX_BODY 1024

static uint8_t s_big[YARD_WIRE_HEADER_MAX + 100];

typedef struct {
    const char *name;
    const char *fault; /* counter fault.<kind> */
    int answer;        /* expected ERROR code, 0: none */
    bool from_replica; /* sent by the registered replica */
    int nframes;
    const void *frames[5];
    size_t sizes[5];
} s_case_t;

static uint8_t s_req_cmd[4] = {'Y', 'D', 1, YARD_CMD_REQUEST};
static uint8_t s_reply_cmd[4] = {'Y', 'D', 1, YARD_CMD_REPLY};
static uint8_t s_hdr[64]; /* {id: 1, service: "echo"} */
static size_t s_hdr_len;
static uint8_t s_noid[64]; /* {service: "echo"} */
static size_t s_noid_len;
static uint8_t s_unknown_id[64]; /* {id: 999} */
static size_t s_unknown_id_len;
static uint8_t s_body[MAX_BODY * 2];

static void
s_encode(const yard_header_t *h, uint8_t *buf, size_t *len)
{
    int n = yard_wire_encode_header(h, buf, 64);
    assert_true(n > 0);
    *len = (size_t)n;
}

static void
s_table(s_case_t *t, int *n)
{
    int i = 0;
    t[i++] = (s_case_t){
        "bad signature",  "fault.protocol", YARD_E_PROTOCOL, false, 3, {"XD\x01\x02", s_hdr, "x"},
        {4, s_hdr_len, 1}};
    t[i++] = (s_case_t){
        "bad version",    "fault.protocol", YARD_E_PROTOCOL, false, 3, {"YD\x02\x02", s_hdr, "x"},
        {4, s_hdr_len, 1}};
    t[i++] = (s_case_t){"unknown command",          "fault.protocol", YARD_E_PROTOCOL, false, 3,
                        {"YD\x01\x63", s_hdr, "x"}, {4, s_hdr_len, 1}};
    t[i++] = (s_case_t){"short command frame",  "fault.protocol", YARD_E_PROTOCOL, false, 3,
                        {"YD\x01", s_hdr, "x"}, {3, s_hdr_len, 1}};
    t[i++] = (s_case_t){"REQUEST without body", "fault.bad_frames", YARD_E_BAD_REQUEST, false, 2,
                        {s_req_cmd, s_hdr},     {4, s_hdr_len}};
    t[i++] =
        (s_case_t){"one frame", "fault.bad_frames", YARD_E_BAD_REQUEST, false, 1, {s_req_cmd}, {4}};
    t[i++] = (s_case_t){"five frames",
                        "fault.bad_frames",
                        YARD_E_BAD_REQUEST,
                        false,
                        5,
                        {s_req_cmd, s_hdr, "x", "y", "z"},
                        {4, s_hdr_len, 1, 1, 1}};
    t[i++] =
        (s_case_t){"truncated msgpack",          "fault.bad_header", YARD_E_BAD_REQUEST, false, 3,
                   {s_req_cmd, "\x82\x01", "x"}, {4, 2, 1}};
    t[i++] = (s_case_t){"header not a map",
                        "fault.bad_header",
                        YARD_E_BAD_REQUEST,
                        false,
                        3,
                        {s_req_cmd, "\x93\x01\x02\x03", "x"},
                        {4, 4, 1}};
    t[i++] = (s_case_t){"service of wrong type",
                        "fault.bad_header",
                        YARD_E_BAD_REQUEST,
                        false,
                        3,
                        {s_req_cmd, "\x82\x01\x01\x02\x05", "x"},
                        {4, 5, 1}};
    t[i++] =
        (s_case_t){"oversize header",       "fault.header_too_large", YARD_E_TOO_LARGE, false, 3,
                   {s_req_cmd, s_big, "x"}, {4, sizeof s_big, 1}};
    t[i++] = (s_case_t){
        "body over max_body",       "fault.body_too_large",       YARD_E_TOO_LARGE, false, 3,
        {s_req_cmd, s_hdr, s_body}, {4, s_hdr_len, sizeof s_body}};
    t[i++] =
        (s_case_t){"REQUEST without id",     "fault.missing_field", YARD_E_BAD_REQUEST, false, 3,
                   {s_req_cmd, s_noid, "x"}, {4, s_noid_len, 1}};
    t[i++] = (s_case_t){"REPLY for an unknown id",        "fault.unknown_id",      0, true, 3,
                        {s_reply_cmd, s_unknown_id, "x"}, {4, s_unknown_id_len, 1}};
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
    memset(s_big, 0x80, sizeof s_big);
    yard_header_t h = {.id = 1, .service = yard_str("echo")};
    s_encode(&h, s_hdr, &s_hdr_len);
    yard_header_t noid = {.service = yard_str("echo")};
    s_encode(&noid, s_noid, &s_noid_len);
    yard_header_t unk = {.id = 999};
    s_encode(&unk, s_unknown_id, &s_unknown_id_len);

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
            if (c->answer == YARD_E_TOO_LARGE && c->sizes[1] == s_hdr_len) {
                assert_int_equal(m.h.id, 1); /* the id was readable */
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input_is_counted_answered_and_survived),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
