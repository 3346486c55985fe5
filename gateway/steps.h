/* Private to the gateway: the steps a request's route runs on the bus (routes.h,
 * yard_gw_step_t), each as what it sends and what it makes of the reply. request.c runs them
 * in the route's order; neither the serving loop nor the HTTP side knows what a step is.
 *
 * VERIFY: the auth service's protocol. Sends {"token", "scopes": the route's} to service
 * "auth", op "verify", with the request's x-request-id; a reply with a subject adds auth.sub
 * and auth.scopes (joined with ',') to the request's bus headers and the request goes on;
 * UNAUTHENTICATED ends it 401, FORBIDDEN 403 (the auth service's text), TIMEOUT 504, a reply
 * without a subject 500, anything else 503 (the auth service is not available).
 * CALL: the route's service and op with the request's body and bus headers; its reply (or
 * error, service errors with their http.* headers) is the request's outcome. */
#ifndef YARD_GW_STEPS_H
#define YARD_GW_STEPS_H

#include "request.h"
#include "yard/msg.h"

#include <msgpack.h>

/* What a step sends. Borrowed from the request (and from body_buf when the step built a
 * body): valid until gw_step_send_clear(), which the caller runs once the call is made. */
typedef struct {
    const char *service, *op;
    const void *body;
    size_t size;
    const yard_kv_t *hdr;
    uint32_t nhdr;
    yard_kv_t hdr_buf[1];
    msgpack_sbuffer body_buf; /* a body the step built (VERIFY's), else empty */
} gw_step_send_t;

void gw_step_send(yard_gw_step_t step, gw_req_t *req, gw_step_send_t *out);
void gw_step_send_clear(gw_step_send_t *send);

/* Takes the step's reply (status 0, or a call's error) into req. true: go on to the next step;
 * false: the request's outcome is set (req->err and what goes with it). */
bool gw_step_done(yard_gw_step_t step, gw_req_t *req, const yard_msg_t *reply);

#endif
