/* The gateway's set-up and its HTTP side: a request's HTTP checks and its conversion to bus
 * headers and body (gw_http_begin, gw_http_prepare), the answers (gw_http_answer, errors,
 * CORS, the built-in endpoints), and the life cycle (new, start, drain, stop). A request's
 * states and their order are request.c's (request.h); this file is called at its transitions.
 *
 * Invariant: stop resumes every suspended connection (the loops' GW_PHASE_ABANDON) before
 * MHD_stop_daemon(). */
#include "framing.h"
#include "gw_internal.h"
#include "inputs.h"

#include "yard/error.h"
#include "yard/json.h"
#include "yard/log.h"
#include "yard/mp.h"
#include "yard/utf8.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S_PATH_MAX      4000 /* path + query: what one bus header value may hold, with room */
#define S_HDR_VALUE_MAX 1024

/* Every bus header a request can carry fits: x-request-id, http.method, .path, .query, .peer,
 * auth.token, auth.sub, auth.scopes, the path parameters and the forwarded headers. */
_Static_assert(GW_BUS_HEADERS_MAX >=
                   8 + YARD_GW_PARAMS_MAX + YARD_GW_PASS_ALWAYS + YARD_GW_PASS_MAX,
               "GW_BUS_HEADERS_MAX too small");

int64_t
gw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
gw_now_ms(void)
{
    return gw_now_ns() / 1000000;
}

static char *
s_strndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p) {
        abort();
    }
    return p;
}

/* --- responses ---------------------------------------------------------------------------- */

static void
s_cors_add(void *arg, const char *name, const char *value)
{
    MHD_add_response_header(arg, name, value);
}

/* X-Request-Id and X-Process-Time (seconds, to the microsecond). */
static void
s_add_ids(const gw_req_t *req, struct MHD_Response *r)
{
    char took[32];
    long long us = (gw_now_ns() - req->start_ns) / 1000;
    snprintf(took, sizeof took, "%lld.%06lld", us / 1000000, us % 1000000);
    MHD_add_response_header(r, "X-Request-Id", req->request_id);
    MHD_add_response_header(r, "X-Process-Time", took);
}

/* Adds what every response carries, queues it and marks the request sent. */
static enum MHD_Result
s_send(yard_gateway_t *gw, gw_req_t *req, struct MHD_Response *r)
{
    s_add_ids(req, r);
    if (gw->cors) {
        const char *origin =
            MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);
        yard_gw_cors_apply(gw->cors, origin, s_cors_add, r);
    }
    if (atomic_load(&gw->draining) && !MHD_get_response_header(r, MHD_HTTP_HEADER_CONNECTION)) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    req->state = GW_REQ_SENT;
    enum MHD_Result rc = MHD_queue_response(req->conn, (unsigned)req->status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result
s_send_error(yard_gateway_t *gw, gw_req_t *req, int status, const char *code, const char *msg)
{
    return s_send(gw, req, gw_response_error(req, status, code, msg));
}

/* An error after which the connection cannot be trusted to find the next request (bad
 * framing): libmicrohttpd closes it once the answer is sent, and reads nothing more. */
static enum MHD_Result
s_send_closing(yard_gateway_t *gw, gw_req_t *req, int status, const char *code, const char *msg)
{
    struct MHD_Response *r = gw_response_error(req, status, code, msg);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    return s_send(gw, req, r);
}

static enum MHD_Result
s_send_text(yard_gateway_t *gw, gw_req_t *req, int status, const char *type, char *text, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        abort();
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    req->status = status;
    req->bytes = len;
    return s_send(gw, req, r);
}

static enum MHD_Result
s_builtin(yard_gateway_t *gw, gw_req_t *req)
{
    if (strcmp(req->path, "/metrics") == 0) {
        size_t len = 0;
        char *text = yard_gw_metrics_render(gw->metrics, &len);
        return s_send_text(gw, req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    }
    bool ok = strcmp(req->path, "/healthz") == 0 || gw_now_ms() < atomic_load(&gw->ready_until_ms);
    char *text = strdup(ok ? "{\"status\":\"ok\"}" : "{\"status\":\"broker unreachable\"}");
    if (!text) {
        abort();
    }
    return s_send_text(gw, req, ok ? 200 : 503, "application/json", text, strlen(text));
}

/* --- the request's steps ------------------------------------------------------------------ */

/* Bus headers borrow what they point at: static names, the route table's parameter keys, the
 * request's own fields and libmicrohttpd's header values, all of which live until the request
 * completes, which is after the bus is done with them. */
static void
s_bus_header(gw_req_t *req, const char *key, const char *value, size_t vlen)
{
    if (req->nhdr >= GW_BUS_HEADERS_MAX) {
        return;
    }
    req->hdr[req->nhdr].key = (yard_str_t){key, (uint32_t)strlen(key)};
    req->hdr[req->nhdr].value = (yard_str_t){value, (uint32_t)vlen};
    req->nhdr++;
}

/* The request headers in pass that the request has, as their bus headers. The values are
 * borrowed from the connection and never logged here: a route's pass_headers may carry a
 * secret (Telegram's webhook token). */
static void
s_pass(gw_req_t *req, const yard_gw_pass_t *pass, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, pass[i].name);
        if (v) { /* cut at a character's boundary: the bus carries UTF-8 (s_headers_valid) */
            s_bus_header(req, pass[i].key, v, gw_utf8_cut(v, strlen(v), S_HDR_VALUE_MAX));
        }
    }
}

static void
s_bus_headers(gw_req_t *req)
{
    s_bus_header(req, "x-request-id", req->request_id, strlen(req->request_id));
    /* HEAD is a GET without the body: the service does the GET, the gateway drops the body */
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    s_bus_header(req, "http.method", method, strlen(method));
    s_bus_header(req, "http.path", req->path, strlen(req->path));
    s_bus_header(req, "http.query", req->query, strlen(req->query));
    if (req->peer[0]) {
        s_bus_header(req, "http.peer", req->peer, strlen(req->peer));
    }
    if (req->token) {
        /* The caller's own bearer token, so that a service can act as the caller (the auth
         * service's admin operations check it) */
        s_bus_header(req, "auth.token", req->token, strlen(req->token));
    }
    for (size_t i = 0; i < req->match.nparams; i++) {
        const yard_gw_param_t *p = &req->match.params[i];
        s_bus_header(req, p->key, p->value, p->value_len);
    }
    s_pass(req, yard_gw_pass_always, YARD_GW_PASS_ALWAYS);
    s_pass(req, req->route->pass, req->route->npass);
}

/* The headers the service sees are UTF-8 (a bus string; a peer decoding strictly would fail
 * on anything else): else false, naming the header in why. */
static bool
s_pass_valid(const gw_req_t *req, const yard_gw_pass_t *pass, size_t n, char *why, size_t whylen)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, pass[i].name);
        if (v && !yard_utf8_valid(v, strlen(v))) {
            snprintf(why, whylen, "the %s header is not valid UTF-8", pass[i].name);
            return false; /* the name only: the value may be a secret */
        }
    }
    return true;
}

static bool
s_headers_valid(const gw_req_t *req, char *why, size_t whylen)
{
    if (!s_pass_valid(req, yard_gw_pass_always, YARD_GW_PASS_ALWAYS, why, whylen)) {
        return false;
    }
    return !req->route || s_pass_valid(req, req->route->pass, req->route->npass, why, whylen);
}

enum MHD_Result
gw_http_begin(gw_req_t *req, struct MHD_Connection *conn, const char *url, const char *method,
              const char *version)
{
    yard_gateway_t *gw = gw_loop_gateway(req->loop);
    req->conn = conn;
    snprintf(req->method, sizeof req->method, "%s", method);
    req->path = s_strndup(url, strlen(url));
    const char *id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (id && gw_request_id_valid(id)) {
        snprintf(req->request_id, sizeof req->request_id, "%s", id);
    } else {
        gw_request_id_new(req->request_id);
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET) {
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, req->peer,
                      sizeof req->peer);
        } else if (sa->sa_family == AF_INET6) {
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, req->peer,
                      sizeof req->peer);
        }
    }
    gw_framing_t framing;
    if (gw_framing_check_conn(&framing, conn, version, req->raw_uri) != 0) {
        return s_send_closing(gw, req, framing.status, framing.code, framing.message);
    }
    req->route = yard_gw_routes_match(gw->routes, req->method, req->path, &req->match);
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (req->route && cl) {
        char *end = NULL;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end != cl && n > req->route->body_limit) {
            return s_send_error(gw, req, 413, "TOO_LARGE", "the request body is over the limit");
        }
        if (end != cl) {
            req->body_hint = (size_t)n;
        }
    }
    return MHD_YES;
}

static bool
s_only_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
            return false;
        }
    }
    return true;
}

static enum MHD_Result
s_rate_limited(yard_gateway_t *gw, gw_req_t *req, uint32_t retry)
{
    char ra[16];
    snprintf(ra, sizeof ra, "%u", retry ? retry : 1);
    struct MHD_Response *r = gw_response_error(req, 429, "RATE_LIMITED", "too many requests");
    MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    return s_send(gw, req, r);
}

/* 405 (with Allow: the methods the path takes) or 404. */
static enum MHD_Result
s_no_route(yard_gateway_t *gw, gw_req_t *req, bool refused)
{
    if (!refused && !req->match.method_not_allowed) {
        return s_send_error(gw, req, 404, "NOT_FOUND", "no route for this path");
    }
    char allow[YARD_GW_ALLOW_MAX], msg[128];
    yard_gw_allow_text(req->match.allow, allow, sizeof allow);
    snprintf(msg, sizeof msg, "%s is not served here (Allow: %s)", req->method, allow);
    struct MHD_Response *r = gw_response_error(req, 405, "METHOD_NOT_ALLOWED", msg);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    return s_send(gw, req, r);
}

/* OPTIONS: a CORS preflight when it is one, else the methods the path takes (204 + Allow). */
static enum MHD_Result
s_options(yard_gateway_t *gw, gw_req_t *req)
{
    struct MHD_Connection *conn = req->conn;
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *acrm =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Method");
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (origin && acrm) {
        if (!gw->cors) {
            MHD_destroy_response(r);
            return s_send_error(gw, req, 404, "NOT_FOUND", "no route for this path");
        }
        const char *acrh =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
        if (!yard_gw_cors_preflight(gw->cors, origin, acrm, acrh, s_cors_add, r)) {
            MHD_destroy_response(r);
            return s_send_error(gw, req, 403, "FORBIDDEN", "CORS preflight refused");
        }
    } else if (req->match.allow == 0) {
        MHD_destroy_response(r);
        return s_send_error(gw, req, 404, "NOT_FOUND", "no route for this path");
    } else {
        char allow[YARD_GW_ALLOW_MAX];
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
                                yard_gw_allow_text(req->match.allow, allow, sizeof allow));
    }
    req->status = 204;
    req->bytes = 0;
    req->state = GW_REQ_SENT;
    s_add_ids(req, r);
    enum MHD_Result rc = MHD_queue_response(conn, 204, r);
    MHD_destroy_response(r);
    return rc;
}

/* The body for the bus: JSON converted to msgpack, msgpack checked and passed as it came.
 * Returns 0, or the HTTP status to refuse it with (code and msg set). */
static int
s_pack_body(gw_req_t *req, const char **code, char *msg, size_t msglen)
{
    if (req->body_len == 0) {
        return 0;
    }
    const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Content-Type");
    const char *ce = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Content-Encoding");
    char why[200];
    gw_body_kind_t kind = gw_body_kind(ct, ce, why, sizeof why);
    if (kind == GW_BODY_MSGPACK) {
        if (yard_mp_check(req->body, req->body_len, why, sizeof why) != 0) {
            *code = "BAD_MSGPACK";
            snprintf(msg, msglen, "the body is not one msgpack object: %s", why);
            return 400;
        }
        req->packed = req->body; /* untouched: the service gets the client's bytes */
        req->packed_size = req->body_len;
        req->body = NULL;
        return 0;
    }
    if (s_only_space(req->body, req->body_len)) {
        return 0; /* no body to speak of, whatever its type says */
    }
    if (kind == GW_BODY_REFUSED) {
        *code = "UNSUPPORTED_MEDIA_TYPE";
        snprintf(msg, msglen, "%s", why);
        return 415;
    }
    if (yard_json_to_msgpack(req->body, req->body_len, &req->packed, &req->packed_size, why,
                             sizeof why) != 0) {
        *code = "BAD_JSON";
        snprintf(msg, msglen, "the body is not valid JSON: %s", why);
        return 400;
    }
    return 0;
}

/* The bearer route's token, or the 401 that refuses it. */
static enum MHD_Result
s_refuse_bearer(yard_gateway_t *gw, gw_req_t *req, gw_bearer_t why_kind, const char *why)
{
    struct MHD_Response *r = gw_response_error(req, 401, "UNAUTHENTICATED", why);
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                            why_kind == GW_BEARER_MISSING
                                ? "Bearer realm=\"yard\""
                                : "Bearer realm=\"yard\", error=\"invalid_token\"");
    return s_send(gw, req, r);
}

enum MHD_Result
gw_http_prepare(gw_req_t *req, bool *to_bus)
{
    yard_gateway_t *gw = gw_loop_gateway(req->loop);
    struct MHD_Connection *conn = req->conn;
    *to_bus = false;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (get && (strcmp(req->path, "/healthz") == 0 || strcmp(req->path, "/readyz") == 0 ||
                strcmp(req->path, "/metrics") == 0)) {
        return s_builtin(gw, req);
    }
    if (atomic_load(&gw->draining)) {
        return s_send_error(gw, req, 503, "SHUTDOWN", "the gateway is shutting down");
    }
    gw_method_class_t mc = gw_method_class(req->method);
    char why[200];
    if (mc == GW_METHOD_UNKNOWN) {
        return s_send_error(gw, req, 501, "NOT_IMPLEMENTED",
                            "the gateway does not know this method");
    }
    if (!gw_uri_valid(req->raw_uri, why, sizeof why) || !s_headers_valid(req, why, sizeof why)) {
        return s_send_error(gw, req, 400, "BAD_REQUEST", why);
    }
    if (mc == GW_METHOD_OPTIONS) {
        return s_options(gw, req);
    }
    if (!req->route || mc == GW_METHOD_REFUSED) {
        return s_no_route(gw, req, mc == GW_METHOD_REFUSED);
    }
    if (req->too_large) {
        return s_send_error(gw, req, 413, "TOO_LARGE", "the request body is over the limit");
    }
    if (strlen(req->path) + strlen(req->query) > S_PATH_MAX) {
        return s_send_error(gw, req, 414, "URI_TOO_LONG", "the path and query are too long");
    }
    uint32_t retry = 0;
    if (gw->rl && req->peer[0] &&
        yard_gw_ratelimit_take(gw->rl, YARD_GW_RL_IP, req->peer, &retry) != 0) {
        return s_rate_limited(gw, req, retry);
    }
    if (yard_gw_route_has_step(req->route, YARD_GW_STEP_VERIFY)) {
        /* the verify step's input: the caller's bearer token (steps.h) */
        const char *a =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        gw_bearer_t b = gw_bearer_parse(a, &req->token, why, sizeof why);
        if (b != GW_BEARER_OK) {
            return s_refuse_bearer(gw, req, b, why);
        }
        if (gw->rl && yard_gw_ratelimit_take(gw->rl, YARD_GW_RL_TOKEN, req->token, &retry) != 0) {
            return s_rate_limited(gw, req, retry);
        }
    }
    const char *code = NULL;
    char msg[240];
    int refused = s_pack_body(req, &code, msg, sizeof msg);
    if (refused) {
        return s_send_error(gw, req, refused, code, msg);
    }
    req->reply_msgpack = gw_accepts_msgpack(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
    free(req->body); /* the bus gets the msgpack */
    req->body = NULL;
    req->body_len = req->body_cap = 0;
    s_bus_headers(req);
    *to_bus = true;
    return MHD_YES;
}

enum MHD_Result
gw_http_answer(gw_req_t *req)
{
    return s_send(gw_loop_gateway(req->loop), req, gw_response_from_outcome(req));
}

/* --- life cycle --------------------------------------------------------------------------- */

/* Binds listen ("host:port"; host may be "*" or empty for all addresses). */
static int
s_listen(const char *listen_on, bool reuse_port, int *fd_out, uint16_t *port_out, char *errbuf,
         size_t errlen)
{
    char h[256], port[8];
    int rc = gw_listen_split(listen_on, h, sizeof h, port, sizeof port, errbuf, errlen);
    if (rc != 0) {
        return rc;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(h[0] && strcmp(h, "*") != 0 ? h : NULL, port, &hints, &ai);
    if (gai != 0) {
        snprintf(errbuf, errlen, "--listen (gateway.listen): '%s': %s", listen_on,
                 gai_strerror(gai));
        return YARD_E_CONFIG;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (reuse_port) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        }
    }
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        snprintf(errbuf, errlen, "--listen (gateway.listen): cannot bind %s: %m", listen_on);
        if (fd >= 0) {
            close(fd);
        }
        freeaddrinfo(ai);
        return YARD_E_IO;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
    return 0;
}

static char *
s_dup(const char *s)
{
    return s ? s_strndup(s, strlen(s)) : NULL;
}

int
yard_gateway_new(const yard_gateway_opts_t *opts, const yard_config_t *cfg, void *zmq_ctx,
                 yard_gateway_t **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    yard_gateway_t *gw = calloc(1, sizeof *gw);
    if (!gw) {
        abort();
    }
    gw->listen_fd = -1;
    pthread_mutex_init(&gw->stop_lock, NULL);
    gw->opts = *opts;
    gw->opts.listen =
        s_dup(opts->listen ? opts->listen : yard_options_default(yard_gateway_options, "listen"));
    gw->opts.broker = s_dup(opts->broker);
    gw->opts.store = s_dup(opts->store);
    gw->opts.log_level = s_dup(opts->log_level);
    /* A field left zero takes the options table's default (gateway/cli.c), the one place the
     * defaults are written; a negative count is out of range, so it gets one too. */
    if (gw->opts.threads < 0) {
        gw->opts.threads = 0;
    }
    if (gw->opts.connection_limit < 0) {
        gw->opts.connection_limit = 0;
    }
    yard_options_fill_unset(yard_gateway_options, &gw->opts);
    int rc = gw_tls_load(opts->tls_cert, opts->tls_key, &gw->tls, errbuf, errlen);
    gw->opts.tls_cert = gw->opts.tls_key = NULL; /* loaded: the caller's strings are not kept */
    if (rc == 0) {
        rc = yard_gw_routes_new(cfg, gw->opts.timeout_ms, gw->opts.body_limit, &gw->routes, errbuf,
                                errlen);
    }
    if (rc == 0) {
        rc = yard_gw_cors_new(cfg, &gw->cors, errbuf, errlen);
    }
    if (rc == 0 && gw->opts.store && strncmp(gw->opts.store, "redis://", 8) == 0) {
        rc = yard_store_open(gw->opts.store, &gw->store);
        if (rc) {
            snprintf(errbuf, errlen, "store %s: %s", gw->opts.store, yard_strerror(rc));
        }
    }
    if (rc == 0) {
        rc = yard_gw_ratelimit_new(cfg, gw->store, &gw->rl, errbuf, errlen);
    }
    if (rc == 0) {
        gw->metrics = yard_gw_metrics_new();
        gw->loops = calloc((size_t)gw->opts.threads, sizeof *gw->loops);
        if (!gw->loops) {
            abort();
        }
        for (int i = 0; rc == 0 && i < gw->opts.threads; i++) {
            rc = gw_loop_new(gw, zmq_ctx, i, &gw->loops[i], errbuf, errlen);
        }
    }
    if (rc == 0) {
        rc = s_listen(gw->opts.listen, gw->opts.reuse_port, &gw->listen_fd, &gw->port, errbuf,
                      errlen);
    }
    if (rc) {
        yard_gateway_destroy(&gw);
        return rc;
    }
    *out = gw;
    return 0;
}

int
yard_gateway_start(yard_gateway_t *gw)
{
    if (!gw || gw->started) {
        return YARD_E_INVALID;
    }
    for (int i = 0; i < gw->opts.threads; i++) {
        int rc = gw_loop_start(gw->loops[i], gw->listen_fd);
        if (rc) {
            for (int j = 0; j < i; j++) {
                gw_loop_destroy(&gw->loops[j]); /* nothing was accepted yet that could be lost */
            }
            return rc;
        }
    }
    gw->started = true;
    yard_log(YARD_LOG_INFO, "gateway listening", YF_STR("listen", gw->opts.listen),
             YF_INT("port", gw->port), YF_INT("threads", gw->opts.threads),
             YF_STR("scheme", gw_tls_on(&gw->tls) ? "https" : "http"));
    return 0;
}

uint16_t
yard_gateway_port(const yard_gateway_t *gw)
{
    return gw ? gw->port : 0;
}

/* Polls cond with a deadline (stop is rare; a 5 ms step is plenty). */
static void
s_wait_zero(atomic_long *v, int64_t until_ms)
{
    while (atomic_load(v) > 0 && gw_now_ms() < until_ms) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void
s_set_phase(yard_gateway_t *gw, int phase)
{
    for (int i = 0; i < gw->opts.threads; i++) {
        gw_loop_set_phase(gw->loops[i], phase);
    }
}

static bool
s_all_quiesced(const yard_gateway_t *gw)
{
    for (int i = 0; i < gw->opts.threads; i++) {
        if (!gw_loop_quiesced(gw->loops[i])) {
            return false;
        }
    }
    return true;
}

void
yard_gateway_stop(yard_gateway_t *gw)
{
    if (!gw) {
        return;
    }
    pthread_mutex_lock(&gw->stop_lock);
    if (!gw->started || gw->stopped) {
        pthread_mutex_unlock(&gw->stop_lock);
        return;
    }
    gw->stopped = true;
    atomic_store(&gw->draining, true);
    s_set_phase(gw, GW_PHASE_DRAIN);
    int64_t until = gw_now_ms() + 1000;
    while (!s_all_quiesced(gw) && gw_now_ms() < until) {
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    close(gw->listen_fd); /* new connections are refused from here on */
    gw->listen_fd = -1;
    long held = atomic_load(&gw->waiting);
    yard_log(YARD_LOG_INFO, "gateway draining", YF_INT("in_flight", held),
             YF_UINT("drain_ms", gw->opts.drain_ms));
    s_wait_zero(&gw->waiting, gw_now_ms() + gw->opts.drain_ms);
    s_set_phase(gw, GW_PHASE_ABANDON);          /* what is left: 503, and resumed */
    s_wait_zero(&gw->live, gw_now_ms() + 1000); /* let the answers go out */
    for (int i = 0; i < gw->opts.threads; i++) {
        gw_loop_destroy(&gw->loops[i]);
    }
    pthread_mutex_unlock(&gw->stop_lock);
    yard_log(YARD_LOG_INFO, "gateway stopped");
}

void
yard_gateway_destroy(yard_gateway_t **self_p)
{
    yard_gateway_t *gw = self_p ? *self_p : NULL;
    if (!gw) {
        return;
    }
    yard_gateway_stop(gw);
    for (int i = 0; gw->loops && i < gw->opts.threads; i++) {
        gw_loop_destroy(&gw->loops[i]);
    }
    free(gw->loops);
    if (gw->listen_fd >= 0) {
        close(gw->listen_fd);
    }
    yard_gw_metrics_destroy(&gw->metrics);
    yard_gw_ratelimit_destroy(&gw->rl);
    yard_gw_cors_destroy(&gw->cors);
    yard_gw_routes_destroy(&gw->routes);
    yard_store_destroy(&gw->store);
    gw_tls_clear(&gw->tls);
    free(gw->opts.listen);
    free(gw->opts.broker);
    free(gw->opts.store);
    free(gw->opts.log_level);
    pthread_mutex_destroy(&gw->stop_lock);
    free(gw);
    *self_p = NULL;
}
