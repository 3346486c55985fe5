/* Private to the gateway: what gateway.c (set-up and HTTP conversion), loop.c (the serving
 * loops), request.c (a request's life cycle, request.h), steps.c, convert.c and access_log.c
 * share. What the loops share (the gateway's counters, metrics, rate limits) is atomic or
 * locked where it is kept. */
#ifndef YARD_GW_INTERNAL_H
#define YARD_GW_INTERNAL_H

#include "cors.h"
#include "metrics.h"
#include "ratelimit.h"
#include "request.h"
#include "routes.h"
#include "tls.h"
#include "yard/client.h"
#include "yard/gateway.h"
#include "yard/wire.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The stop phases, raised in order by the stopping thread (yard_gateway_stop). */
enum { GW_PHASE_RUN = 0, GW_PHASE_DRAIN, GW_PHASE_ABANDON, GW_PHASE_EXIT };

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

/* Connects the loop's client. Returns 0 or an error with errbuf set. */
int gw_loop_new(yard_gateway_t *gw, void *zmq_ctx, int index, gw_loop_t **out, char *errbuf,
                size_t errlen);
/* Starts the loop's daemon on listen_fd (shared, never closed by the loop) and its thread;
 * the daemon's callbacks go to request.h's gw_req_* on that thread. */
int gw_loop_start(gw_loop_t *self, int listen_fd);
yard_gateway_t *gw_loop_gateway(const gw_loop_t *self);
/* The loop's bus client and its requests (loop thread only), and its stop phase. */
yard_client_t *gw_loop_client(const gw_loop_t *self);
gw_reqs_t *gw_loop_reqs(const gw_loop_t *self);
int gw_loop_phase(const gw_loop_t *self);
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

/* --- gateway.c: HTTP to a request and back (request.c calls these at its transitions) ------- */
int64_t gw_now_ns(void);
int64_t gw_now_ms(void);
/* Headers seen: what the request is, its route. Answers at once (state SENT) a request whose
 * framing is bad or whose declared body is over the limit. */
enum MHD_Result gw_http_begin(gw_req_t *req, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version);
/* The whole request has arrived: answers it (state SENT: built-in endpoints, refusals), or
 * sets *to_bus with its bus body and headers ready for the route's steps. */
enum MHD_Result gw_http_prepare(gw_req_t *req, bool *to_bus);
/* Answers a READY request from its outcome (state SENT). */
enum MHD_Result gw_http_answer(gw_req_t *req);

#endif
