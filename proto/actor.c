/* The actor runtime: one thread per replica, and in each one DEALER per broker endpoint (a
 * "link"), a mailbox for deferred completions and stop requests, and the replica's handler
 * state.
 *
 * Each link registers with READY, answers every REQUEST and SEND it receives exactly once on
 * the same link (REPLY or ERROR with the broker's id, which also returns the credit), sends
 * HEARTBEAT (carrying credit, so that a broker that restarted answers DISCONNECT) after a
 * negotiated interval of quiet, and re-registers when the broker answers DISCONNECT, when the
 * socket monitor reports a reconnection, or after 3 intervals of silence (then it also
 * reopens the socket). Stop drains: DRAIN, then a HEARTBEAT whose answer proves that nothing
 * the broker sent before the DRAIN is still on the wire, then the held deferred requests up to
 * drain_ms, then DISCONNECT. */
#include "actor_internal.h"
#include "msg_internal.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/wait.h"

#include <inttypes.h>
#include <stdio.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_DEFAULT_CREDIT       16
#define S_DEFAULT_HEARTBEAT_MS 1000
#define S_DEFAULT_DRAIN_MS     5000
#define S_MAX_REPLICAS         1024
#define S_RECV_BATCH           64
#define S_NEVER                INT64_MAX
#define S_LINGER_MS            1000

typedef struct {
    const char *endpoint;
    void *sock;
    void *mon;
    bool connected;
    bool connected_once;
    bool barrier; /* draining: nothing more can arrive on this link */
    int64_t last_send;
    int64_t last_recv;
    uint32_t heartbeat_ms; /* negotiated */
    /* For yard_wait(): sends since the socket was last found empty, and whether the monitor
     * has been read until empty since it was opened. */
    uint64_t sends, sends_at_drain;
    bool mon_dirty;
} s_link_t;

struct yard__rt_replica {
    yard_actor_t *actor;
    int index;
    pthread_t thread;
    bool started;
    s_link_t *links;
    yard__mailbox_t *mbox;
    void *state;
    yard_codec_t *codec;
    msgpack_zone zone;
    char name[YARD_WIRE_NAME_MAX + 1];
    yard_request_t req;
    char *arena;
    size_t arena_cap;
    const char **hdrs;
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
    uint32_t credit;
    uint32_t heartbeat_ms;
    uint32_t drain_ms;
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

static yard_str_t
s_capped(const char *s, uint32_t max)
{
    yard_str_t r = yard_str(s);
    if (r.len > max) {
        r.len = max;
    }
    return r;
}

/* --- links ------------------------------------------------------------------------------- */

static void
s_link_send(s_link_t *l, yard_cmd_t cmd, const yard_header_t *h, zmq_msg_t *body)
{
    if (!l->sock) {
        if (body) {
            zmq_msg_close(body);
        }
        return;
    }
    l->sends++;
    if (yard__bus_send(l->sock, cmd, h, body) == 0) {
        l->last_send = yard__clock_ms();
    }
}

static void
s_send_ready(yard__rt_replica_t *rep, s_link_t *l)
{
    yard_actor_t *a = rep->actor;
    yard_header_t h = {.service = yard_str(a->def->name),
                       .credit = a->credit,
                       .heartbeat_ms = a->heartbeat_ms,
                       .replica = yard_str(rep->name)};
    s_link_send(l, YARD_CMD_READY, &h, NULL);
}

static void
s_link_close(s_link_t *l)
{
    if (l->sock) {
        yard__bus_monitor_close(l->sock, &l->mon);
        zmq_close(l->sock);
        l->sock = NULL;
    }
    l->connected = false;
}

static void
s_link_open(yard__rt_replica_t *rep, s_link_t *l)
{
    yard_actor_t *a = rep->actor;
    l->sock = zmq_socket(a->ctx, ZMQ_DEALER);
    if (!l->sock) {
        yard_log(YARD_LOG_ERROR, "cannot create socket",
                 YF_STR("error", zmq_strerror(zmq_errno())));
        return;
    }
    int linger = S_LINGER_MS, ivl = 100, ivl_max = 1000, hwm = 100000;
    zmq_setsockopt(l->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(l->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(l->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    zmq_setsockopt(l->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(l->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    yard__bus_monitor_open(a->ctx, l->sock, &l->mon);
    l->sends_at_drain = l->sends - 1; /* a new socket has never been drained */
    l->mon_dirty = true;
    l->connected = l->connected_once = l->barrier = false;
    l->heartbeat_ms = a->heartbeat_ms;
    l->last_send = l->last_recv = yard__clock_ms();
    if (zmq_connect(l->sock, l->endpoint) != 0) {
        yard_log(YARD_LOG_ERROR, "cannot connect", YF_STR("endpoint", l->endpoint),
                 YF_STR("error", zmq_strerror(zmq_errno())));
        s_link_close(l);
        return;
    }
    s_send_ready(rep, l);
}

/* --- answering (replica thread) ---------------------------------------------------------- */

void
yard__rt_answer(yard__rt_replica_t *rep, int link, uint64_t id, int err, const char *app_error,
                const char *text, zmq_msg_t *body)
{
    s_link_t *l = &rep->links[link];
    if (err == 0) {
        yard_header_t h = {.id = id};
        s_link_send(l, YARD_CMD_REPLY, &h, body);
        return;
    }
    if (body) {
        zmq_msg_close(body);
    }
    yard_header_t h = {.id = id,
                       .error = yard_err_to_wire(err),
                       .error_text = s_capped(text, YARD_WIRE_TEXT_MAX),
                       .app_error = s_capped(app_error, YARD_WIRE_NAME_MAX)};
    s_link_send(l, YARD_CMD_ERROR, &h, NULL);
}

void
yard__rt_hold(yard__rt_replica_t *rep, yard_deferred_t *d)
{
    d->mbox = rep->mbox;
    atomic_fetch_add(&rep->mbox->refs, 1);
    d->prev = NULL;
    d->next = rep->held;
    if (rep->held) {
        rep->held->prev = d;
    }
    rep->held = d;
    rep->n_held++;
    if (d->deadline < rep->next_expiry) {
        rep->next_expiry = d->deadline;
    }
}

static void
s_unhold(yard__rt_replica_t *rep, yard_deferred_t *d)
{
    if (d->prev) {
        d->prev->next = d->next;
    } else {
        rep->held = d->next;
    }
    if (d->next) {
        d->next->prev = d->prev;
    }
    d->prev = d->next = NULL;
    rep->n_held--;
    yard__deferred_unref(d); /* the runtime's reference */
}

/* Answers the completed tokens waiting in the mailbox. With close_box, also closes it so that
 * later completions are refused. */
static void
s_drain_mailbox(yard__rt_replica_t *rep, bool close_box)
{
    yard__mailbox_t *mb = rep->mbox;
    uint64_t count;
    ssize_t r = read(mb->efd, &count, sizeof count);
    (void)r; /* EAGAIN: nothing was signalled, the queue is checked anyway */
    pthread_mutex_lock(&mb->lock);
    yard_deferred_t *q = mb->head;
    mb->head = mb->tail = NULL;
    if (close_box) {
        mb->closed = true;
    }
    pthread_mutex_unlock(&mb->lock);
    while (q) {
        yard_deferred_t *d = q;
        q = d->qnext;
        zmq_msg_t *body = d->err == 0 ? &d->body : NULL;
        yard__rt_answer(rep, d->link, d->id, d->err, d->app_error, d->text, body);
        s_unhold(rep, d);
        yard__deferred_unref(d); /* the queue's reference */
    }
}

/* Answers TIMEOUT for held tokens past their deadline (all of them with everything). */
static void
s_expire(yard__rt_replica_t *rep, int64_t now, bool everything)
{
    if (!everything && now < rep->next_expiry) {
        return;
    }
    int64_t next = S_NEVER;
    for (yard_deferred_t *d = rep->held, *nx; d; d = nx) {
        nx = d->next;
        if (!everything && d->deadline > now) {
            next = d->deadline < next ? d->deadline : next;
            continue;
        }
        pthread_mutex_lock(&rep->mbox->lock);
        bool mine = d->state == YARD__D_PENDING;
        if (mine) {
            d->state = YARD__D_EXPIRED;
        }
        pthread_mutex_unlock(&rep->mbox->lock);
        if (!mine) {
            continue; /* completed: the mailbox answers it */
        }
        yard__rt_answer(rep, d->link, d->id, YARD_E_TIMEOUT, NULL,
                        everything ? "the replica stopped before the handler answered"
                                   : "the handler did not answer before the deadline",
                        NULL);
        s_unhold(rep, d);
    }
    rep->next_expiry = next;
}

/* --- requests ---------------------------------------------------------------------------- */

static const yard_handler_def_t *
s_find_handler(const yard_actor_def_t *def, yard_str_t op)
{
    const yard_handler_def_t *fallback = NULL;
    for (const yard_handler_def_t *hd = def->handlers; hd && hd->fn; hd++) {
        if (!hd->op) {
            fallback = fallback ? fallback : hd;
        } else if (yard_str_eq_cstr(op, hd->op)) {
            return hd;
        }
    }
    return fallback;
}

/* Copies the request's strings, NUL-terminated, into the replica's reusable arena. */
static void
s_fill_strings(yard__rt_replica_t *rep, const yard_header_t *h)
{
    size_t need = h->service.len + h->op.len + 2;
    for (uint32_t i = 0; i < h->header_count; i++) {
        need += h->headers[i].key.len + h->headers[i].value.len + 2;
    }
    if (need > rep->arena_cap) {
        rep->arena_cap = need < 1024 ? 1024 : need;
        rep->arena = realloc(rep->arena, rep->arena_cap);
        if (!rep->arena) {
            abort();
        }
    }
    size_t off = 0;
    const yard_str_t *src[2] = {&h->service, &h->op};
    const char **dst[2] = {&rep->req.service, &rep->req.op};
    for (int i = 0; i < 2; i++) {
        memcpy(rep->arena + off, src[i]->ptr ? src[i]->ptr : "", src[i]->len);
        rep->arena[off + src[i]->len] = '\0';
        *dst[i] = rep->arena + off;
        off += src[i]->len + 1;
    }
    for (uint32_t i = 0; i < h->header_count; i++) {
        const yard_str_t *kv[2] = {&h->headers[i].key, &h->headers[i].value};
        for (int j = 0; j < 2; j++) {
            memcpy(rep->arena + off, kv[j]->ptr, kv[j]->len);
            rep->arena[off + kv[j]->len] = '\0';
            rep->hdrs[2 * i + j] = rep->arena + off;
            off += kv[j]->len + 1;
        }
    }
    rep->req.headers = rep->hdrs;
    rep->req.header_count = h->header_count;
}

static void
s_handle_request(yard__rt_replica_t *rep, int link, yard_cmd_t cmd, const yard_header_t *h,
                 zmq_msg_t *body)
{
    yard_request_t *req = &rep->req;
    int64_t now = yard__clock_ms();
    req->rep = rep;
    req->link = link;
    req->id = h->id;
    req->one_way = cmd == YARD_CMD_SEND;
    req->deadline = h->timeout_ms ? now + h->timeout_ms : S_NEVER;
    req->state = YARD__R_OPEN;
    req->body = zmq_msg_data(body);
    req->body_size = zmq_msg_size(body);
    req->obj_state = 0;
    msgpack_zone_clear(&rep->zone);
    req->zone = &rep->zone;
    s_fill_strings(rep, h);
    const yard_handler_def_t *hd = s_find_handler(rep->actor->def, h->op);
    if (!hd) {
        yard_request_fail(req, YARD_E_BAD_REQUEST, NULL, "no handler for this op");
        return;
    }
    int rc = hd->fn(req, rep->state);
    if (req->state == YARD__R_OPEN) {
        if (rc == 0) {
            yard_log(YARD_LOG_WARN, "handler returned without answering", YF_STR("op", req->op));
        }
        yard_request_fail(req, rc < 0 ? rc : YARD_E_INTERNAL, NULL,
                          rc < 0 ? NULL : "the handler returned without answering");
    }
}

static void
s_handle(yard__rt_replica_t *rep, int link, yard_cmd_t cmd, const yard_header_t *hp, int nframes)
{
    s_link_t *l = &rep->links[link];
    yard_header_t h = *hp;
    switch (cmd) {
    case YARD_CMD_REQUEST:
    case YARD_CMD_SEND:
        if (nframes != 2 || h.id == 0) {
            yard_log(YARD_LOG_WARN, "malformed request from broker", YF_INT("frames", nframes));
            if (h.id) {
                yard__rt_answer(rep, link, h.id, YARD_E_BAD_REQUEST, NULL, "request without body",
                                NULL);
            }
            return;
        }
        s_handle_request(rep, link, cmd, &h, &rep->frames[1]);
        return;
    case YARD_CMD_READY:
        if (h.heartbeat_ms) {
            l->heartbeat_ms = h.heartbeat_ms;
        }
        return;
    case YARD_CMD_HEARTBEAT:
        if (rep->draining) {
            l->barrier = true;
        }
        return;
    case YARD_CMD_DISCONNECT:
        if (rep->draining) {
            l->barrier = true;
        } else {
            yard_log(YARD_LOG_INFO, "broker does not know us; registering again",
                     YF_STR("endpoint", l->endpoint));
            s_send_ready(rep, l);
        }
        return;
    case YARD_CMD_ERROR:
        yard_log(YARD_LOG_WARN, "broker refused a message", YF_STR("endpoint", l->endpoint),
                 YF_STR("error", yard_err_name(yard_err_from_wire(h.error))),
                 YF_STRN("text", h.error_text.ptr, h.error_text.len));
        return;
    default:
        return;
    }
}

static void
s_recv_link(yard__rt_replica_t *rep, int link)
{
    s_link_t *l = &rep->links[link];
    for (int i = 0; i < S_RECV_BATCH && l->sock; i++) {
        yard_cmd_t cmd;
        yard_header_t h;
        uint64_t sends = l->sends;
        int n = yard__bus_recv(l->sock, rep->frames, rep->codec, &cmd, &h);
        if (n == 0) {
            l->sends_at_drain = sends;
            return;
        }
        l->last_recv = yard__clock_ms();
        if (n > 0) {
            s_handle(rep, link, cmd, &h, n);
        }
    }
    l->sends_at_drain = l->sends - 1; /* a full batch: not drained, so the wait must ask */
}

static void
s_monitor(yard__rt_replica_t *rep, int link)
{
    s_link_t *l = &rep->links[link];
    l->mon_dirty = false; /* read until empty below */
    for (int ev; l->mon && (ev = yard__bus_monitor_read(l->mon)) != 0;) {
        if (ev == ZMQ_EVENT_CONNECTED) {
            l->connected = true;
            if (l->connected_once && !rep->draining) {
                yard_log(YARD_LOG_INFO, "reconnected; registering again",
                         YF_STR("endpoint", l->endpoint));
                s_send_ready(rep, l);
            }
            l->connected_once = true;
        } else if (ev == ZMQ_EVENT_DISCONNECTED) {
            l->connected = false;
            if (rep->draining) {
                l->barrier = true;
            }
        }
    }
}

/* Heartbeats and silence on every link. */
static void
s_links_timers(yard__rt_replica_t *rep, int64_t now)
{
    yard_actor_t *a = rep->actor;
    for (size_t i = 0; i < a->n_endpoints; i++) {
        s_link_t *l = &rep->links[i];
        if (!l->sock) {
            if (!rep->draining) {
                s_link_open(rep, l);
            }
            continue;
        }
        if (now - l->last_recv >= 3 * (int64_t)l->heartbeat_ms) {
            if (rep->draining) {
                l->barrier = true;
                continue;
            }
            yard_log(YARD_LOG_WARN, "broker silent for 3 heartbeats; reconnecting",
                     YF_STR("endpoint", l->endpoint));
            s_link_close(l);
            s_link_open(rep, l);
            continue;
        }
        if (now - l->last_send >= l->heartbeat_ms) {
            yard_header_t h = {.heartbeat_ms = l->heartbeat_ms, .credit = a->credit};
            s_link_send(l, YARD_CMD_HEARTBEAT, &h, NULL);
        }
    }
}

static void
s_start_drain(yard__rt_replica_t *rep, int64_t now)
{
    yard_actor_t *a = rep->actor;
    rep->draining = true;
    rep->drain_until = now + a->drain_ms;
    for (size_t i = 0; i < a->n_endpoints; i++) {
        s_link_t *l = &rep->links[i];
        yard_header_t none = {0};
        s_link_send(l, YARD_CMD_DRAIN, &none, NULL);
        /* The broker answers this HEARTBEAT after it has taken the DRAIN. */
        yard_header_t hb = {.heartbeat_ms = l->heartbeat_ms, .credit = a->credit};
        s_link_send(l, YARD_CMD_HEARTBEAT, &hb, NULL);
        l->barrier = !l->sock || !l->connected;
    }
}

static bool
s_drained(const yard__rt_replica_t *rep, int64_t now)
{
    if (now >= rep->drain_until) {
        return true;
    }
    for (size_t i = 0; i < rep->actor->n_endpoints; i++) {
        if (!rep->links[i].barrier) {
            return false;
        }
    }
    return rep->n_held == 0;
}

static int64_t
s_next_wake(const yard__rt_replica_t *rep)
{
    int64_t wake = rep->next_expiry;
    for (size_t i = 0; i < rep->actor->n_endpoints; i++) {
        const s_link_t *l = &rep->links[i];
        int64_t hb = l->last_send + l->heartbeat_ms;
        int64_t dead = l->last_recv + 3 * (int64_t)l->heartbeat_ms;
        wake = hb < wake ? hb : wake;
        wake = dead < wake ? dead : wake;
    }
    if (rep->draining && rep->drain_until < wake) {
        wake = rep->drain_until;
    }
    return wake;
}

static void
s_run(yard__rt_replica_t *rep)
{
    yard_actor_t *a = rep->actor;
    size_t n = a->n_endpoints;
    /* Each link is a socket and its monitor; the mailbox's eventfd wakes us for deferred
     * answers and stop. yard_wait() needs every socket drained first (see yard/wait.h). */
    assert(2 * n + 1 <= YARD_WAIT_MAX);
    yard_wait_item_t items[YARD_WAIT_MAX] = {{0}};
    bool mbox_ready = true; /* anything posted before we started */
    for (size_t i = 0; i < n; i++) {
        rep->links[i].endpoint = a->endpoints[i];
        s_link_open(rep, &rep->links[i]);
    }
    yard_log(YARD_LOG_INFO, "replica ready", YF_STR("name", rep->name),
             YF_UINT("credit", a->credit), YF_UINT("brokers", n));
    for (;;) {
        for (size_t i = 0; i < n; i++) {
            s_recv_link(rep, (int)i);
            if (rep->links[i].mon_dirty || items[2 * i + 1].readable) {
                s_monitor(rep, (int)i);
            }
        }
        /* The eventfd stays readable until drained, so only look when it says so. */
        if (mbox_ready) {
            s_drain_mailbox(rep, false);
        }
        int64_t now = yard__clock_ms();
        s_expire(rep, now, false);
        if (!rep->draining && atomic_load(&rep->mbox->stop)) {
            s_start_drain(rep, now);
        }
        s_links_timers(rep, now);
        if (rep->draining && s_drained(rep, now)) {
            break;
        }
        for (size_t i = 0; i < n; i++) {
            s_link_t *l = &rep->links[i];
            items[2 * i] = (yard_wait_item_t){
                .socket = l->sock, .fd = -1, .dirty = l->sends != l->sends_at_drain};
            items[2 * i + 1] =
                (yard_wait_item_t){.socket = l->mon, .fd = -1, .dirty = l->mon_dirty};
        }
        items[2 * n] = (yard_wait_item_t){.fd = rep->mbox->efd};
        int64_t wake = s_next_wake(rep);
        long wait = wake <= now ? 0 : wake - now > 1000 ? 1000 : (long)(wake - now);
        yard_wait(items, (int)(2 * n + 1), wait);
        mbox_ready = items[2 * n].readable;
    }
    /* Answer what completed, refuse what comes later, time out what is still held. */
    s_drain_mailbox(rep, true);
    s_expire(rep, 0, true);
    for (size_t i = 0; i < n; i++) {
        yard_header_t none = {0};
        s_link_send(&rep->links[i], YARD_CMD_DISCONNECT, &none, NULL);
        s_link_close(&rep->links[i]);
    }
    yard_log(YARD_LOG_INFO, "replica stopped", YF_STR("name", rep->name));
}

static void *
s_replica_main(void *arg)
{
    yard__rt_replica_t *rep = arg;
    yard_actor_t *a = rep->actor;
    const yard_actor_def_t *def = a->def;
    yard_log_set_context(def->name, rep->index);
    char tname[16]; /* the kernel keeps 15 characters: visible in top -H, perf */
    snprintf(tname, sizeof tname, "%.10s/%d", def->name, rep->index);
    pthread_setname_np(pthread_self(), tname);
    rep->state = s_alloc(def->state_size);
    yard_actor_env_t env = {.replica = rep->index, .store = a->store, .options = a->options};
    int rc = def->init ? def->init(rep->state, &env) : 0;
    if (rc != 0) {
        yard_log(YARD_LOG_ERROR, "init failed", YF_STR("error", yard_err_name(rc)));
    }
    pthread_mutex_lock(&a->lock);
    a->n_inited++;
    if (rc != 0 && a->init_rc == 0) {
        a->init_rc = rc;
    }
    pthread_cond_broadcast(&a->cond);
    while (a->go == 0) {
        pthread_cond_wait(&a->cond, &a->lock);
    }
    int go = a->go;
    pthread_mutex_unlock(&a->lock);
    if (rc == 0 && go > 0) {
        s_run(rep);
    }
    if (rc == 0 && def->fini) {
        def->fini(rep->state);
    }
    free(rep->state);
    rep->state = NULL;
    return NULL;
}

/* --- life cycle -------------------------------------------------------------------------- */

static void
s_replica_free(yard__rt_replica_t *rep)
{
    yard__mailbox_unref(&rep->mbox);
    yard_codec_destroy(&rep->codec);
    msgpack_zone_destroy(&rep->zone);
    for (int i = 0; i < 3; i++) {
        zmq_msg_close(&rep->frames[i]);
    }
    free(rep->links);
    free(rep->arena);
    free(rep->hdrs);
}

static int
s_check_def(const yard_actor_def_t *def)
{
    if (!def || !def->name || !*def->name || strlen(def->name) > YARD_WIRE_NAME_MAX ||
        !def->handlers || !def->handlers[0].fn) {
        return YARD_E_INVALID;
    }
    return 0;
}

int
yard_actor_start(const yard_actor_def_t *def, const yard_actor_opts_t *opts,
                 const void *actor_options, yard_actor_t **out)
{
    *out = NULL;
    yard_actor_opts_t none = {0};
    opts = opts ? opts : &none;
    int rc = s_check_def(def);
    if (rc != 0) {
        yard_log(YARD_LOG_ERROR, "invalid actor descriptor");
        return rc;
    }
    if (opts->replicas < 0 || opts->replicas > S_MAX_REPLICAS || opts->credit < 0 ||
        opts->credit > UINT32_MAX) {
        yard_log(YARD_LOG_ERROR, "replicas or credit out of range", YF_STR("actor", def->name));
        return YARD_E_CONFIG;
    }
    if (opts->log_level && *opts->log_level) {
        yard_log_level_t level;
        if (yard_log_level_parse(opts->log_level, &level) != 0) {
            yard_log(YARD_LOG_ERROR, "bad log level", YF_STR("log_level", opts->log_level));
            return YARD_E_CONFIG;
        }
        yard_log_set_level(level);
    }
    yard_actor_t *a = s_alloc(sizeof *a);
    a->def = def;
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->stop_lock, NULL);
    pthread_cond_init(&a->cond, NULL);
    a->credit = opts->credit > 0 ? (uint32_t)opts->credit
                : def->credit    ? def->credit
                                 : S_DEFAULT_CREDIT;
    a->heartbeat_ms = opts->heartbeat_ms ? opts->heartbeat_ms : S_DEFAULT_HEARTBEAT_MS;
    a->drain_ms = opts->drain_ms ? opts->drain_ms : S_DEFAULT_DRAIN_MS;
    a->n_replicas = opts->replicas > 0 ? (size_t)opts->replicas : 1;
    const char *brokers = opts->broker && *opts->broker ? opts->broker : getenv("YARD_BROKER");
    rc = yard__endpoints_parse(brokers, &a->endpoints, &a->n_endpoints);
    if (rc != 0) {
        yard_log(YARD_LOG_ERROR, "no broker endpoint, or a malformed one",
                 YF_STR("broker", brokers));
        goto fail;
    }
    if (2 * a->n_endpoints + 1 > YARD_WAIT_MAX) {
        yard_log(YARD_LOG_ERROR, "too many broker endpoints", YF_STR("broker", brokers),
                 YF_INT("max", (YARD_WAIT_MAX - 1) / 2));
        rc = YARD_E_CONFIG;
        goto fail;
    }
    const char *store = opts->store && *opts->store ? opts->store : "memory";
    rc = yard_store_open(store, &a->store);
    if (rc != 0) {
        yard_log(YARD_LOG_ERROR, "cannot open the store", YF_STR("store", store),
                 YF_STR("error", yard_err_name(rc)));
        goto fail;
    }
    if (def->stateful && a->n_replicas > 1 && !yard_store_shared(a->store)) {
        /* Replicas are meant to be interchangeable and movable to other processes; state in
         * one process's memory would silently diverge the moment one is, so refuse now. */
        yard_log(YARD_LOG_ERROR,
                 "this actor keeps state: more than one replica needs a shared store; set "
                 "store to redis://host:port (YARD_STORE) or run one replica",
                 YF_STR("actor", def->name), YF_STR("store", store),
                 YF_UINT("replicas", a->n_replicas));
        rc = YARD_E_CONFIG;
        goto fail;
    }
    if (def->options_size) {
        a->options = s_alloc(def->options_size);
        if (actor_options) {
            memcpy(a->options, actor_options, def->options_size);
        }
    }
    a->ctx = opts->zmq_context;
    if (!a->ctx) {
        a->ctx = zmq_ctx_new();
        a->own_ctx = true;
        if (!a->ctx) {
            rc = YARD_E_INTERNAL;
            goto fail;
        }
    }
    char host[128] = "localhost";
    gethostname(host, sizeof host - 1);
    a->replicas = s_alloc(a->n_replicas * sizeof *a->replicas);
    for (size_t i = 0; i < a->n_replicas; i++) {
        yard__rt_replica_t *rep = &a->replicas[i];
        rep->actor = a;
        rep->index = (int)i;
        rep->links = s_alloc(a->n_endpoints * sizeof *rep->links);
        rep->mbox = yard__mailbox_new(true);
        rep->codec = yard_codec_new();
        rep->next_expiry = S_NEVER;
        rep->hdrs = s_alloc(2 * YARD_WIRE_HEADERS_MAX * sizeof *rep->hdrs);
        if (!msgpack_zone_init(&rep->zone, 4096)) {
            abort();
        }
        for (int f = 0; f < 3; f++) {
            zmq_msg_init(&rep->frames[f]);
        }
        snprintf(rep->name, sizeof rep->name, "%s/%ld/%zu", host, (long)getpid(), i);
    }
    for (size_t i = 0; i < a->n_replicas; i++) {
        if (pthread_create(&a->replicas[i].thread, NULL, s_replica_main, &a->replicas[i]) != 0) {
            abort();
        }
        a->replicas[i].started = true;
    }
    pthread_mutex_lock(&a->lock);
    while (a->n_inited < a->n_replicas) {
        pthread_cond_wait(&a->cond, &a->lock);
    }
    rc = a->init_rc;
    a->go = rc == 0 ? 1 : -1;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    if (rc != 0) {
        goto fail;
    }
    *out = a;
    return 0;
fail:
    yard_actor_destroy(&a);
    return rc;
}

void
yard_actor_stop(yard_actor_t *self)
{
    if (!self) {
        return;
    }
    /* Not self->lock: a replica just released from start-up still needs that one to leave
     * its wait, and we are about to join it. */
    pthread_mutex_lock(&self->stop_lock);
    /* replicas is NULL when start failed before creating them. */
    if (!self->stopped && self->replicas) {
        for (size_t i = 0; i < self->n_replicas; i++) {
            yard__rt_replica_t *rep = &self->replicas[i];
            atomic_store(&rep->mbox->stop, true);
            uint64_t one = 1;
            ssize_t w = write(rep->mbox->efd, &one, sizeof one);
            (void)w;
        }
        for (size_t i = 0; i < self->n_replicas; i++) {
            if (self->replicas[i].started) {
                pthread_join(self->replicas[i].thread, NULL);
                self->replicas[i].started = false;
            }
        }
        self->stopped = true;
    }
    pthread_mutex_unlock(&self->stop_lock);
}

void
yard_actor_destroy(yard_actor_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    yard_actor_t *self = *self_p;
    yard_actor_stop(self);
    for (size_t i = 0; self->replicas && i < self->n_replicas; i++) {
        s_replica_free(&self->replicas[i]);
    }
    free(self->replicas);
    if (self->own_ctx && self->ctx) {
        zmq_ctx_term(self->ctx);
    }
    yard_store_destroy(&self->store);
    free(self->options);
    yard__endpoints_free(self->endpoints, self->n_endpoints);
    pthread_cond_destroy(&self->cond);
    pthread_mutex_destroy(&self->lock);
    pthread_mutex_destroy(&self->stop_lock);
    free(self);
    *self_p = NULL;
}
