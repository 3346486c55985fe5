/* A serving loop: one thread that owns one libmicrohttpd daemon (external polling, epoll) and
 * one yard_client_t, and runs both, with its timers. Its daemon's callbacks, called from
 * MHD_run() on this thread, go to request.c, which starts a request's bus calls (its route's
 * steps) on this loop's client; the client's callbacks, run from yard_client_dispatch_fd() on
 * this thread, store each outcome and resume the connection, and the next MHD_run() sends it.
 * The loop knows nothing of what a request's calls are. The gateway runs one loop per HTTP
 * thread, all accepting on one listening socket.
 *
 * Batching: each turn runs MHD_run() (and the steps that became due in the client's
 * callbacks) with the client corked (yard_client_cork), so the bus calls of every request
 * started in that turn leave together, as one ZeroMQ message, at the uncork.
 *
 * Why not libmicrohttpd's own thread pool with a bus thread beside it: every request then
 * crossed threads twice (a queue and an eventfd to the bus thread, MHD's inter-thread signal
 * back), and on a 2-core host those hand-offs and context switches cost more than the bus
 * round trip itself (docs/benchmarks.md).
 *
 * Invariant: a suspended connection always ends. The client ends every call exactly once
 * (TIMEOUT at the route's deadline at the latest); on top of that the loop sweeps its
 * requests' own deadlines (gw_reqs_sweep: 504 a little after the route's deadline if the
 * client has not ended the call), and stop ends what is left (gw_reqs_abandon: 503).
 *
 * Loop 0 also pings the broker's $sys every second (for /readyz) and fetches $sys stats every
 * 5 s (for /metrics). Every loop sweeps its connections' header deadlines (conns.h) on the same
 * tick as its requests' deadlines; libmicrohttpd's callbacks reach request.c through the
 * loop's wrappers, which keep those deadlines. With tls_cert/tls_key the daemon serves HTTPS
 * (MHD_USE_TLS) from the PEM held in the gateway (tls.h). */
#include "xalloc.h"
#include "conns.h"
#include "gw_internal.h"

#include "yard/client.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/msg.h"

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

/* A $sys call of loop 0 (ping for /readyz, stats for /metrics). */
typedef enum { S_PING = 1, S_STATS } s_kind_t;

typedef struct {
    gw_loop_t *lp;
    s_kind_t kind;
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
    bool ping_out, stats_out;
    gw_reqs_t *reqs;   /* the requests of this daemon's connections (request.h) */
    gw_conns_t *conns; /* the header deadline of this daemon's connections */
};

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
    } else {
        lp->stats_out = false;
        size_t size = 0;
        const void *body = st == 0 ? yard_msg_body(reply, &size) : NULL;
        yard_gw_metrics_set_sys(lp->gw->metrics, body, size);
    }
    free(c);
}

static void
s_sys_call(gw_loop_t *lp, s_kind_t kind)
{
    s_call_t *c = gw_xcalloc(1, sizeof *c);
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
        gw_reqs_abandon(lp->reqs);
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
            gw_reqs_sweep(lp->reqs, now, S_SAFETY_MS);
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
        yard_client_cork(lp->client); /* this turn's calls leave as one message */
        gw_reqs_advance(lp->reqs);    /* next steps, due from the callbacks just run */
        MHD_run(lp->mhd);             /* new requests, and the answers the callbacks just resumed */
        yard_client_uncork(lp->client);
    }
    gw_reqs_abandon(lp->reqs);
    MHD_run(lp->mhd);
    return NULL;
}

int
gw_loop_new(yard_gateway_t *gw, void *zmq_ctx, int index, gw_loop_t **out, char *errbuf,
            size_t errlen)
{
    *out = NULL;
    gw_loop_t *lp = gw_xcalloc(1, sizeof *lp);
    lp->gw = gw;
    lp->index = index;
    lp->reqs = gw_reqs_new(lp);
    yard_client_opts_t co = {.zmq_context = zmq_ctx,
                             .default_timeout_ms = gw->opts.timeout_ms,
                             .heartbeat_ms = gw->opts.heartbeat_ms};
    int rc = yard_client_new(gw->opts.broker, &co, &lp->client);
    if (rc) {
        snprintf(errbuf, errlen, "broker: %s", yard_strerror(rc));
        gw_reqs_destroy(&lp->reqs);
        free(lp);
        return rc;
    }
    *out = lp;
    return 0;
}

/* libmicrohttpd's callbacks go through these, which keep the connections' header deadlines
 * (conns.h) and then call request.c's. */
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
    gw_req_t *req = gw_req_uri(lp, uri);
    gw_conns_request_line(lp->conns, conn, req);
    return req;
}

static enum MHD_Result
s_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    gw_loop_t *lp = cls;
    gw_conns_headers_done(lp->conns, conn);
    return gw_req_access(lp, conn, url, method, version, upload_data, upload_data_size, con_cls);
}

static void
s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
            enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    gw_loop_t *lp = cls;
    gw_req_completed(lp, con_cls);
    gw_conns_request_done(lp->conns, conn);
}

int
gw_loop_start(gw_loop_t *lp, int listen_fd)
{
    const yard_gateway_opts_t *o = &lp->gw->opts;
    const gw_tls_t *tls = &lp->gw->tls;
    unsigned timeout_s = (o->connection_timeout_ms + 999) / 1000;
    unsigned limit = (unsigned)(o->connection_limit / o->threads);
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

yard_gateway_t *
gw_loop_gateway(const gw_loop_t *lp)
{
    return lp->gw;
}

yard_client_t *
gw_loop_client(const gw_loop_t *lp)
{
    return lp->client;
}

gw_reqs_t *
gw_loop_reqs(const gw_loop_t *lp)
{
    return lp->reqs;
}

int
gw_loop_phase(const gw_loop_t *lp)
{
    return atomic_load(&lp->phase);
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
    gw_reqs_destroy(&lp->reqs);       /* after both: the requests are complete, calls ended */
    free(lp);
    *self_p = NULL;
}
