/* The steps a route runs on the bus: VERIFY (the auth service's protocol) and CALL (the
 * route's service). steps.h says what each sends and what each outcome means. */
#include "steps.h"
#include "gw_internal.h"

#include "yard/error.h"
#include "yard/mp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
s_strdup(const char *s)
{
    char *p = strdup(s);
    if (!p) {
        abort();
    }
    return p;
}

/* The request's outcome: err with its text (the request owns a copy). */
static bool
s_fail(gw_req_t *req, int err, const char *text)
{
    req->err = err;
    if (text && !req->err_text) {
        req->err_text = s_strdup(text);
    }
    return false;
}

/* --- VERIFY ---------------------------------------------------------------------------------- */

/* The verify request: {"token": ..., "scopes": [the route's]} */
static void
s_verify_send(gw_req_t *req, gw_step_send_t *out)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out->body_buf, msgpack_sbuffer_write);
    const char *token = req->token ? req->token : "";
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "token", 5);
    msgpack_pack_str_with_body(&pk, token, strlen(token));
    msgpack_pack_str_with_body(&pk, "scopes", 6);
    const char *const *scopes = req->route->scopes;
    size_t n = 0;
    for (; scopes && scopes[n]; n++) {
    }
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_str_with_body(&pk, scopes[i], strlen(scopes[i]));
    }
    out->service = "auth";
    out->op = "verify";
    out->body = out->body_buf.data;
    out->size = out->body_buf.size;
    out->hdr_buf[0] =
        (yard_kv_t){{"x-request-id", 12}, {req->request_id, (uint32_t)strlen(req->request_id)}};
    out->hdr = out->hdr_buf;
    out->nhdr = 1;
}

/* key is a static name; the value is copied (the request owns the copy). */
static void
s_add_header(gw_req_t *req, const char *key, const char *value)
{
    if (req->nhdr >= GW_BUS_HEADERS_MAX || req->nstrs >= GW_OWNED_MAX) {
        return;
    }
    char *v = s_strdup(value);
    req->strs[req->nstrs++] = v;
    req->hdr[req->nhdr].key = (yard_str_t){key, (uint32_t)strlen(key)};
    req->hdr[req->nhdr].value = (yard_str_t){v, (uint32_t)strlen(v)};
    req->nhdr++;
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

static bool
s_verify_done(gw_req_t *req, const yard_msg_t *reply)
{
    int st = yard_msg_status(reply);
    const char *app = yard_msg_app_error(reply);
    app = app ? app : "";
    if (st == 0) {
        return s_take_identity(req, reply) ||
               s_fail(req, YARD_E_INTERNAL, "the auth service's reply has no subject");
    }
    if (st == YARD_E_UNAUTHENTICATED || strcmp(app, "UNAUTHENTICATED") == 0) {
        return s_fail(req, YARD_E_UNAUTHENTICATED, yard_msg_error_text(reply));
    }
    if (st == YARD_E_FORBIDDEN || strcmp(app, "FORBIDDEN") == 0) {
        return s_fail(req, YARD_E_FORBIDDEN, yard_msg_error_text(reply));
    }
    if (st == YARD_E_TIMEOUT) {
        return s_fail(req, st, "the auth service did not answer in time");
    }
    return s_fail(req, YARD_E_NO_SERVICE, "the auth service is not available");
}

/* --- CALL ------------------------------------------------------------------------------------ */

static void
s_call_send(gw_req_t *req, gw_step_send_t *out)
{
    out->service = req->match.service;
    out->op = req->route->op;
    out->body = req->packed;
    out->size = req->packed_size;
    out->hdr = req->hdr;
    out->nhdr = req->nhdr;
}

static bool
s_call_done(gw_req_t *req, const yard_msg_t *reply)
{
    int st = yard_msg_status(reply);
    if (st == 0 || st == YARD_E_SERVICE) {
        gw_copy_reply_headers(req, reply);
    }
    if (st != 0) {
        const char *app = yard_msg_app_error(reply);
        if (app && app[0]) {
            req->app_error = s_strdup(app);
        }
        return s_fail(req, st, yard_msg_error_text(reply));
    }
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
    req->err = 0;
    return false; /* the route's last step: its reply is the answer */
}

/* --------------------------------------------------------------------------------------------- */

void
gw_step_send(yard_gw_step_t step, gw_req_t *req, gw_step_send_t *out)
{
    memset(out, 0, sizeof *out);
    msgpack_sbuffer_init(&out->body_buf);
    if (step == YARD_GW_STEP_VERIFY) {
        s_verify_send(req, out);
    } else {
        s_call_send(req, out);
    }
}

void
gw_step_send_clear(gw_step_send_t *send)
{
    msgpack_sbuffer_destroy(&send->body_buf);
}

bool
gw_step_done(yard_gw_step_t step, gw_req_t *req, const yard_msg_t *reply)
{
    return step == YARD_GW_STEP_VERIFY ? s_verify_done(req, reply) : s_call_done(req, reply);
}
