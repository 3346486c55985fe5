/* Private to libyard: what the client's files share. client.c sends, receives and runs the
 * dispatch loop; client_calls.c keeps the table of pending calls and their deadlines;
 * client_failover.c owns the links (one socket per broker) and moves calls to the next broker;
 * client_subs.c keeps the subscriptions, made on every broker.
 *
 * Invariant: every call that yard_client_call_async() accepted sits in the table until it
 * ends, and it ends exactly once, by being unlinked from the table before its callback runs.
 * Only client_calls.c and the failover and shutdown sweeps unlink entries. */
#ifndef YARD_CLIENT_INTERNAL_H
#define YARD_CLIENT_INTERNAL_H

#include "link_internal.h"
#include "msg_internal.h"
#include "pubbuf_internal.h"
#include "yard/client.h"
#include "yard/wait.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define YARD__CLIENT_NEVER INT64_MAX
/* Brokers in one client's list: two wait items each must fit a replica's wait (YARD_WAIT_MAX). */
#define YARD__CLIENT_LINKS_MAX 16

typedef struct yard__call {
    uint64_t id;
    yard_reply_fn *cb;
    void *arg;
    int64_t deadline; /* the caller's deadline */
    uint32_t flags;
    struct yard__call *next; /* hash chain, or the free list */
    bool keep;               /* idempotent: hdr and body kept for a re-send */
    zmq_msg_t body;
    uint8_t *hdr;
    size_t hdr_len;
    size_t hdr_cap;
} yard__call_t;

typedef struct yard__sub {
    char *pattern;
    yard_reply_fn *cb;
    void *arg;
    struct yard__sub *next;
} yard__sub_t;

/* One DEALER to one broker of the list. The calls' link is the client's current one; the
 * others are opened while there are subscriptions, so that a publication reaches this
 * client whichever broker its publisher uses. */
typedef struct {
    void *sock;
    void *mon;
    bool connected_once; /* CONNECTED seen on this socket */
    bool up;             /* connected now: CONNECTED seen, no DISCONNECTED since */
    bool waiting;        /* known down (dropped, or new after a failover): publications wait */
    bool answered;       /* the socket has received something: a broker is there */
    bool published;      /* published since it last received: its broker must answer */
    int64_t last_send;
    int64_t last_recv;
    int64_t last_heartbeat;
    /* For yard_wait(): the socket needs a ZMQ_EVENTS check before a wait when it was written
     * to since the last receive that found it empty; the monitor until first drained. */
    uint64_t sends, sends_at_drain;
    bool mon_dirty;
    yard__link_t io; /* its batch of sends while the client is corked; a batch being read */
} yard__clink_t;

struct yard_client {
    void *ctx;
    bool own_ctx;
    char **endpoints;
    size_t n_endpoints;
    yard__clink_t *links; /* one per endpoint */
    size_t current;       /* the link calls and publications go to */
    yard_codec_t *codec;
    uint32_t heartbeat_ms;
    uint32_t default_timeout_ms;
    uint64_t next_id;
    yard__call_t **buckets;
    size_t n_buckets; /* a power of two */
    size_t pending;
    yard__call_t *free_calls;
    int64_t next_deadline;
    yard__sub_t *subs;
    yard__pubbuf_t pubs; /* publications waiting for the current link to be up */
    uint64_t turns;      /* dispatch turns, to read every monitor now and then */
    int corked;          /* yard_client_cork() depth: sends wait in the links' batches */
    yard_msg_t scratch;
    zmq_msg_t frames[3];
};

/* The current link. */
static inline yard__clink_t *
yard__client_link(yard_client_t *self)
{
    return &self->links[self->current];
}

/* Sends an encoded head frame and the body. keep: a reference to the body is sent and body
 * stays (an idempotent call may be re-sent); otherwise body is moved out and left empty. */
int yard__client_send_encoded(yard_client_t *self, const void *head, size_t hlen, zmq_msg_t *body,
                              bool keep, int64_t now);

/* Sends one message on link i (body may be NULL; consumed): batched while the client is
 * corked. Counts the send; sets last_send when it went. Returns 0 or an error. */
int yard__client_link_send(yard_client_t *self, size_t i, yard_cmd_t cmd, const yard_header_t *h,
                           zmq_msg_t *body);

/* Sends what every link's batch holds. */
void yard__client_flush(yard_client_t *self);

/* Starts the silence clock when nothing was outstanding before. */
void yard__client_note_activity_start(yard_client_t *self, int64_t now);

/* The call table (client_calls.c). */
yard__call_t *yard__client_call_get(yard_client_t *self);
void yard__client_call_put(yard_client_t *self, yard__call_t *c);
void yard__client_table_add(yard_client_t *self, yard__call_t *c);
yard__call_t *yard__client_table_take(yard_client_t *self, uint64_t id);
void yard__client_end(yard_client_t *self, yard__call_t *c);
void yard__client_end_local(yard_client_t *self, yard__call_t *c, int err, const char *text);
int yard__client_check_deadlines(yard_client_t *self, int64_t now);

/* The links and failover (client_failover.c). */
void yard__client_link_close(yard_client_t *self, size_t i);
int yard__client_link_open(yard_client_t *self, size_t i);
/* Opens every link but the current one while there are subscriptions; closes them when the
 * last subscription goes. */
void yard__client_links_fit(yard_client_t *self);
int yard__client_failover(yard_client_t *self, const char *why);
/* Publishes on the current link now (arg: the client; a yard__pub_send_fn). Returns 0 or an
 * error. */
int yard__client_send_pub(void *arg, const char *subject, const void *body, size_t size);
/* Sends the buffered publications when the current link is up. */
void yard__client_flush_pubs(yard_client_t *self);
/* The text a call ends with when no answer came: "no broker answered at ENDPOINT" while the
 * current socket has heard nothing (no broker ever listened there), else gone, the text for
 * a broker that answered before and then went away. Borrowed: buf, or gone. */
const char *yard__client_lost_text(const yard_client_t *self, const char *gone, char *buf,
                                   size_t cap);

/* Subscriptions (client_subs.c): sent on link i. */
void yard__client_send_subscriptions(yard_client_t *self, size_t i);

/* The client as a replica's loop source (proto/bus.c): prepare adds two wait items per open
 * link (the socket and its monitor) to items[0 .. max) and lowers *wake_ms to its next heartbeat or
 * deadline (monotonic clock); returns the items used (0 when max < 2). turn, after the wait
 * with those items, runs what arrived and what is due, without waiting; returns the number
 * of callbacks run, or a negative error. */
int yard__client_prepare(yard_client_t *self, yard_wait_item_t *items, int max, int64_t *wake_ms);
int yard__client_turn(yard_client_t *self, const yard_wait_item_t *items, int n);

#endif
