/* Batches at the broker (protocol section 3.1), with raw DEALER peers that read the frames
 * themselves: each message of a BATCH is handled as if it had come alone (its own answer when
 * it is wrong, the others untouched), what one turn sends to one peer leaves as one BATCH
 * frame, and a malformed batch is refused with a reason while what came before it stands. */
#include "test_broker_util.h"
#include "yard/batch.h"
#include "yard/error.h"
#include "yard/wire.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

/* Adds one message to a batch: cmd, h, and an inline body (NULL: none). */
static void
s_add(yard_batch_t *b, yard_cmd_t cmd, const yard_header_t *h, const char *body)
{
    uint8_t frame[YARD_WIRE_HEADER_MAX + YARD_WIRE_INLINE_MAX];
    int n = body ? yard_wire_encode_inline(cmd, h, body, strlen(body), frame, sizeof frame)
                 : yard_wire_encode(cmd, h, frame, sizeof frame);
    assert_true(n > 0);
    assert_int_equal(yard_batch_add(b, frame, (size_t)n), 0);
}

static void
s_send_frame(void *sock, const void *frame, size_t size)
{
    const void *frames[] = {frame};
    const size_t sizes[] = {size};
    tb_send_raw(sock, frames, sizes, 1);
}

static void
s_send_batch(void *sock, yard_batch_t *b)
{
    size_t size;
    const void *frame = yard_batch_frame(b, &size);
    assert_true(yard_batch_is(frame, size));
    s_send_frame(sock, frame, size);
    yard_batch_clear(b, 0);
}

/* Receives one raw frame within 2 s; returns the messages it holds (1 when it is not a
 * BATCH), each decoded into out[] (ids) and cmds[]. */
static int
s_recv_raw(tb_env_t *env, void *sock, uint64_t *ids, int *cmds, int max, bool *batched)
{
    zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
    assert_int_equal(zmq_poll(&item, 1, 2000), 1);
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, sock, 0) >= 4);
    assert_false(zmq_msg_more(&m));
    const void *data = zmq_msg_data(&m);
    size_t size = zmq_msg_size(&m);
    *batched = yard_batch_is(data, size);
    yard_batch_reader_t rd;
    const char *why = NULL;
    int n = 0;
    const void *msg = data;
    size_t len = size;
    if (*batched) {
        assert_int_equal(yard_batch_reader_init(&rd, data, size, &why), 0);
    }
    while (!*batched || yard_batch_next(&rd, &msg, &len, &why) == 1) {
        yard_cmd_t cmd;
        yard_header_t h;
        assert_int_equal(yard_wire_decode(env->codec, msg, len, &cmd, &h, &why), 0);
        assert_true(n < max);
        ids[n] = h.id;
        cmds[n] = (int)cmd;
        n++;
        if (!*batched) {
            break;
        }
    }
    zmq_msg_close(&m);
    return n;
}

/* Three requests in one BATCH: the broken one (no service) is answered BAD_REQUEST with its
 * own id, the two good ones reach the replica in one BATCH frame, in order; the replica's two
 * replies, sent as one BATCH, reach the client as one BATCH frame with the client's ids. */
static void
test_each_message_of_a_batch_stands_alone(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *rep = tb_replica(&env, "b.echo", 10, 1000);
    void *client = tb_peer(&env);
    yard_batch_t b = {0};
    yard_header_t r1 = {.id = 11, .service = yard_str("b.echo"), .timeout_ms = 2000};
    yard_header_t bad = {.id = 12, .timeout_ms = 2000};
    yard_header_t r3 = {.id = 13, .service = yard_str("b.echo"), .timeout_ms = 2000};
    s_add(&b, YARD_CMD_REQUEST, &r1, "one");
    s_add(&b, YARD_CMD_REQUEST, &bad, "two");
    s_add(&b, YARD_CMD_REQUEST, &r3, "three");
    s_send_batch(client, &b);

    tb_expect_error(&env, client, 12, YARD_E_BAD_REQUEST);
    uint64_t ids[8];
    int cmds[8];
    bool batched;
    assert_int_equal(s_recv_raw(&env, rep, ids, cmds, 8, &batched), 2);
    assert_true(batched);
    assert_int_equal(cmds[0], YARD_CMD_REQUEST);
    assert_int_equal(cmds[1], YARD_CMD_REQUEST);
    assert_true(ids[0] != ids[1]);

    yard_header_t a1 = {.id = ids[0]}, a3 = {.id = ids[1]};
    s_add(&b, YARD_CMD_REPLY, &a1, "ONE");
    s_add(&b, YARD_CMD_REPLY, &a3, "THREE");
    s_send_batch(rep, &b);
    uint64_t got[8];
    assert_int_equal(s_recv_raw(&env, client, got, cmds, 8, &batched), 2);
    assert_true(batched);
    assert_int_equal(got[0], 11);
    assert_int_equal(got[1], 13);
    assert_int_equal(cmds[0], YARD_CMD_REPLY);
    assert_int_equal(cmds[1], YARD_CMD_REPLY);

    yard_batch_fini(&b);
    zmq_close(client);
    zmq_close(rep);
    tb_stop(&env);
}

/* A lone message is never wrapped: a single request reaches the replica as itself. */
static void
test_a_lone_message_is_not_a_batch(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *rep = tb_replica(&env, "b.echo", 10, 1000);
    void *client = tb_peer(&env);
    tb_request(client, 21, "b.echo", 2000, 0, "alone");
    uint64_t ids[2];
    int cmds[2];
    bool batched = true;
    assert_int_equal(s_recv_raw(&env, rep, ids, cmds, 2, &batched), 1);
    assert_false(batched);
    assert_int_equal(cmds[0], YARD_CMD_REQUEST);
    zmq_close(client);
    zmq_close(rep);
    tb_stop(&env);
}

/* A malformed tail: the request before it is routed, the rest is ERROR PROTOCOL (no id)
 * naming what was wrong; a batch over 64 KiB and a batch inside a batch likewise. */
static void
test_a_malformed_batch_is_refused_with_a_reason(void **state)
{
    (void)state;
    tb_env_t env;
    tb_start(&env, NULL);
    void *rep = tb_replica(&env, "b.echo", 10, 1000);
    void *client = tb_peer(&env);
    yard_batch_t b = {0};
    yard_header_t r1 = {.id = 31, .service = yard_str("b.echo"), .timeout_ms = 2000};
    s_add(&b, YARD_CMD_REQUEST, &r1, "first");
    s_add(&b, YARD_CMD_REQUEST, &r1, "second"); /* replaced by a truncated entry below */
    size_t size;
    const uint8_t *frame = yard_batch_frame(&b, &size);
    uint8_t buf[256];
    size_t first_end = 4 + YARD_BATCH_ENTRY_HEAD + (size_t)(frame[8]); /* bin 32, len < 256 */
    memcpy(buf, frame, first_end);
    memcpy(buf + first_end, "\xc6\x00\x00\x10\x00YD", 7); /* 4096 bytes announced, 2 there */
    s_send_frame(client, buf, first_end + 7);

    tb_msg_t m;
    tb_expect(&env, client, YARD_CMD_ERROR, &m, 2000);
    assert_int_equal(m.h.id, 0);
    assert_int_equal(m.h.error, yard_err_to_wire(YARD_E_PROTOCOL));
    assert_true(m.h.error_text.len > 0);
    assert_non_null(memmem(m.h.error_text.ptr, m.h.error_text.len, "truncated", 9));
    tb_msg_close(&m);
    tb_expect(&env, rep, YARD_CMD_REQUEST, &m, 2000); /* the first one stands */
    tb_msg_close(&m);

    static uint8_t big[YARD_BATCH_BYTES_MAX + 16];
    memcpy(big, frame, size);
    s_send_frame(client, big, sizeof big);
    tb_expect(&env, client, YARD_CMD_ERROR, &m, 2000);
    assert_non_null(memmem(m.h.error_text.ptr, m.h.error_text.len, "over 64 KiB", 11));
    tb_msg_close(&m);

    uint8_t nested[64] = {'Y', 'D', YARD_WIRE_VERSION, YARD_CMD_BATCH, 0xc6, 0, 0, 0, 4,
                          'Y', 'D', YARD_WIRE_VERSION, YARD_CMD_BATCH};
    s_send_frame(client, nested, 13);
    tb_expect(&env, client, YARD_CMD_ERROR, &m, 2000);
    assert_non_null(memmem(m.h.error_text.ptr, m.h.error_text.len, "inside", 6));
    tb_msg_close(&m);

    yard_batch_fini(&b);
    zmq_close(client);
    zmq_close(rep);
    tb_stop(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_message_of_a_batch_stands_alone),
        cmocka_unit_test(test_a_lone_message_is_not_a_batch),
        cmocka_unit_test(test_a_malformed_batch_is_refused_with_a_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
