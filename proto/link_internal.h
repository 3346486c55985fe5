/* Private to libyard: a link's traffic, for the client and the replica runtime alike (one
 * DEALER to one broker). Sending batches what a loop turn writes (yard/batch.h): while the
 * owner holds its sends, each one-frame message is added to the link's batch, and the owner
 * flushes the batch before it waits, so nothing is delayed past the end of the turn.
 * Receiving unbatches: a BATCH frame is handed out message by message, as if each had come
 * alone. */
#ifndef YARD_LINK_INTERNAL_H
#define YARD_LINK_INTERNAL_H

#include "yard/batch.h"
#include "yard/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

/* A link's send batch and its place in a received batch. Owner: yard__link_init() once, then
 * yard__link_reset() whenever its socket is closed (what was in either is dropped), and
 * yard__link_fini() at the end. */
typedef struct {
    yard_batch_t out;
    zmq_msg_t in; /* the BATCH frame being read */
    yard_batch_reader_t rd;
    bool dropped_logged;
    const char *why; /* why the last malformed message was (static) */
} yard__link_t;

void yard__link_init(yard__link_t *l);
void yard__link_reset(yard__link_t *l);
void yard__link_fini(yard__link_t *l);

/* Sends one message (command, header, body when not NULL: consumed, on success and on
 * failure) on sock: into l's batch when hold is set and it fits one frame, else after
 * flushing the batch (order is kept), as yard__bus_send does. Returns 0, YARD_E_TOO_LARGE
 * (the header does not encode) or YARD_E_OVERLOADED (the socket would block). */
int yard__link_send(yard__link_t *l, void *sock, bool hold, yard_cmd_t cmd, const yard_header_t *h,
                    zmq_msg_t *body);

/* The same for a message already encoded as one frame (at most YARD_WIRE_HEADER_MAX +
 * YARD_WIRE_INLINE_MAX bytes; copied). */
int yard__link_send_frame(yard__link_t *l, void *sock, bool hold, const void *frame, size_t size);

/* Sends what l's batch holds, as one frame, and empties it. Returns 1 when it wrote (the
 * owner must then have yard_wait() ask the socket: a write can consume the edge of its
 * descriptor, see yard/wait.h), 0 when the batch was empty, or YARD_E_OVERLOADED when the
 * socket would block: the batch is dropped then (its calls end by their deadlines), which is
 * logged once per link. */
int yard__link_flush(yard__link_t *l, void *sock);

/* Receives the next message from sock into f[0] (head) and f[1] (body; empty when absent) and
 * decodes the head: from l's BATCH frame while one is being read, else from the socket.
 * Returns 2 for a message with a body (an inline body is copied into f[1]), 1 for one
 * without, with *cmd and *h set (h borrows f[0] or l's batch frame, and codec, until the next
 * call), 0 when nothing is waiting, or -1 for a malformed message, which has been logged and
 * dropped: then *cmd and h->id hold its command and id where they were readable (else 0), so
 * that a request can still be answered, and l->why says what was wrong (static). */
/* Whether l is part way through a received batch: its owner reads on before it waits, since
 * the socket no longer says that these messages are there. */
static inline bool
yard__link_reading(const yard__link_t *l)
{
    return l->rd.left > 0;
}

int yard__link_recv(yard__link_t *l, void *sock, zmq_msg_t f[2], yard_codec_t *codec,
                    yard_cmd_t *cmd, yard_header_t *h);

/* Whether something from the peer waits unread on sock (or in l's batch). An owner asks before
 * it calls the peer silent: a turn that ran long (a thousand deferred answers under a
 * sanitizer) reads the socket before that work and checks the clock after it, so an answer
 * that came in between would otherwise count as silence. */
bool yard__link_pending(const yard__link_t *l, void *sock);

#endif
