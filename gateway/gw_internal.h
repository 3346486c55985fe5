/* Private to the gateway: the request record that the HTTP threads and the bus thread pass
 * between them, and what gateway.c, bridge.c, convert.c and access_log.c share.
 *
 * Ownership of a request (gw_req_t) moves, never is shared: an HTTP thread owns it while
 * libmicrohttpd calls the access handler; it suspends the connection and only then pushes the
 * request into the bridge's queue, after which the bus thread owns it until it stores an
 * outcome and calls MHD_resume_connection(); from there the HTTP thread owns it again until
 * libmicrohttpd's completion callback frees it. So no field is ever written by two threads at
 * once and no lock guards a request. */
#ifndef YARD_GW_INTERNAL_H
#define YARD_GW_INTERNAL_H

#include "cors.h"
#include "metrics.h"
#include "ratelimit.h"
#include "routes.h"
#include "yard/gateway.h"
#include "yard/wire.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_REQ_ID_MAX        128
#define GW_BUS_HEADERS_MAX   40
#define GW_REPLY_HEADERS_MAX 16
#define GW_OWNED_MAX         4 /* header values the request owns (the auth step's) */

typedef struct gw_bridge gw_bridge_t;

enum { GW_NEW = 0, GW_BODY, GW_WAITING, GW_READY, GW_SENT };

typedef struct gw_req {
    struct gw_req *qnext; /* the bridge's queue */
    struct MHD_Connection *conn;
    int state;
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
    yard_kv_t hdr[GW_BUS_HEADERS_MAX];
    uint32_t nhdr;
    char *strs[GW_OWNED_MAX]; /* owned values some headers point at; the rest are borrowed */
    uint32_t nstrs;
    int64_t deadline_ms; /* monotonic, the route's deadline */
    /* outcome, written by the bus thread before it resumes the connection */
    int err;         /* 0: reply; else a yard error */
    int auth_failed; /* 0, or the HTTP status the auth step chose (401/403/503) */
    char *app_error, *err_text, *http_status;
    void *reply; /* msgpack reply body, or NULL */
    size_t reply_size;
    char *rh_name[GW_REPLY_HEADERS_MAX], *rh_value[GW_REPLY_HEADERS_MAX];
    uint32_t nrh;
    /* what was sent, for the access log and metrics */
    int status;
    size_t bytes;
} gw_req_t;

struct yard_gateway {
    yard_gateway_opts_t opts;
    yard_gw_routes_t *routes;
    yard_gw_cors_t *cors;
    yard_gw_ratelimit_t *rl;
    yard_gw_metrics_t *metrics;
    yard_store_t *store;
    gw_bridge_t *bridge;
    struct MHD_Daemon *mhd;
    int listen_fd; /* bound by us, handed to libmicrohttpd */
    uint16_t port;
    atomic_bool draining;
    atomic_long waiting; /* requests handed to the bridge and not yet resumed */
    atomic_long live;    /* requests between the URI callback and completion */
    bool started, stopped;
    pthread_mutex_t stop_lock;
};

/* --- bridge.c: the bus thread ----------------------------------------------------------- */

/* Connects the client (not yet started). Returns 0 or an error with errbuf set. */
int gw_bridge_new(yard_gateway_t *gw, void *zmq_ctx, gw_bridge_t **out, char *errbuf,
                  size_t errlen);
int gw_bridge_start(gw_bridge_t *self);
/* Queues req (its connection is already suspended). Thread-safe. */
void gw_bridge_submit(gw_bridge_t *self, gw_req_t *req);
/* Answers every request still held SHUTDOWN, resumes its connection, and ends the thread. */
void gw_bridge_stop(gw_bridge_t *self);
void gw_bridge_destroy(gw_bridge_t **self_p);
/* True when the broker answered a ping recently. */
bool gw_bridge_ready(const gw_bridge_t *self);

/* --- convert.c: outcomes to HTTP ---------------------------------------------------------- */

/* The status and error code for a yard error (Retry-After wanted for OVERLOADED). */
int gw_status_for_error(int err, const char **code, bool *retry_after);
/* {"error":{"code":..,"message":..}}; caller owns the result (free()). */
char *gw_error_json(const char *code, const char *message, size_t *len);
/* Builds the response for a finished request from its outcome (status in req->status).
 * Caller owns the response. */
struct MHD_Response *gw_response_from_outcome(gw_req_t *req);
/* A JSON error response with status (req->status set). */
struct MHD_Response *gw_response_error(gw_req_t *req, int status, const char *code,
                                       const char *message);
/* Copies the reply's "http.status" and "http.header.*" headers into req. */
struct yard_msg;
void gw_copy_reply_headers(gw_req_t *req, const struct yard_msg *reply);
/* A fresh 128-bit request id in hex (33 bytes). */
void gw_request_id_new(char out[33]);
/* Takes the client's X-Request-Id when printable and short enough. */
bool gw_request_id_valid(const char *id);

/* --- access_log.c ------------------------------------------------------------------------- */
void gw_access_log(const gw_req_t *req, double seconds);

/* --- gateway.c ---------------------------------------------------------------------------- */
int64_t gw_now_ns(void);
int64_t gw_now_ms(void);
void gw_req_free(gw_req_t *req);

#endif
