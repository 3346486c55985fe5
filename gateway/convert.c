/* Outcomes to HTTP: the one place that decides which status and error code a bus outcome
 * becomes, how a reply body becomes JSON, and which of an actor's reply headers reach the
 * client. Invariant: every response the gateway sends is built here, so each one carries
 * Content-Type, X-Request-Id and X-Process-Time, and every error body has the same shape
 * {"error":{"code","message"}} (docs/gateway.md lists the table). */
#include "gw_internal.h"

#include "yard/error.h"
#include "yard/json.h"
#include "yard/log.h"
#include "yard/mp.h"
#include "yard/msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

/* The one table of error name -> HTTP status (docs/gateway.md, "Errors"). The names are the
 * bus's own (yard/error.h) and the application error names services share, so an actor that
 * fails with CONFLICT gets 409 whichever operation it was, without setting a status itself. */
static const struct {
    const char *name;
    int status;
    bool retry_after;
} s_statuses[] = {
    {"BAD_REQUEST", 400, false}, {"INVALID", 400, false},     {"UNAUTHENTICATED", 401, false},
    {"FORBIDDEN", 403, false},   {"NOT_FOUND", 404, false},   {"CONFLICT", 409, false},
    {"GONE", 410, false},        {"TOO_LARGE", 413, false},   {"RATE_LIMITED", 429, false},
    {"NO_SERVICE", 503, false},  {"WORKER_LOST", 503, false}, {"UNREACHABLE", 503, false},
    {"SHUTDOWN", 503, false},    {"UNAVAILABLE", 503, false}, {"OVERLOADED", 503, true},
    {"TIMEOUT", 504, false},
};

/* The status for an error name, or 0 when the table does not have it. */
static int
s_status_for_name(const char *name, bool *retry_after)
{
    for (size_t i = 0; name && i < sizeof s_statuses / sizeof s_statuses[0]; i++) {
        if (strcmp(name, s_statuses[i].name) == 0) {
            *retry_after = s_statuses[i].retry_after;
            return s_statuses[i].status;
        }
    }
    return 0;
}

int
gw_status_for_error(int err, const char **code, bool *retry_after)
{
    *code = yard_err_name(err);
    *retry_after = false;
    if (err == YARD_E_SERVICE) {
        return 500; /* a service's own error without a name the table knows */
    }
    int status = s_status_for_name(*code, retry_after);
    return status ? status : 502; /* PROTOCOL, INTERNAL, ...: the bus behind us failed */
}

int
gw_status_for_app_error(const char *name, bool *retry_after)
{
    *retry_after = false;
    int status = s_status_for_name(name, retry_after);
    return status ? status : 500;
}

/* {"error":{"code":code,"message":message}} as compact JSON, or NULL when a string is not
 * UTF-8. Caller frees. */
static char *
s_error_text(const char *code, const char *message, size_t *len)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_key(w, "error");
    yard_mpw_map(w);
    yard_mpw_kstr(w, "code", code);
    yard_mpw_kstr(w, "message", message);
    yard_mpw_end(w);
    yard_mpw_end(w);
    const void *mp = NULL;
    size_t size = 0;
    char *text = NULL;
    if (yard_mpw_finish(w, &mp, &size) == 0) {
        yard_json_from_msgpack(mp, size, &text, len, NULL, 0);
    }
    yard_mpw_destroy(&w);
    return text;
}

char *
gw_error_json(const char *code, const char *message, size_t *len)
{
    char *text = s_error_text(code ? code : "INTERNAL", message ? message : "", len);
    if (!text) {
        /* Only when message is not UTF-8 (a service's error text): say less. */
        text = s_error_text("INTERNAL", "error text is not valid UTF-8", len);
        if (!text) {
            abort();
        }
    }
    return text;
}

static struct MHD_Response *
s_json_response(gw_req_t *req, int status, char *text, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, text, text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        abort();
    }
    if (len > 0) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    }
    req->status = status;
    req->bytes = len;
    return r;
}

struct MHD_Response *
gw_response_error(gw_req_t *req, int status, const char *code, const char *message)
{
    size_t len = 0;
    char *text = gw_error_json(code, message, &len);
    return s_json_response(req, status, text, len);
}

/* A service's own status: "201" etc., 100..599; 0 when absent or not a status. */
static int
s_parse_status(const char *text)
{
    if (!text || strlen(text) != 3) {
        return 0;
    }
    int v = 0;
    for (int i = 0; i < 3; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return 0;
        }
        v = v * 10 + (text[i] - '0');
    }
    return v >= 100 && v <= 599 ? v : 0;
}

/* Headers an actor may not set: they belong to the HTTP framing or to the gateway. */
static bool
s_header_allowed(const char *name, const char *value)
{
    static const char *const deny[] = {
        "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
        "x-request-id",   "x-process-time",    "te",         "trailer",    NULL};
    if (!name[0] || strpbrk(value, "\r\n") || strpbrk(name, "\r\n: \t")) {
        return false;
    }
    for (size_t i = 0; deny[i]; i++) {
        if (strcasecmp(deny[i], name) == 0) {
            return false;
        }
    }
    return true;
}

void
gw_copy_reply_headers(gw_req_t *req, const yard_msg_t *reply)
{
    const char *st = yard_msg_header(reply, "http.status");
    if (st) {
        req->http_status = strdup(st);
    }
    size_t n = yard_msg_header_count(reply);
    for (size_t i = 0; i < n && req->nrh < GW_REPLY_HEADERS_MAX; i++) {
        const char *k, *v;
        yard_msg_header_at(reply, i, &k, &v);
        if (strncmp(k, "http.header.", 12) != 0 || !s_header_allowed(k + 12, v)) {
            continue;
        }
        req->rh_name[req->nrh] = strdup(k + 12);
        req->rh_value[req->nrh] = strdup(v);
        if (!req->rh_name[req->nrh] || !req->rh_value[req->nrh]) {
            abort();
        }
        req->nrh++;
    }
}

static void
s_add_reply_headers(gw_req_t *req, struct MHD_Response *r)
{
    for (uint32_t i = 0; i < req->nrh; i++) {
        MHD_add_response_header(r, req->rh_name[i], req->rh_value[i]);
    }
}

/* A reply the service wrote in its own non-JSON type (an HTML page, Prometheus text): it set
 * http.header.Content-Type to something other than JSON or msgpack, and its body is one
 * msgpack string or binary. Those bytes are sent as they are. NULL when the reply is not
 * one. */
static struct MHD_Response *
s_own_type_response(gw_req_t *req, int own_status)
{
    const char *type = NULL;
    for (uint32_t i = 0; i < req->nrh && !type; i++) {
        type = strcasecmp(req->rh_name[i], "Content-Type") == 0 ? req->rh_value[i] : NULL;
    }
    if (!type || strstr(type, "json") || strstr(type, "msgpack")) {
        return NULL;
    }
    msgpack_zone zone;
    msgpack_zone_init(&zone, 256);
    msgpack_object o;
    struct MHD_Response *r = NULL;
    if (yard_mp_decode(req->reply, req->reply_size, &zone, &o, NULL, 0) == 0 &&
        (o.type == MSGPACK_OBJECT_STR || o.type == MSGPACK_OBJECT_BIN)) {
        const char *p = o.type == MSGPACK_OBJECT_STR ? o.via.str.ptr : o.via.bin.ptr;
        size_t n = o.type == MSGPACK_OBJECT_STR ? o.via.str.size : o.via.bin.size;
        r = MHD_create_response_from_buffer(n, (void *)p, MHD_RESPMEM_MUST_COPY);
        if (!r) {
            abort();
        }
        req->status = own_status ? own_status : 200;
        req->bytes = n;
    }
    msgpack_zone_destroy(&zone);
    return r; /* its Content-Type comes with the service's other headers */
}

struct MHD_Response *
gw_response_from_outcome(gw_req_t *req)
{
    int own_status = s_parse_status(req->http_status);
    struct MHD_Response *r = NULL;
    if (req->err == 0) {
        if (!req->reply || req->reply_size == 0) {
            r = s_json_response(req, own_status ? own_status : 204, NULL, 0);
        } else if (req->reply_msgpack) {
            r = MHD_create_response_from_buffer(req->reply_size, req->reply, MHD_RESPMEM_MUST_FREE);
            if (!r) {
                abort();
            }
            req->reply = NULL; /* the response owns the bytes now */
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/msgpack");
            req->status = own_status ? own_status : 200;
            req->bytes = req->reply_size;
        } else if ((r = s_own_type_response(req, own_status)) != NULL) {
            /* sent as the service wrote it */
        } else {
            char *text = NULL;
            size_t len = 0;
            char why[128];
            if (yard_json_from_msgpack(req->reply, req->reply_size, &text, &len, why, sizeof why) !=
                0) {
                yard_log(YARD_LOG_WARN, "reply is not convertible to JSON",
                         YF_STR("request_id", req->request_id), YF_STR("reason", why));
                return gw_response_error(req, 502, "BAD_REPLY",
                                         "the service's reply cannot be written as JSON");
            }
            r = s_json_response(req, own_status ? own_status : 200, text, len);
        }
        s_add_reply_headers(req, r);
        return r;
    }
    const char *code = NULL;
    bool retry = false;
    int status = gw_status_for_error(req->err, &code, &retry);
    const char *msg = req->err_text && req->err_text[0] ? req->err_text : yard_strerror(req->err);
    if (req->err == YARD_E_UNREACHABLE || req->err == YARD_E_TIMEOUT) {
        /* These texts name the bus's endpoints or a service's store ("no broker answered at
         * tcp://10.0.0.5:5555"): an internal address is no business of a public client. */
        msg = yard_strerror(req->err);
    }
    if (req->err == YARD_E_SERVICE) {
        if (req->app_error && req->app_error[0]) {
            code = req->app_error;
        }
        status = gw_status_for_app_error(code, &retry);
        status = own_status && own_status >= 400 ? own_status : status;
    }
    r = gw_response_error(req, status, code, msg);
    if (retry) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    }
    if (req->err == YARD_E_SERVICE) {
        s_add_reply_headers(req, r);
    }
    return r;
}

/* xoshiro256** (Blackman and Vigna, https://prng.di.unimi.it/), one state per thread seeded
 * from the kernel: a request id has to be unique, not secret, and a getrandom() system call
 * for every request cost about 1 % of the gateway's CPU. */
static _Thread_local uint64_t s_rng[4];
static _Thread_local bool s_rng_seeded;

static uint64_t
s_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t
s_rng_next(void)
{
    if (!s_rng_seeded) {
        size_t got = 0;
        while (got < sizeof s_rng) {
            ssize_t n = getrandom((char *)s_rng + got, sizeof s_rng - got, 0);
            if (n <= 0) {
                abort(); /* the kernel's generator does not fail once seeded */
            }
            got += (size_t)n;
        }
        s_rng_seeded = true;
    }
    uint64_t *st = s_rng;
    uint64_t out = s_rotl(st[1] * 5, 7) * 9;
    uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = s_rotl(st[3], 45);
    return out;
}

void
gw_request_id_new(char out[33])
{
    static const char hex[] = "0123456789abcdef";
    for (int half = 0; half < 2; half++) {
        uint64_t v = s_rng_next();
        for (int i = 0; i < 16; i++) {
            out[half * 16 + i] = hex[(v >> (60 - 4 * i)) & 15];
        }
    }
    out[32] = '\0';
}

bool
gw_request_id_valid(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++) {
        if (n >= GW_REQ_ID_MAX || (unsigned char)id[n] < 0x21 || (unsigned char)id[n] > 0x7e) {
            return false;
        }
    }
    return n > 0;
}
