/* A serving loop: one thread that owns one libmicrohttpd daemon (external polling, epoll) and
 * one yard_client_t, and runs both. The access handler, called from MHD_run() on this thread,
 * starts a request's bus call directly (the auth service's "verify" first when the route wants
 * a bearer token); the client's callbacks, run from yard_client_dispatch_fd() on this thread,
 * store each outcome and resume the connection, and the next MHD_run() sends it. The gateway
 * runs one loop per HTTP thread, all accepting on one listening socket.
 *
 * Why not libmicrohttpd's own thread pool with a bus thread beside it: every request then
 * crossed threads twice (a queue and an eventfd to the bus thread, MHD's inter-thread signal
 * back), and on a 2-core host those hand-offs and context switches cost more than the bus
 * round trip itself (docs/benchmarks.md).
 *
 * Invariant: every request the loop takes is resumed exactly once. The client ends every call
 * exactly once (TIMEOUT at the route's deadline at the latest); on top of that the loop keeps
 * its own deadline per request and answers 504 itself a little after the route's deadline if
 * the client has not, so a suspended connection always ends. A call outlives its request that
 * way: the call record (s_call_t) is freed by the client's callback, and forgets its request
 * (req = NULL) once that request was resumed by someone else.
 *
 * Loop 0 also pings the broker's $sys every second (for /readyz) and fetches $sys stats every
 * 5 s (for /metrics). Every loop sweeps its connections' header deadlines (conns.h) on the same
 * tick as its requests' deadlines; libmicrohttpd's callbacks reach gateway.c through the
 * loop's wrappers, which keep those deadlines. With tls_cert/tls_key the daemon serves HTTPS
 * (MHD_USE_TLS) from the PEM held in the gateway (tls.h). */
#include "conns.h"
#include "gw_internal.h"

#include "yard/client.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/mp.h"
#include "yard/msg.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PING_MS 1000
/* libmicrohttpd's memory per connection (MHD_OPTION_CONNECTION_MEMORY_LIMIT): one pool holds
 * the request line and headers as read (and a record of ~64 bytes per header line), then the
 * response's header block. 0.9.75 zeroes the whole pool when a kept-alive connection's request
 * ends (MHD_pool_reset), so every page of it stays resident while the connection idles: an idle
 * connection costs the pool's size, whatever was sent on it (the default 32 KiB made 5,000
 * idle connections hold 156 MiB; MHD_OPTION_CONNECTION_MEMORY_INCREMENT changes nothing, it
 * only paces the read buffer's growth inside the pool). 16 KiB holds a 4000-byte path and
 * query, an 8192-byte bearer token and a dozen usual headers at once (docs/gateway.md gives
 * the limit; a larger block is libmicrohttpd's 431); less would refuse those documented
 * limits. Measured with tools/bench_gw_idle.py (docs/benchmarks.md). */
#define S_CONN_POOL 16384
#define S_STATS_MS  5000
#define S_READY_MS  3000
#define S_SAFETY_MS 250 /* the loop's own deadline: the route's plus this */
#define S_TICK_MS   50  /* deadline sweeps, and how soon a loop sees a stop phase */
#define S_SPARE_MAX 256 /* spent request records a loop keeps for reuse */

typedef enum { S_AUTH = 1, S_TARGET, S_PING, S_STATS } s_kind_t;

typedef struct s_call {
    gw_loop_t *lp;
    gw_req_t *req; /* NULL once the request was resumed without this call */
    s_kind_t kind;
    struct s_call *prev, *next; /* the loop's live list (requests only) */
    struct s_call *again;       /* the "start target next" list */
} s_call_t;

struct gw_loop {
    yard_gateway_t *gw;
    int index;
    yard_client_t *client;
    struct MHD_Daemon *mhd;
    int mhd_fd; /* libmicrohttpd's epoll descriptor */
    pthread_t thread;
    bool running;
    atomic_int phase;     /* GW_PHASE_*, raised by the stopping thread */
    atomic_bool quiesced; /* this daemon no longer accepts */
    int acted;            /* the highest phase this loop has acted on (loop thread only) */
    s_call_t *live;       /* calls that still own their request */
    s_call_t *again;      /* auth passed: start the target call */
    bool ping_out, stats_out;
    gw_req_t *spare; /* spent request records, linked through ->spare_next */
    int nspare;
    gw_mhd_callbacks_t cb; /* gateway.c's callbacks, which the loop's own wrap */
    gw_conns_t *conns;     /* the header deadline of this daemon's connections */
};

static void *
s_alloc(size_t n)
{
    void *p = calloc(1, n);
    if (!p) {
        abort();
    }
    return p;
}

static void
s_link(gw_loop_t *lp, s_call_t *c)
{
    c->prev = NULL;
    c->next = lp->live;
    if (lp->live) {
        lp->live->prev = c;
    }
    lp->live = c;
}

static void
s_unlink(gw_loop_t *lp, s_call_t *c)
{
    if (c->prev) {
        c->prev->next = c->next;
    } else if (lp->live == c) {
        lp->live = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    c->prev = c->next = NULL;
}

/* Stores the outcome and resumes the connection: the next MHD_run() answers it. */
static void
s_finish(gw_loop_t *lp, gw_req_t *req, int err, const char *text)
{
    req->err = err;
    if (err && text && !req->err_text) {
        req->err_text = strdup(text);
    }
    req->state = GW_READY;
    atomic_fetch_sub(&lp->gw->waiting, 1);
    MHD_resume_connection(req->conn); /* sent by the loop's next MHD_run() */
}

/* key is a static name; the value is copied (the request owns the copy). */
static void
s_add_header(gw_req_t *req, const char *key, const char *value)
{
    if (req->nhdr >= GW_BUS_HEADERS_MAX || req->nstrs >= GW_OWNED_MAX) {
        return;
    }
    char *v = strdup(value);
    if (!v) {
        abort();
    }
    req->strs[req->nstrs++] = v;
    req->hdr[req->nhdr].key = (yard_str_t){key, (uint32_t)strlen(key)};
    req->hdr[req->nhdr].value = (yard_str_t){v, (uint32_t)strlen(v)};
    req->nhdr++;
}

static uint32_t
s_remaining(const gw_req_t *req)
{
    int64_t left = req->deadline_ms - gw_now_ms();
    return left < 1 ? 1 : (uint32_t)left;
}

static void s_on_reply(const yard_msg_t *reply, void *arg);

static void
s_start_call(gw_loop_t *lp, s_call_t *c, const char *service, const char *op, const void *body,
             size_t size, const yard_kv_t *hdr, uint32_t nhdr, uint32_t tmo)
{
    yard_call_opts_t o = {.op = op, .timeout_ms = tmo, .headers = hdr, .header_count = nhdr};
    int rc = yard_client_call_async(lp->client, service, body, size, &o, s_on_reply, c);
    if (rc != 0) {
        gw_req_t *req = c->req;
        if (req) {
            s_unlink(lp, c);
            s_finish(lp, req, rc, yard_strerror(rc));
        }
        free(c);
    }
}

static void
s_start_target(gw_loop_t *lp, s_call_t *c)
{
    gw_req_t *req = c->req;
    c->kind = S_TARGET;
    s_start_call(lp, c, req->match.service, req->route->op, req->packed, req->packed_size, req->hdr,
                 req->nhdr, s_remaining(req));
}

/* The verify request: {"token": ..., "scopes": [...]} */
static void
s_start_auth(gw_loop_t *lp, s_call_t *c)
{
    gw_req_t *req = c->req;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "token", 5);
    msgpack_pack_str_with_body(&pk, req->token, strlen(req->token));
    msgpack_pack_str_with_body(&pk, "scopes", 6);
    size_t n = 0;
    for (; req->route->scopes && req->route->scopes[n]; n++) {
    }
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_str_with_body(&pk, req->route->scopes[i], strlen(req->route->scopes[i]));
    }
    c->kind = S_AUTH;
    yard_kv_t rid = {{"x-request-id", 12}, {req->request_id, (uint32_t)strlen(req->request_id)}};
    s_start_call(lp, c, "auth", "verify", sb.data, sb.size, &rid, 1, s_remaining(req));
    msgpack_sbuffer_destroy(&sb);
}

/* The verify reply's scopes joined with ',' (those that fit in cap) into out. */
static void
s_join_scopes(const msgpack_object *m, char *out, size_t cap)
{
    const msgpack_object *a = NULL;
    size_t used = 0;
    out[0] = '\0';
    if (yard_mp_get_array(m, "scopes", &a, NULL, 0) != 0) {
        return;
    }
    for (uint32_t j = 0; j < a->via.array.size; j++) {
        const msgpack_object *s = &a->via.array.ptr[j];
        if (s->type == MSGPACK_OBJECT_STR && used + s->via.str.size + 2 < cap) {
            used += (size_t)snprintf(out + used, cap - used, "%s%.*s", used ? "," : "",
                                     (int)s->via.str.size, s->via.str.ptr);
        }
    }
}

/* Reads {sub, scopes} from the verify reply (peer bytes: the bounded decoder) into the
 * request's bus headers. */
static bool
s_take_identity(gw_req_t *req, const yard_msg_t *reply)
{
    size_t size = 0;
    const void *body = yard_msg_body(reply, &size);
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 1024)) {
        abort();
    }
    msgpack_object o;
    char sub[1024];
    bool ok = yard_mp_decode(body, size, &zone, &o, NULL, 0) == 0 &&
              yard_mp_get_strbuf(&o, "sub", sub, sizeof sub, NULL, 0) == 0;
    if (ok) {
        char scopes[1024];
        s_add_header(req, "auth.sub", sub);
        s_join_scopes(&o, scopes, sizeof scopes);
        s_add_header(req, "auth.scopes", scopes);
    }
    msgpack_zone_destroy(&zone);
    return ok;
}

static void
s_auth_done(gw_loop_t *lp, s_call_t *c, const yard_msg_t *reply)
{
    gw_req_t *req = c->req;
    int st = yard_msg_status(reply);
    const char *app = yard_msg_app_error(reply);
    if (st == 0 && s_take_identity(req, reply)) {
        c->again = lp->again; /* not from inside the client's callback */
        lp->again = c;
        return;
    }
    s_unlink(lp, c);
    if (st == 0) {
        req->auth_failed = 502;
        s_finish(lp, req, YARD_E_INTERNAL, "the auth service's reply has no subject");
    } else if (st == YARD_E_UNAUTHENTICATED || strcmp(app, "UNAUTHENTICATED") == 0) {
        req->auth_failed = 401;
        s_finish(lp, req, YARD_E_UNAUTHENTICATED, yard_msg_error_text(reply));
    } else if (st == YARD_E_FORBIDDEN || strcmp(app, "FORBIDDEN") == 0) {
        req->auth_failed = 403;
        s_finish(lp, req, YARD_E_FORBIDDEN, yard_msg_error_text(reply));
    } else if (st == YARD_E_TIMEOUT) {
        s_finish(lp, req, st, "the auth service did not answer in time");
    } else {
        req->auth_failed = 503;
        s_finish(lp, req, YARD_E_NO_SERVICE, "the auth service is not available");
    }
    free(c);
}

static void
s_on_reply(const yard_msg_t *reply, void *arg)
{
    s_call_t *c = arg;
    gw_loop_t *lp = c->lp;
    int st = yard_msg_status(reply);
    if (c->kind == S_PING) {
        lp->ping_out = false;
        if (st == 0) {
            atomic_store(&lp->gw->ready_until_ms, gw_now_ms() + S_READY_MS);
        }
        free(c);
        return;
    }
    if (c->kind == S_STATS) {
        lp->stats_out = false;
        size_t size = 0;
        const void *body = st == 0 ? yard_msg_body(reply, &size) : NULL;
        yard_gw_metrics_set_sys(lp->gw->metrics, body, size);
        free(c);
        return;
    }
    gw_req_t *req = c->req;
    if (!req) { /* answered already by the loop's own deadline or by stop */
        free(c);
        return;
    }
    if (c->kind == S_AUTH) {
        s_auth_done(lp, c, reply);
        return;
    }
    s_unlink(lp, c);
    if (st == 0 || st == YARD_E_SERVICE) {
        gw_copy_reply_headers(req, reply);
    }
    if (st == 0) {
        size_t size = 0;
        const void *body = yard_msg_body(reply, &size);
        if (size) {
            req->reply = malloc(size);
            if (!req->reply) {
                abort();
            }
            memcpy(req->reply, body, size);
            req->reply_size = size;
        }
    } else {
        const char *app = yard_msg_app_error(reply);
        if (app && app[0]) {
            req->app_error = strdup(app);
        }
    }
    s_finish(lp, req, st, st ? yard_msg_error_text(reply) : NULL);
    free(c);
}

static void
s_take(gw_loop_t *lp, gw_req_t *req)
{
    s_call_t *c = s_alloc(sizeof *c);
    c->lp = lp;
    c->req = req;
    s_link(lp, c);
    if (req->token && req->route->auth == YARD_GW_AUTH_BEARER) {
        s_start_auth(lp, c);
    } else {
        s_start_target(lp, c);
    }
}

static void
s_sys_call(gw_loop_t *lp, s_kind_t kind)
{
    s_call_t *c = s_alloc(sizeof *c);
    c->lp = lp;
    c->kind = kind;
    yard_call_opts_t o = {.op = kind == S_PING ? "ping" : "stats", .timeout_ms = S_PING_MS};
    if (yard_client_call_async(lp->client, "$sys", NULL, 0, &o, s_on_reply, c) != 0) {
        free(c);
        if (kind == S_STATS) {
            yard_gw_metrics_set_sys(lp->gw->metrics, NULL, 0);
        }
        return;
    }
    if (kind == S_PING) {
        lp->ping_out = true;
    } else {
        lp->stats_out = true;
    }
}

/* The loop's own deadline: a request the client has not ended a little after its route's
 * deadline gets 504 here. */
static void
s_sweep(gw_loop_t *lp, int64_t now)
{
    for (s_call_t *c = lp->live, *next; c; c = next) {
        next = c->next;
        if (now >= c->req->deadline_ms + S_SAFETY_MS) {
            gw_req_t *req = c->req;
            s_unlink(lp, c);
            c->req = NULL;
            yard_log(YARD_LOG_WARN, "bus did not end a call at its deadline",
                     YF_STR("request_id", req->request_id));
            s_finish(lp, req, YARD_E_TIMEOUT, "the deadline passed before a reply");
        }
    }
}

/* Ends everything that is still held (stop): SHUTDOWN, i.e. 503. */
static void
s_abandon_all(gw_loop_t *lp)
{
    lp->again = NULL; /* its calls are still in the live list: ended below */
    for (s_call_t *c = lp->live, *next; c; c = next) {
        next = c->next;
        gw_req_t *req = c->req;
        s_unlink(lp, c);
        c->req = NULL;
        s_finish(lp, req, YARD_E_SHUTDOWN, "the gateway is shutting down");
    }
}

/* Acts once on each stop phase the stopping thread has raised. */
static void
s_phase(gw_loop_t *lp)
{
    int phase = atomic_load(&lp->phase);
    if (phase >= GW_PHASE_DRAIN && lp->acted < GW_PHASE_DRAIN) {
        /* Hands back the shared listening socket (the stopping thread closes it once every
         * loop has let go); connections already open are still served. */
        MHD_quiesce_daemon(lp->mhd);
        atomic_store(&lp->quiesced, true);
    }
    if (phase >= GW_PHASE_ABANDON && lp->acted < GW_PHASE_ABANDON) {
        s_abandon_all(lp);
    }
    lp->acted = phase;
}

/* The next wake-up, in ms from now: the loop's timers and libmicrohttpd's. */
static int
s_wait_ms(gw_loop_t *lp, int64_t now, int64_t next)
{
    int64_t wait = next > now ? next - now : 0;
    MHD_UNSIGNED_LONG_LONG mhd_ms = 0;
    if (MHD_get_timeout(lp->mhd, &mhd_ms) == MHD_YES && (int64_t)mhd_ms < wait) {
        wait = (int64_t)mhd_ms;
    }
    return (int)wait;
}

static void *
s_main(void *arg)
{
    gw_loop_t *lp = arg;
    yard_log_set_context("gateway", -1);
    int64_t next_ping = 0, next_stats = 0, next_sweep = 0;
    while (atomic_load(&lp->phase) < GW_PHASE_EXIT) {
        s_phase(lp);
        while (lp->again) {
            s_call_t *c = lp->again;
            lp->again = c->again;
            c->again = NULL;
            s_start_target(lp, c);
        }
        int64_t now = gw_now_ms();
        if (lp->index == 0 && now >= next_ping) {
            if (!lp->ping_out) {
                s_sys_call(lp, S_PING);
            }
            next_ping = now + S_PING_MS;
        }
        if (lp->index == 0 && now >= next_stats) {
            if (!lp->stats_out) {
                s_sys_call(lp, S_STATS);
            }
            next_stats = now + S_STATS_MS;
        }
        if (now >= next_sweep) {
            s_sweep(lp, now);
            gw_conns_sweep(lp->conns, now);
            next_sweep = now + S_TICK_MS;
        }
        int64_t next = next_sweep;
        if (lp->index == 0) {
            next = next_ping < next ? next_ping : next;
            next = next_stats < next ? next_stats : next;
        }
        bool http_ready = false;
        yard_client_dispatch_fd(lp->client, s_wait_ms(lp, now, next), lp->mhd_fd, &http_ready);
        MHD_run(lp->mhd); /* new requests, and the answers the callbacks just resumed */
    }
    s_abandon_all(lp);
    MHD_run(lp->mhd);
    return NULL;
}

int
gw_loop_new(yard_gateway_t *gw, void *zmq_ctx, int index, gw_loop_t **out, char *errbuf,
            size_t errlen)
{
    *out = NULL;
    gw_loop_t *lp = s_alloc(sizeof *lp);
    lp->gw = gw;
    lp->index = index;
    yard_client_opts_t co = {.zmq_context = zmq_ctx,
                             .default_timeout_ms = gw->opts.timeout_ms,
                             .heartbeat_ms = gw->opts.heartbeat_ms};
    int rc = yard_client_new(gw->opts.broker, &co, &lp->client);
    if (rc) {
        snprintf(errbuf, errlen, "broker: %s", yard_strerror(rc));
        free(lp);
        return rc;
    }
    *out = lp;
    return 0;
}

/* libmicrohttpd's callbacks go through these, which keep the connections' header deadlines
 * (conns.h) and then call gateway.c's. */
static void
s_notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
              enum MHD_ConnectionNotificationCode code)
{
    gw_loop_t *lp = cls;
    gw_conns_notify(lp->conns, conn, socket_context, code);
}

static void *
s_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    gw_loop_t *lp = cls;
    gw_req_t *req = lp->cb.uri(cls, uri, conn);
    gw_conns_request_line(lp->conns, conn, req);
    return req;
}

static enum MHD_Result
s_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    gw_loop_t *lp = cls;
    gw_conns_headers_done(lp->conns, conn);
    return lp->cb.access(cls, conn, url, method, version, upload_data, upload_data_size, con_cls);
}

static void
s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
            enum MHD_RequestTerminationCode toe)
{
    gw_loop_t *lp = cls;
    lp->cb.completed(cls, conn, con_cls, toe);
    gw_conns_request_done(lp->conns, conn);
}

int
gw_loop_start(gw_loop_t *lp, int listen_fd, const gw_mhd_callbacks_t *cb)
{
    const yard_gateway_opts_t *o = &lp->gw->opts;
    const gw_tls_t *tls = &lp->gw->tls;
    unsigned timeout_s = (o->connection_timeout_ms + 999) / 1000;
    unsigned limit = (unsigned)(o->connection_limit / o->threads);
    lp->cb = *cb;
    lp->conns = gw_conns_new(o->header_timeout_ms, o->connection_timeout_ms, gw_tls_on(tls),
                             lp->gw->metrics);
    /* MHD_OPTION_STRICT_FOR_CLIENT is left at 0: at 1 it checks only Host, and 0.9.75 writes
     * that 400's header block twice; framing.c checks Host and the rest instead. */
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, limit ? limit : 1, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, timeout_s ? timeout_s : 1, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, S_CONN_POOL, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)s_uri, lp},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)s_completed, lp},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)s_notify_conn, lp},
        {MHD_OPTION_STRICT_FOR_CLIENT, 0, NULL},
        {gw_tls_on(tls) ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, tls->cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, tls->key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | (gw_tls_on(tls) ? MHD_USE_TLS : 0);
    lp->mhd = MHD_start_daemon(flags, 0, NULL, NULL, s_access, lp, MHD_OPTION_ARRAY, opts,
                               MHD_OPTION_END);
    if (!lp->mhd) {
        yard_log(YARD_LOG_ERROR, "libmicrohttpd did not start");
        return YARD_E_IO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(lp->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    lp->mhd_fd = di ? di->epoll_fd : -1;
    if (lp->mhd_fd < 0 || pthread_create(&lp->thread, NULL, s_main, lp) != 0) {
        yard_log(YARD_LOG_ERROR, "a gateway loop did not start");
        MHD_quiesce_daemon(lp->mhd); /* the listening socket is shared: not the daemon's to close */
        MHD_stop_daemon(lp->mhd);
        lp->mhd = NULL;
        return YARD_E_INTERNAL;
    }
    lp->running = true;
    return 0;
}

gw_req_t *
gw_loop_req_new(gw_loop_t *lp)
{
    gw_req_t *req = lp->spare;
    if (req) {
        lp->spare = req->spare_next;
        lp->nspare--;
        memset(req, 0, sizeof *req);
    } else {
        req = s_alloc(sizeof *req);
    }
    req->loop = lp;
    return req;
}

void
gw_loop_req_free(gw_loop_t *lp, gw_req_t *req)
{
    gw_req_clear(req);
    if (lp->nspare >= S_SPARE_MAX) {
        free(req);
        return;
    }
    req->spare_next = lp->spare;
    lp->spare = req;
    lp->nspare++;
}

yard_gateway_t *
gw_loop_gateway(const gw_loop_t *lp)
{
    return lp->gw;
}

void
gw_loop_submit(gw_loop_t *lp, gw_req_t *req)
{
    if (atomic_load(&lp->phase) >= GW_PHASE_ABANDON) {
        s_finish(lp, req, YARD_E_SHUTDOWN, "the gateway is shutting down");
        return;
    }
    s_take(lp, req);
}

void
gw_loop_set_phase(gw_loop_t *lp, int phase)
{
    if (lp) {
        atomic_store(&lp->phase, phase);
    }
}

bool
gw_loop_quiesced(const gw_loop_t *lp)
{
    return !lp || !lp->running || atomic_load(&lp->quiesced);
}

void
gw_loop_destroy(gw_loop_t **self_p)
{
    gw_loop_t *lp = *self_p;
    if (!lp) {
        return;
    }
    if (lp->running) {
        gw_loop_set_phase(lp, GW_PHASE_EXIT);
        pthread_join(lp->thread, NULL);
        lp->running = false;
    }
    if (lp->mhd) {
        if (!atomic_load(&lp->quiesced)) {
            MHD_quiesce_daemon(lp->mhd);
        }
        MHD_stop_daemon(lp->mhd); /* ends the connections left; their requests complete */
    }
    gw_conns_destroy(&lp->conns); /* after the daemon: its CLOSED notifications freed the records */
    yard_client_destroy(&lp->client); /* ends the calls left: their records are freed */
    while (lp->spare) {
        gw_req_t *next = lp->spare->spare_next;
        free(lp->spare);
        lp->spare = next;
    }
    free(lp);
    *self_p = NULL;
}
