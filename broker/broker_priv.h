/* The broker's private data model, shared by its files and nobody else.
 *
 * Invariants the files rely on:
 *  - one thread (the loop) touches everything here; only `stop` and the wake fd are shared;
 *  - a request slot (yard__req_t) is in exactly one place: the pool's free list, one
 *    service's queue (QUEUED), or one replica's held list (HELD or EXPIRED); a QUEUED or
 *    HELD slot is in the deadline heap, an EXPIRED one (its client already answered TIMEOUT)
 *    is not;
 *  - a replica's held count is never above its credit when it was dispatched to, and
 *    service.free_credit is the sum over its non-draining replicas of max(credit - held, 0);
 *  - zmq_msg_t frames are moved, never copied, except the body of an IDEMPOTENT request,
 *    which is kept (zmq_msg_copy: a reference, not a byte copy) so it can be re-sent. */
#ifndef YARD_BROKER_PRIV_H
#define YARD_BROKER_PRIV_H

#include "yard/batch.h"
#include "yard/broker.h"
#include "yard/wire.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#define YARD__NIL         UINT32_MAX
#define YARD__CHUNK_BITS  12
#define YARD__CHUNK       (1u << YARD__CHUNK_BITS)
#define YARD__SUBS_MAX    256
#define YARD__RID_MAX     255
#define YARD__ERR_CODES   18 /* wire codes 1..17 */
#define YARD__SYS_SERVICE "$sys"
#define YARD__SYS_EVENTS  "$sys.events"

typedef struct yard__peer yard__peer_t;
typedef struct yard__service yard__service_t;

/* --- map.c: open addressing (linear probing, backward-shift delete) ------------------- */
typedef yard_str_t (*yard__key_fn)(const void *val);
typedef struct {
    uint32_t hash;
    void *val; /* NULL: empty */
} yard__slot_t;
typedef struct {
    yard__slot_t *slots;
    uint32_t cap; /* power of two */
    uint32_t count;
    yard__key_fn key_of;
} yard__map_t;

uint32_t yard__hash(const void *data, size_t len);
void yard__map_init(yard__map_t *m, yard__key_fn key_of);
void yard__map_fini(yard__map_t *m);
void *yard__map_get(const yard__map_t *m, const void *key, size_t len, uint32_t hash);
void yard__map_put(yard__map_t *m, void *val, uint32_t hash); /* key must be absent */
void yard__map_del(yard__map_t *m, const void *val, uint32_t hash);

/* --- inflight.c: request slots, lists, deadline heap ----------------------------------- */
enum { YARD__REQ_FREE = 0, YARD__REQ_QUEUED, YARD__REQ_HELD, YARD__REQ_EXPIRED };

typedef struct {
    uint32_t head, tail, count;
} yard__list_t;

typedef struct {
    uint64_t deadline;  /* monotonic ms */
    uint64_t client_id; /* the client's id (REQUEST) */
    yard__service_t *svc;
    yard__peer_t *replica; /* HELD / EXPIRED */
    uint32_t gen, idx, prev, next, heap_pos;
    uint32_t flags;
    uint8_t state, cmd; /* cmd: YARD_CMD_REQUEST or YARD_CMD_SEND */
    bool sensitive;     /* its op is sensitive: taps never see its bodies (tap.c) */
    zmq_msg_t rid;      /* the client's routing id */
    zmq_msg_t hdr;      /* the client's header frame, kept while it may be (re)sent */
    zmq_msg_t body;     /* owned while QUEUED; a reference while HELD if IDEMPOTENT */
    uint64_t t0_us;     /* monotonic µs when the broker accepted it (stats.c) */
} yard__req_t;

typedef struct {
    yard__req_t **chunks;
    uint32_t nchunks, max_chunks;
    uint32_t cap, live, max;
    uint32_t free_head;
    uint32_t *heap;
    uint32_t heap_len, heap_cap;
} yard__pool_t;

void yard__pool_init(yard__pool_t *p, uint32_t max);
void yard__pool_fini(yard__pool_t *p);
yard__req_t *yard__req_alloc(yard__pool_t *p); /* NULL at max */
void yard__req_free(yard__pool_t *p, yard__req_t *r);
yard__req_t *yard__req_at(const yard__pool_t *p, uint32_t idx);
yard__req_t *yard__req_by_id(const yard__pool_t *p, uint64_t id); /* NULL: unknown or free */
uint64_t yard__req_id(const yard__req_t *r);
void yard__heap_push(yard__pool_t *p, yard__req_t *r);
void yard__heap_remove(yard__pool_t *p, yard__req_t *r);
yard__req_t *yard__heap_top(const yard__pool_t *p);
void yard__list_init(yard__list_t *l);
void yard__list_push_back(yard__pool_t *p, yard__list_t *l, yard__req_t *r);
void yard__list_push_front(yard__pool_t *p, yard__list_t *l, yard__req_t *r);
void yard__list_remove(yard__pool_t *p, yard__list_t *l, yard__req_t *r);
yard__req_t *yard__list_head(const yard__pool_t *p, const yard__list_t *l);

/* --- peers and services ----------------------------------------------------------------- */
struct yard__peer {
    uint8_t id[YARD__RID_MAX];
    uint8_t id_len;
    uint32_t hash;
    uint32_t pos; /* in broker.peers */
    uint64_t last_seen;
    uint32_t heartbeat_ms; /* negotiated (replica) or the broker's default */
    uint64_t logged;       /* fault kinds already logged for this peer */
    /* replica role: svc != NULL */
    yard__service_t *svc;
    uint32_t svc_pos;
    uint32_t credit;
    bool draining;
    bool fill;         /* its READY asked for FILL: it keeps getting requests while it has credit */
    yard__list_t held; /* HELD and EXPIRED requests */
    char replica[YARD_WIRE_NAME_MAX + 1];
    char *store;       /* its state store's identity (stateful replicas); owned; NULL: none */
    uint64_t ready_ms; /* b->now at its first READY (stats.c: uptime) */
    uint64_t served;   /* answers (REPLY or ERROR) it gave, late ones included */
    /* subscriber role: nsubs > 0 */
    yard_str_t *subs; /* owned copies */
    uint32_t nsubs, subs_cap;
    uint32_t sub_pos; /* in broker.subscribers */
};

struct yard__service {
    char name[YARD_WIRE_NAME_MAX + 1];
    uint32_t name_len, hash, pos;
    yard__peer_t **reps;
    uint32_t nreps, reps_cap, rr;
    yard__peer_t *filling; /* the FILL replica that keeps the turn while it has credit; or NULL */
    uint64_t free_credit;
    uint32_t held;
    yard__list_t queue;
    uint64_t grace_deadline; /* 0: has replicas (or never lost them) */
    bool never_served;       /* created by a request in the start-up grace (service.c) */
    uint64_t requests, replies, errors;
    struct yard__svc_stats *stats; /* stats.c: windows of rates and latencies; owned */
    /* Ops whose bodies taps never copy: the union of what its replicas' READYs listed (owned
     * NUL-terminated copies, at most YARD_WIRE_SENSITIVE_MAX); all_sensitive once more were
     * listed than that, which hides every op's bodies. Kept until the service is forgotten. */
    char **sensitive;
    uint32_t nsensitive;
    bool all_sensitive;
};

/* --- stats.c: per-service rates and latency, per-replica facts (for `yard services`) ----- */
typedef struct yard__svc_stats yard__svc_stats_t;
/* r was accepted for its service (stamps r->t0_us). */
void yard__stats_accepted(yard_broker_t *b, yard__req_t *r);
/* r's service answered (ok: a REPLY, else an ERROR), or the broker ended r itself (ok false). */
void yard__stats_answered(yard_broker_t *b, yard__req_t *r, bool ok);
/* Frees s->stats (the service is going away). */
void yard__stats_service_free(yard__service_t *s);
/* s's rates over the last complete window (or the current one, scaled, before any ended). */
typedef struct {
    double rps, eps; /* requests accepted, and REQUESTs answered with an error, per second */
    uint64_t p50_us, p99_us;
    uint32_t window_ms;
} yard__svc_rates_t;
void yard__stats_rates(yard__service_t *s, uint64_t now_us, yard__svc_rates_t *out);
uint64_t yard__stats_now_us(void); /* the monotonic clock stats.c stamps with */
/* Latency since the service's first request, for /metrics (metrics.c): answered REQUESTs in
 * YARD__LAT_BUCKETS buckets bounded by yard__lat_le_us (µs; the last bucket is +Inf). */
#define YARD__LAT_BUCKETS 18
extern const uint64_t yard__lat_le_us[YARD__LAT_BUCKETS - 1];
/* le[i]: answered requests that took at most yard__lat_le_us[i] (cumulative; the last: all of
 * them); *sum_us: their total. Zeros before the first request. */
void yard__stats_latency(const yard__service_t *s, uint64_t le[YARD__LAT_BUCKETS],
                         uint64_t *sum_us);

/* --- tap.c: copies of the traffic for `yard tap`, rate-limited --------------------------- */
/* A tap is a subscription to `$tap.[@RATE.]PATTERN`; b->ntaps counts them, so that with no
 * tapper each hook below (the inline wrappers after struct yard_broker) is one branch. */
typedef struct yard__tap yard__tap_t;
/* hidden: the op is sensitive; its body is never copied, only its size. */
void yard__tap_on_request(yard_broker_t *b, yard_str_t service, yard_cmd_t cmd,
                          const zmq_msg_t *frames, const yard_header_t *h, bool hidden);
void yard__tap_on_answer(yard_broker_t *b, const yard__req_t *r, yard_cmd_t cmd,
                         const zmq_msg_t *body, const yard_header_t *h);
void yard__tap_on_publish(yard_broker_t *b, yard_str_t subject, const yard_header_t *h,
                          const zmq_msg_t *body);
/* pubsub.c: p added / is about to drop pattern (any pattern; tap.c keeps the `$tap.` ones). */
void yard__tap_subscribed(yard_broker_t *b, yard__peer_t *p, yard_str_t pattern);
void yard__tap_unsubscribed(yard_broker_t *b, yard__peer_t *p, yard_str_t pattern);
/* Every tick: tells a tapper how many copies were dropped when nothing else carried it. */
void yard__tap_on_tick(yard_broker_t *b);

/* --- counters --------------------------------------------------------------------------- */
#define YARD__FAULTS(X)                                                                            \
    X(PROTOCOL, "protocol")                                                                        \
    X(FRAMES, "bad_frames")                                                                        \
    X(HEADER, "bad_header")                                                                        \
    X(HEADER_SIZE, "header_too_large")                                                             \
    X(BODY_SIZE, "body_too_large")                                                                 \
    X(MISSING, "missing_field")                                                                    \
    X(UNKNOWN_ID, "unknown_id")                                                                    \
    X(BAD_COMMAND, "bad_command")                                                                  \
    X(SUBJECT, "bad_subject")                                                                      \
    X(LIMIT, "limit")
typedef enum {
#define YARD__X(n, s) YARD__F_##n,
    YARD__FAULTS(YARD__X)
#undef YARD__X
        YARD__F_MAX_
} yard__fault_t;

#define YARD__COUNTERS(X)                                                                          \
    X(REQUESTS, "requests")                                                                        \
    X(SENDS, "sends")                                                                              \
    X(REPLIES, "replies")                                                                          \
    X(LATE_REPLIES, "late_replies")                                                                \
    X(RETRIES, "retries")                                                                          \
    X(PUBLISHED, "published")                                                                      \
    X(DELIVERED, "delivered")                                                                      \
    X(PUB_DROPPED, "pub_dropped")                                                                  \
    X(SEND_DROPPED, "send_dropped")                                                                \
    X(HEARTBEATS, "heartbeats")                                                                    \
    X(DISCONNECTS_SENT, "disconnects_sent")                                                        \
    X(REPLICAS_DEAD, "replicas_dead")                                                              \
    X(REPLICAS_REFUSED, "replicas_refused")                                                        \
    X(PEERS_GONE, "peers_unreachable")                                                             \
    X(HANDSHAKES_FAILED, "handshakes_failed")                                                      \
    X(PERM_REFUSED, "permissions_refused")                                                         \
    X(TRIMS, "memory_trims")                                                                       \
    X(BODY_BYTES_COPIED, "body_bytes_copied")                                                      \
    X(BODY_FRAMES_MOVED, "body_frames_moved")                                                      \
    X(BODY_BYTES_MOVED, "body_bytes_moved")                                                        \
    X(BATCHES_IN, "batches_in")
typedef enum {
#define YARD__X(n, s) YARD__C_##n,
    YARD__COUNTERS(YARD__X)
#undef YARD__X
        YARD__C_MAX_
} yard__counter_t;

/* --- keys.c: CURVE on the ROUTER, and the safe-bind rule -------------------------------- */
typedef struct yard__keys yard__keys_t;
/* With curve_key and curve_keys_dir set: loads the broker's certificate and starts zauth on
 * keys_dir (b->keys set). Neither set: nothing (b->keys stays NULL). Returns 0 or
 * YARD_E_CONFIG (one set without the other, an unreadable key, keys_dir not a directory:
 * logged) or YARD_E_INTERNAL. */
int yard__keys_open(yard_broker_t *b);
/* The context zauth answers in (CZMQ's): the ROUTER must live there. NULL when CURVE is off. */
void *yard__keys_context(const yard_broker_t *b);
/* Makes b->router a CURVE server with the broker's keys and the ZAP domain. */
int yard__keys_apply(yard_broker_t *b);
void yard__keys_close(yard_broker_t *b);
/* 0 when ep may be bound, else YARD_E_CONFIG (logged): a non-loopback endpoint without CURVE
 * and without insecure. */
int yard__keys_check_bind(const yard_broker_t *b, const char *ep);

/* Every tick: lets keys_dir.c notice a change of keys_dir. */
void yard__keys_tick(yard_broker_t *b);

/* keys_dir.c: the copy of keys_dir that zauth reads, without what would crash it. */
typedef struct yard__keydir yard__keydir_t;
/* Makes the copy (a private directory) and fills it. NULL on failure (logged). */
yard__keydir_t *yard__keydir_new(const char *keys_dir);
/* Rebuilds the copy when keys_dir changed; checks at most every 500 ms of now_ms. */
void yard__keydir_sync(yard__keydir_t *k, uint64_t now_ms);
/* The copy's path. Borrowed; valid while k lives. */
const char *yard__keydir_path(const yard__keydir_t *k);
void yard__keydir_destroy(yard__keydir_t **k_p);

/* perm.c: true when the key that sent frames f (f[0]: routing id, carrying the connection's
 * ZAP metadata) may do cmd on h->service; otherwise the message was answered ERROR
 * FORBIDDEN naming the permission, counted, published and logged once per key. Always true
 * when CURVE is off. */
bool yard__perm_allows(yard_broker_t *b, zmq_msg_t *f, yard_cmd_t cmd, const yard_header_t *h);

/* --- the broker ------------------------------------------------------------------------- */
/* send.c: what one turn of the loop sends to one peer, sent as one frame at its end. */
#define YARD__OUT_SLOTS 64
typedef struct {
    uint8_t rid[255]; /* ZeroMQ's longest routing id */
    uint8_t rid_len;
    yard_batch_t batch;
} yard__out_t;

struct yard_broker {
    yard_broker_opts_t o;
    void *ctx;
    bool own_ctx;
    void *router;
    void *mon;
    int wake_fd;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    yard_codec_t *codec;
    yard_codec_t *requeue_codec; /* decodes queued headers without disturbing codec */
    uint64_t now, start_ms, next_tick;
    /* The stats clock (yard__stats_now_us), read when a frame arrives rather than twice per
     * message: the messages of one BATCH arrived together. */
    uint64_t now_us;
    uint32_t tick_ms;
    yard__pool_t pool;
    yard__map_t peer_map;
    yard__peer_t **peers;
    uint32_t npeers, peers_cap;
    yard__map_t svc_map;
    yard__service_t **svcs;
    uint32_t nsvcs, svcs_cap;
    yard__peer_t **subscribers;
    uint32_t nsubscribers, subscribers_cap;
    uint64_t counters[YARD__C_MAX_];
    uint64_t sends;   /* messages written to the ROUTER; tells the loop it must recheck it */
    yard__out_t *out; /* YARD__OUT_SLOTS batches, one per peer written to this turn */
    uint32_t nout;
    bool flushing;
    uint64_t faults[YARD__F_MAX_];
    uint64_t errors_sent[YARD__ERR_CODES];
    uint8_t logged_anon[8192]; /* bitset: (rid hash, fault) already logged */
    yard__tap_t **taps;        /* tap.c; NULL when ntaps is 0 */
    uint32_t ntaps, taps_cap;
    char (*mon_peer)[64]; /* monitor.c: the remote address of each accepted fd */
    uint32_t mon_peer_cap;
    uint32_t conns;                /* monitor.c: connections accepted and not yet disconnected */
    uint32_t trim_peak;            /* trim.c: the highest conns + npeers since the last trim */
    uint64_t trim_ms;              /* trim.c: b->now at the last trim */
    uint32_t mon_last_fd;          /* monitor.c: the last accepted fd (UINT32_MAX: none) */
    uint8_t handshake_logged[512]; /* monitor.c: bitset, remote hosts whose failure was logged */
    yard__keys_t *keys;            /* keys.c: CURVE state; NULL when CURVE is off */
    uint8_t perm_logged[1024];     /* perm.c: bitset, (key, permission) refusals logged */
    struct yard__metrics *metrics; /* metrics.c (metrics.h): /metrics; NULL when off */
};

/* The tap hooks as the request path calls them: one branch when nobody taps. */
/* A REQUEST or SEND for service s as received (frames: rid, header, body). */
static inline void
yard__tap_request(yard_broker_t *b, yard_str_t service, yard_cmd_t cmd, const zmq_msg_t *frames,
                  const yard_header_t *h, bool hidden)
{
    if (b->ntaps) {
        yard__tap_on_request(b, service, cmd, frames, h, hidden);
    }
}
/* The answer a replica gave for r (REPLY with its body frame, or ERROR). */
static inline void
yard__tap_answer(yard_broker_t *b, const yard__req_t *r, yard_cmd_t cmd, const zmq_msg_t *body,
                 const yard_header_t *h)
{
    if (b->ntaps) {
        yard__tap_on_answer(b, r, cmd, body, h);
    }
}
/* A PUBLISH on subject. */
static inline void
yard__tap_publish(yard_broker_t *b, yard_str_t subject, const yard_header_t *h,
                  const zmq_msg_t *body)
{
    if (b->ntaps) {
        yard__tap_on_publish(b, subject, h, body);
    }
}

/* broker.c */
uint64_t yard__now_ms(void);
void yard__grow(void **arr, uint32_t *cap, uint32_t need, size_t elem);
/* One received message (f[0] the routing id, n frames as the loop counts them, f holding at
 * most 3): the loop's handler, exposed so that tests/fuzz/fuzz_broker.c can drive it without
 * sockets. Runs on the loop's thread only. */
void yard__handle(yard_broker_t *b, zmq_msg_t *f, int n);

/* send.c: every send is non-blocking. A message that fits one frame joins its peer's batch
 * for this turn (yard__flush sends them); one with a large body is sent at once, after that
 * peer's batch. Returns 0, or for a message sent at once YARD_E_UNREACHABLE (peer gone),
 * YARD_E_OVERLOADED (its pipe is full), and YARD_E_TOO_LARGE when the header does not
 * encode. On success *body (may be NULL) has been moved (a small one copied and closed); on
 * failure the caller still owns it. A batch that cannot be sent at the flush is counted; a
 * replica found gone then is handled as dead (yard__peer_gone). */
int yard__send(yard_broker_t *b, const void *rid, size_t rid_len, yard_cmd_t cmd,
               const yard_header_t *h, zmq_msg_t *body);
/* The end of a turn: sends every peer's batch, one frame each. */
void yard__flush(yard_broker_t *b);
/* Frees the batches' memory (at destroy). */
void yard__out_fini(yard_broker_t *b);
void yard__send_error(yard_broker_t *b, const void *rid, size_t rid_len, uint64_t id, int err,
                      const char *text);
/* A head frame whose prefix did not parse (why): a YD/1 peer is answered ERROR PROTOCOL in
 * YD/1, so that it can read why; anything else is a PROTOCOL fault as usual. */
void yard__refuse_version(yard_broker_t *b, const void *rid, size_t rid_len, yard__peer_t *peer,
                          const void *head, size_t size, const char *why);
void yard__send_disconnect(yard_broker_t *b, const void *rid, size_t rid_len, const char *text);
void yard__fault(yard_broker_t *b, const void *rid, size_t rid_len, yard__peer_t *peer,
                 yard__fault_t kind, const char *why, int answer, uint64_t id);
const char *yard__fault_name(yard__fault_t kind);
const char *yard__counter_name(yard__counter_t c);

/* peer.c */
yard_str_t yard__peer_key(const void *val);
yard__peer_t *yard__peer_find(yard_broker_t *b, const void *rid, size_t len);
yard__peer_t *yard__peer_get(yard_broker_t *b, const void *rid, size_t len); /* NULL: limit */
void yard__peer_forget_if_idle(yard_broker_t *b, yard__peer_t *p);
void yard__peer_gone(yard_broker_t *b, yard__peer_t *p, const char *event);
void yard__peers_sweep(yard_broker_t *b);
void yard__peers_fini(yard_broker_t *b);
void yard__on_ready(yard_broker_t *b, const void *rid, size_t len, yard__peer_t *p,
                    const yard_header_t *h);
void yard__on_drain(yard_broker_t *b, yard__peer_t *p);

/* refuse.c: a stateful replica whose store is not its service's */
/* True when the READY h from rid (p: its peer, NULL when untracked) is refused because its
 * store differs from that of a live replica of s: then it was counted, logged, answered
 * ERROR FORBIDDEN and published as a `replica_refused` event. */
bool yard__ready_refused(yard_broker_t *b, const void *rid, size_t len, const yard__peer_t *p,
                         const yard__service_t *s, const yard_header_t *h);
/* Keeps a copy of store (empty: none) as p's store identity. */
void yard__peer_set_store(yard__peer_t *p, yard_str_t store);

/* service.c */
yard__service_t *yard__service_find(yard_broker_t *b, yard_str_t name);
yard__service_t *yard__service_get(yard_broker_t *b, yard_str_t name); /* NULL: limit */
/* During the broker's start-up grace (its first grace_ms), the service a request names and
 * nobody offers yet, created to hold the request until grace ends; NULL after the grace or
 * at the limit. */
yard__service_t *yard__service_expect(yard_broker_t *b, yard_str_t name);
void yard__service_add_replica(yard_broker_t *b, yard__service_t *s, yard__peer_t *p);
void yard__service_remove_replica(yard_broker_t *b, yard__peer_t *p);
void yard__service_set_credit(yard__peer_t *p, uint32_t credit, bool draining);
void yard__services_sweep(yard_broker_t *b);
void yard__services_fini(yard_broker_t *b);
/* Adds the ops a READY (h) lists as sensitive to s's set (a union, never shrunk while s lives). */
void yard__service_note_sensitive(yard__service_t *s, const yard_header_t *h);
/* True when taps must not see the bodies of op's requests to s and their answers. */
bool yard__service_sensitive(const yard__service_t *s, yard_str_t op);
uint64_t yard__contrib(const yard__peer_t *p);

/* route.c */
void yard__on_request(yard_broker_t *b, yard_cmd_t cmd, zmq_msg_t *frames, const yard_header_t *h);
void yard__on_answer(yard_broker_t *b, yard_cmd_t cmd, yard__peer_t *p, zmq_msg_t *frames,
                     const yard_header_t *h);
void yard__dispatch(yard_broker_t *b, yard__service_t *s);
void yard__req_finish(yard_broker_t *b, yard__req_t *r, int err, const char *text);
void yard__replica_lost(yard_broker_t *b, yard__peer_t *p);
void yard__expire(yard_broker_t *b);
void yard__shutdown_requests(yard_broker_t *b);

/* pubsub.c */
void yard__on_publish(yard_broker_t *b, const void *rid, size_t len, const yard_header_t *h,
                      zmq_msg_t *body);
void yard__publish(yard_broker_t *b, yard_str_t subject, const yard_header_t *h, zmq_msg_t *body);
void yard__on_subscribe(yard_broker_t *b, const void *rid, size_t len, yard__peer_t *p,
                        yard_cmd_t cmd, const yard_header_t *h);
void yard__subs_clear(yard_broker_t *b, yard__peer_t *p);

/* sys.c */
/* A REQUEST for `$sys`; body is the request's body frame (borrowed). */
void yard__on_sys(yard_broker_t *b, const void *rid, size_t len, const yard_header_t *h,
                  const zmq_msg_t *body);
void yard__event(yard_broker_t *b, const char *event, const char *endpoint, const char *service,
                 const char *replica);
/* The same with the remote address of a connection (peer may be NULL). */
void yard__event_peer(yard_broker_t *b, const char *event, const char *endpoint, const char *peer);
/* The same with a replica's store identity and the one its service expected (refuse.c). */
void yard__event_store(yard_broker_t *b, const char *event, const char *service,
                       const char *replica, const char *store, const char *expected);

/* trim.c: after a large drop in connections and peers, freed memory goes back to the kernel */
/* Notes the load (conns + npeers) after it may have grown. */
void yard__trim_note(yard_broker_t *b);
/* Every tick: trims (malloc_trim) once the load fell to half its peak, by enough. */
void yard__trim_tick(yard_broker_t *b);
/* Halves *cap (an array yard__grow grew, of elem-sized items) once count is a quarter of it
 * or less, down to 16: what a flood grew does not stay. */
void yard__shrink(void **arr, uint32_t *cap, uint32_t count, size_t elem);

/* monitor.c */
int yard__monitor_open(yard_broker_t *b);
void yard__monitor_read(yard_broker_t *b);
void yard__monitor_close(yard_broker_t *b);

#endif
