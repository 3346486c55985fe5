/* The client: one DEALER to the current broker of a list, a table of pending calls keyed by
 * id, and the subscriptions to renew after a reconnect.
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
 * while something is outstanding. Either way the socket is reopened on the next endpoint,
 * idempotent calls are re-sent with the time they have left, the others end UNREACHABLE, and
 * subscriptions are sent again. A CONNECTED after the first (the broker restarted and ZeroMQ
 * reconnected by itself) renews subscriptions too. */
#include "alloc_internal.h"
#include "client_internal.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/subject.h"
#include "yard/wait.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define S_DEFAULT_HEARTBEAT_MS 1000
#define S_DEFAULT_TIMEOUT_MS   5000
#define S_RECV_BATCH           256
#define S_INITIAL_BUCKETS      64

static bool
s_outstanding(const yard_client_t *self)
{
    return self->pending > 0 || self->subs != NULL;
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
int
yard__client_send_encoded(yard_client_t *self, const void *head, size_t hlen, zmq_msg_t *body,
                          bool keep, int64_t now)
{
    if (zmq_send(self->sock, head, hlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        return YARD_E_OVERLOADED;
    }
    zmq_msg_t out;
    zmq_msg_init(&out);
    if (keep) {
        zmq_msg_copy(&out, body);
    } else {
        zmq_msg_move(&out, body);
    }
    if (zmq_msg_send(&out, self->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&out);
    }
    self->last_send = now;
    self->sends++;
    return 0;
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
    if (!s_outstanding(self)) {
        /* Silence is counted only while something is outstanding. */
        self->last_recv = now;
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
    yard_header_t h = {.service = yard_str(subject)};
    int rc = yard__bus_send_bytes(self->sock, YARD_CMD_PUBLISH, &h, body, size);
    self->sends++;
    if (rc == 0) {
        self->last_send = yard__clock_ms();
    }
    return rc;
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
s_handle(yard_client_t *self, yard_cmd_t cmd, const yard_header_t *hp, zmq_msg_t *body)
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
        yard__client_send_subscriptions(self);
        return 0;
    default:
        return 0; /* HEARTBEAT and anything else: a sign of life only */
    }
}

/* Receives every message waiting, up to a batch. Returns callbacks run. */
static int
s_recv_all(yard_client_t *self)
{
    int ran = 0;
    bool got = false;
    for (int i = 0; i < S_RECV_BATCH && self->sock; i++) {
        yard_cmd_t cmd;
        yard_header_t h;
        uint64_t sends = self->sends;
        int n = yard__bus_recv(self->sock, self->frames, self->codec, &cmd, &h);
        if (n == 0) {
            self->sends_at_drain = sends;
            break;
        }
        got = true;
        if (n > 0) {
            ran += s_handle(self, cmd, &h, &self->frames[1]);
        }
        if (i + 1 == S_RECV_BATCH) {
            self->sends_at_drain = self->sends - 1; /* not drained: make the wait ask */
        }
    }
    if (got) {
        self->last_recv = yard__clock_ms(); /* once a batch: it only times heartbeats */
        self->answered = true;
    }
    return ran;
}

/* Heartbeats, silence and deadlines. Returns callbacks run. */
static int
s_timers(yard_client_t *self, int64_t now)
{
    int ran = yard__client_check_deadlines(self, now);
    if (!s_outstanding(self)) {
        return ran;
    }
    if (now - self->last_recv >= 3 * (int64_t)self->heartbeat_ms) {
        return ran + yard__client_failover(self, "no answer for 3 heartbeat intervals");
    }
    if (now - self->last_send >= self->heartbeat_ms) {
        yard_header_t h = {.heartbeat_ms = self->heartbeat_ms};
        yard__bus_send(self->sock, YARD_CMD_HEARTBEAT, &h, NULL);
        self->last_send = now;
        self->sends++;
    }
    return ran;
}

static int
s_monitor(yard_client_t *self)
{
    int ran = 0;
    self->mon_dirty = false; /* the loop below reads it until EAGAIN */
    for (int ev; self->mon && (ev = yard__bus_monitor_read(self->mon)) != 0;) {
        if (ev == ZMQ_EVENT_CONNECTED) {
            if (self->connected_once) {
                yard__client_send_subscriptions(self); /* reconnected to a restarted broker */
            }
            self->connected_once = true;
        } else if (ev == ZMQ_EVENT_DISCONNECTED) {
            ran += s_recv_all(self); /* what arrived before the drop still counts */
            return ran + yard__client_failover(self, "connection dropped");
        }
    }
    return ran;
}

static int64_t
s_next_wake(const yard_client_t *self)
{
    int64_t wake = self->next_deadline;
    if (s_outstanding(self)) {
        int64_t hb = self->last_send + self->heartbeat_ms;
        int64_t dead = self->last_recv + 3 * (int64_t)self->heartbeat_ms;
        wake = hb < wake ? hb : wake;
        wake = dead < wake ? dead : wake;
    }
    return wake;
}

static int
s_dispatch(yard_client_t *self, int timeout_ms, int fd, bool *fd_ready)
{
    if (!self) {
        return YARD_E_INVALID;
    }
    int64_t until = timeout_ms < 0 ? YARD__CLIENT_NEVER : yard__clock_ms() + timeout_ms;
    bool mon_ready = false;
    for (;;) {
        int ran = s_recv_all(self);
        if (mon_ready || self->mon_dirty) {
            ran += s_monitor(self);
        }
        int64_t now = yard__clock_ms();
        ran += s_timers(self, now);
        if (ran > 0 || now >= until) {
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
        yard_wait_item_t items[3] = {
            {.socket = self->sock, .fd = -1, .dirty = self->sends != self->sends_at_drain},
            {.socket = self->mon, .fd = -1, .dirty = self->mon_dirty},
            {.fd = fd}};
        int rc = yard_wait(items, 3, wait);
        if (rc == YARD_E_SHUTDOWN) {
            return rc;
        }
        mon_ready = self->mon && items[1].readable;
        if (fd >= 0 && items[2].readable) {
            *fd_ready = true;
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

/* --- as a loop source (proto/bus.c) ---------------------------------------------------- */

int
yard__client_prepare(yard_client_t *self, yard_wait_item_t *items, int max, int64_t *wake_ms)
{
    if (max < 2) {
        /* no room this turn: look again soon rather than sleep past a reply */
        *wake_ms = yard__clock_ms();
        return 0;
    }
    items[0] = (yard_wait_item_t){
        .socket = self->sock, .fd = -1, .dirty = self->sends != self->sends_at_drain};
    items[1] = (yard_wait_item_t){.socket = self->mon, .fd = -1, .dirty = self->mon_dirty};
    int64_t wake = s_next_wake(self);
    *wake_ms = wake < *wake_ms ? wake : *wake_ms;
    return 2;
}

int
yard__client_turn(yard_client_t *self, const yard_wait_item_t *items, int n)
{
    if (n >= 2 && items[1].readable) {
        self->mon_dirty = true; /* s_dispatch reads the monitor when it is marked so */
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

/* --- life cycle -------------------------------------------------------------------------- */

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
    if (rc == 0) {
        self->ctx = opts && opts->zmq_context ? opts->zmq_context : NULL;
        if (!self->ctx) {
            self->ctx = zmq_ctx_new();
            self->own_ctx = true;
        }
        rc = self->ctx ? yard__client_open_socket(self) : YARD_E_INTERNAL;
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
    yard__client_close_socket(self);
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
