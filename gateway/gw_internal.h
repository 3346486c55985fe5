/* Private to the gateway: the request record, and what gateway.c, loop.c, convert.c and
 * access_log.c share.
 *
 * A request (gw_req_t) lives on one serving loop's thread from libmicrohttpd's URI callback
 * to its completion callback: the access handler, the bus call's callbacks and the loop's own
 * deadline sweep all run there, so no lock guards a request. What the loops share (the
 * gateway's counters, metrics, rate limits) is atomic or locked where it is kept. */
#ifndef YARD_GW_INTERNAL_H
#define YARD_GW_INTERNAL_H

#include "cors.h"
#include "metrics.h"
#include "ratelimit.h"
#include "routes.h"
#include "tls.h"
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

typedef struct gw_loop gw_loop_t;

/* The stop phases, raised in order by the stopping thread (yard_gateway_stop). */
enum { GW_PHASE_RUN = 0, GW_PHASE_DRAIN, GW_PHASE_ABANDON, GW_PHASE_EXIT };

enum { GW_NEW = 0, GW_BODY, GW_WAITING, GW_READY, GW_SENT };

typedef struct gw_req {
    gw_loop_t *loop;           /* the serving loop whose thread the request lives on */
    struct gw_req *spare_next; /* the loop's cache of spent records */
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
    bool reply_msgpack; /* the client's Accept asks for msgpack: the reply's bytes as they are */
    yard_kv_t hdr[GW_BUS_HEADERS_MAX];
    uint32_t nhdr;
    char *strs[GW_OWNED_MAX]; /* owned values some headers point at; the rest are borrowed */
    uint32_t nstrs;
    int64_t deadline_ms; /* monotonic, the route's deadline */
    /* outcome, written by the bus call's callback before it resumes the connection */
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
    gw_tls_t tls;                /* HTTPS certificate and key; both NULL: plain HTTP */
    gw_loop_t **loops;           /* opts.threads of them */
    int listen_fd;               /* bound by us, shared by the loops' daemons, closed by us */
    atomic_llong ready_until_ms; /* the broker answered loop 0's ping until then */
    uint16_t port;
    atomic_bool draining;
    atomic_long waiting; /* requests waiting on the bus (connection suspended) */
    atomic_long live;    /* requests between the URI callback and completion */
    bool started, stopped;
    pthread_mutex_t stop_lock;
};

/* --- loop.c: the serving loops --------------------------------------------------------- */

/* libmicrohttpd's callbacks, which gateway.c implements; each gets the loop as its cls. */
typedef struct {
    MHD_AccessHandlerCallback access;
    void *(*uri)(void *cls, const char *uri, struct MHD_Connection *conn);
    MHD_RequestCompletedCallback completed;
} gw_mhd_callbacks_t;

/* Connects the loop's client. Returns 0 or an error with errbuf set. */
int gw_loop_new(yard_gateway_t *gw, void *zmq_ctx, int index, gw_loop_t **out, char *errbuf,
                size_t errlen);
/* Starts the loop's daemon on listen_fd (shared, never closed by the loop) and its thread. */
int gw_loop_start(gw_loop_t *self, int listen_fd, const gw_mhd_callbacks_t *cb);
yard_gateway_t *gw_loop_gateway(const gw_loop_t *self);
/* A zeroed request record bound to the loop (from its cache of spent ones when it has one:
 * a fresh record is a large allocation, and on the hot path that cost a percent or two).
 * Loop thread only; release with gw_loop_req_free(). */
gw_req_t *gw_loop_req_new(gw_loop_t *self);
void gw_loop_req_free(gw_loop_t *self, gw_req_t *req);
/* Starts req's bus call (its connection is already suspended). Loop thread only. */
void gw_loop_submit(gw_loop_t *self, gw_req_t *req);
/* Raises the loop's stop phase (any thread); the loop acts on it within a tick. */
void gw_loop_set_phase(gw_loop_t *self, int phase);
/* True once the loop's daemon stopped accepting (GW_PHASE_DRAIN), or the loop never ran. */
bool gw_loop_quiesced(const gw_loop_t *self);
/* Ends the thread (GW_PHASE_EXIT), then the daemon and the client. */
void gw_loop_destroy(gw_loop_t **self_p);

/* --- convert.c: outcomes to HTTP ---------------------------------------------------------- */

/* The status and error code for a yard error (Retry-After wanted for OVERLOADED). */
int gw_status_for_error(int err, const char **code, bool *retry_after);
/* The status for a service's own error name (CONFLICT: 409; the table in convert.c and
 * docs/gateway.md), 500 for a name it does not know. */
int gw_status_for_app_error(const char *name, bool *retry_after);
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
/* Frees what the request owns, not the record itself (gw_loop_req_free does). */
void gw_req_clear(gw_req_t *req);

#endif
