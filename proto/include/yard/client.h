/* The client: call, send, publish and subscribe over the bus, for tools and for actors that
 * talk to other services.
 *
 * A client is used from one thread at a time (like a ZeroMQ socket). Its calls and
 * publications go to one broker of the endpoint list at a time, picked at random so that
 * clients spread over the brokers, and move to the next when it stops answering heartbeats.
 * Subscriptions are made on every broker of the list (a publisher may use any of them; each
 * publication arrives once) and renewed when a broker comes back. Publications made while
 * the client reconnects wait in a bounded buffer (10000 publications, 8 MiB) and are sent
 * once it is connected; one that does not fit is refused with YARD_E_OVERLOADED, and the
 * refusals are counted and logged.
 *
 * Every call ends exactly once: its callback runs with a reply or with an error
 * (YARD_E_TIMEOUT at the deadline, YARD_E_NO_SERVICE, YARD_E_UNREACHABLE, ...), from inside
 * yard_client_dispatch() or a synchronous call on the same client. A call whose broker dies
 * before answering is re-sent through the next broker when it was marked idempotent, and
 * ends with YARD_E_UNREACHABLE otherwise. */
#ifndef YARD_CLIENT_H
#define YARD_CLIENT_H

#include "yard/msg.h"
#include "yard/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct yard_client yard_client_t;

typedef struct {
    uint32_t heartbeat_ms;       /* 0: 1000 */
    uint32_t default_timeout_ms; /* used when a call gives 0; 0: 5000 */
    void *zmq_context;           /* share a context (inproc endpoints need it); NULL: own */
    bool in_order;               /* calls use the first broker until it fails (else one at
                                    random, so that clients spread over the brokers) */
} yard_client_opts_t;

typedef struct {
    const char *op;           /* operation within the service, or NULL */
    uint32_t timeout_ms;      /* 0: the client's default */
    uint32_t flags;           /* YARD_FLAG_IDEMPOTENT */
    const yard_kv_t *headers; /* borrowed for the duration of the call function */
    uint32_t header_count;
} yard_call_opts_t;

/* Connects to endpoints ("tcp://a:5555,tcp://b:5555"; NULL reads YARD_BROKER). opts may be
 * NULL. Returns 0 and sets *out (caller owns it; free with yard_client_destroy()), or
 * YARD_E_CONFIG when there is no endpoint or one is malformed. Connecting is lazy:
 * an absent broker shows up as YARD_E_UNREACHABLE or YARD_E_TIMEOUT on the first call. */
int yard_client_new(const char *endpoints, const yard_client_opts_t *opts, yard_client_t **out);

/* Ends every pending call with YARD_E_SHUTDOWN (callbacks run), then closes. */
void yard_client_destroy(yard_client_t **self_p);

/* Called exactly once per call with the outcome. reply is borrowed: valid until the callback
 * returns; copy what must outlive it. */
typedef void(yard_reply_fn)(const yard_msg_t *reply, void *arg);

/* Synchronous call: waits for the outcome. Returns 0 and sets *reply (caller owns it; free
 * with yard_msg_destroy()) for a reply; otherwise returns the negative error and, when the
 * error came with details (a service error's name and text), also sets *reply, else NULL. */
int yard_client_call(yard_client_t *self, const char *service, const void *body, size_t size,
                     const yard_call_opts_t *opts, yard_msg_t **reply);

/* Asynchronous call. Calls cb exactly once, from yard_client_dispatch() or another call on
 * this client, unless this returns an error, in which case cb is never called. The body is
 * copied before this returns. */
int yard_client_call_async(yard_client_t *self, const char *service, const void *body, size_t size,
                           const yard_call_opts_t *opts, yard_reply_fn *cb, void *arg);

/* One-way send to one replica of service; no reply. Returns 0 once handed to the broker
 * connection, or an error (YARD_E_INVALID for a bad name, YARD_E_TOO_LARGE). */
int yard_client_send(yard_client_t *self, const char *service, const void *body, size_t size,
                     const yard_call_opts_t *opts);

/* Publishes body on subject (no wildcards). Returns 0 (sent, or kept until the client is
 * connected again) or an error: YARD_E_INVALID, YARD_E_OVERLOADED when the reconnect buffer
 * is full. */
int yard_client_publish(yard_client_t *self, const char *subject, const void *body, size_t size);

/* Subscribes to a pattern (`*` and `>` wildcards); cb runs from yard_client_dispatch() for
 * every matching message, with the message borrowed for the callback's duration. Returns 0
 * or YARD_E_INVALID for a bad pattern. */
int yard_client_subscribe(yard_client_t *self, const char *pattern, yard_reply_fn *cb, void *arg);
int yard_client_unsubscribe(yard_client_t *self, const char *pattern);

/* Waits up to timeout_ms (0: do not wait; -1: until something happens) for replies,
 * deliveries and deadlines, and runs their callbacks. Keeps heartbeats and failover going.
 * Returns the number of callbacks run, or a negative error. */
int yard_client_dispatch(yard_client_t *self, int timeout_ms);

/* Like yard_client_dispatch, and also returns as soon as fd is readable, with *fd_ready set
 * (else false): for a thread that owns a client and takes work from other threads through an
 * eventfd or pipe they write to. fd is only watched, never read. Returns the number of
 * callbacks run, or a negative error (YARD_E_INVALID for fd < 0). */
int yard_client_dispatch_fd(yard_client_t *self, int timeout_ms, int fd, bool *fd_ready);

/* Batching (protocol section 3.1): the calls, sends and publications made while the client is
 * corked wait in one buffer per broker and leave together, as one ZeroMQ message, when it is
 * uncorked. The client corks itself while it runs callbacks (from yard_client_dispatch() and
 * the synchronous call), and flushes before it waits, so a callback that starts the next call
 * batches with no added latency. A loop that starts many calls from its own callbacks (an
 * HTTP server's request handler) does the same: cork, run them, uncork. Corks nest; the
 * outermost uncork sends. Uncorking an uncorked client does nothing. */
void yard_client_cork(yard_client_t *self);
void yard_client_uncork(yard_client_t *self);

/* Number of calls that have not ended yet. */
size_t yard_client_pending(const yard_client_t *self);

/* Where the client stands: the broker its calls and publications use (borrowed, valid until
 * the next dispatch), whether that connection is known to be up, and the publications kept
 * while reconnecting (waiting now; refused because the buffer was full, in all). */
typedef struct {
    const char *endpoint;
    bool connected;
    size_t publications_waiting;
    uint64_t publications_dropped;
} yard_client_state_t;
void yard_client_state(const yard_client_t *self, yard_client_state_t *out);

#endif
