/* The bridge: the one bus thread that owns the gateway's yard_client_t. HTTP threads push
 * requests (their connections already suspended) into a mutex-protected queue and wake the
 * thread with an eventfd; the thread starts each call (the auth service's "verify" first when
 * the route wants a bearer token), runs yard_client_dispatch(), stores each outcome in the
 * request and resumes its connection (MHD_resume_connection is thread-safe).
 *
 * Invariant: every request the bridge takes is resumed exactly once. The client ends every
 * call exactly once (TIMEOUT at the route's deadline at the latest); on top of that the bridge
 * keeps its own deadline per request and answers 504 itself a little after the route's
 * deadline if the client has not, so a suspended connection always ends. A call outlives its
 * request that way: the call record (s_call_t) is freed by the client's callback, and forgets
 * its request (req = NULL) once that request was resumed by someone else.
 *
 * The thread waits in yard_client_dispatch_fd(), which watches the bus and the eventfd at
 * once, so a new request starts its call as soon as it is queued and the queue is read only
 * when the eventfd says something is in it. It also pings the broker's $sys every second
 * (for /readyz) and fetches $sys stats every 5 s (for /metrics). */
#include "gw_internal.h"

#include "yard/client.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/msg.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define S_PING_MS   1000
#define S_STATS_MS  5000
#define S_READY_MS  3000
#define S_SAFETY_MS 250 /* the bridge's own deadline: the route's plus this */

typedef enum { S_AUTH = 1, S_TARGET, S_PING, S_STATS } s_kind_t;

typedef struct s_call {
    gw_bridge_t *br;
    gw_req_t *req; /* NULL once the request was resumed without this call */
    s_kind_t kind;
    struct s_call *prev, *next; /* the bridge's live list (requests only) */
    struct s_call *again;       /* the "start target next" list */
} s_call_t;

struct gw_bridge {
    yard_gateway_t *gw;
    yard_client_t *client;
    int efd;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;
    gw_req_t *head, *tail; /* submitted, not yet taken */
    bool quit;             /* under lock */
    s_call_t *live;        /* calls that still own their request (bus thread only) */
    s_call_t *again;       /* auth passed: start the target call (bus thread only) */
    atomic_llong ready_until_ms;
    bool ping_out, stats_out;
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
s_link(gw_bridge_t *br, s_call_t *c)
{
    c->prev = NULL;
    c->next = br->live;
    if (br->live) {
        br->live->prev = c;
    }
    br->live = c;
}

static void
s_unlink(gw_bridge_t *br, s_call_t *c)
{
    if (c->prev) {
        c->prev->next = c->next;
    } else if (br->live == c) {
        br->live = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    c->prev = c->next = NULL;
}

/* Hands req back to its HTTP thread. After this the bus thread never touches req again. */
static void
s_finish(gw_bridge_t *br, gw_req_t *req, int err, const char *text)
{
    req->err = err;
    if (err && text && !req->err_text) {
        req->err_text = strdup(text);
    }
    req->state = GW_READY;
    atomic_fetch_sub(&br->gw->waiting, 1);
    MHD_resume_connection(req->conn);
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
s_start_call(gw_bridge_t *br, s_call_t *c, const char *service, const char *op, const void *body,
             size_t size, const yard_kv_t *hdr, uint32_t nhdr, uint32_t tmo)
{
    yard_call_opts_t o = {.op = op, .timeout_ms = tmo, .headers = hdr, .header_count = nhdr};
    int rc = yard_client_call_async(br->client, service, body, size, &o, s_on_reply, c);
    if (rc != 0) {
        gw_req_t *req = c->req;
        if (req) {
            s_unlink(br, c);
            s_finish(br, req, rc, yard_strerror(rc));
        }
        free(c);
    }
}

static void
s_start_target(gw_bridge_t *br, s_call_t *c)
{
    gw_req_t *req = c->req;
    c->kind = S_TARGET;
    s_start_call(br, c, req->match.service, req->route->op, req->packed, req->packed_size, req->hdr,
                 req->nhdr, s_remaining(req));
}

/* The verify request: {"token": ..., "scopes": [...]} */
static void
s_start_auth(gw_bridge_t *br, s_call_t *c)
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
    s_start_call(br, c, "auth", "verify", sb.data, sb.size, &rid, 1, s_remaining(req));
    msgpack_sbuffer_destroy(&sb);
}

/* Reads {sub, scopes} from the verify reply into the request's bus headers. */
static bool
s_take_identity(gw_req_t *req, const yard_msg_t *reply)
{
    size_t size = 0;
    const void *body = yard_msg_body(reply, &size);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    bool ok = false;
    if (size && msgpack_unpack_next(&up, body, size, NULL) == MSGPACK_UNPACK_SUCCESS &&
        up.data.type == MSGPACK_OBJECT_MAP) {
        char scopes[1024] = "";
        size_t used = 0;
        const msgpack_object_map *m = &up.data.via.map;
        for (uint32_t i = 0; i < m->size; i++) {
            const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
            if (k->type != MSGPACK_OBJECT_STR) {
                continue;
            }
            if (k->via.str.size == 3 && memcmp(k->via.str.ptr, "sub", 3) == 0 &&
                v->type == MSGPACK_OBJECT_STR && v->via.str.size < 1024) {
                char sub[1024];
                memcpy(sub, v->via.str.ptr, v->via.str.size);
                sub[v->via.str.size] = '\0';
                s_add_header(req, "auth.sub", sub);
                ok = true;
            } else if (k->via.str.size == 6 && memcmp(k->via.str.ptr, "scopes", 6) == 0 &&
                       v->type == MSGPACK_OBJECT_ARRAY) {
                for (uint32_t j = 0; j < v->via.array.size; j++) {
                    const msgpack_object *s = &v->via.array.ptr[j];
                    if (s->type == MSGPACK_OBJECT_STR &&
                        used + s->via.str.size + 2 < sizeof scopes) {
                        used +=
                            (size_t)snprintf(scopes + used, sizeof scopes - used, "%s%.*s",
                                             used ? "," : "", (int)s->via.str.size, s->via.str.ptr);
                    }
                }
            }
        }
        s_add_header(req, "auth.scopes", scopes);
    }
    msgpack_unpacked_destroy(&up);
    return ok;
}

static void
s_auth_done(gw_bridge_t *br, s_call_t *c, const yard_msg_t *reply)
{
    gw_req_t *req = c->req;
    int st = yard_msg_status(reply);
    const char *app = yard_msg_app_error(reply);
    if (st == 0 && s_take_identity(req, reply)) {
        c->again = br->again; /* not from inside the client's callback */
        br->again = c;
        return;
    }
    s_unlink(br, c);
    if (st == 0) {
        req->auth_failed = 502;
        s_finish(br, req, YARD_E_INTERNAL, "the auth service's reply has no subject");
    } else if (st == YARD_E_UNAUTHENTICATED || strcmp(app, "UNAUTHENTICATED") == 0) {
        req->auth_failed = 401;
        s_finish(br, req, YARD_E_UNAUTHENTICATED, yard_msg_error_text(reply));
    } else if (st == YARD_E_FORBIDDEN || strcmp(app, "FORBIDDEN") == 0) {
        req->auth_failed = 403;
        s_finish(br, req, YARD_E_FORBIDDEN, yard_msg_error_text(reply));
    } else if (st == YARD_E_TIMEOUT) {
        s_finish(br, req, st, "the auth service did not answer in time");
    } else {
        req->auth_failed = 503;
        s_finish(br, req, YARD_E_NO_SERVICE, "the auth service is not available");
    }
    free(c);
}

static void
s_on_reply(const yard_msg_t *reply, void *arg)
{
    s_call_t *c = arg;
    gw_bridge_t *br = c->br;
    int st = yard_msg_status(reply);
    if (c->kind == S_PING) {
        br->ping_out = false;
        if (st == 0) {
            atomic_store(&br->ready_until_ms, gw_now_ms() + S_READY_MS);
        }
        free(c);
        return;
    }
    if (c->kind == S_STATS) {
        br->stats_out = false;
        size_t size = 0;
        const void *body = st == 0 ? yard_msg_body(reply, &size) : NULL;
        yard_gw_metrics_set_sys(br->gw->metrics, body, size);
        free(c);
        return;
    }
    gw_req_t *req = c->req;
    if (!req) { /* answered already by the bridge's own deadline or by stop */
        free(c);
        return;
    }
    if (c->kind == S_AUTH) {
        s_auth_done(br, c, reply);
        return;
    }
    s_unlink(br, c);
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
    s_finish(br, req, st, st ? yard_msg_error_text(reply) : NULL);
    free(c);
}

static void
s_take(gw_bridge_t *br, gw_req_t *req)
{
    s_call_t *c = s_alloc(sizeof *c);
    c->br = br;
    c->req = req;
    s_link(br, c);
    if (req->token && req->route->auth == YARD_GW_AUTH_BEARER) {
        s_start_auth(br, c);
    } else {
        s_start_target(br, c);
    }
}

static void
s_sys_call(gw_bridge_t *br, s_kind_t kind)
{
    s_call_t *c = s_alloc(sizeof *c);
    c->br = br;
    c->kind = kind;
    yard_call_opts_t o = {.op = kind == S_PING ? "ping" : "stats", .timeout_ms = S_PING_MS};
    if (yard_client_call_async(br->client, "$sys", NULL, 0, &o, s_on_reply, c) != 0) {
        free(c);
        if (kind == S_STATS) {
            yard_gw_metrics_set_sys(br->gw->metrics, NULL, 0);
        }
        return;
    }
    if (kind == S_PING) {
        br->ping_out = true;
    } else {
        br->stats_out = true;
    }
}

/* The bridge's own deadline: a request the client has not ended a little after its route's
 * deadline gets 504 here. */
static void
s_sweep(gw_bridge_t *br, int64_t now)
{
    for (s_call_t *c = br->live, *next; c; c = next) {
        next = c->next;
        if (now >= c->req->deadline_ms + S_SAFETY_MS) {
            gw_req_t *req = c->req;
            s_unlink(br, c);
            c->req = NULL;
            yard_log(YARD_LOG_WARN, "bus did not end a call at its deadline",
                     YF_STR("request_id", req->request_id));
            s_finish(br, req, YARD_E_TIMEOUT, "the deadline passed before a reply");
        }
    }
}

/* Ends everything that is still held (stop): SHUTDOWN, i.e. 503. */
static void
s_abandon_all(gw_bridge_t *br)
{
    br->again = NULL; /* its calls are still in the live list: ended below */
    for (s_call_t *c = br->live, *next; c; c = next) {
        next = c->next;
        gw_req_t *req = c->req;
        s_unlink(br, c);
        c->req = NULL;
        s_finish(br, req, YARD_E_SHUTDOWN, "the gateway is shutting down");
    }
}

static void *
s_main(void *arg)
{
    gw_bridge_t *br = arg;
    yard_log_set_context("gateway", -1);
    int64_t next_ping = 0, next_stats = 0, next_sweep = 0;
    bool woken = true; /* look at the queue first: requests may predate the thread */
    for (;;) {
        gw_req_t *batch = NULL;
        bool quit = false;
        if (woken) {
            uint64_t v;
            ssize_t rd = read(br->efd, &v, sizeof v); /* non-blocking: resets the wake-up */
            (void)rd;
            pthread_mutex_lock(&br->lock);
            batch = br->head;
            br->head = br->tail = NULL;
            quit = br->quit;
            pthread_mutex_unlock(&br->lock);
        }
        while (batch) {
            gw_req_t *r = batch;
            batch = r->qnext;
            r->qnext = NULL;
            s_take(br, r);
        }
        while (br->again) {
            s_call_t *c = br->again;
            br->again = c->again;
            c->again = NULL;
            s_start_target(br, c);
        }
        if (quit) {
            break;
        }
        int64_t now = gw_now_ms();
        if (now >= next_ping) {
            if (!br->ping_out) {
                s_sys_call(br, S_PING);
            }
            next_ping = now + S_PING_MS;
        }
        if (now >= next_stats) {
            if (!br->stats_out) {
                s_sys_call(br, S_STATS);
            }
            next_stats = now + S_STATS_MS;
        }
        if (now >= next_sweep) {
            s_sweep(br, now);
            next_sweep = now + 50;
        }
        int64_t next = next_ping < next_stats ? next_ping : next_stats;
        next = next_sweep < next ? next_sweep : next;
        int wait = next > now ? (int)(next - now) : 0;
        yard_client_dispatch_fd(br->client, wait, br->efd, &woken);
    }
    s_abandon_all(br);
    return NULL;
}

int
gw_bridge_new(yard_gateway_t *gw, void *zmq_ctx, gw_bridge_t **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    gw_bridge_t *br = s_alloc(sizeof *br);
    br->gw = gw;
    yard_client_opts_t co = {.zmq_context = zmq_ctx, .default_timeout_ms = gw->opts.timeout_ms};
    int rc = yard_client_new(gw->opts.broker, &co, &br->client);
    if (rc) {
        snprintf(errbuf, errlen, "broker: %s", yard_strerror(rc));
        free(br);
        return rc;
    }
    br->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (br->efd < 0) {
        snprintf(errbuf, errlen, "eventfd failed");
        yard_client_destroy(&br->client);
        free(br);
        return YARD_E_IO;
    }
    pthread_mutex_init(&br->lock, NULL);
    *out = br;
    return 0;
}

int
gw_bridge_start(gw_bridge_t *br)
{
    if (pthread_create(&br->thread, NULL, s_main, br) != 0) {
        return YARD_E_INTERNAL;
    }
    br->running = true;
    return 0;
}

static void
s_wake(gw_bridge_t *br)
{
    uint64_t one = 1;
    ssize_t w = write(br->efd, &one, sizeof one);
    (void)w; /* a full counter still wakes the thread */
}

void
gw_bridge_submit(gw_bridge_t *br, gw_req_t *req)
{
    req->qnext = NULL;
    pthread_mutex_lock(&br->lock);
    bool quit = br->quit;
    bool was_empty = br->head == NULL;
    if (!quit) {
        if (br->tail) {
            br->tail->qnext = req;
        } else {
            br->head = req;
        }
        br->tail = req;
    }
    pthread_mutex_unlock(&br->lock);
    if (quit) {
        s_finish(br, req, YARD_E_SHUTDOWN, "the gateway is shutting down");
        return;
    }
    if (was_empty) {
        s_wake(br); /* the thread takes the whole queue when it wakes: one signal is enough */
    }
}

void
gw_bridge_stop(gw_bridge_t *br)
{
    if (!br || !br->running) {
        return;
    }
    pthread_mutex_lock(&br->lock);
    br->quit = true;
    pthread_mutex_unlock(&br->lock);
    s_wake(br);
    pthread_join(br->thread, NULL);
    br->running = false;
}

void
gw_bridge_destroy(gw_bridge_t **self_p)
{
    gw_bridge_t *br = *self_p;
    if (!br) {
        return;
    }
    gw_bridge_stop(br);
    yard_client_destroy(&br->client); /* ends the calls left: their records are freed */
    close(br->efd);
    pthread_mutex_destroy(&br->lock);
    free(br);
    *self_p = NULL;
}

bool
gw_bridge_ready(const gw_bridge_t *br)
{
    return br && gw_now_ms() < atomic_load(&br->ready_until_ms);
}
