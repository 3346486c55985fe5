/* Private to libyard: what the actor runtime (actor.c: the life cycle; actor_replica.c: a
 * replica's links and loop; actor_held.c: a replica's held deferred tokens), the request and
 * deferred-token code (request.c) and the program entry (actor_main.c) share.
 *
 * A deferred token and its replica meet in a mailbox: a mutex, an eventfd the replica polls,
 * and a queue of completed tokens. Tokens and the replica each hold a reference on the
 * mailbox, and the runtime and the token's holder each hold one on the token, so whichever
 * side finishes last frees it. Who answers the broker is decided once, under the mailbox
 * lock, by the token's state: PENDING becomes COMPLETED (the holder won) or EXPIRED (the
 * deadline or the shutdown won). */
#ifndef YARD_ACTOR_INTERNAL_H
#define YARD_ACTOR_INTERNAL_H

#include "actor_credit.h"
#include "link_internal.h"
#include "pubbuf_internal.h"
#include "yard/actor.h"

#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

typedef struct yard__rt_replica yard__rt_replica_t;

typedef struct {
    atomic_int refs;
    pthread_mutex_t lock;
    int efd;     /* eventfd: a completion or a stop request is waiting; -1 in test mode */
    bool closed; /* the replica is gone: completions are refused */
    atomic_bool stop;
    yard_deferred_t *head; /* completed tokens, in order */
    yard_deferred_t *tail;
    yard_request_t *test_req; /* test mode: completions land here */
} yard__mailbox_t;

enum { YARD__D_PENDING = 0, YARD__D_COMPLETED, YARD__D_EXPIRED };

/* Headers an answer carries (yard_request_set_header). Allocated on first use only. */
typedef struct {
    char *key[YARD_WIRE_HEADERS_MAX];
    char *value[YARD_WIRE_HEADERS_MAX];
    uint32_t n;
} yard__hdrs_t;

/* Adds a copy of key/value to *h (allocating it). Returns 0, or YARD_E_TOO_LARGE over the
 * wire's caps, YARD_E_INVALID for NULL strings. */
int yard__hdrs_add(yard__hdrs_t **h, const char *key, const char *value);
/* Fills out (YARD_WIRE_HEADERS_MAX entries) with views of h; returns the count (0 for NULL). */
uint32_t yard__hdrs_view(const yard__hdrs_t *h, yard_kv_t *out);
void yard__hdrs_free(yard__hdrs_t **h);

struct yard_deferred {
    atomic_int refs;
    yard__mailbox_t *mbox;
    int state;    /* under mbox->lock */
    int link;     /* the broker connection the request came on */
    uint32_t gen; /* and which connection of that link (actor_credit.h) */
    uint64_t id;
    int64_t deadline;
    yard_deferred_t *prev, *next; /* the replica's list of held tokens (replica thread only) */
    yard_deferred_t *qnext;       /* the completion queue (under mbox->lock) */
    int err;                      /* 0: reply with body; else the failure */
    zmq_msg_t body;
    char *app_error;
    char *text;
    yard__hdrs_t *hdrs; /* answer headers: set by the holder before completing */
};

enum { YARD__R_OPEN = 0, YARD__R_ANSWERED, YARD__R_DEFERRED };

struct yard_request {
    yard__rt_replica_t *rep; /* NULL in test mode */
    yard_ctx_t *ctx;         /* the replica's services; NULL for yard_request_new_test() */
    int link;
    uint32_t gen;
    uint64_t id;
    bool one_way;
    int64_t deadline;
    int state;
    const char *service;
    const char *op;
    const char **headers; /* key, value, ... */
    uint32_t header_count;
    const void *body;
    size_t body_size;
    msgpack_zone *zone;
    msgpack_object obj;
    int obj_state;      /* 0 not decoded, 1 valid, -1 empty or invalid */
    yard__hdrs_t *hdrs; /* answer headers; moved into the token by yard_request_defer */
    /* test mode */
    yard__mailbox_t *t_mbox;
    int t_status; /* 1: nothing yet */
    char *t_body;
    size_t t_size;
    char *t_app_error;
    char *t_text;
    char *t_storage; /* service, op and body copies */
    msgpack_zone t_zone;
};

#define YARD__RT_NEVER INT64_MAX
/* Wait items kept for loop sources, after each link's two and the mailbox's one. */
#define YARD__RT_SOURCE_ITEMS 64

typedef struct {
    const char *endpoint;
    void *sock;
    void *mon;
    bool connected;
    bool connected_once;
    bool barrier; /* draining: nothing more can arrive on this link */
    int64_t last_send;
    int64_t last_recv;
    int64_t last_heartbeat; /* the last HEARTBEAT sent: one asks at most once an interval */
    bool unstamped;         /* sent this turn: s_flush stamps last_send, one clock read a turn */
    uint32_t heartbeat_ms;  /* negotiated */
    /* For yard_wait(): sends since the socket was last found empty, and whether the monitor
     * has been read until empty since it was opened. */
    uint64_t sends, sends_at_drain;
    bool mon_dirty;
    yard__link_t io; /* what this turn sends, batched; a batch being read */
} yard__rt_link_t;

struct yard__rt_replica {
    yard_actor_t *actor;
    int index;
    pthread_t thread;
    bool started;
    yard__rt_link_t *links;
    yard__credit_t *credit; /* one per link: the credit shared over the brokers */
    yard__pubbuf_t pubs;    /* publications made while no broker was connected */
    yard__mailbox_t *mbox;
    yard_codec_t *codec;
    msgpack_zone zone;
    char name[YARD_WIRE_NAME_MAX + 1];
    yard_request_t req;
    char *arena;
    size_t arena_cap;
    const char **hdrs;
    yard_ctx_t *ctx;       /* from before init until after fini (replica thread) */
    yard_deferred_t *held; /* deferred tokens not answered yet */
    size_t n_held;
    int64_t next_expiry;
    bool draining;
    int64_t drain_until;
    zmq_msg_t frames[3];
};

struct yard_actor {
    const yard_actor_def_t *def;
    void *ctx;
    bool own_ctx;
    char **endpoints;
    size_t n_endpoints;
    char *broker; /* the endpoints as given, for init (env.broker) */
    yard_str_t sensitive[YARD_WIRE_SENSITIVE_MAX]; /* def->sensitive, as READY carries it */
    uint32_t n_sensitive;
    const yard_config_t *config;
    uint32_t credit;
    bool fill; /* READY carries YARD_FLAG_FILL */
    uint32_t heartbeat_ms;
    uint32_t drain_ms;
    char *http_ca_file; /* the section's http_ca_file; owned */
    void *options;
    yard_store_t *store;
    size_t n_replicas;
    yard__rt_replica_t *replicas;
    pthread_mutex_t lock; /* start-up handshake with the replicas (n_inited, init_rc, go) */
    pthread_cond_t cond;
    pthread_mutex_t stop_lock; /* serialises yard_actor_stop(); replicas never take it */
    size_t n_inited;
    int init_rc;
    int go; /* 0: wait, 1: run, -1: abort */
    bool stopped;
    /* A broker refused the replicas for good (yard_actor_refused()): the first refusal's
     * text, written once under lock. */
    bool refused;
    char refused_text[YARD_WIRE_TEXT_MAX + 1];
};

yard__mailbox_t *yard__mailbox_new(bool with_fd);
void yard__mailbox_unref(yard__mailbox_t **mb_p);

/* Sends the answer for (link, id) through the replica (replica thread only). */
void yard__rt_answer(yard__rt_replica_t *rep, int link, uint32_t gen, uint64_t id, int err,
                     const char *app_error, const char *text, const yard__hdrs_t *hdrs,
                     zmq_msg_t *body);

/* Hands a new token to the replica's list (replica thread only). */
void yard__rt_hold(yard__rt_replica_t *rep, yard_deferred_t *d);

/* Answers the completed tokens waiting in the mailbox; with close_box, also closes it
 * (replica thread only). */
void yard__rt_drain_mailbox(yard__rt_replica_t *rep, bool close_box);

/* Answers TIMEOUT for held tokens past their deadline, or all of them with everything
 * (replica thread only). */
void yard__rt_expire(yard__rt_replica_t *rep, int64_t now, bool everything);

/* Runs a replica's links until it has drained after a stop request (replica thread). */
void yard__rt_run(yard__rt_replica_t *rep);

/* Publishes an event on one of the replica's links (replica thread only; see
 * yard_ctx_publish(), which checks the subject first). */
int yard__rt_publish(yard__rt_replica_t *rep, const char *subject, const void *body, size_t size);

/* yard_actor_start() that also says why it failed: why (cap bytes, may be NULL) gets a
 * sentence naming what failed (the state store and its URL, init), or "" when the log line
 * before says it better. For yard_actor_main(), whose last word is this reason. */
int yard__actor_start(const yard_actor_def_t *def, const yard_actor_opts_t *opts,
                      const void *actor_options, yard_actor_t **out, char *why, size_t cap);

/* Checks a descriptor before anything runs it: YARD_E_INVALID when malformed. */
int yard__actor_check_def(const yard_actor_def_t *def);

/* The handler for op: its own entry, else the first with op == NULL, else NULL. The one
 * lookup the runtime and the test harness share. */
const yard_handler_def_t *yard__actor_find_handler(const yard_actor_def_t *def, const char *op);

/* Runs the request's handler on state exactly as a replica does: BAD_REQUEST when no handler
 * takes the op, and a failure for a handler that returned without answering. */
void yard__actor_call(const yard_actor_def_t *def, yard_request_t *req, void *state);

/* Records that a broker refused a replica for good, with its reason (the first one wins).
 * Thread-safe. */
void yard__actor_set_refused(yard_actor_t *a, yard_str_t text);

/* Drops one reference on d; frees it at zero. */
void yard__deferred_unref(yard_deferred_t *d);

#endif
