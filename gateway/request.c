/* An HTTP request's life cycle, every transition of request.h's state machine: the record
 * (from the loop's cache of spent ones), the body, suspension, the route's steps on the bus
 * one after another, the outcome (a step's, the deadline sweep's 504, stop's 503), the answer
 * and completion. Responses are queued from the access handler call that follows the headers
 * (never the first one, which would cost keep-alive), except 413 for a declared
 * Content-Length over the limit, which gateway.c refuses before the body is read. */
#include "xalloc.h"
#include "request.h"
#include "gw_internal.h"
#include "steps.h"

#include "yard/client.h"
#include "yard/error.h"
#include "yard/log.h"

#include <stdlib.h>
#include <string.h>

#define S_SPARE_MAX 256 /* spent request records a loop keeps for reuse */

/* A request's bus call, one step at a time. Freed by the client's callback (every call ends
 * exactly once); req is NULL once the request was resumed by someone else. */
struct gw_call {
    gw_reqs_t *reqs;
    gw_req_t *req;
    struct gw_call *prev, *next; /* the loop's list of calls that still own their request */
    struct gw_call *ready_next;  /* the "start the next step" list */
};

struct gw_reqs {
    gw_loop_t *loop;
    gw_call_t *live;  /* calls that still own their request */
    gw_call_t *ready; /* a step passed: start the next one (not from the client's callback) */
    gw_req_t *spare;  /* spent records, linked through ->spare_next */
    int nspare;
};

gw_reqs_t *
gw_reqs_new(gw_loop_t *loop)
{
    gw_reqs_t *self = gw_xcalloc(1, sizeof *self);
    self->loop = loop;
    return self;
}

void
gw_reqs_destroy(gw_reqs_t **self_p)
{
    gw_reqs_t *self = *self_p;
    if (!self) {
        return;
    }
    while (self->spare) {
        gw_req_t *next = self->spare->spare_next;
        free(self->spare);
        self->spare = next;
    }
    free(self);
    *self_p = NULL;
}

void
gw_req_clear(gw_req_t *req)
{
    free(req->raw_uri);
    free(req->path);
    free(req->body);
    free(req->token);
    free(req->packed);
    for (uint32_t i = 0; i < req->nstrs; i++) {
        free(req->strs[i]);
    }
    free(req->app_error);
    free(req->err_text);
    free(req->http_status);
    free(req->reply);
    for (uint32_t i = 0; i < req->nrh; i++) {
        free(req->rh_name[i]);
        free(req->rh_value[i]);
    }
}

/* --- the record ------------------------------------------------------------------------------ */

/* A zeroed record bound to the loop, from its cache when it has one: a fresh record is a
 * large allocation, and on the hot path that cost a percent or two. */
static gw_req_t *
s_req_new(gw_reqs_t *reqs)
{
    gw_req_t *req = reqs->spare;
    if (req) {
        reqs->spare = req->spare_next;
        reqs->nspare--;
        memset(req, 0, sizeof *req);
    } else {
        req = gw_xcalloc(1, sizeof *req);
    }
    req->loop = reqs->loop;
    return req;
}

static void
s_req_free(gw_reqs_t *reqs, gw_req_t *req)
{
    gw_req_clear(req);
    if (reqs->nspare >= S_SPARE_MAX) {
        free(req);
        return;
    }
    req->spare_next = reqs->spare;
    reqs->spare = req;
    reqs->nspare++;
}

/* --- waiting on the bus ------------------------------------------------------------------------
 */

static void
s_link(gw_reqs_t *reqs, gw_call_t *c)
{
    c->prev = NULL;
    c->next = reqs->live;
    if (reqs->live) {
        reqs->live->prev = c;
    }
    reqs->live = c;
}

static void
s_unlink(gw_reqs_t *reqs, gw_call_t *c)
{
    if (c->prev) {
        c->prev->next = c->next;
    } else if (reqs->live == c) {
        reqs->live = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    c->prev = c->next = NULL;
}

/* The one way out of WAITING: the outcome (already in req when err is 0 or text is NULL) is
 * stored, the call forgets the request, the connection is resumed and the next MHD_run()
 * answers it (READY). */
static void
s_finish(gw_req_t *req, int err, const char *text)
{
    gw_call_t *c = req->call;
    if (c) {
        s_unlink(c->reqs, c);
        c->req = NULL;
        req->call = NULL;
    }
    if (err) {
        req->err = err;
        if (text && !req->err_text) {
            req->err_text = strdup(text);
        }
    }
    req->state = GW_REQ_READY;
    atomic_fetch_sub(&gw_loop_gateway(req->loop)->waiting, 1);
    MHD_resume_connection(req->conn);
}

static uint32_t
s_remaining(const gw_req_t *req)
{
    int64_t left = req->deadline_ms - gw_now_ms();
    return left < 1 ? 1 : (uint32_t)left;
}

static void s_on_reply(const yard_msg_t *reply, void *arg);

/* Starts the request's current step. */
static void
s_step_start(gw_req_t *req)
{
    gw_call_t *c = req->call;
    gw_step_send_t send;
    gw_step_send(req->route->steps[req->step], req, &send);
    yard_call_opts_t o = {.op = send.op,
                          .timeout_ms = s_remaining(req),
                          .headers = send.hdr,
                          .header_count = send.nhdr};
    int rc = yard_client_call_async(gw_loop_client(req->loop), send.service, send.body, send.size,
                                    &o, s_on_reply, c);
    gw_step_send_clear(&send);
    if (rc != 0) {
        s_finish(req, rc, yard_strerror(rc));
        free(c);
    }
}

static void
s_on_reply(const yard_msg_t *reply, void *arg)
{
    gw_call_t *c = arg;
    gw_req_t *req = c->req;
    if (!req) { /* answered already by the loop's own deadline or by stop */
        free(c);
        return;
    }
    bool next = gw_step_done(req->route->steps[req->step], req, reply);
    if (next && req->step + 1 < req->route->nsteps) {
        req->step++;
        c->ready_next = c->reqs->ready; /* started by gw_reqs_advance, not from in here */
        c->reqs->ready = c;
        return;
    }
    s_finish(req, 0, NULL); /* the step set the outcome */
    free(c);
}

/* WAITING: the connection is suspended and the route's first step starts. */
static void
s_wait(gw_reqs_t *reqs, gw_req_t *req)
{
    yard_gateway_t *gw = gw_loop_gateway(reqs->loop);
    req->deadline_ms = gw_now_ms() + req->route->timeout_ms;
    req->state = GW_REQ_WAITING;
    atomic_fetch_add(&gw->waiting, 1);
    MHD_suspend_connection(req->conn); /* before the call: a failed start resumes at once */
    if (gw_loop_phase(reqs->loop) >= GW_PHASE_ABANDON) {
        s_finish(req, YARD_E_SHUTDOWN, "the gateway is shutting down");
        return;
    }
    gw_call_t *c = gw_xcalloc(1, sizeof *c);
    c->reqs = reqs;
    c->req = req;
    req->call = c;
    req->step = 0;
    s_link(reqs, c);
    s_step_start(req);
}

void
gw_reqs_advance(gw_reqs_t *reqs)
{
    while (reqs->ready) {
        gw_call_t *c = reqs->ready;
        reqs->ready = c->ready_next;
        c->ready_next = NULL;
        if (c->req) {
            s_step_start(c->req);
        } else {
            free(c); /* its request was answered meanwhile (sweep): no call is out */
        }
    }
}

void
gw_reqs_sweep(gw_reqs_t *reqs, int64_t now, int64_t safety_ms)
{
    for (gw_call_t *c = reqs->live, *next; c; c = next) {
        next = c->next;
        gw_req_t *req = c->req;
        if (now >= req->deadline_ms + safety_ms) {
            yard_log(YARD_LOG_WARN, "bus did not end a call at its deadline",
                     YF_STR("request_id", req->request_id));
            s_finish(req, YARD_E_TIMEOUT, "the deadline passed before a reply");
        }
    }
}

void
gw_reqs_abandon(gw_reqs_t *reqs)
{
    /* A call on the ready list is still on the live list: ended below, freed by advance. */
    for (gw_call_t *c = reqs->live, *next; c; c = next) {
        next = c->next;
        s_finish(c->req, YARD_E_SHUTDOWN, "the gateway is shutting down");
    }
    gw_reqs_advance(reqs);
}

/* --- libmicrohttpd's callbacks ------------------------------------------------------------------
 */

static void
s_body(gw_req_t *req, const char *data, size_t n)
{
    req->body_total += n;
    uint64_t limit = req->route ? req->route->body_limit : 0;
    if (req->too_large || req->body_total > limit) {
        req->too_large = true; /* keep counting, keep nothing */
        return;
    }
    if (req->body_len + n > req->body_cap) {
        /* The declared length when there is one (checked against the limit already), so a
         * small body costs a small allocation. */
        size_t cap = req->body_cap ? req->body_cap : req->body_hint ? req->body_hint : 1024;
        while (cap < req->body_len + n) {
            cap *= 2;
        }
        char *b = realloc(req->body, cap);
        if (!b) {
            abort();
        }
        req->body = b;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
}

void *
gw_req_uri(gw_loop_t *loop, const char *uri)
{
    yard_gateway_t *gw = gw_loop_gateway(loop);
    gw_req_t *req = s_req_new(gw_loop_reqs(loop));
    req->start_ns = gw_now_ns();
    req->raw_uri = strdup(uri);
    if (!req->raw_uri) {
        abort();
    }
    const char *q = strchr(req->raw_uri, '?');
    req->query = q ? q + 1 : "";
    memcpy(req->method, "-", 2);
    atomic_fetch_add(&gw->live, 1);
    yard_gw_metrics_in_flight(gw->metrics, 1);
    return req;
}

enum MHD_Result
gw_req_access(gw_loop_t *loop, struct MHD_Connection *conn, const char *url, const char *method,
              const char *version, const char *upload_data, size_t *upload_data_size,
              void **con_cls)
{
    gw_req_t *req = *con_cls;
    if (!req) {
        return MHD_NO; /* the URI callback always sets it */
    }
    enum MHD_Result rc = MHD_YES;
    bool to_bus = false;
    switch (req->state) {
    case GW_REQ_RECEIVED:
        rc = gw_http_begin(req, conn, url, method, version);
        if (req->state == GW_REQ_RECEIVED) {
            req->state = GW_REQ_BODY;
        }
        return rc;
    case GW_REQ_BODY:
        if (*upload_data_size > 0) {
            s_body(req, upload_data, *upload_data_size);
            *upload_data_size = 0;
            return MHD_YES;
        }
        rc = gw_http_prepare(req, &to_bus); /* answered (SENT), or ready for the bus */
        if (to_bus) {
            s_wait(gw_loop_reqs(loop), req);
        }
        return rc;
    case GW_REQ_READY:
        return gw_http_answer(req); /* SENT */
    default: /* SENT (a body after an early answer is read and dropped) or WAITING */
        *upload_data_size = 0;
        return MHD_YES;
    }
}

void
gw_req_completed(gw_loop_t *loop, void **con_cls)
{
    yard_gateway_t *gw = gw_loop_gateway(loop);
    gw_req_t *req = *con_cls;
    if (!req) {
        return;
    }
    *con_cls = NULL;
    if (req->state == GW_REQ_WAITING) {
        /* Only the daemon's stop ends a suspended connection, and stop resumes every request
         * first; should one still wait, its call must not outlive the record unnoticed. */
        gw_call_t *c = req->call;
        s_unlink(c->reqs, c);
        c->req = NULL;
        req->call = NULL;
        atomic_fetch_sub(&gw->waiting, 1);
    }
    double secs = (double)(gw_now_ns() - req->start_ns) / 1e9;
    yard_gw_metrics_observe(gw->metrics, req->route ? req->route->name : "-", req->method,
                            req->status ? req->status : 499, secs);
    yard_gw_metrics_in_flight(gw->metrics, -1);
    gw_access_log(req, secs);
    s_req_free(gw_loop_reqs(loop), req);
    atomic_fetch_sub(&gw->live, 1);
}
