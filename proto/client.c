/* The client: one DEALER to the current broker of a list for calls and publications (chosen at
 * random, so that clients spread over the brokers they are given), one to each other broker
 * while there are subscriptions, a table of pending calls keyed by id, the subscriptions to
 * renew after a reconnect, and the publications made while reconnecting.
 *
 * Invariant: every call that yard_client_call_async() accepted sits in the table until it ends,
 * and it ends exactly once, by being unlinked from the table before its callback runs (so a
 * callback may start new calls or even a synchronous call). Call entries are pooled: in
 * steady state a call costs no malloc besides ZeroMQ's own body frame for bodies over 33
 * bytes. Deadlines are checked lazily: next_deadline is a lower bound on the earliest
 * deadline, and the table is scanned only when it passes.
 *
 * Broker death is seen two ways: the socket monitor's DISCONNECTED (the TCP connection
 * dropped: nothing sent on it can be answered any more) and 3 heartbeat intervals of silence
 * while something is outstanding. For the current link, calls move to the next endpoint:
 * idempotent calls are re-sent with the time they have left, the others end UNREACHABLE, and
 * publications wait in a bounded buffer until the new link is up. A subscription link that
 * goes silent is reopened; a CONNECTED after the first (the broker restarted and ZeroMQ
 * reconnected by itself) renews subscriptions. */
#include "alloc_internal.h"
#include "client_internal.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/subject.h"
#include "yard/wait.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_DEFAULT_HEARTBEAT_MS 1000
#define S_DEFAULT_TIMEOUT_MS   5000
#define S_RECV_BATCH           256
#define S_INITIAL_BUCKETS      64

/* Whether link i must hear from its broker: heartbeats and silence are counted only then. */
static bool
s_outstanding(const yard_client_t *self, size_t i)
{
    if (!self->links[i].sock) {
        return false;
    }
    /* A client that only publishes must also notice a broker gone silent (a cut link), or
     * its publications would pour into a dead connection. */
    return self->subs != NULL ||
           (i == self->current &&
            (self->pending > 0 || self->pubs.count > 0 || self->links[i].published));
}

/* --- sending ----------------------------------------------------------------------------- */

static int
s_encode_request(yard_cmd_t cmd, const char *service, const yard_call_opts_t *opts, uint64_t id,
                 uint32_t timeout_ms, uint8_t *buf, size_t cap)
{
    yard_str_t svc = yard_str(service);
    if (svc.len == 0 || svc.len > YARD_WIRE_NAME_MAX) {
        return YARD_E_INVALID;
    }
    yard_header_t h = {.id = id, .service = svc, .timeout_ms = timeout_ms};
    if (opts) {
        h.op = yard_str(opts->op);
        h.flags = opts->flags;
        h.headers = opts->headers;
        h.header_count = opts->headers ? opts->header_count : 0;
    }
    return yard_wire_encode(cmd, &h, buf, cap);
}

/* Sends an encoded head frame and the body. keep: a reference to the body is sent and body
 * stays (an idempotent call may be re-sent); otherwise body is moved out and left empty. */
/* A body over the inline limit: its own frame, after what the link has batched. */
static int
s_send_two_frames(yard__clink_t *l, const void *head, size_t hlen, zmq_msg_t *body, bool keep)
{
    if (yard__link_flush(&l->io, l->sock) < 0 ||
        zmq_send(l->sock, head, hlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        return YARD_E_OVERLOADED;
    }
    zmq_msg_t out;
    zmq_msg_init(&out);
    if (keep) {
        zmq_msg_copy(&out, body);
    } else {
        zmq_msg_move(&out, body);
    }
    if (zmq_msg_send(&out, l->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&out);
    }
    return 0;
}

int
yard__client_send_encoded(yard_client_t *self, const void *head, size_t hlen, zmq_msg_t *body,
                          bool keep, int64_t now)
{
    yard__clink_t *l = yard__client_link(self);
    if (!l->sock) {
        return YARD_E_OVERLOADED;
    }
    size_t size = zmq_msg_size(body);
    int rc;
    if (size <= YARD_WIRE_INLINE_MAX) {
        /* One frame: the body after the header (libzmq's cost is per frame). */
        uint8_t frame[YARD_WIRE_HEADER_MAX + YARD_WIRE_INLINE_MAX];
        memcpy(frame, head, hlen);
        if (size) {
            memcpy(frame + hlen, zmq_msg_data(body), size);
        }
        rc = yard__link_send_frame(&l->io, l->sock, self->corked > 0, frame, hlen + size);
        if (rc == 0 && !keep) {
            zmq_msg_close(body);
            zmq_msg_init(body);
        }
    } else {
        rc = s_send_two_frames(l, head, hlen, body, keep);
    }
    if (rc == 0) {
        l->last_send = now;
        l->sends++;
    }
    return rc;
}

int
yard__client_link_send(yard_client_t *self, size_t i, yard_cmd_t cmd, const yard_header_t *h,
                       zmq_msg_t *body)
{
    yard__clink_t *l = &self->links[i];
    if (!l->sock) {
        if (body) {
            zmq_msg_close(body);
        }
        return YARD_E_OVERLOADED;
    }
    l->sends++;
    int rc = yard__link_send(&l->io, l->sock, self->corked > 0, cmd, h, body);
    if (rc == 0) {
        l->last_send = yard__clock_ms();
    }
    return rc;
}

void
yard__client_flush(yard_client_t *self)
{
    for (size_t i = 0; i < self->n_endpoints; i++) {
        yard__clink_t *l = &self->links[i];
        if (l->sock && yard__link_flush(&l->io, l->sock) > 0) {
            l->sends_at_drain = l->sends - 1; /* written after the drain: the wait must ask */
        }
    }
}

static void
s_body_init(zmq_msg_t *m, const void *body, size_t size)
{
    if (zmq_msg_init_size(m, size) != 0) {
        abort();
    }
    if (size) {
        memcpy(zmq_msg_data(m), body, size);
    }
}

void
yard__client_note_activity_start(yard_client_t *self, int64_t now)
{
    if (!s_outstanding(self, self->current)) {
        /* Silence is counted only while something is outstanding. */
        yard__client_link(self)->last_recv = now;
    }
}

int
yard_client_call_async(yard_client_t *self, const char *service, const void *body, size_t size,
                       const yard_call_opts_t *opts, yard_reply_fn *cb, void *arg)
{
    if (!self || !cb || (size && !body)) {
        return YARD_E_INVALID;
    }
    uint32_t timeout = opts && opts->timeout_ms ? opts->timeout_ms : self->default_timeout_ms;
    uint64_t id = self->next_id++;
    uint8_t hbuf[YARD_WIRE_HEADER_MAX];
    int n = s_encode_request(YARD_CMD_REQUEST, service, opts, id, timeout, hbuf, sizeof hbuf);
    if (n < 0) {
        return n;
    }
    int64_t now = yard__clock_ms();
    yard__client_note_activity_start(self, now);
    yard__call_t *c = yard__client_call_get(self);
    c->id = id;
    c->cb = cb;
    c->arg = arg;
    c->flags = opts ? opts->flags : 0;
    c->deadline = now + timeout;
    zmq_msg_close(&c->body);
    s_body_init(&c->body, body, size);
    int rc = yard__client_send_encoded(self, hbuf, (size_t)n, &c->body,
                                       c->flags & YARD_FLAG_IDEMPOTENT, now);
    if (rc != 0) {
        yard__client_call_put(self, c);
        return rc;
    }
    if (c->flags & YARD_FLAG_IDEMPOTENT) {
        if ((size_t)n > c->hdr_cap) {
            c->hdr_cap = (size_t)n;
            c->hdr = yard__xrealloc(c->hdr, c->hdr_cap);
        }
        memcpy(c->hdr, hbuf, (size_t)n);
        c->hdr_len = (size_t)n;
        c->keep = true;
    } else {
        zmq_msg_close(&c->body);
        zmq_msg_init(&c->body);
    }
    yard__client_table_add(self, c);
    return 0;
}

int
yard_client_send(yard_client_t *self, const char *service, const void *body, size_t size,
                 const yard_call_opts_t *opts)
{
    if (!self || (size && !body)) {
        return YARD_E_INVALID;
    }
    uint32_t timeout = opts && opts->timeout_ms ? opts->timeout_ms : self->default_timeout_ms;
    uint8_t hbuf[YARD_WIRE_HEADER_MAX];
    int n =
        s_encode_request(YARD_CMD_SEND, service, opts, self->next_id++, timeout, hbuf, sizeof hbuf);
    if (n < 0) {
        return n;
    }
    zmq_msg_t m;
    s_body_init(&m, body, size);
    int rc = yard__client_send_encoded(self, hbuf, (size_t)n, &m, false, yard__clock_ms());
    zmq_msg_close(&m);
    return rc;
}

int
yard_client_publish(yard_client_t *self, const char *subject, const void *body, size_t size)
{
    if (!self || (size && !body) || !yard_subject_valid(yard_str(subject)) ||
        strlen(subject) > YARD_WIRE_NAME_MAX) {
        return YARD_E_INVALID;
    }
    yard__clink_t *l = yard__client_link(self);
    if (l->waiting || !l->sock || self->pubs.count) {
        /* Reconnecting: kept (bounded) and sent in order once the link is up. */
        yard__client_note_activity_start(self, yard__clock_ms());
        return yard__pubbuf_add(&self->pubs, subject, body, size);
    }
    yard__client_note_activity_start(self, yard__clock_ms());
    return yard__client_send_pub(self, subject, body, size);
}

/* --- receiving --------------------------------------------------------------------------- */

/* An ERROR for a command without an id (a subscription or publication the broker refused,
 * e.g. FORBIDDEN by the key's permissions): no call can carry it, so it is logged, once per
 * process and error code, lest a refused subscriber wait in silence. */
static void
s_unanswerable_error(const yard_header_t *h)
{
    static atomic_uint_fast64_t logged; /* bit per wire error code below 64 */
    uint64_t bit = h->error < 64 ? (uint64_t)1 << h->error : 0;
    if (bit && (atomic_fetch_or(&logged, bit) & bit)) {
        return;
    }
    int err = yard_err_from_wire(h->error);
    yard_str_t text = h->error_text.len ? h->error_text : yard_str(yard_strerror(err));
    yard_log(YARD_LOG_WARN, "the broker refused a subscription or publication",
             YF_STR("error", yard_err_name(err)), YF_STRN("why", text.ptr, text.len));
}

static int
s_handle(yard_client_t *self, size_t link, yard_cmd_t cmd, const yard_header_t *hp, zmq_msg_t *body)
{
    yard_header_t h = *hp;
    switch (cmd) {
    case YARD_CMD_REPLY:
    case YARD_CMD_ERROR: {
        yard__call_t *c = yard__client_table_take(self, h.id);
        if (!c && cmd == YARD_CMD_ERROR && h.id == 0) {
            s_unanswerable_error(&h); /* a SUBSCRIBE or PUBLISH refused: say so */
            return 0;
        }
        if (!c) {
            return 0; /* late: it already ended locally */
        }
        int status = cmd == YARD_CMD_REPLY ? 0 : yard_err_from_wire(h.error);
        if (cmd == YARD_CMD_ERROR && status == 0) {
            status = YARD_E_INTERNAL;
        }
        yard__msg_set(&self->scratch, status, &h, false, cmd == YARD_CMD_REPLY ? body : NULL);
        yard__client_end(self, c);
        return 1;
    }
    case YARD_CMD_PUBLISH: {
        int ran = 0;
        yard__msg_set(&self->scratch, 0, &h, true, body);
        /* A callback may unsubscribe: take the next link first. Patterns are whole
         * subscriptions, so unsubscribing another pattern mid-delivery is not supported. */
        for (yard__sub_t *s = self->subs, *next; s; s = next) {
            next = s->next;
            if (yard_subject_match(yard_str(s->pattern), h.service)) {
                s->cb(&self->scratch, s->arg);
                ran++;
            }
        }
        yard__msg_set_local(&self->scratch, 0, NULL);
        return ran;
    }
    case YARD_CMD_DISCONNECT:
        /* The broker does not know us (it restarted): renew what it must know. */
        yard__client_send_subscriptions(self, link);
        return 0;
    default:
        return 0; /* HEARTBEAT and anything else: a sign of life only */
    }
}

/* Receives every message waiting on link li, up to a batch. Returns callbacks run. */
static int
s_recv_link(yard_client_t *self, size_t li)
{
    yard__clink_t *l = &self->links[li];
    int ran = 0;
    bool got = false;
    /* A callback may fail over, which closes and reopens sockets: look the socket up again
     * each time round. */
    for (int i = 0; (i < S_RECV_BATCH || yard__link_reading(&l->io)) && l->sock; i++) {
        yard_cmd_t cmd;
        yard_header_t h;
        uint64_t sends = l->sends;
        int n = yard__link_recv(&l->io, l->sock, self->frames, self->codec, &cmd, &h);
        if (n == 0) {
            l->sends_at_drain = sends;
            break;
        }
        got = true;
        if (n > 0) {
            ran += s_handle(self, li, cmd, &h, &self->frames[1]);
        }
        if (i + 1 >= S_RECV_BATCH) {
            l->sends_at_drain = l->sends - 1; /* not drained: make the wait ask */
        }
    }
    if (got) {
        l->last_recv = yard__clock_ms(); /* once a batch: it only times heartbeats */
        l->answered = true;
        l->published = false;
    }
    return ran;
}

static int
s_recv_all(yard_client_t *self)
{
    int ran = 0;
    for (size_t i = 0; i < self->n_endpoints; i++) {
        ran += s_recv_link(self, i);
    }
    return ran;
}

/* When the next HEARTBEAT is due on an outstanding link: after an interval without sending,
 * or after an interval without hearing anything (a stream of publications or of requests to
 * a slow service gets no answer that says the broker is there) and without a heartbeat. */
static int64_t
s_heartbeat_due(const yard_client_t *self, const yard__clink_t *l)
{
    int64_t quiet = l->last_send + self->heartbeat_ms;
    int64_t deaf =
        (l->last_recv > l->last_heartbeat ? l->last_recv : l->last_heartbeat) + self->heartbeat_ms;
    return quiet < deaf ? quiet : deaf;
}

/* Heartbeats and silence on link i. Returns callbacks run. */
static int
s_link_timers(yard_client_t *self, size_t i, int64_t now)
{
    yard__clink_t *l = &self->links[i];
    if (!s_outstanding(self, i)) {
        return 0;
    }
    if (now - l->last_recv >= 3 * (int64_t)self->heartbeat_ms &&
        !yard__link_pending(&l->io, l->sock)) {
        if (i == self->current) {
            return yard__client_failover(self, "no answer for 3 heartbeat intervals");
        }
        yard_log(YARD_LOG_WARN, "broker silent for 3 heartbeats; reconnecting its subscriptions",
                 YF_STR("endpoint", self->endpoints[i]));
        yard__client_link_close(self, i);
        yard__client_link_open(self, i);
        return 0;
    }
    if (now >= s_heartbeat_due(self, l)) {
        yard_header_t h = {.heartbeat_ms = self->heartbeat_ms};
        yard__client_link_send(self, i, YARD_CMD_HEARTBEAT, &h, NULL);
        l->last_send = l->last_heartbeat = now;
    }
    return 0;
}

/* Heartbeats, silence and deadlines. Returns callbacks run. */
static int
s_timers(yard_client_t *self, int64_t now)
{
    int ran = yard__client_check_deadlines(self, now);
    for (size_t i = 0; i < self->n_endpoints; i++) {
        ran += s_link_timers(self, i, now);
    }
    return ran;
}

static int
s_monitor(yard_client_t *self, size_t i)
{
    yard__clink_t *l = &self->links[i];
    int ran = 0;
    l->mon_dirty = false; /* the loop below reads it until EAGAIN */
    for (int ev; l->mon && (ev = yard__bus_monitor_read(l->mon)) != 0;) {
        if (ev == ZMQ_EVENT_CONNECTED) {
            if (l->connected_once) {
                yard__client_send_subscriptions(self, i); /* reconnected to a restarted broker */
            }
            l->connected_once = l->up = true;
            l->waiting = false;
            if (i == self->current) {
                yard__client_flush_pubs(self);
            }
        } else if (ev == ZMQ_EVENT_DISCONNECTED) {
            l->up = false;
            ran += s_recv_link(self, i); /* what arrived before the drop still counts */
            if (i == self->current) {
                l->waiting = true;
                return ran + yard__client_failover(self, "connection dropped");
            }
            /* A subscription link: ZeroMQ reconnects, and CONNECTED renews them. */
        }
    }
    return ran;
}

/* Reads the monitors that have something or may have: marked, found readable by the last
 * wait, or of a link that is not up (a dispatch with no wait never learns from poll that it
 * came up). Every 64th turn reads all: a client that only publishes, never waiting, still
 * sees its broker go. */
static int
s_monitors(yard_client_t *self, const bool *ready)
{
    int ran = 0;
    bool all = (++self->turns & 63) == 0;
    for (size_t i = 0; i < self->n_endpoints; i++) {
        const yard__clink_t *l = &self->links[i];
        if (l->mon && (all || l->mon_dirty || !l->up || (ready && ready[i]))) {
            ran += s_monitor(self, i);
        }
    }
    return ran;
}

static int64_t
s_next_wake(const yard_client_t *self)
{
    int64_t wake = self->next_deadline;
    for (size_t i = 0; i < self->n_endpoints; i++) {
        const yard__clink_t *l = &self->links[i];
        if (s_outstanding(self, i)) {
            int64_t hb = s_heartbeat_due(self, l);
            int64_t dead = l->last_recv + 3 * (int64_t)self->heartbeat_ms;
            wake = hb < wake ? hb : wake;
            wake = dead < wake ? dead : wake;
        }
    }
    return wake;
}

/* Two wait items per link, socket then monitor (closed links' are empty). */
static int
s_items(const yard_client_t *self, yard_wait_item_t *items)
{
    for (size_t i = 0; i < self->n_endpoints; i++) {
        const yard__clink_t *l = &self->links[i];
        items[2 * i] = (yard_wait_item_t){
            .socket = l->sock, .fd = -1, .dirty = l->sock && l->sends != l->sends_at_drain};
        items[2 * i + 1] = (yard_wait_item_t){.socket = l->mon, .fd = -1, .dirty = l->mon_dirty};
    }
    return (int)(2 * self->n_endpoints);
}

static int
s_dispatch(yard_client_t *self, int timeout_ms, int fd, bool *fd_ready)
{
    if (!self) {
        return YARD_E_INVALID;
    }
    int64_t until = timeout_ms < 0 ? YARD__CLIENT_NEVER : yard__clock_ms() + timeout_ms;
    bool mon_ready[YARD__CLIENT_LINKS_MAX] = {false};
    /* What the callbacks of a turn send leaves together, before the wait or the return. */
    self->corked++;
    for (;;) {
        int ran = s_recv_all(self);
        ran += s_monitors(self, mon_ready);
        int64_t now = yard__clock_ms();
        ran += s_timers(self, now);
        yard__client_flush(self);
        if (ran > 0 || now >= until) {
            self->corked--;
            return ran;
        }
        int64_t wake = s_next_wake(self);
        wake = until < wake ? until : wake;
        long wait = wake == YARD__CLIENT_NEVER ? -1 : (long)(wake - now);
        if (wait < 0 && wake != YARD__CLIENT_NEVER) {
            wait = 0;
        }
        /* s_recv_all stops at a full batch without reaching EAGAIN: then the socket counts as
         * dirty, and yard_wait asks it directly instead of trusting its descriptor. */
        yard_wait_item_t items[2 * YARD__CLIENT_LINKS_MAX + 1];
        int n = s_items(self, items);
        items[n] = (yard_wait_item_t){.fd = fd};
        int rc = yard_wait(items, n + 1, wait);
        if (rc == YARD_E_SHUTDOWN) {
            self->corked--;
            return rc;
        }
        for (size_t i = 0; i < self->n_endpoints; i++) {
            mon_ready[i] = items[2 * i + 1].readable;
        }
        if (fd >= 0 && items[n].readable) {
            *fd_ready = true;
            self->corked--;
            return 0;
        }
    }
}

int
yard_client_dispatch(yard_client_t *self, int timeout_ms)
{
    return s_dispatch(self, timeout_ms, -1, NULL);
}

int
yard_client_dispatch_fd(yard_client_t *self, int timeout_ms, int fd, bool *fd_ready)
{
    if (!fd_ready || fd < 0) {
        return YARD_E_INVALID;
    }
    *fd_ready = false;
    return s_dispatch(self, timeout_ms, fd, fd_ready);
}

/* --- batching ---------------------------------------------------------------------------- */

void
yard_client_cork(yard_client_t *self)
{
    if (self) {
        self->corked++;
    }
}

void
yard_client_uncork(yard_client_t *self)
{
    if (self && self->corked > 0 && --self->corked == 0) {
        yard__client_flush(self);
    }
}

/* --- as a loop source (proto/bus.c) ---------------------------------------------------- */

int
yard__client_prepare(yard_client_t *self, yard_wait_item_t *items, int max, int64_t *wake_ms)
{
    if (max < (int)(2 * self->n_endpoints)) {
        /* no room this turn: look again soon rather than sleep past a reply */
        *wake_ms = yard__clock_ms();
        return 0;
    }
    int n = s_items(self, items);
    int64_t wake = s_next_wake(self);
    *wake_ms = wake < *wake_ms ? wake : *wake_ms;
    return n;
}

int
yard__client_turn(yard_client_t *self, const yard_wait_item_t *items, int n)
{
    for (size_t i = 0; 2 * i + 1 < (size_t)n && i < self->n_endpoints; i++) {
        if (items[2 * i + 1].readable) {
            self->links[i].mon_dirty = true; /* s_dispatch reads a monitor marked so */
        }
    }
    return s_dispatch(self, 0, -1, NULL);
}

/* --- synchronous call -------------------------------------------------------------------- */

typedef struct {
    bool done;
    int status;
    yard_msg_t *msg;
} s_sync_t;

static void
s_sync_cb(const yard_msg_t *reply, void *arg)
{
    s_sync_t *s = arg;
    s->done = true;
    s->status = yard_msg_status(reply);
    if (s->status == 0 || yard__msg_has_details(reply)) {
        /* reply is the client's scratch message: take its contents instead of copying. */
        s->msg = yard__msg_take((yard_msg_t *)reply);
    }
}

int
yard_client_call(yard_client_t *self, const char *service, const void *body, size_t size,
                 const yard_call_opts_t *opts, yard_msg_t **reply)
{
    if (reply) {
        *reply = NULL;
    }
    s_sync_t s = {0};
    int rc = yard_client_call_async(self, service, body, size, opts, s_sync_cb, &s);
    if (rc != 0) {
        return rc;
    }
    while (!s.done) {
        rc = yard_client_dispatch(self, -1);
        if (rc < 0 && !s.done) {
            return rc; /* only when the context is terminated under us */
        }
    }
    if (reply) {
        *reply = s.msg;
    } else {
        yard_msg_destroy(&s.msg);
    }
    return s.status;
}

size_t
yard_client_pending(const yard_client_t *self)
{
    return self ? self->pending : 0;
}

void
yard_client_state(const yard_client_t *self, yard_client_state_t *out)
{
    const yard__clink_t *l = &self->links[self->current];
    *out = (yard_client_state_t){.endpoint = self->endpoints[self->current],
                                 .connected = l->sock && l->up,
                                 .publications_waiting = self->pubs.count,
                                 .publications_dropped = self->pubs.dropped_all};
}

/* --- life cycle -------------------------------------------------------------------------- */

/* Where a client starts in its broker list: at random, so that clients given the same list
 * spread over its brokers instead of all using the first. */
static size_t
s_random_start(const yard_client_t *self, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = (uint64_t)getpid() * 0x9e3779b97f4a7c15u ^ (uint64_t)ts.tv_nsec ^
                 (uint64_t)(uintptr_t)self ^ ((uint64_t)ts.tv_sec << 32);
    x ^= x >> 30; /* splitmix64's finaliser: every input bit moves the result */
    x *= 0xbf58476d1ce4e5b9u;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebu;
    x ^= x >> 31;
    return (size_t)(x % n);
}

int
yard_client_new(const char *endpoints, const yard_client_opts_t *opts, yard_client_t **out)
{
    *out = NULL;
    yard_client_t *self = yard__xcalloc(1, sizeof *self);
    self->heartbeat_ms = opts && opts->heartbeat_ms ? opts->heartbeat_ms : S_DEFAULT_HEARTBEAT_MS;
    self->default_timeout_ms =
        opts && opts->default_timeout_ms ? opts->default_timeout_ms : S_DEFAULT_TIMEOUT_MS;
    self->next_id = 1;
    self->next_deadline = YARD__CLIENT_NEVER;
    self->n_buckets = S_INITIAL_BUCKETS;
    self->buckets = yard__xcalloc(self->n_buckets, sizeof *self->buckets);
    self->codec = yard_codec_new();
    yard__msg_init(&self->scratch);
    for (int i = 0; i < 3; i++) {
        zmq_msg_init(&self->frames[i]);
    }
    int rc = yard__endpoints_parse(endpoints ? endpoints : getenv("YARD_BROKER"), &self->endpoints,
                                   &self->n_endpoints);
    if (rc == 0 && self->n_endpoints > YARD__CLIENT_LINKS_MAX) {
        yard_log(YARD_LOG_ERROR, "too many brokers in the list",
                 YF_UINT("given", self->n_endpoints), YF_UINT("max", YARD__CLIENT_LINKS_MAX));
        rc = YARD_E_CONFIG;
    }
    if (rc == 0) {
        self->links = yard__xcalloc(self->n_endpoints, sizeof *self->links);
        for (size_t i = 0; i < self->n_endpoints; i++) {
            yard__link_init(&self->links[i].io);
        }
        self->current = opts && opts->in_order ? 0 : s_random_start(self, self->n_endpoints);
        self->ctx = opts && opts->zmq_context ? opts->zmq_context : NULL;
        if (!self->ctx) {
            self->ctx = zmq_ctx_new();
            self->own_ctx = true;
        }
        rc = self->ctx ? yard__client_link_open(self, self->current) : YARD_E_INTERNAL;
    }
    if (rc != 0) {
        yard_client_destroy(&self);
        return rc;
    }
    *out = self;
    return 0;
}

void
yard_client_destroy(yard_client_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    yard_client_t *self = *self_p;
    /* End every pending call; a callback may start another, which ends here too. */
    while (self->pending > 0) {
        for (size_t i = 0; i < self->n_buckets; i++) {
            while (self->buckets[i]) {
                yard__call_t *c = self->buckets[i];
                self->buckets[i] = c->next;
                self->pending--;
                yard__client_end_local(self, c, YARD_E_SHUTDOWN, "the client is shutting down");
            }
        }
    }
    for (size_t i = 0; self->links && i < self->n_endpoints; i++) {
        if (self->links[i].sock) {
            yard__link_flush(&self->links[i].io, self->links[i].sock);
        }
        yard__client_link_close(self, i);
        yard__link_fini(&self->links[i].io);
    }
    free(self->links);
    yard__pubbuf_clear(&self->pubs);
    while (self->subs) {
        yard__sub_t *s = self->subs;
        self->subs = s->next;
        free(s->pattern);
        free(s);
    }
    while (self->free_calls) {
        yard__call_t *c = self->free_calls;
        self->free_calls = c->next;
        free(c->hdr);
        free(c);
    }
    free(self->buckets);
    yard__endpoints_free(self->endpoints, self->n_endpoints);
    for (int i = 0; i < 3; i++) {
        zmq_msg_close(&self->frames[i]);
    }
    yard__msg_fini(&self->scratch);
    yard_codec_destroy(&self->codec);
    if (self->own_ctx && self->ctx) {
        zmq_ctx_term(self->ctx);
    }
    free(self);
    *self_p = NULL;
}
