/* The broker's own service `$sys` (ops `stats`, `services`, `replicas`, `ping`) and its
 * events on `$sys.events`. Both build small msgpack bodies with a heap buffer: they are
 * operator traffic, not the request path, so they may allocate. The rates and percentiles
 * of `services` come from stats.c; the per-replica facts of `replicas` from the peers. */
#include "broker_priv.h"
#include "yard/error.h"
#include "yard/mp.h"

#include <msgpack.h>
#include <stdio.h>
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
s_pack_kv_double(msgpack_packer *pk, const char *k, double v)
{
    s_pack_cstr(pk, k, strlen(k));
    msgpack_pack_double(pk, v);
}

/* One service's map: the 8 keys of `stats`, plus the 4 of `services` when rates is given. */
static void
s_pack_service(msgpack_packer *pk, const yard__service_t *s, const yard__svc_rates_t *rates)
{
    uint64_t credit = 0, held = 0;
    for (uint32_t i = 0; i < s->nreps; i++) {
        credit += s->reps[i]->credit;
        held += s->reps[i]->held.count;
    }
    msgpack_pack_map(pk, rates ? 12 : 8);
    S_KEY(pk, "name");
    s_pack_cstr(pk, s->name, s->name_len);
    s_pack_kv_u64(pk, "replicas", s->nreps);
    s_pack_kv_u64(pk, "credit", credit);
    s_pack_kv_u64(pk, "in_flight", held);
    s_pack_kv_u64(pk, "queued", s->queue.count);
    s_pack_kv_u64(pk, "requests", s->requests);
    s_pack_kv_u64(pk, "replies", s->replies);
    s_pack_kv_u64(pk, "errors", s->errors);
    if (rates) {
        s_pack_kv_double(pk, "rps", rates->rps);
        s_pack_kv_double(pk, "eps", rates->eps);
        s_pack_kv_u64(pk, "p50_us", rates->p50_us);
        s_pack_kv_u64(pk, "p99_us", rates->p99_us);
    }
}

static uint64_t
s_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Who is connected, counted when asked (operator traffic: O(peers) here, nothing on the
 * request path). The broker tracks replicas and subscribers by routing id but not a client
 * that only sends requests (its id travels in each request slot), so clients are counted
 * from the connections the ROUTER's monitor saw accepted and not yet closed, less one per
 * registered replica (each replica is one connection of its own to each broker). A client
 * that also subscribes is a client. Connections over inproc are not monitored by libzmq, so
 * in-process replicas (`yard up`) are subtracted without having been counted: there the
 * count is low by their number (a peer does not record its transport; see docs/protocol.md). */
typedef struct {
    uint64_t connections, clients, replicas, subscribers;
} s_peer_counts_t;

static s_peer_counts_t
s_peer_counts(yard_broker_t *b)
{
    /* The loop reads the monitor after the ROUTER, so in a turn where a client connects and
     * asks at once, its ACCEPTED still waits unread behind its own request. libzmq writes
     * that event when it hands the connection to a session, before the ZMTP handshake that
     * must end before any request arrives, so reading it here counts the asker. */
    if (b->mon) {
        yard__monitor_read(b);
    }
    s_peer_counts_t c = {.connections = b->conns, .subscribers = b->nsubscribers};
    for (uint32_t i = 0; i < b->npeers; i++) {
        c.replicas += b->peers[i]->svc != NULL;
    }
    c.clients = c.connections > c.replicas ? c.connections - c.replicas : 0;
    return c;
}

#define S_PEER_KEYS 4
static void
s_pack_peer_counts(msgpack_packer *pk, yard_broker_t *b)
{
    s_peer_counts_t c = s_peer_counts(b);
    s_pack_kv_u64(pk, "clients", c.clients);
    s_pack_kv_u64(pk, "connections", c.connections);
    s_pack_kv_u64(pk, "replica_peers", c.replicas);
    s_pack_kv_u64(pk, "subscribers", c.subscribers);
}

/* `services`: {ts_ms, clients, connections, replica_peers, subscribers, services: [{name,
 * replicas, credit, in_flight, queued, requests, replies, errors, rps, eps, p50_us,
 * p99_us}]}. */
static void
s_pack_services(msgpack_packer *pk, yard_broker_t *b)
{
    uint64_t now_us = yard__stats_now_us();
    msgpack_pack_map(pk, 2 + S_PEER_KEYS);
    s_pack_kv_u64(pk, "ts_ms", s_wall_ms());
    s_pack_peer_counts(pk, b);
    S_KEY(pk, "services");
    msgpack_pack_array(pk, b->nsvcs);
    for (uint32_t i = 0; i < b->nsvcs; i++) {
        yard__svc_rates_t rates;
        yard__stats_rates(b->svcs[i], now_us, &rates);
        s_pack_service(pk, b->svcs[i], &rates);
    }
}

/* A runtime replica names itself "host/pid/index" (proto/actor.c). Returns false for any
 * other name: then host, pid and index are reported as nil. */
static bool
s_parse_replica(const char *name, size_t *host_len, uint64_t *pid, uint64_t *index)
{
    const char *last = strrchr(name, '/');
    if (!last || last == name) {
        return false;
    }
    const char *mid = last - 1;
    while (mid > name && *mid != '/') {
        mid--;
    }
    if (*mid != '/' || mid == name) {
        return false;
    }
    uint64_t v[2] = {0, 0};
    const char *from[2] = {mid + 1, last + 1};
    const char *to[2] = {last, name + strlen(name)};
    for (int k = 0; k < 2; k++) {
        if (from[k] == to[k] || to[k] - from[k] > 19) {
            return false;
        }
        for (const char *c = from[k]; c < to[k]; c++) {
            if (*c < '0' || *c > '9') {
                return false;
            }
            v[k] = v[k] * 10 + (uint64_t)(*c - '0');
        }
    }
    *host_len = (size_t)(mid - name);
    *pid = v[0];
    *index = v[1];
    return true;
}

static void
s_pack_kv_opt_u64(msgpack_packer *pk, const char *k, bool has, uint64_t v)
{
    s_pack_cstr(pk, k, strlen(k));
    if (has) {
        msgpack_pack_uint64(pk, v);
    } else {
        msgpack_pack_nil(pk);
    }
}

static void
s_pack_bool(msgpack_packer *pk, bool v)
{
    if (v) {
        msgpack_pack_true(pk);
    } else {
        msgpack_pack_false(pk);
    }
}

static void
s_pack_replica(msgpack_packer *pk, const yard_broker_t *b, const yard__peer_t *p)
{
    size_t host_len = 0;
    uint64_t pid = 0, index = 0;
    bool parsed = s_parse_replica(p->replica, &host_len, &pid, &index);
    msgpack_pack_map(pk, 12);
    S_KEY(pk, "name");
    s_pack_cstr(pk, p->replica, strlen(p->replica));
    S_KEY(pk, "host");
    if (parsed) {
        s_pack_cstr(pk, p->replica, host_len);
    } else {
        msgpack_pack_nil(pk);
    }
    s_pack_kv_opt_u64(pk, "pid", parsed, pid);
    s_pack_kv_opt_u64(pk, "index", parsed, index);
    s_pack_kv_u64(pk, "uptime_ms", b->now > p->ready_ms ? b->now - p->ready_ms : 0);
    s_pack_kv_u64(pk, "served", p->served);
    s_pack_kv_u64(pk, "in_flight", p->held.count);
    s_pack_kv_u64(pk, "credit", p->credit);
    s_pack_kv_u64(pk, "last_heartbeat_ms_ago", b->now > p->last_seen ? b->now - p->last_seen : 0);
    s_pack_kv_u64(pk, "heartbeat_ms", p->heartbeat_ms);
    S_KEY(pk, "draining");
    s_pack_bool(pk, p->draining);
    S_KEY(pk, "fill");
    s_pack_bool(pk, p->fill);
}

/* The `service` string of a `replicas` request body ({service: NAME}), decoded into zone by
 * the bounded decoder. Returns 0, or a negative error with why set. */
static int
s_body_service(const zmq_msg_t *body, msgpack_zone *zone, yard_str_t *name, char *why,
               size_t why_len)
{
    size_t size = zmq_msg_size((zmq_msg_t *)body);
    msgpack_object o;
    char bad[160] = "";
    int rc = size ? yard_mp_decode(zmq_msg_data((zmq_msg_t *)body), size, zone, &o, bad, sizeof bad)
                  : YARD_E_BAD_REQUEST;
    if (rc == 0) {
        rc = yard_mp_get_str(&o, "service", name, bad, sizeof bad);
    }
    if (rc) {
        snprintf(why, why_len, "op replicas needs a body {service: NAME}%s%s", bad[0] ? ": " : "",
                 bad);
        return YARD_E_BAD_REQUEST;
    }
    return 0;
}

/* `replicas` {service}: {service, replicas: [...]}; NOT_FOUND when nobody offers it. */
static int
s_pack_replicas(msgpack_packer *pk, yard_broker_t *b, const zmq_msg_t *body, char *why,
                size_t why_len)
{
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 512)) {
        abort();
    }
    yard_str_t name = {NULL, 0};
    int rc = s_body_service(body, &zone, &name, why, why_len);
    yard__service_t *s = NULL;
    if (rc == 0 && !(s = yard__service_find(b, name))) {
        rc = YARD_E_NOT_FOUND;
        int n = name.len > YARD_WIRE_NAME_MAX ? YARD_WIRE_NAME_MAX : (int)name.len;
        snprintf(why, why_len, "no service '%.*s'", n, name.ptr);
    }
    if (s) {
        msgpack_pack_map(pk, 2);
        S_KEY(pk, "service");
        s_pack_cstr(pk, s->name, s->name_len);
        S_KEY(pk, "replicas");
        msgpack_pack_array(pk, s->nreps);
        for (uint32_t i = 0; i < s->nreps; i++) {
            s_pack_replica(pk, b, s->reps[i]);
        }
    }
    msgpack_zone_destroy(&zone);
    return rc;
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
s_pack_stats(msgpack_packer *pk, yard_broker_t *b)
{
    msgpack_pack_map(pk, 4 + S_PEER_KEYS);
    s_pack_kv_u64(pk, "uptime_ms", b->now - b->start_ms);
    s_pack_peer_counts(pk, b);
    S_KEY(pk, "services");
    msgpack_pack_array(pk, b->nsvcs);
    for (uint32_t i = 0; i < b->nsvcs; i++) {
        s_pack_service(pk, b->svcs[i], NULL);
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
yard__on_sys(yard_broker_t *b, const void *rid, size_t len, const yard_header_t *h,
             const zmq_msg_t *body)
{
    enum { S_PING, S_STATS, S_SERVICES, S_REPLICAS } op;
    if (yard_str_eq_cstr(h->op, "stats")) {
        op = S_STATS;
    } else if (yard_str_eq_cstr(h->op, "services")) {
        op = S_SERVICES;
    } else if (yard_str_eq_cstr(h->op, "replicas")) {
        op = S_REPLICAS;
    } else if (yard_str_eq_cstr(h->op, "ping")) {
        op = S_PING;
    } else {
        yard__send_error(b, rid, len, h->id, YARD_E_BAD_REQUEST,
                         "$sys knows ops stats, services, replicas and ping");
        return;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int rc = 0;
    char why[YARD_WIRE_NAME_MAX + 64];
    switch (op) {
    case S_STATS:
        s_pack_stats(&pk, b);
        break;
    case S_SERVICES:
        s_pack_services(&pk, b);
        break;
    case S_REPLICAS:
        rc = s_pack_replicas(&pk, b, body, why, sizeof why);
        break;
    case S_PING:
        msgpack_pack_map(&pk, 0);
        break;
    }
    if (rc) {
        msgpack_sbuffer_destroy(&sb);
        yard__send_error(b, rid, len, h->id, rc, why);
        return;
    }
    zmq_msg_t out_body;
    s_body_from(&out_body, &sb);
    msgpack_sbuffer_destroy(&sb);
    yard_header_t out = {.id = h->id};
    b->counters[YARD__C_REPLIES]++;
    yard__send(b, rid, len, YARD_CMD_REPLY, &out, &out_body);
    zmq_msg_close(&out_body);
}

/* One `$sys.events` message: {event, ts_ms[, endpoint][, peer][, service][, replica][, store]
 * [, expected]}. */
static void
s_event(yard_broker_t *b, const char *event, const char *endpoint, const char *peer,
        const char *service, const char *replica, const char *store, const char *expected)
{
    if (b->nsubscribers == 0) {
        return; /* nobody can be listening */
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2 + (endpoint != NULL) + (peer && *peer) + (service != NULL) +
                              (replica && *replica) + (store != NULL) + (expected != NULL));
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
    if (store) {
        S_KEY(&pk, "store");
        s_pack_cstr(&pk, store, strlen(store));
    }
    if (expected) {
        S_KEY(&pk, "expected");
        s_pack_cstr(&pk, expected, strlen(expected));
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
    s_event(b, event, endpoint, NULL, service, replica, NULL, NULL);
}

void
yard__event_peer(yard_broker_t *b, const char *event, const char *endpoint, const char *peer)
{
    s_event(b, event, endpoint, peer, NULL, NULL, NULL, NULL);
}

void
yard__event_store(yard_broker_t *b, const char *event, const char *service, const char *replica,
                  const char *store, const char *expected)
{
    s_event(b, event, NULL, NULL, service, replica, store, expected);
}
