/* Private to the gateway: an HTTP request's record and its life cycle, in one place.
 *
 *   RECEIVED (the URI callback) -> BODY (headers checked, route chosen; body bytes counted,
 *   kept up to the route's limit) -> answered at once (errors, built-in endpoints) or
 *   WAITING (connection suspended; the route's steps run one after another on the bus,
 *   routes.h: VERIFY then CALL, or CALL alone) -> READY (outcome stored, connection resumed:
 *   the last step's reply, a failed step's error, the loop's own deadline (504) or stop
 *   (503)) -> SENT -> completed (metrics, access log, record freed).
 *
 * request.c owns every transition; gateway.c converts between HTTP and the request (checks,
 * bus headers, responses: gw_http_* in gw_internal.h), steps.c says what each step sends and
 * makes of its reply, and loop.c serves: it runs libmicrohttpd and the bus client and calls
 * the gw_reqs_* functions below from its thread.
 *
 * A request lives on one serving loop's thread from libmicrohttpd's URI callback to its
 * completion callback: the access handler, the bus call's callbacks and the loop's deadline
 * sweep all run there, so no lock guards a request.
 *
 * Invariant: every request that goes WAITING is resumed exactly once (by its last step's
 * outcome, a failed step, the deadline sweep, or stop), and answered exactly once. A bus call
 * can outlive its request (the sweep answered first): the call record is freed by the
 * client's callback and forgets its request once someone else resumed it. */
#ifndef YARD_GW_REQUEST_H
#define YARD_GW_REQUEST_H

#include "routes.h"
#include "yard/wire.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_REQ_ID_MAX        128
#define GW_BUS_HEADERS_MAX   40
#define GW_REPLY_HEADERS_MAX 16
#define GW_OWNED_MAX         4 /* header values the request owns (the verify step's) */

typedef struct gw_loop gw_loop_t;
typedef struct gw_reqs gw_reqs_t;
typedef struct gw_call gw_call_t;

typedef enum {
    GW_REQ_RECEIVED = 0,
    GW_REQ_BODY,
    GW_REQ_WAITING,
    GW_REQ_READY,
    GW_REQ_SENT,
} gw_req_state_t;

typedef struct gw_req {
    gw_loop_t *loop;           /* the serving loop whose thread the request lives on */
    struct gw_req *spare_next; /* the loop's cache of spent records */
    struct MHD_Connection *conn;
    gw_req_state_t state;
    int64_t start_ns;
    char *raw_uri;     /* as received, query included */
    const char *query; /* into raw_uri, after '?', or "" */
    char method[16];
    char peer[64];
    char request_id[GW_REQ_ID_MAX + 1];
    const yard_gw_route_t *route;
    yard_gw_match_t match;
    char *path; /* decoded path (the access handler's url), copied */
    /* body */
    char *body;
    size_t body_len, body_cap;
    size_t body_hint;    /* Content-Length, when declared and within the limit */
    uint64_t body_total; /* every byte received, kept or not */
    bool too_large;
    /* to the bus */
    char *token;  /* bearer token, or NULL */
    void *packed; /* msgpack body (NULL: empty) */
    size_t packed_size;
    bool reply_msgpack; /* the client's Accept asks for msgpack: the reply's bytes as they are */
    yard_kv_t hdr[GW_BUS_HEADERS_MAX];
    uint32_t nhdr;
    char *strs[GW_OWNED_MAX]; /* owned values some headers point at; the rest are borrowed */
    uint32_t nstrs;
    int64_t deadline_ms; /* monotonic, the route's deadline */
    size_t step;         /* index into route->steps of the step running (WAITING) */
    gw_call_t *call;     /* the bus call record while WAITING, else NULL */
    /* outcome, written by a step (or the sweep, or stop) before the connection is resumed */
    int err; /* 0: reply; else a yard error */
    char *app_error, *err_text, *http_status;
    void *reply; /* msgpack reply body, or NULL */
    size_t reply_size;
    char *rh_name[GW_REPLY_HEADERS_MAX], *rh_value[GW_REPLY_HEADERS_MAX];
    uint32_t nrh;
    /* what was sent, for the access log and metrics */
    int status;
    size_t bytes;
} gw_req_t;

/* A loop's requests: those waiting on the bus, the steps to start next, spent records.
 * gw_reqs_new() never fails (aborts on OOM); destroy after the daemon and the client. */
gw_reqs_t *gw_reqs_new(gw_loop_t *loop);
void gw_reqs_destroy(gw_reqs_t **self_p);

/* libmicrohttpd's callbacks (cls: the loop), which loop.c's own wrap. */
void *gw_req_uri(gw_loop_t *loop, const char *uri);
enum MHD_Result gw_req_access(gw_loop_t *loop, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls);
void gw_req_completed(gw_loop_t *loop, void **con_cls);

/* Starts the steps whose turn came while the client ran its callbacks (a passed VERIFY's
 * CALL). The loop calls it after each dispatch, corked with MHD_run() so that these calls
 * leave with the new requests' ones. */
void gw_reqs_advance(gw_reqs_t *self);
/* The loop's own deadline: a request still waiting at its route's deadline plus safety_ms
 * gets 504 (the client should have ended its call at the deadline). */
void gw_reqs_sweep(gw_reqs_t *self, int64_t now_ms, int64_t safety_ms);
/* Ends every waiting request with 503 SHUTDOWN (stop). */
void gw_reqs_abandon(gw_reqs_t *self);

/* Frees what the request owns, not the record itself. */
void gw_req_clear(gw_req_t *req);

#endif
