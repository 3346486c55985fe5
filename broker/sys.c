/* The broker's own service `$sys` (ops `stats`, `ping`) and its events on `$sys.events`.
 * Both build small msgpack bodies with a heap buffer: they are operator traffic, not the
 * request path, so they may allocate. */
#include "broker_priv.h"
#include "yard/error.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
s_pack_cstr(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

#define S_KEY(pk, lit) s_pack_cstr((pk), (lit), sizeof(lit) - 1)

static void
s_pack_kv_u64(msgpack_packer *pk, const char *k, uint64_t v)
{
    s_pack_cstr(pk, k, strlen(k));
    msgpack_pack_uint64(pk, v);
}

static void
s_pack_service(msgpack_packer *pk, const yard__service_t *s)
{
    uint64_t credit = 0, held = 0;
    for (uint32_t i = 0; i < s->nreps; i++) {
        credit += s->reps[i]->credit;
        held += s->reps[i]->held.count;
    }
    msgpack_pack_map(pk, 8);
    S_KEY(pk, "name");
    s_pack_cstr(pk, s->name, s->name_len);
    s_pack_kv_u64(pk, "replicas", s->nreps);
    s_pack_kv_u64(pk, "credit", credit);
    s_pack_kv_u64(pk, "in_flight", held);
    s_pack_kv_u64(pk, "queued", s->queue.count);
    s_pack_kv_u64(pk, "requests", s->requests);
    s_pack_kv_u64(pk, "replies", s->replies);
    s_pack_kv_u64(pk, "errors", s->errors);
}

static void
s_pack_counters(msgpack_packer *pk, const yard_broker_t *b)
{
    msgpack_pack_map(pk, YARD__C_MAX_ + YARD__F_MAX_ + (YARD__ERR_CODES - 1) + 1);
    for (int i = 0; i < YARD__C_MAX_; i++) {
        s_pack_kv_u64(pk, yard__counter_name((yard__counter_t)i), b->counters[i]);
    }
    char key[64];
    for (int i = 0; i < YARD__F_MAX_; i++) {
        snprintf(key, sizeof key, "fault.%s", yard__fault_name((yard__fault_t)i));
        s_pack_kv_u64(pk, key, b->faults[i]);
    }
    for (int code = 1; code < YARD__ERR_CODES; code++) {
        snprintf(key, sizeof key, "error.%s", yard_err_name(yard_err_from_wire((uint32_t)code)));
        s_pack_kv_u64(pk, key, b->errors_sent[code]);
    }
    s_pack_kv_u64(pk, "in_flight", b->pool.live);
}

static void
s_pack_stats(msgpack_packer *pk, const yard_broker_t *b)
{
    msgpack_pack_map(pk, 4);
    s_pack_kv_u64(pk, "uptime_ms", b->now - b->start_ms);
    S_KEY(pk, "services");
    msgpack_pack_array(pk, b->nsvcs);
    for (uint32_t i = 0; i < b->nsvcs; i++) {
        s_pack_service(pk, b->svcs[i]);
    }
    S_KEY(pk, "counters");
    s_pack_counters(pk, b);
    s_pack_kv_u64(pk, "peers", b->npeers);
}

static void
s_body_from(zmq_msg_t *body, const msgpack_sbuffer *sb)
{
    zmq_msg_init_size(body, sb->size);
    memcpy(zmq_msg_data(body), sb->data, sb->size);
}

void
yard__on_sys(yard_broker_t *b, const void *rid, size_t len, const yard_header_t *h)
{
    bool stats = yard_str_eq_cstr(h->op, "stats");
    if (!stats && !yard_str_eq_cstr(h->op, "ping")) {
        yard__send_error(b, rid, len, h->id, YARD_E_BAD_REQUEST, "$sys knows ops stats and ping");
        return;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (stats) {
        s_pack_stats(&pk, b);
    } else {
        msgpack_pack_map(&pk, 0);
    }
    zmq_msg_t body;
    s_body_from(&body, &sb);
    msgpack_sbuffer_destroy(&sb);
    yard_header_t out = {.id = h->id};
    b->counters[YARD__C_REPLIES]++;
    yard__send(b, rid, len, YARD_CMD_REPLY, &out, &body);
    zmq_msg_close(&body);
}

/* One `$sys.events` message: {event, ts_ms[, endpoint][, peer][, service][, replica]}. */
static void
s_event(yard_broker_t *b, const char *event, const char *endpoint, const char *peer,
        const char *service, const char *replica)
{
    if (b->nsubscribers == 0) {
        return; /* nobody can be listening */
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2 + (endpoint != NULL) + (peer && *peer) + (service != NULL) +
                              (replica && *replica));
    S_KEY(&pk, "event");
    s_pack_cstr(&pk, event, strlen(event));
    S_KEY(&pk, "ts_ms");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    msgpack_pack_uint64(&pk, (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
    if (endpoint) {
        S_KEY(&pk, "endpoint");
        s_pack_cstr(&pk, endpoint, strlen(endpoint));
    }
    if (peer && *peer) {
        S_KEY(&pk, "peer");
        s_pack_cstr(&pk, peer, strlen(peer));
    }
    if (service) {
        S_KEY(&pk, "service");
        s_pack_cstr(&pk, service, strlen(service));
    }
    if (replica && *replica) {
        S_KEY(&pk, "replica");
        s_pack_cstr(&pk, replica, strlen(replica));
    }
    zmq_msg_t body;
    s_body_from(&body, &sb);
    msgpack_sbuffer_destroy(&sb);
    yard__publish(b, yard_str(YARD__SYS_EVENTS), NULL, &body);
    zmq_msg_close(&body);
}

void
yard__event(yard_broker_t *b, const char *event, const char *endpoint, const char *service,
            const char *replica)
{
    s_event(b, event, endpoint, NULL, service, replica);
}

void
yard__event_peer(yard_broker_t *b, const char *event, const char *endpoint, const char *peer)
{
    s_event(b, event, endpoint, peer, NULL, NULL);
}
