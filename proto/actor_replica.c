/* A replica of the actor runtime: its thread runs one DEALER per broker endpoint (a "link"),
 * polls the mailbox for deferred completions and stop requests, and calls the handlers on the
 * replica's state.
 *
 * Each link registers with READY, answers every REQUEST and SEND it receives exactly once on
 * the same link (REPLY or ERROR with the broker's id, which also returns the credit), sends
 * HEARTBEAT (carrying credit, so that a broker that restarted answers DISCONNECT) after a
 * negotiated interval of quiet, and re-registers when the broker answers DISCONNECT, when the
 * socket monitor reports a reconnection, or after 3 intervals of silence (then it also
 * reopens the socket). Stop drains: DRAIN, then a HEARTBEAT whose answer proves that nothing
 * the broker sent before the DRAIN is still on the wire, then the held deferred requests up to
 * drain_ms, then DISCONNECT.
 *
 * The replica's context (ctx.c) adds timers and loop sources to the loop: due timers run after
 * the received requests, sources' wait items follow the links' and the mailbox's, and both
 * bound the wait. An actor with neither pays four tests of a counter per turn. */
#include "alloc_internal.h"
#include "actor_internal.h"
#include "ctx_internal.h"
#include "msg_internal.h"
#include "yard/assert.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/wait.h"

#include <stdlib.h>
#include <string.h>

#define S_RECV_BATCH 64
#define S_LINGER_MS  1000

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
s_link_send(yard__rt_link_t *l, yard_cmd_t cmd, const yard_header_t *h, zmq_msg_t *body)
{
    if (!l->sock) {
        if (body) {
            zmq_msg_close(body);
        }
        return;
    }
    l->sends++;
    /* Batched: the loop flushes every link before it waits (s_flush). */
    if (yard__link_send(&l->io, l->sock, true, cmd, h, body) == 0) {
        l->unstamped = true;
    }
}

static void
s_flush(yard__rt_replica_t *rep)
{
    int64_t now = -1;
    for (size_t i = 0; i < rep->actor->n_endpoints; i++) {
        yard__rt_link_t *l = &rep->links[i];
        if (l->unstamped) {
            l->unstamped = false;
            l->last_send = now >= 0 ? now : (now = yard__clock_ms());
        }
        if (l->sock && yard__link_flush(&l->io, l->sock) > 0) {
            l->sends_at_drain = l->sends - 1; /* written after the drain: the wait must ask */
        }
    }
}

static void
s_send_ready(yard__rt_replica_t *rep, yard__rt_link_t *l)
{
    yard_actor_t *a = rep->actor;
    size_t i = (size_t)(l - rep->links);
    if (!l->sock) {
        return; /* the share is offered when the link opens */
    }
    yard_header_t h = {.service = yard_str(a->def->name),
                       .credit = yard__credit_ready(rep->credit, a->n_endpoints, i, a->credit),
                       .heartbeat_ms = a->heartbeat_ms,
                       .flags = a->fill ? YARD_FLAG_FILL : 0,
                       .replica = yard_str(rep->name)};
    h.sensitive = a->sensitive; /* the broker never taps these ops' bodies */
    h.sensitive_count = a->n_sensitive;
    if (a->def->stateful) { /* the broker refuses replicas of one service on different stores */
        h.store = yard_str(yard_store_identity(a->store));
    }
    s_link_send(l, YARD_CMD_READY, &h, NULL);
}

/* The broker of l no longer knows what it sent us (a new connection or a restart). */
static void
s_forget(yard__rt_replica_t *rep, yard__rt_link_t *l)
{
    yard_actor_t *a = rep->actor;
    yard__credit_forget(rep->credit, a->n_endpoints, (size_t)(l - rep->links), a->credit);
}

static void
s_link_close(yard__rt_link_t *l)
{
    if (l->sock) {
        yard__link_flush(&l->io, l->sock); /* a DISCONNECT among them; linger delivers it */
    }
    yard__link_reset(&l->io);
    yard__bus_close(&l->sock, &l->mon);
    l->connected = false;
}

static void s_flush_publications(yard__rt_replica_t *rep);

static void
s_link_open(yard__rt_replica_t *rep, yard__rt_link_t *l)
{
    yard_actor_t *a = rep->actor;
    l->sock = yard__bus_open(a->ctx, l->endpoint, S_LINGER_MS, &l->mon);
    if (!l->sock) {
        return; /* logged; the link's timers try again */
    }
    l->sends_at_drain = l->sends - 1; /* a new socket has never been drained */
    l->mon_dirty = true;
    l->connected = l->connected_once = l->barrier = false;
    l->heartbeat_ms = a->heartbeat_ms;
    l->last_send = l->last_recv = l->last_heartbeat = yard__clock_ms();
    s_forget(rep, l);
    if (yard__endpoint_monitored(l->endpoint)) {
        /* READY waits for the connection (s_monitor): one queued for a broker that is not
         * there would keep this link's share of the credit reserved for as long as that
         * broker stays away, while the clients it lost press on the others. */
        return;
    }
    /* inproc: the broker is in this process and libzmq reports no connection; queue READY. */
    l->connected = l->connected_once = true;
    s_send_ready(rep, l);
    s_flush_publications(rep);
}

/* --- answering (replica thread) ---------------------------------------------------------- */

void
yard__rt_answer(yard__rt_replica_t *rep, int link, uint32_t gen, uint64_t id, int err,
                const char *app_error, const char *text, const yard__hdrs_t *hdrs, zmq_msg_t *body)
{
    yard__rt_link_t *l = &rep->links[link];
    yard__credit_gave(&rep->credit[link], gen);
    yard_kv_t kv[YARD_WIRE_HEADERS_MAX];
    yard_header_t h = {.id = id, .headers = kv, .header_count = yard__hdrs_view(hdrs, kv)};
    if (err == 0) {
        s_link_send(l, YARD_CMD_REPLY, &h, body);
        return;
    }
    if (body) {
        zmq_msg_close(body);
    }
    h.error = yard_err_to_wire(err);
    h.error_text = s_capped(text, YARD_WIRE_TEXT_MAX);
    h.app_error = s_capped(app_error, YARD_WIRE_NAME_MAX);
    s_link_send(l, YARD_CMD_ERROR, &h, NULL);
}

/* A link whose broker is connected now, or NULL. Subscribers subscribe on every broker, so
 * any one will do. */
static yard__rt_link_t *
s_publish_link(yard__rt_replica_t *rep)
{
    for (size_t i = 0; i < rep->actor->n_endpoints; i++) {
        yard__rt_link_t *l = &rep->links[i];
        if (l->sock && l->connected) {
            return l;
        }
    }
    return NULL;
}

static int
s_send_publication(void *arg, const char *subject, const void *body, size_t size)
{
    yard__rt_link_t *l = arg;
    yard_header_t h = {.service = yard_str(subject)};
    zmq_msg_t m;
    zmq_msg_init(&m);
    yard__msg_set_bytes(&m, body, size);
    l->sends++;
    int rc = yard__link_send(&l->io, l->sock, true, YARD_CMD_PUBLISH, &h, &m);
    if (rc == 0) {
        l->last_send = yard__clock_ms();
    }
    return rc;
}

/* Sends what was published while no broker was connected, once one is. */
static void
s_flush_publications(yard__rt_replica_t *rep)
{
    yard__rt_link_t *l = rep->pubs.count ? s_publish_link(rep) : NULL;
    if (l) {
        yard__pubbuf_flush(&rep->pubs, s_send_publication, l, l->endpoint);
    }
}

int
yard__rt_publish(yard__rt_replica_t *rep, const char *subject, const void *body, size_t size)
{
    s_flush_publications(rep); /* in order: what waits goes first */
    yard__rt_link_t *l = s_publish_link(rep);
    if (!l || rep->pubs.count) {
        /* Reconnecting: kept (bounded) and sent in order once a broker is connected. */
        return yard__pubbuf_add(&rep->pubs, subject, body, size);
    }
    return s_send_publication(l, subject, body, size);
}

/* --- requests ---------------------------------------------------------------------------- */

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
        rep->arena = yard__xrealloc(rep->arena, rep->arena_cap);
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
    req->gen = yard__credit_took(&rep->credit[link]);
    req->id = h->id;
    req->one_way = cmd == YARD_CMD_SEND;
    req->deadline = h->timeout_ms ? now + h->timeout_ms : YARD__RT_NEVER;
    req->state = YARD__R_OPEN;
    req->body = zmq_msg_data(body);
    req->body_size = zmq_msg_size(body);
    req->obj_state = 0;
    msgpack_zone_clear(&rep->zone);
    req->zone = &rep->zone;
    s_fill_strings(rep, h);
    yard__actor_call(rep->actor->def, req, rep->ctx->state);
}

static void s_start_drain(yard__rt_replica_t *rep, int64_t now);

/* ERROR FORBIDDEN without id answers our READY: the broker will never take this replica as it
 * is configured (its store is not its service's). Re-sending READY would only repeat the
 * refusal, so say why once and stop; the program sees yard_actor_refused() and exits. */
static void
s_refused(yard__rt_replica_t *rep, yard__rt_link_t *l, const yard_header_t *h)
{
    if (rep->draining) {
        return;
    }
    yard_log(YARD_LOG_ERROR, "the broker refused this replica; stopping it",
             YF_STR("endpoint", l->endpoint),
             YF_STRN("reason", h->error_text.ptr, h->error_text.len));
    yard__actor_set_refused(rep->actor, h->error_text);
    s_start_drain(rep, yard__clock_ms());
}

/* Answers BAD_REQUEST a request that cannot be served, so that the broker gets its credit
 * back and the caller an answer now, not TIMEOUT at its deadline. id 0: nobody to answer. */
static void
s_refuse(yard__rt_replica_t *rep, int link, uint64_t id, const char *why)
{
    if (id) {
        uint32_t gen = yard__credit_took(&rep->credit[link]);
        yard__rt_answer(rep, link, gen, id, YARD_E_BAD_REQUEST, NULL, why, NULL, NULL);
    }
}

static void
s_handle(yard__rt_replica_t *rep, int link, yard_cmd_t cmd, const yard_header_t *hp, int nframes)
{
    yard__rt_link_t *l = &rep->links[link];
    yard_header_t h = *hp;
    switch (cmd) {
    case YARD_CMD_REQUEST:
    case YARD_CMD_SEND:
        if (nframes != 2 || h.id == 0) {
            yard_log(YARD_LOG_WARN, "malformed request from broker", YF_INT("frames", nframes));
            s_refuse(rep, link, h.id, "request without body");
            return;
        }
        s_handle_request(rep, link, cmd, &h, &rep->frames[1]);
        return;
    case YARD_CMD_READY:
        if (h.heartbeat_ms) {
            l->heartbeat_ms = h.heartbeat_ms;
        }
        yard__credit_acked(&rep->credit[link], h.credit);
        return;
    case YARD_CMD_HEARTBEAT:
        if (rep->draining && h.heartbeat_ms) { /* without: a demand hint, not an answer */
            l->barrier = true;
        }
        yard__credit_demand(&rep->credit[link], h.credit);
        return;
    case YARD_CMD_DISCONNECT:
        if (rep->draining) {
            l->barrier = true;
        } else {
            yard_log(YARD_LOG_INFO, "broker does not know us; registering again",
                     YF_STR("endpoint", l->endpoint));
            s_forget(rep, l);
            s_send_ready(rep, l);
        }
        return;
    case YARD_CMD_ERROR:
        if (h.id == 0 && yard_err_from_wire(h.error) == YARD_E_FORBIDDEN) {
            s_refused(rep, l, &h);
            return;
        }
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
    yard__rt_link_t *l = &rep->links[link];
    /* A batch is read to its end: the socket no longer announces what is left of it. */
    for (int i = 0; (i < S_RECV_BATCH || yard__link_reading(&l->io)) && l->sock; i++) {
        yard_cmd_t cmd;
        yard_header_t h;
        uint64_t sends = l->sends;
        int n = yard__link_recv(&l->io, l->sock, rep->frames, rep->codec, &cmd, &h);
        if (n == 0) {
            l->sends_at_drain = sends;
            return;
        }
        if (i == 0) {
            l->last_recv = yard__clock_ms(); /* once a turn: it only times heartbeats */
        }
        if (n > 0) {
            s_handle(rep, link, cmd, &h, n);
        } else if (cmd == YARD_CMD_REQUEST || cmd == YARD_CMD_SEND) {
            s_refuse(rep, link, h.id, l->io.why); /* logged by the link */
        }
    }
    l->sends_at_drain = l->sends - 1; /* a full batch: not drained, so the wait must ask */
}

static void
s_monitor(yard__rt_replica_t *rep, int link)
{
    yard__rt_link_t *l = &rep->links[link];
    l->mon_dirty = false; /* read until empty below */
    for (int ev; l->mon && (ev = yard__bus_monitor_read(l->mon)) != 0;) {
        if (ev == ZMQ_EVENT_CONNECTED) {
            l->connected = true;
            l->last_recv = yard__clock_ms(); /* silence is timed from here */
            s_flush_publications(rep);
            if (!rep->draining) {
                if (l->connected_once) {
                    yard_log(YARD_LOG_INFO, "reconnected; registering again",
                             YF_STR("endpoint", l->endpoint));
                }
                s_forget(rep, l);
                s_send_ready(rep, l);
            }
            l->connected_once = true;
        } else if (ev == ZMQ_EVENT_DISCONNECTED) {
            l->connected = false;
            s_forget(rep, l); /* what it sent us can no longer be answered to it */
            if (rep->draining) {
                l->barrier = true;
            }
        }
    }
}

/* When link l owes its broker a HEARTBEAT: after an interval with nothing sent, or after one
 * with nothing heard and no HEARTBEAT asked. The broker only answers, so a replica that is busy
 * sending answers (a thousand deferred replies released at once, under a sanitizer) and
 * never falls quiet must still ask, or it hears nothing for three intervals and calls a
 * live broker silent. */
static int64_t
s_heartbeat_due(const yard__rt_link_t *l)
{
    int64_t quiet = l->last_send + l->heartbeat_ms;
    int64_t deaf =
        (l->last_recv > l->last_heartbeat ? l->last_recv : l->last_heartbeat) + l->heartbeat_ms;
    return quiet < deaf ? quiet : deaf;
}

/* Heartbeats and silence on every link. */
static void
s_links_timers(yard__rt_replica_t *rep, int64_t now)
{
    yard_actor_t *a = rep->actor;
    for (size_t i = 0; i < a->n_endpoints; i++) {
        yard__rt_link_t *l = &rep->links[i];
        if (!l->sock) {
            if (!rep->draining) {
                s_link_open(rep, l);
            }
            continue;
        }
        if (!l->connected) {
            continue; /* libzmq keeps connecting; READY and heartbeats start when it has */
        }
        if (now - l->last_recv >= 3 * (int64_t)l->heartbeat_ms &&
            !yard__link_pending(&l->io, l->sock)) {
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
        if (now >= s_heartbeat_due(l)) {
            yard_header_t h = {.heartbeat_ms = l->heartbeat_ms, .credit = a->credit};
            s_link_send(l, YARD_CMD_HEARTBEAT, &h, NULL);
            l->last_heartbeat = now;
        }
    }
}

/* Moves the shared credit towards the broker that waits for it (actor_credit.h). */
static void
s_credit_balance(yard__rt_replica_t *rep)
{
    size_t n = rep->actor->n_endpoints;
    for (size_t i = 0; i < n; i++) {
        rep->credit[i].live = rep->links[i].sock && rep->links[i].connected;
    }
    yard__credit_balance(rep->credit, n, rep->actor->credit);
    for (size_t i = 0; i < n; i++) {
        if (rep->credit[i].ready_due) {
            s_send_ready(rep, &rep->links[i]);
        }
    }
}

static void
s_start_drain(yard__rt_replica_t *rep, int64_t now)
{
    yard_actor_t *a = rep->actor;
    rep->draining = true;
    rep->drain_until = now + a->drain_ms;
    yard__ctx_drain(rep->ctx); /* timers stop; sources take no new work */
    for (size_t i = 0; i < a->n_endpoints; i++) {
        yard__rt_link_t *l = &rep->links[i];
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
    /* Loop sources get drain_ms too: a transfer in flight may still answer a request. */
    return rep->n_held == 0 && !(rep->ctx->n_sources && yard__ctx_busy(rep->ctx));
}

static int64_t
s_next_wake(const yard__rt_replica_t *rep)
{
    int64_t wake = rep->next_expiry;
    for (size_t i = 0; i < rep->actor->n_endpoints; i++) {
        const yard__rt_link_t *l = &rep->links[i];
        if (l->sock && !l->connected) {
            continue; /* its monitor wakes us when it connects */
        }
        int64_t hb = s_heartbeat_due(l);
        int64_t dead = l->last_recv + 3 * (int64_t)l->heartbeat_ms;
        wake = hb < wake ? hb : wake;
        wake = dead < wake ? dead : wake;
    }
    if (rep->draining && rep->drain_until < wake) {
        wake = rep->drain_until;
    }
    if (rep->ctx->n_heap) {
        int64_t t = yard__timers_next(rep->ctx);
        wake = t < wake ? t : wake;
    }
    return wake;
}

void
yard__rt_run(yard__rt_replica_t *rep)
{
    yard_actor_t *a = rep->actor;
    size_t n = a->n_endpoints;
    /* Each link is a socket and its monitor; the mailbox's eventfd wakes us for deferred
     * answers and stop. yard_wait() needs every socket drained first (see yard/wait.h). */
    YARD_ASSERT(2 * n + 1 + YARD__RT_SOURCE_ITEMS <= YARD_WAIT_MAX);
    yard_wait_item_t items[YARD_WAIT_MAX] = {{0}};
    yard_ctx_t *ctx = rep->ctx;
    rep->req.ctx = ctx;
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
            yard__rt_drain_mailbox(rep, false);
        }
        int64_t now = yard__clock_ms();
        yard__rt_expire(rep, now, false);
        if (ctx->n_heap) {
            yard__timers_run(ctx, now);
        }
        if (!rep->draining && atomic_load(&rep->mbox->stop)) {
            s_start_drain(rep, now);
        }
        s_links_timers(rep, now);
        if (n > 1 && !rep->draining) {
            s_credit_balance(rep);
        }
        if (rep->draining && s_drained(rep, now)) {
            break;
        }
        s_flush(rep); /* the end of the turn: what it sent leaves, one frame per broker */
        for (size_t i = 0; i < n; i++) {
            yard__rt_link_t *l = &rep->links[i];
            items[2 * i] = (yard_wait_item_t){
                .socket = l->sock, .fd = -1, .dirty = l->sends != l->sends_at_drain};
            items[2 * i + 1] =
                (yard_wait_item_t){.socket = l->mon, .fd = -1, .dirty = l->mon_dirty};
        }
        items[2 * n] = (yard_wait_item_t){.fd = rep->mbox->efd};
        int used = (int)(2 * n + 1);
        int64_t wake = s_next_wake(rep);
        if (ctx->n_sources) {
            used += yard__ctx_prepare(ctx, items + used, YARD_WAIT_MAX - used, &wake);
        }
        long wait = wake <= now ? 0 : wake - now > 1000 ? 1000 : (long)(wake - now);
        yard_wait(items, used, wait);
        mbox_ready = items[2 * n].readable;
        if (ctx->n_prepared) {
            yard__ctx_dispatch(ctx, items + 2 * n + 1, yard__clock_ms());
        }
    }
    /* Sources end first: their last callbacks may still answer deferred requests or publish.
     * Then answer what completed, refuse what comes later, time out what is still held. */
    yard__ctx_shutdown(ctx);
    yard__rt_drain_mailbox(rep, true);
    yard__rt_expire(rep, 0, true);
    for (size_t i = 0; i < n; i++) {
        yard_header_t none = {0};
        s_link_send(&rep->links[i], YARD_CMD_DISCONNECT, &none, NULL);
        s_link_close(&rep->links[i]);
    }
    ctx->links_closed = true;
    yard_log(YARD_LOG_INFO, "replica stopped", YF_STR("name", rep->name));
}
