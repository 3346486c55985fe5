/* The connections one serving loop holds, for the header deadline: a request's line and
 * headers must arrive within header_timeout_ms, or the connection gets 408 and is closed.
 *
 * libmicrohttpd's MHD_OPTION_CONNECTION_TIMEOUT counts idle time, so a client that sends a
 * byte a second is never idle and held a connection (and its memory) for as long as it
 * liked: 200 of them were held open indefinitely. Here the clock runs from the connection's
 * start for its first request, and from the end of the previous response for each later one
 * on a kept-alive connection (plus connection_timeout_ms of allowed idling before the next
 * request line; once that line is in, header_timeout_ms from then at most).
 *
 * A late connection is answered "408 Request Timeout" (written directly, to the socket or as
 * a record of its TLS session: while a request's headers are awaited libmicrohttpd has nothing
 * queued to send) and shut down, which libmicrohttpd sees as the client leaving and cleans up
 * as usual. A TLS client that never sent a request line (its handshake may not be done) is
 * shut down without the 408.
 *
 * Loop thread only: every function is called from libmicrohttpd's callbacks or the loop's own
 * pass, all on the loop's thread. */
#ifndef YARD_GW_CONNS_H
#define YARD_GW_CONNS_H

#include "metrics.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct gw_conns gw_conns_t;
struct gw_req;

/* Caller owns the result; free with gw_conns_destroy() after libmicrohttpd's daemon stopped
 * (its CLOSED notifications free the records). metrics is borrowed and must outlive it. */
gw_conns_t *gw_conns_new(uint32_t header_timeout_ms, uint32_t idle_ms, bool tls,
                         yard_gw_metrics_t *metrics);
void gw_conns_destroy(gw_conns_t **self_p);

/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION, with the loop's conns as self. */
void gw_conns_notify(gw_conns_t *self, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code);
/* A request line arrived (the URI callback); req is that request (borrowed; its status is
 * set to 408 if the connection is closed for lateness before its headers are in). */
void gw_conns_request_line(gw_conns_t *self, struct MHD_Connection *conn, struct gw_req *req);
/* The request's headers are in (the access handler's first call): no deadline now. */
void gw_conns_headers_done(gw_conns_t *self, struct MHD_Connection *conn);
/* The request ended (completed callback); a kept-alive connection waits for its next one. */
void gw_conns_request_done(gw_conns_t *self, struct MHD_Connection *conn);
/* Closes every connection whose headers are late (408 on plain HTTP). Returns how many. */
int gw_conns_sweep(gw_conns_t *self, int64_t now_ms);
/* Connections open now. */
long gw_conns_open(const gw_conns_t *self);

#endif
