/* See test_broker_util.h. */
#include "test_broker_util.h"
#include "fixture.h"
#include "harness.h"
#include "yard/batch.h"
#include "yard/error.h"

#include <msgpack.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

void
tb_start(tb_env_t *env, yard_broker_opts_t *opts)
{
    yard_broker_opts_t o = opts ? *opts : (yard_broker_opts_t){0};
    memset(env, 0, sizeof *env);
    env->ctx = zmq_ctx_new();
    env->codec = yard_codec_new();
    o.bind = NULL; /* the fixture's free port, retried while taken */
    int port = 0;
    env->broker = yh_broker_start_opts(&o, env->ctx, &port); /* started, or the test aborts */
    assert_non_null(env->broker);
    snprintf(env->endpoint, sizeof env->endpoint, "%s", yh_endpoint(port));
}

static void s_pending_clear(void);

void
tb_stop(tb_env_t *env)
{
    s_pending_clear();
    yard_broker_destroy(&env->broker);
    yard_codec_destroy(&env->codec);
    zmq_ctx_term(env->ctx);
}

void *
tb_peer(tb_env_t *env)
{
    void *s = zmq_socket(env->ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(s, env->endpoint), 0);
    return s;
}

void
tb_send_raw(void *sock, const void *const *frames, const size_t *sizes, int n)
{
    for (int i = 0; i < n; i++) {
        assert_true(zmq_send(sock, frames[i], sizes[i], i + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
    }
}

void
tb_send(void *sock, int cmd, const yard_header_t *h, const void *body, size_t len)
{
    uint8_t head[YARD_WIRE_HEADER_MAX];
    int n = yard_wire_encode((yard_cmd_t)cmd, h, head, sizeof head);
    assert_true(n > 0);
    const void *frames[] = {head, body ? body : ""};
    size_t sizes[] = {(size_t)n, len};
    tb_send_raw(sock, frames, sizes, body ? 2 : 1);
}

void
tb_msg_close(tb_msg_t *m)
{
    zmq_msg_close(&m->hdr);
    zmq_msg_close(&m->body);
    memset(m, 0, sizeof *m);
}

/* The broker batches what one turn sends to a peer (yard/batch.h): a BATCH received on a
 * socket is handed out one message per tb_recv, as if each had come alone. */
#define S_PENDING 32
static struct {
    void *sock;
    zmq_msg_t frame;
    yard_batch_reader_t rd;
} s_pending[S_PENDING];

static void
s_pending_clear(void)
{
    for (int i = 0; i < S_PENDING; i++) {
        if (s_pending[i].sock) {
            zmq_msg_close(&s_pending[i].frame);
            s_pending[i].sock = NULL;
        }
    }
}

/* The next message of a batch received earlier on sock, into m->hdr; false when none. */
static bool
s_next_batched(void *sock, tb_msg_t *m)
{
    for (int i = 0; i < S_PENDING; i++) {
        if (s_pending[i].sock != sock) {
            continue;
        }
        const void *msg;
        size_t size;
        const char *why = NULL;
        int rc = yard_batch_next(&s_pending[i].rd, &msg, &size, &why);
        if (rc == 1) {
            zmq_msg_init_size(&m->hdr, size);
            memcpy(zmq_msg_data(&m->hdr), msg, size);
            m->nframes = 1;
            return true;
        }
        if (rc < 0) {
            fail_msg("the broker sent a malformed batch: %s", why);
        }
        zmq_msg_close(&s_pending[i].frame);
        s_pending[i].sock = NULL;
    }
    return false;
}

static void
s_keep_batch(void *sock, zmq_msg_t *frame)
{
    for (int i = 0; i < S_PENDING; i++) {
        if (s_pending[i].sock == NULL) {
            const char *why = NULL;
            zmq_msg_init(&s_pending[i].frame);
            zmq_msg_move(&s_pending[i].frame, frame);
            if (yard_batch_reader_init(&s_pending[i].rd, zmq_msg_data(&s_pending[i].frame),
                                       zmq_msg_size(&s_pending[i].frame), &why) != 0) {
                fail_msg("the broker sent a malformed batch: %s", why);
            }
            s_pending[i].sock = sock;
            return;
        }
    }
    fail_msg("more than %d sockets with a batch being read", S_PENDING);
}

bool
tb_recv(tb_env_t *env, void *sock, tb_msg_t *m, int timeout_ms)
{
    memset(m, 0, sizeof *m);
    zmq_msg_init(&m->hdr);
    zmq_msg_init(&m->body);
    while (!s_next_batched(sock, m)) {
        zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, timeout_ms) <= 0) {
            return false;
        }
        zmq_msg_recv(&m->hdr, sock, 0);
        m->nframes = 1;
        if (zmq_msg_more(&m->hdr)) {
            zmq_msg_recv(&m->body, sock, 0);
            m->nframes++;
        }
        if (m->nframes == 2 || !yard_batch_is(zmq_msg_data(&m->hdr), zmq_msg_size(&m->hdr))) {
            break;
        }
        s_keep_batch(sock, &m->hdr);
        zmq_msg_init(&m->hdr);
    }
    const char *why = NULL;
    yard_cmd_t cmd = 0;
    int rc = yard_wire_decode(env->codec, zmq_msg_data(&m->hdr), zmq_msg_size(&m->hdr), &cmd, &m->h,
                              &why);
    if (rc != 0) {
        fail_msg("the broker sent an undecodable frame: %s", why ? why : "?");
    }
    m->cmd = (int)cmd;
    if (yard_wire_inline(cmd, m->nframes, &m->h, &why) == 1) {
        /* A small body travels after the header: tests see it as the body frame. */
        zmq_msg_close(&m->body);
        zmq_msg_init_size(&m->body, m->h.inline_len);
        memcpy(zmq_msg_data(&m->body), m->h.inline_body, m->h.inline_len);
        m->nframes = 2;
    }
    return true;
}

void
tb_expect(tb_env_t *env, void *sock, int cmd, tb_msg_t *m, int timeout_ms)
{
    bool got = tb_recv(env, sock, m, timeout_ms);
    if (!got) {
        fail_msg("expected %s within %d ms, got nothing", yard_cmd_name(cmd), timeout_ms);
    }
    if (m->cmd != cmd) {
        fail_msg("expected %s, got %s (error %u: %.*s)", yard_cmd_name(cmd), yard_cmd_name(m->cmd),
                 m->h.error, (int)m->h.error_text.len, m->h.error_text.ptr);
    }
}

void *
tb_subscriber(tb_env_t *env, const char *const *patterns, int n)
{
    void *s = tb_peer(env);
    for (int i = 0; i < n; i++) {
        yard_header_t h = {.service = yard_str(patterns[i])};
        tb_send(s, YARD_CMD_SUBSCRIBE, &h, NULL, 0);
    }
    yard_header_t hb = {0};
    tb_send(s, YARD_CMD_HEARTBEAT, &hb, NULL, 0);
    tb_msg_t m;
    tb_expect(env, s, YARD_CMD_HEARTBEAT, &m, 2000);
    tb_msg_close(&m);
    return s;
}

bool
tb_quiet(tb_env_t *env, void *sock, int ms)
{
    tb_msg_t m;
    bool got = tb_recv(env, sock, &m, ms);
    tb_msg_close(&m);
    return !got;
}

uint32_t
tb_ready(tb_env_t *env, void *sock, const yard_header_t *h)
{
    tb_send(sock, YARD_CMD_READY, h, NULL, 0);
    tb_msg_t m;
    tb_expect(env, sock, YARD_CMD_READY, &m, 2000);
    uint32_t credit = m.h.credit;
    tb_msg_close(&m);
    return credit;
}

void *
tb_replica(tb_env_t *env, const char *service, uint32_t credit, uint32_t heartbeat_ms)
{
    void *s = tb_peer(env);
    yard_header_t h = {
        .service = yard_str(service), .credit = credit, .heartbeat_ms = heartbeat_ms};
    assert_int_equal(tb_ready(env, s, &h), credit);
    return s;
}

void
tb_request(void *client, uint64_t id, const char *service, uint32_t timeout_ms, uint32_t flags,
           const char *body)
{
    yard_header_t h = {
        .id = id, .service = yard_str(service), .timeout_ms = timeout_ms, .flags = flags};
    tb_send(client, YARD_CMD_REQUEST, &h, body, strlen(body));
}

bool
tb_body_is(const tb_msg_t *m, const char *text)
{
    size_t n = strlen(text);
    return zmq_msg_size((zmq_msg_t *)&m->body) == n &&
           memcmp(zmq_msg_data((zmq_msg_t *)&m->body), text, n) == 0;
}

static const msgpack_object *
s_lookup(const msgpack_object *map, const char *key)
{
    if (map->type != MSGPACK_OBJECT_MAP) {
        return NULL;
    }
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
            memcmp(kv->key.via.str.ptr, key, kv->key.via.str.size) == 0) {
            return &kv->val;
        }
    }
    return NULL;
}

static const msgpack_object *
s_service(const msgpack_object *root, const char *service)
{
    const msgpack_object *list = s_lookup(root, "services");
    assert_non_null(list);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *name = s_lookup(&list->via.array.ptr[i], "name");
        if (name && name->via.str.size == strlen(service) &&
            memcmp(name->via.str.ptr, service, name->via.str.size) == 0) {
            return &list->via.array.ptr[i];
        }
    }
    return NULL;
}

uint64_t
tb_stat(tb_env_t *env, void *client, const char *service, const char *name)
{
    static uint64_t next_id = 1u << 30;
    yard_header_t h = {.id = ++next_id, .service = yard_str("$sys"), .op = yard_str("stats")};
    tb_send(client, YARD_CMD_REQUEST, &h, "", 0);
    tb_msg_t m;
    for (;;) { /* skip answers to earlier requests */
        tb_expect(env, client, YARD_CMD_REPLY, &m, 2000);
        if (m.h.id == next_id) {
            break;
        }
        tb_msg_close(&m);
    }
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    assert_int_equal(msgpack_unpack_next(&up, zmq_msg_data(&m.body), zmq_msg_size(&m.body), NULL),
                     MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *scope =
        service ? s_service(&up.data, service) : s_lookup(&up.data, "counters");
    const msgpack_object *v = scope ? s_lookup(scope, name) : NULL;
    if (!v && !service) {
        v = s_lookup(&up.data, name); /* top-level: uptime_ms, peers */
    }
    uint64_t value = v ? v->via.u64 : UINT64_MAX;
    msgpack_unpacked_destroy(&up);
    tb_msg_close(&m);
    return value;
}

uint64_t
tb_wait_stat(tb_env_t *env, void *client, const char *service, const char *name, uint64_t value,
             int timeout_ms)
{
    long long deadline = yh_now_ms() + timeout_ms;
    uint64_t v;
    while ((v = tb_stat(env, client, service, name)) != value && yh_now_ms() < deadline) {
        zmq_poll(NULL, 0, 2); /* a stats round trip paces this; the poll only yields */
    }
    return v;
}

void
tb_expect_error(tb_env_t *env, void *sock, uint64_t id, int err)
{
    tb_msg_t m;
    tb_expect(env, sock, YARD_CMD_ERROR, &m, 2000);
    assert_int_equal(m.h.id, id);
    assert_int_equal(m.h.error, yard_err_to_wire(err));
    tb_msg_close(&m);
}
