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
#include "yard/client.h"
#include "msg_internal.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/subject.h"
#include "yard/wait.h"

#include <stdlib.h>
#include <string.h>

#define S_DEFAULT_HEARTBEAT_MS 1000
#define S_DEFAULT_TIMEOUT_MS   5000
#define S_RECV_BATCH           256
#define S_INITIAL_BUCKETS      64
#define S_NEVER                INT64_MAX

typedef struct s_call {
    uint64_t id;
    yard_reply_fn *cb;
    void *arg;
    int64_t deadline; /* the caller's deadline */
    uint32_t flags;
    struct s_call *next; /* hash chain, or the free list */
    bool keep;           /* idempotent: hdr and body kept for a re-send */
    zmq_msg_t body;
    uint8_t *hdr;
    size_t hdr_len;
    size_t hdr_cap;
} s_call_t;

typedef struct s_sub {
    char *pattern;
    yard_reply_fn *cb;
    void *arg;
    struct s_sub *next;
} s_sub_t;

struct yard_client {
    void *ctx;
    bool own_ctx;
    char **endpoints;
    size_t n_endpoints;
    size_t current;
    void *sock;
    void *mon;
    bool connected_once;
    yard_codec_t *codec;
    uint32_t heartbeat_ms;
    uint32_t default_timeout_ms;
    uint64_t next_id;
    s_call_t **buckets;
    size_t n_buckets; /* a power of two */
    size_t pending;
    s_call_t *free_calls;
    int64_t next_deadline;
    int64_t last_send;
    int64_t last_recv;
    /* For yard_wait(): the socket needs a ZMQ_EVENTS check before a wait when it was written
     * to since the last receive that found it empty; the monitor until first drained. */
    uint64_t sends, sends_at_drain;
    bool mon_dirty;
    s_sub_t *subs;
    yard_msg_t scratch;
    zmq_msg_t frames[3];
};

static void *
s_alloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        abort();
    }
    return p;
}

static char *
s_strdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        abort();
    }
    return d;
}

/* --- endpoints and the socket ------------------------------------------------------------ */

static void
s_close_socket(yard_client_t *self)
{
    if (self->sock) {
        yard__bus_monitor_close(self->sock, &self->mon);
        zmq_close(self->sock);
        self->sock = NULL;
    }
}

static void s_send_subscriptions(yard_client_t *self);

static int
s_open_socket(yard_client_t *self)
{
    self->sock = zmq_socket(self->ctx, ZMQ_DEALER);
    if (!self->sock) {
        return YARD_E_INTERNAL;
    }
    int zero = 0, ivl = 100, ivl_max = 1000, hwm = 100000;
    zmq_setsockopt(self->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(self->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(self->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    zmq_setsockopt(self->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(self->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    yard__bus_monitor_open(self->ctx, self->sock, &self->mon);
    self->connected_once = false;
    if (zmq_connect(self->sock, self->endpoints[self->current]) != 0) {
        s_close_socket(self);
        return YARD_E_CONFIG;
    }
    int64_t now = yard__clock_ms();
    self->last_send = self->last_recv = now;
    self->sends_at_drain = self->sends - 1; /* a new socket has never been drained */
    self->mon_dirty = true;
    s_send_subscriptions(self);
    return 0;
}

/* --- the call table ---------------------------------------------------------------------- */

static s_call_t *
s_call_get(yard_client_t *self)
{
    s_call_t *c = self->free_calls;
    if (c) {
        self->free_calls = c->next;
    } else {
        c = s_alloc(sizeof *c);
    }
    zmq_msg_init(&c->body);
    c->keep = false;
    c->hdr_len = 0;
    return c;
}

static void
s_call_put(yard_client_t *self, s_call_t *c)
{
    zmq_msg_close(&c->body);
    c->next = self->free_calls;
    self->free_calls = c;
}

static void
s_table_grow(yard_client_t *self)
{
    size_t n = self->n_buckets * 2;
    s_call_t **b = s_alloc(n * sizeof *b);
    for (size_t i = 0; i < self->n_buckets; i++) {
        for (s_call_t *c = self->buckets[i], *next; c; c = next) {
            next = c->next;
            c->next = b[c->id & (n - 1)];
            b[c->id & (n - 1)] = c;
        }
    }
    free(self->buckets);
    self->buckets = b;
    self->n_buckets = n;
}

static void
s_table_add(yard_client_t *self, s_call_t *c)
{
    if (self->pending >= self->n_buckets) {
        s_table_grow(self);
    }
    s_call_t **head = &self->buckets[c->id & (self->n_buckets - 1)];
    c->next = *head;
    *head = c;
    self->pending++;
    int64_t local = c->deadline + self->heartbeat_ms;
    if (local < self->next_deadline) {
        self->next_deadline = local;
    }
}

static s_call_t *
s_table_take(yard_client_t *self, uint64_t id)
{
    for (s_call_t **pp = &self->buckets[id & (self->n_buckets - 1)]; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            s_call_t *c = *pp;
            *pp = c->next;
            self->pending--;
            return c;
        }
    }
    return NULL;
}

/* Ends c: runs its callback with the scratch message, then returns the entry to the pool. */
static void
s_end(yard_client_t *self, s_call_t *c)
{
    yard_reply_fn *cb = c->cb;
    void *arg = c->arg;
    s_call_put(self, c);
    cb(&self->scratch, arg);
    yard__msg_set_local(&self->scratch, 0, NULL);
}

static void
s_end_local(yard_client_t *self, s_call_t *c, int err, const char *text)
{
    yard__msg_set_local(&self->scratch, err, text);
    s_end(self, c);
}

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
static int
s_send_encoded(yard_client_t *self, const void *head, size_t hlen, zmq_msg_t *body, bool keep,
               int64_t now)
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

static void
s_note_activity_start(yard_client_t *self, int64_t now)
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
    s_note_activity_start(self, now);
    s_call_t *c = s_call_get(self);
    c->id = id;
    c->cb = cb;
    c->arg = arg;
    c->flags = opts ? opts->flags : 0;
    c->deadline = now + timeout;
    zmq_msg_close(&c->body);
    s_body_init(&c->body, body, size);
    int rc = s_send_encoded(self, hbuf, (size_t)n, &c->body, c->flags & YARD_FLAG_IDEMPOTENT, now);
    if (rc != 0) {
        s_call_put(self, c);
        return rc;
    }
    if (c->flags & YARD_FLAG_IDEMPOTENT) {
        if ((size_t)n > c->hdr_cap) {
            c->hdr_cap = (size_t)n;
            c->hdr = realloc(c->hdr, c->hdr_cap);
            if (!c->hdr) {
                abort();
            }
        }
        memcpy(c->hdr, hbuf, (size_t)n);
        c->hdr_len = (size_t)n;
        c->keep = true;
    } else {
        zmq_msg_close(&c->body);
        zmq_msg_init(&c->body);
    }
    s_table_add(self, c);
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
    int rc = s_send_encoded(self, hbuf, (size_t)n, &m, false, yard__clock_ms());
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

static void
s_send_pattern(yard_client_t *self, yard_cmd_t cmd, const char *pattern)
{
    yard_header_t h = {.service = yard_str(pattern)};
    self->sends++;
    if (yard__bus_send(self->sock, cmd, &h, NULL) == 0) {
        self->last_send = yard__clock_ms();
    }
}

static void
s_send_subscriptions(yard_client_t *self)
{
    for (s_sub_t *s = self->subs; s; s = s->next) {
        s_send_pattern(self, YARD_CMD_SUBSCRIBE, s->pattern);
    }
}

int
yard_client_subscribe(yard_client_t *self, const char *pattern, yard_reply_fn *cb, void *arg)
{
    if (!self || !cb || !pattern || strlen(pattern) > YARD_WIRE_NAME_MAX ||
        !yard_subject_pattern_valid(yard_str(pattern))) {
        return YARD_E_INVALID;
    }
    s_note_activity_start(self, yard__clock_ms());
    bool known = false;
    for (s_sub_t *s = self->subs; s; s = s->next) {
        known |= strcmp(s->pattern, pattern) == 0;
    }
    s_sub_t *s = s_alloc(sizeof *s);
    s->pattern = s_strdup(pattern);
    s->cb = cb;
    s->arg = arg;
    s->next = self->subs;
    self->subs = s;
    if (!known) {
        s_send_pattern(self, YARD_CMD_SUBSCRIBE, pattern);
    }
    return 0;
}

int
yard_client_unsubscribe(yard_client_t *self, const char *pattern)
{
    if (!self || !pattern) {
        return YARD_E_INVALID;
    }
    bool found = false;
    for (s_sub_t **pp = &self->subs; *pp;) {
        s_sub_t *s = *pp;
        if (strcmp(s->pattern, pattern) == 0) {
            *pp = s->next;
            free(s->pattern);
            free(s);
            found = true;
        } else {
            pp = &s->next;
        }
    }
    if (!found) {
        return YARD_E_NOT_FOUND;
    }
    s_send_pattern(self, YARD_CMD_UNSUBSCRIBE, pattern);
    return 0;
}

/* --- failover ---------------------------------------------------------------------------- */

/* Re-sends c through the current socket with the time it has left. Returns 0 or an error. */
static int
s_resend(yard_client_t *self, s_call_t *c, int64_t now)
{
    yard_header_t h;
    yard_cmd_t cmd;
    const char *why = NULL;
    if (yard_wire_decode(self->codec, c->hdr, c->hdr_len, &cmd, &h, &why) != 0) {
        return YARD_E_INTERNAL;
    }
    h.timeout_ms = (uint32_t)(c->deadline - now);
    uint8_t hbuf[YARD_WIRE_HEADER_MAX];
    int n = yard_wire_encode(cmd, &h, hbuf, sizeof hbuf);
    if (n < 0) {
        return n;
    }
    return s_send_encoded(self, hbuf, (size_t)n, &c->body, true, now);
}

/* The broker is gone: reopen on the next endpoint, re-send what may be re-sent, end the rest
 * UNREACHABLE. Returns the number of callbacks run. */
static int
s_failover(yard_client_t *self, const char *why)
{
    yard_log(YARD_LOG_WARN, "broker lost; reconnecting",
             YF_STR("endpoint", self->endpoints[self->current]), YF_STR("reason", why),
             YF_UINT("pending", self->pending));
    s_close_socket(self);
    self->current = (self->current + 1) % self->n_endpoints;
    int64_t now = yard__clock_ms();
    s_call_t *lost = NULL;
    if (s_open_socket(self) != 0) {
        /* Unreachable endpoint syntax was checked at new; treat as everything lost. */
        self->sock = NULL;
    }
    for (size_t i = 0; i < self->n_buckets; i++) {
        for (s_call_t **pp = &self->buckets[i]; *pp;) {
            s_call_t *c = *pp;
            if (c->keep && c->deadline > now && self->sock && s_resend(self, c, now) == 0) {
                pp = &c->next;
                continue;
            }
            *pp = c->next;
            self->pending--;
            c->next = lost;
            lost = c;
        }
    }
    int ran = 0;
    while (lost) {
        s_call_t *c = lost;
        lost = c->next;
        s_end_local(self, c, YARD_E_UNREACHABLE, "the broker went away before replying");
        ran++;
    }
    return ran;
}

/* --- receiving --------------------------------------------------------------------------- */

static int
s_handle(yard_client_t *self, yard_cmd_t cmd, const yard_header_t *hp, zmq_msg_t *body)
{
    yard_header_t h = *hp;
    switch (cmd) {
    case YARD_CMD_REPLY:
    case YARD_CMD_ERROR: {
        s_call_t *c = s_table_take(self, h.id);
        if (!c) {
            return 0; /* late: it already ended locally */
        }
        int status = cmd == YARD_CMD_REPLY ? 0 : yard_err_from_wire(h.error);
        if (cmd == YARD_CMD_ERROR && status == 0) {
            status = YARD_E_INTERNAL;
        }
        yard__msg_set(&self->scratch, status, &h, false, cmd == YARD_CMD_REPLY ? body : NULL);
        s_end(self, c);
        return 1;
    }
    case YARD_CMD_PUBLISH: {
        int ran = 0;
        yard__msg_set(&self->scratch, 0, &h, true, body);
        /* A callback may unsubscribe: take the next link first. Patterns are whole
         * subscriptions, so unsubscribing another pattern mid-delivery is not supported. */
        for (s_sub_t *s = self->subs, *next; s; s = next) {
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
        s_send_subscriptions(self);
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
    }
    return ran;
}

static int
s_check_deadlines(yard_client_t *self, int64_t now)
{
    if (now < self->next_deadline) {
        return 0;
    }
    s_call_t *expired = NULL;
    int64_t next = S_NEVER;
    for (size_t i = 0; i < self->n_buckets; i++) {
        for (s_call_t **pp = &self->buckets[i]; *pp;) {
            s_call_t *c = *pp;
            int64_t local = c->deadline + self->heartbeat_ms;
            if (local > now) {
                next = local < next ? local : next;
                pp = &c->next;
                continue;
            }
            *pp = c->next;
            self->pending--;
            c->next = expired;
            expired = c;
        }
    }
    self->next_deadline = next;
    int ran = 0;
    while (expired) {
        s_call_t *c = expired;
        expired = c->next;
        s_end_local(self, c, YARD_E_TIMEOUT, "no reply before the deadline");
        ran++;
    }
    return ran;
}

/* Heartbeats, silence and deadlines. Returns callbacks run. */
static int
s_timers(yard_client_t *self, int64_t now)
{
    int ran = s_check_deadlines(self, now);
    if (!s_outstanding(self)) {
        return ran;
    }
    if (now - self->last_recv >= 3 * (int64_t)self->heartbeat_ms) {
        return ran + s_failover(self, "no answer for 3 heartbeat intervals");
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
                s_send_subscriptions(self); /* reconnected to a restarted broker */
            }
            self->connected_once = true;
        } else if (ev == ZMQ_EVENT_DISCONNECTED) {
            ran += s_recv_all(self); /* what arrived before the drop still counts */
            return ran + s_failover(self, "connection dropped");
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

int
yard_client_dispatch(yard_client_t *self, int timeout_ms)
{
    if (!self) {
        return YARD_E_INVALID;
    }
    int64_t until = timeout_ms < 0 ? S_NEVER : yard__clock_ms() + timeout_ms;
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
        long wait = wake == S_NEVER ? -1 : (long)(wake - now);
        if (wait < 0 && wake != S_NEVER) {
            wait = 0;
        }
        /* s_recv_all stops at a full batch without reaching EAGAIN: then the socket counts as
         * dirty, and yard_wait asks it directly instead of trusting its descriptor. */
        yard_wait_item_t items[2] = {
            {.socket = self->sock, .fd = -1, .dirty = self->sends != self->sends_at_drain},
            {.socket = self->mon, .fd = -1, .dirty = self->mon_dirty}};
        int rc = yard_wait(items, self->mon ? 2 : 1, wait);
        if (rc == YARD_E_SHUTDOWN) {
            return rc;
        }
        mon_ready = self->mon && items[1].readable;
    }
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
    yard_client_t *self = s_alloc(sizeof *self);
    self->heartbeat_ms = opts && opts->heartbeat_ms ? opts->heartbeat_ms : S_DEFAULT_HEARTBEAT_MS;
    self->default_timeout_ms =
        opts && opts->default_timeout_ms ? opts->default_timeout_ms : S_DEFAULT_TIMEOUT_MS;
    self->next_id = 1;
    self->next_deadline = S_NEVER;
    self->n_buckets = S_INITIAL_BUCKETS;
    self->buckets = s_alloc(self->n_buckets * sizeof *self->buckets);
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
        rc = self->ctx ? s_open_socket(self) : YARD_E_INTERNAL;
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
                s_call_t *c = self->buckets[i];
                self->buckets[i] = c->next;
                self->pending--;
                s_end_local(self, c, YARD_E_SHUTDOWN, "the client is shutting down");
            }
        }
    }
    s_close_socket(self);
    while (self->subs) {
        s_sub_t *s = self->subs;
        self->subs = s->next;
        free(s->pattern);
        free(s);
    }
    while (self->free_calls) {
        s_call_t *c = self->free_calls;
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
