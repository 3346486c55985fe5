/* A replica against a fake broker (a raw ROUTER socket in this test): a request it cannot
 * decode but whose id it can read is answered BAD_REQUEST with that id and the fault, so that
 * the broker gets its credit back and the caller an answer now rather than TIMEOUT; the
 * replica then serves the next request as usual. Every wait polls with a deadline. */
#include "harness.h"
#include "yard/actor.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/wire.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#define S_WAIT 5000

static int
s_echo(yard_request_t *req, void *state)
{
    (void)state;
    size_t size;
    const void *body = yard_request_body(req, &size);
    return yard_request_reply(req, body, size);
}

static const yard_handler_def_t s_handlers[] = {{NULL, s_echo, "echoes"}, {NULL, NULL, NULL}};
static const yard_actor_def_t s_def = {.name = "bad", .handlers = s_handlers, .credit = 4};

typedef struct {
    void *zctx, *router;
    char rid[256];
    size_t rid_len;
    yard_codec_t *codec;
} s_fake_t;

/* Receives the next message from the replica into head (its first frame after the routing
 * id), within the deadline. Returns the head's size, or -1. */
static int
s_recv(s_fake_t *f, char *head, size_t cap)
{
    zmq_pollitem_t it = {.socket = f->router, .events = ZMQ_POLLIN};
    if (zmq_poll(&it, 1, S_WAIT) != 1) {
        return -1;
    }
    int n = zmq_recv(f->router, f->rid, sizeof f->rid, 0);
    assert_true(n > 0 && (size_t)n <= sizeof f->rid);
    f->rid_len = (size_t)n;
    int size = zmq_recv(f->router, head, cap, 0);
    for (int more = 1; more;) { /* a body frame, if any: not needed here */
        size_t len = sizeof more;
        zmq_getsockopt(f->router, ZMQ_RCVMORE, &more, &len);
        if (more) {
            char skip[64];
            zmq_recv(f->router, skip, sizeof skip, 0);
        }
    }
    return size;
}

/* Waits for a message with command want from the replica (answering nothing else: a
 * heartbeat needs no answer within this test's deadlines); decodes it into *h. */
static void
s_expect(s_fake_t *f, yard_cmd_t want, yard_header_t *h, char *head, size_t cap)
{
    long long until = yh_now_ms() + S_WAIT;
    while (yh_now_ms() < until) {
        int n = s_recv(f, head, cap);
        assert_true(n > 0);
        yard_cmd_t cmd;
        const char *why = NULL;
        assert_int_equal(yard_wire_decode(f->codec, head, (size_t)n, &cmd, h, &why), 0);
        if (cmd == want) {
            return;
        }
    }
    fail_msg("no %s from the replica", yard_cmd_name(want));
}

static void
s_send(s_fake_t *f, const void *head, size_t size, const void *body, size_t body_size)
{
    zmq_send(f->router, f->rid, f->rid_len, ZMQ_SNDMORE);
    zmq_send(f->router, head, size, ZMQ_SNDMORE);
    zmq_send(f->router, body, body_size, 0);
}

static void
test_undecodable_request_is_answered_with_its_id(void **state)
{
    (void)state;
    s_fake_t f = {.zctx = zmq_ctx_new(), .codec = yard_codec_new()};
    f.router = zmq_socket(f.zctx, ZMQ_ROUTER);
    char ep[64];
    snprintf(ep, sizeof ep, "%s", yh_endpoint(yh_free_port()));
    assert_int_equal(zmq_bind(f.router, ep), 0);
    yard_actor_opts_t o = {.broker = ep, .replicas = 1, .heartbeat_ms = 1000, .drain_ms = 500};
    yard_actor_t *a = NULL;
    assert_int_equal(yard_actor_start(&s_def, &o, NULL, &a), 0);
    char head[2048];
    yard_header_t h;
    s_expect(&f, YARD_CMD_READY, &h, head, sizeof head);

    /* REQUEST {id: 7, service: "bad", timeout_ms: "x"}: a string where a uint32 belongs. */
    static const char bad[] = "YD\x03\x02\x83\x01\x07\x02\xa3"
                              "bad\x04\xa1x";
    s_send(&f, bad, sizeof bad - 1, "\xc0", 1);
    s_expect(&f, YARD_CMD_ERROR, &h, head, sizeof head);
    assert_int_equal(h.id, 7);
    assert_int_equal(yard_err_from_wire(h.error), YARD_E_BAD_REQUEST);
    char text[256];
    snprintf(text, sizeof text, "%.*s", (int)h.error_text.len, h.error_text.ptr);
    print_message("answered: %s\n", text);
    assert_non_null(strstr(text, "timeout_ms"));

    /* And it serves on: REQUEST {id: 8, service: "bad", timeout_ms: 1000}, body "\xc3". */
    static const char good[] = "YD\x03\x02\x83\x01\x08\x02\xa3"
                               "bad\x04\xcd\x03\xe8";
    s_send(&f, good, sizeof good - 1, "\xc3", 1);
    s_expect(&f, YARD_CMD_REPLY, &h, head, sizeof head);
    assert_int_equal(h.id, 8);

    yard_actor_destroy(&a);
    yard_codec_destroy(&f.codec);
    zmq_close(f.router);
    zmq_ctx_term(f.zctx);
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
        cmocka_unit_test(test_undecodable_request_is_answered_with_its_id),
    };
    return cmocka_run_group_tests(tests, s_setup, NULL);
}
