/* The gateway's semantics as an outside client meets them (issue 11), one test per rule: the
 * default route is closed unless configured and then takes a route's auth and an allow-list;
 * GET on a POST-only route is 405 with Allow; one table maps error names (CONFLICT: 409);
 * bodies are JSON or msgpack (passed through untouched, the reply as msgpack when asked) and
 * anything else is 415; paths with a NUL or bad UTF-8 are 400; HEAD, OPTIONS, TRACE, CONNECT
 * and made-up methods are answered by the gateway and never reach a service; a bearer token
 * over the limit auth shares is refused naming its size; a header block up to the documented
 * 16 KiB pool is served (a 4000-byte path with an 8192-byte token) and one over it is 431; a bad
 * --listen is refused naming the flag. A real broker and actors in this process, the gateway on
 * 127.0.0.1:0, libcurl and raw sockets as clients, and the yard-gateway program for --listen. */
#include "fixture.h"
#include "harness.h"
#include "run.h"
#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/error.h"
#include "yard/gateway.h"
#include "yard/log.h"
#include "yard/wire.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* --- the actors ------------------------------------------------------------------------------ */

static atomic_int s_calls; /* every request any "sec" handler saw */

/* Default op: the body back, byte for byte (msgpack in, the same msgpack out). */
static int
s_op_echo(yard_request_t *req, void *state)
{
    (void)state;
    atomic_fetch_add(&s_calls, 1);
    size_t size;
    const void *body = yard_request_body(req, &size);
    return yard_request_reply(req, body, size);
}

/* {"method": http.method, "id": http.param.id} */
static int
s_op_inspect(yard_request_t *req, void *state)
{
    (void)state;
    atomic_fetch_add(&s_calls, 1);
    const char *m = yard_request_header(req, "http.method");
    const char *id = yard_request_header(req, "http.param.id");
    char out[600];
    size_t ml = m ? strlen(m) : 0, il = id ? strlen(id) : 0;
    if (ml > 16 || il > 500) {
        return yard_request_fail(req, YARD_E_SERVICE, "TOO_LONG", "header too long");
    }
    size_t n = 0;
    out[n++] = (char)0x82;
    out[n++] = (char)0xa6;
    memcpy(out + n, "method", 6);
    n += 6;
    out[n++] = (char)(0xa0 | ml);
    memcpy(out + n, m ? m : "", ml);
    n += ml;
    out[n++] = (char)0xa2;
    memcpy(out + n, "id", 2);
    n += 2;
    out[n++] = (char)0xd9; /* str8 */
    out[n++] = (char)il;
    memcpy(out + n, id ? id : "", il);
    n += il;
    return yard_request_reply(req, out, n);
}

/* A conflict as a service reports it: the name only, no http.status of its own. */
static int
s_op_conflict(yard_request_t *req, void *state)
{
    (void)state;
    atomic_fetch_add(&s_calls, 1);
    return yard_request_fail(req, YARD_E_SERVICE, "CONFLICT", "a user with that name exists");
}

static const yard_handler_def_t s_sec_handlers[] = {
    {"inspect", s_op_inspect, "method and id back"},
    {"conflict", s_op_conflict, "CONFLICT"},
    {NULL, s_op_echo, "echo"},
    {NULL, NULL, NULL},
};
static const yard_actor_def_t s_sec_def = {
    .name = "sec", .description = "gateway security test actor", .handlers = s_sec_handlers};
/* The same handlers as "scheduler": a real service the default route must not reach. */
static const yard_actor_def_t s_sched_def = {
    .name = "scheduler", .description = "stands in for the scheduler", .handlers = s_sec_handlers};

/* The fake auth service: token "good" -> sub u1 with scope bus.call; anything else (the
 * 8192-byte one included) -> UNAUTHENTICATED "bad token". */
static int
s_auth_verify(yard_request_t *req, void *state)
{
    (void)state;
    const msgpack_object *o = yard_request_object(req);
    for (uint32_t i = 0; o && o->type == MSGPACK_OBJECT_MAP && i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 5 &&
            memcmp(kv->key.via.str.ptr, "token", 5) == 0 && kv->val.type == MSGPACK_OBJECT_STR &&
            kv->val.via.str.size == 4 && memcmp(kv->val.via.str.ptr, "good", 4) == 0) {
            /* {"sub":"u1","scopes":["bus.call"],"exp":0} */
            static const char r[] = "\x83\xa3sub\xa2u1\xa6scopes\x91\xa8"
                                    "bus.call\xa3"
                                    "exp\x00";
            return yard_request_reply(req, r, sizeof r - 1);
        }
    }
    return yard_request_fail(req, YARD_E_UNAUTHENTICATED, NULL, "bad token");
}

static const yard_handler_def_t s_auth_handlers[] = {{"verify", s_auth_verify, "verify"},
                                                     {NULL, NULL, NULL}};
static const yard_actor_def_t s_auth_def = {
    .name = "auth", .description = "fake auth", .handlers = s_auth_handlers};

/* --- fixture --------------------------------------------------------------------------------- */

static const char s_config[] = "gateway:\n"
                               "  cors:\n"
                               "    origins: [\"https://app.example.com\"]\n"
                               "    methods: [GET, POST]\n"
                               "  default_route:\n"
                               "    services: [sec]\n"
                               "    auth: bearer\n"
                               "    scopes: [bus.call]\n"
                               "  routes:\n"
                               "    - {method: POST, path: /v1/login, service: sec}\n"
                               "    - {method: POST, path: /v1/open, service: sec}\n"
                               "    - {method: POST, path: /v1/echo, service: sec, auth: bearer}\n"
                               "    - {method: POST, path: /v1/conflict, service: sec, "
                               "op: conflict}\n"
                               "    - {method: GET, path: '/v1/items/{id}', service: sec, "
                               "op: inspect}\n";

static struct {
    char *dir;
    yard_config_t *cfg;
    int bport;
    yard_broker_t *broker;
    yard_actor_t *sec, *sched, *auth;
    yard_gateway_t *gw;
    char base[64];
} F;

static yard_gateway_t *
s_gateway(const yard_config_t *cfg)
{
    const char *flags[] = {"--drain-ms=1000", NULL};
    return yh_gateway_start(cfg, F.bport, flags);
}

static int
s_setup(void **state)
{
    (void)state;
    yard_log_set_level(YARD_LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    F.dir = yh_tmpdir();
    F.cfg = yh_config_in(F.dir, s_config);
    yard_broker_opts_t bo = {.heartbeat_ms = 100, .heartbeat_min_ms = 50};
    F.broker = yh_broker_start_opts(&bo, NULL, &F.bport);
    char *flags[] = {"--heartbeat-ms=100", NULL};
    F.sec = yh_actor_start(&s_sec_def, NULL, F.bport, flags);
    F.sched = yh_actor_start(&s_sched_def, NULL, F.bport, flags);
    F.auth = yh_actor_start(&s_auth_def, NULL, F.bport, flags);
    F.gw = s_gateway(F.cfg);
    snprintf(F.base, sizeof F.base, "http://127.0.0.1:%u", yard_gateway_port(F.gw));
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    yard_gateway_destroy(&F.gw);
    yard_actor_destroy(&F.auth);
    yard_actor_destroy(&F.sched);
    yard_actor_destroy(&F.sec);
    yard_broker_destroy(&F.broker);
    yard_config_destroy(&F.cfg);
    yh_rmtree(F.dir);
    free(F.dir);
    curl_global_cleanup();
    return 0;
}

/* --- clients ---------------------------------------------------------------------------------- */

typedef struct {
    long status;
    char body[4096];
    size_t blen;
    char headers[4096];
    size_t hlen;
} s_resp_t;

static size_t
s_keep(char *buf, size_t *len, size_t cap, const char *p, size_t n)
{
    size_t room = cap - 1 - *len, k = n < room ? n : room;
    memcpy(buf + *len, p, k);
    *len += k;
    buf[*len] = '\0';
    return n;
}

static size_t
s_body_cb(char *p, size_t sz, size_t n, void *arg)
{
    s_resp_t *r = arg;
    return s_keep(r->body, &r->blen, sizeof r->body, p, sz * n);
}

static size_t
s_hdr_cb(char *p, size_t sz, size_t n, void *arg)
{
    s_resp_t *r = arg;
    return s_keep(r->headers, &r->hlen, sizeof r->headers, p, sz * n);
}

/* One request through libcurl; headers NULL-ended (may be NULL), body of blen bytes or NULL.
 * Returns the status. */
static long
s_do(const char *method, const char *path, const char *body, size_t blen,
     const char *const *headers, s_resp_t *r)
{
    char url[256];
    memset(r, 0, sizeof *r);
    snprintf(url, sizeof url, "%s%s", F.base, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    for (size_t i = 0; headers && headers[i]; i++) {
        h = curl_slist_append(h, headers[i]);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_hdr_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(cc));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r->status;
}

static long
s_json(const char *method, const char *path, const char *body, const char *extra, s_resp_t *r)
{
    const char *h[] = {"Content-Type: application/json", extra, NULL};
    return s_do(method, path, body, body ? strlen(body) : 0, h, r);
}

static void
s_assert_has(const char *hay, const char *needle)
{
    if (!strcasestr(hay, needle)) {
        fail_msg("expected \"%s\" in:\n%s", needle, hay);
    }
}

/* Sends raw bytes on a fresh connection and returns the status of the answer (its text in
 * out), reading until the gateway closes or the deadline passes. */
static int
s_raw(const char *req, size_t len, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(yard_gateway_port(F.gw))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(write(fd, req, len), (ssize_t)len);
    size_t got = 0;
    long long until = yh_now_ms() + 10000;
    out[0] = '\0';
    while (got < cap - 1 && yh_now_ms() < until) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(until - yh_now_ms())) <= 0) {
            break;
        }
        ssize_t k = read(fd, out + got, cap - 1 - got);
        if (k <= 0) {
            break;
        }
        got += (size_t)k;
        out[got] = '\0';
    }
    close(fd);
    int status = 0;
    if (sscanf(out, "HTTP/1.1 %d", &status) != 1) {
        fail_msg("no HTTP answer to %.*s: \"%s\"", (int)(len < 60 ? len : 60), req, out);
    }
    return status;
}

/* A request line and Connection: close, as bytes (the path may hold anything). */
static int
s_raw_get(const char *method, const char *target, char *out, size_t cap)
{
    char req[1024];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     method, target);
    return s_raw(req, (size_t)n, out, cap);
}

/* Waits until the actors answer through the gateway (replicas register asynchronously). */
static void
s_wait_ready(void)
{
    long long until = yh_now_ms() + 10000;
    s_resp_t r;
    while (yh_now_ms() < until) {
        long a = s_json("POST", "/v1/open", "1", NULL, &r);
        long b = s_json("POST", "/v1/sec", "1", "Authorization: Bearer good", &r);
        if (a == 200 && b == 200) {
            return;
        }
    }
    fail_msg("the actors did not register through the gateway");
}

/* --- 1. the default route: closed unless configured, then with a route's auth ------------------
 */

static void
test_default_route_closed_and_authed(void **state)
{
    (void)state;
    s_wait_ready();
    s_resp_t r;
    /* a gateway without config serves no service at all */
    yard_gateway_t *bare = s_gateway(NULL);
    char bare_base[64];
    snprintf(bare_base, sizeof bare_base, "%s", F.base);
    snprintf(F.base, sizeof F.base, "http://127.0.0.1:%u", yard_gateway_port(bare));
    assert_int_equal(s_json("POST", "/v1/sec", "1", NULL, &r), 404);
    assert_int_equal(s_json("POST", "/v1/scheduler", "{}", NULL, &r), 404);
    snprintf(F.base, sizeof F.base, "%s", bare_base);
    yard_gateway_destroy(&bare);

    /* configured: the route's auth and scopes apply */
    assert_int_equal(s_json("POST", "/v1/sec", "{\"a\":1}", NULL, &r), 401);
    s_assert_has(r.headers, "www-authenticate: Bearer");
    assert_int_equal(s_json("POST", "/v1/sec", "{\"a\":1}", "Authorization: Bearer bad", &r), 401);
    assert_int_equal(s_json("POST", "/v1/sec", "{\"a\":1}", "Authorization: Bearer good", &r), 200);
    assert_string_equal(r.body, "{\"a\":1}");
    /* a running service that is not on the allow-list is not there, token or not */
    int before = atomic_load(&s_calls);
    assert_int_equal(s_json("POST", "/v1/scheduler", "{\"id\":\"x\",\"every\":\"1s\"}",
                            "Authorization: Bearer good", &r),
                     404);
    assert_int_equal(s_json("POST", "/v1/auth", "{}", "Authorization: Bearer good", &r), 404);
    assert_int_equal(s_json("POST", "/v1/$sys", "{}", "Authorization: Bearer good", &r), 404);
    /* /v1/echo is a bearer route: protected with every method, the default route never takes
     * its path */
    assert_int_equal(s_json("POST", "/v1/echo", "{}", NULL, &r), 401);
    assert_int_equal(s_json("PUT", "/v1/echo", "{}", "Authorization: Bearer good", &r), 405);
    assert_int_equal(atomic_load(&s_calls), before);
}

/* --- 2. statuses: 405 with Allow, one table (CONFLICT 409) --------------------------------------
 */

static void
test_405_allow_and_conflict(void **state)
{
    (void)state;
    s_wait_ready();
    s_resp_t r;
    assert_int_equal(s_do("GET", "/v1/login", NULL, 0, NULL, &r), 405);
    s_assert_has(r.headers, "allow: POST, OPTIONS\r\n");
    s_assert_has(r.body, "\"code\":\"METHOD_NOT_ALLOWED\"");
    assert_int_equal(s_json("DELETE", "/v1/items/7", NULL, NULL, &r), 405);
    s_assert_has(r.headers, "allow: GET, HEAD, OPTIONS\r\n");
    assert_int_equal(s_json("POST", "/v1/conflict", "{}", NULL, &r), 409);
    s_assert_has(r.body, "\"code\":\"CONFLICT\"");
}

/* --- 3. Content-Type
 * ------------------------------------------------------------------------------ */

static void
test_content_types(void **state)
{
    (void)state;
    s_wait_ready();
    s_resp_t r;
    static const struct {
        const char *header;
        long status;
    } rows[] = {
        {"Content-Type: application/json", 200},
        {"Content-Type: application/json; charset=utf-8", 200},
        {"Content-Type: Application/JSON;charset=\"UTF-8\"", 200},
        {"Content-Type: application/problem+json", 200},
        {"Content-Type: application/json; charset=iso-8859-1", 415},
        {"Content-Type: text/plain", 415},
        {"Content-Type: application/xml", 415},
        {"Content-Type: application/x-www-form-urlencoded", 415},
        {"Content-Type: multipart/form-data; boundary=x", 415},
        {NULL, 415}, /* curl's own default for a body: a form */
    };
    int before = atomic_load(&s_calls);
    int passed = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *h[] = {rows[i].header, NULL};
        long st = s_do("POST", "/v1/open", "{\"k\":\"v\"}", 9, rows[i].header ? h : NULL, &r);
        if (st != rows[i].status) {
            fail_msg("%s: %ld, want %ld (%s)", rows[i].header ? rows[i].header : "(curl's)", st,
                     rows[i].status, r.body);
        }
        if (st == 415) {
            s_assert_has(r.body, "\"code\":\"UNSUPPORTED_MEDIA_TYPE\"");
        } else {
            assert_string_equal(r.body, "{\"k\":\"v\"}");
            passed++;
        }
    }
    /* gzip: 415 whatever the type says */
    const char *gz[] = {"Content-Type: application/json", "Content-Encoding: gzip", NULL};
    assert_int_equal(s_do("POST", "/v1/open", "\x1f\x8b\x08\x00", 4, gz, &r), 415);
    s_assert_has(r.body, "Content-Encoding 'gzip' is not accepted");
    assert_int_equal(atomic_load(&s_calls), before + passed); /* refused ones never arrived */

    /* msgpack: passed through untouched; the reply as msgpack when Accept asks for it */
    static const char mp[] = "\x82\xa1k\xa1v\xa1n\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"; /* 1.0 */
    const char *mph[] = {"Content-Type: application/msgpack", "Accept: application/msgpack", NULL};
    assert_int_equal(s_do("POST", "/v1/open", mp, sizeof mp - 1, mph, &r), 200);
    s_assert_has(r.headers, "content-type: application/msgpack");
    assert_int_equal(r.blen, sizeof mp - 1);
    assert_memory_equal(r.body, mp, sizeof mp - 1);
    const char *mpj[] = {"Content-Type: application/msgpack", NULL};
    assert_int_equal(s_do("POST", "/v1/open", mp, sizeof mp - 1, mpj, &r), 200);
    assert_string_equal(r.body, "{\"k\":\"v\",\"n\":1.0}");
    assert_int_equal(s_do("POST", "/v1/open", "\x82\xa1k", 3, mpj, &r), 400);
    s_assert_has(r.body, "\"code\":\"BAD_MSGPACK\"");
}

/* --- 4. path parameters: NUL and bad UTF-8, percent-encoded or not -----------------------------
 */

static void
test_bad_paths(void **state)
{
    (void)state;
    s_wait_ready();
    char out[4096];
    int before = atomic_load(&s_calls);
    static const char *const bad[] = {
        "/v1/items/a%00b",     "/v1/items/%00",   "/v1/items/%ff",
        "/v1/items/%C3",       "/v1/items/\xff",  "/v1/items/%c0%af",
        "/v1/items/%ed%a0%80", "/v1/items/a%0Ab", "/v1/items/1?q=\xfe",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = s_raw_get("GET", bad[i], out, sizeof out);
        if (st != 400) {
            fail_msg("GET %s: %d, want 400:\n%s", bad[i], st, out);
        }
        s_assert_has(out, "\"code\":\"BAD_REQUEST\"");
    }
    assert_int_equal(atomic_load(&s_calls), before);
    /* valid UTF-8, percent-encoded or raw, gets through */
    assert_int_equal(s_raw_get("GET", "/v1/items/caf%C3%A9", out, sizeof out), 200);
    s_assert_has(out, "\"id\":\"caf\xc3\xa9\"");
    assert_int_equal(s_raw_get("GET", "/v1/items/\xe2\x82\xac", out, sizeof out), 200);
}

/* --- 5. methods ----------------------------------------------------------------------------------
 */

static void
test_methods(void **state)
{
    (void)state;
    s_wait_ready();
    s_resp_t r;
    char out[4096];
    /* HEAD is a GET without the body: the service saw GET */
    assert_int_equal(s_do("GET", "/v1/items/7", NULL, 0, NULL, &r), 200);
    assert_string_equal(r.body, "{\"method\":\"GET\",\"id\":\"7\"}");
    char length[48];
    snprintf(length, sizeof length, "content-length: %zu\r\n", r.blen);
    assert_int_equal(s_do("HEAD", "/v1/items/7", NULL, 0, NULL, &r), 200);
    assert_int_equal(r.blen, 0);
    s_assert_has(r.headers, length); /* the GET's length, without its body */
    int before = atomic_load(&s_calls);
    /* OPTIONS: Allow, or a CORS preflight */
    assert_int_equal(s_do("OPTIONS", "/v1/items/7", NULL, 0, NULL, &r), 204);
    s_assert_has(r.headers, "allow: GET, HEAD, OPTIONS\r\n");
    const char *pre[] = {"Origin: https://app.example.com", "Access-Control-Request-Method: GET",
                         NULL};
    assert_int_equal(s_do("OPTIONS", "/v1/items/7", NULL, 0, pre, &r), 204);
    s_assert_has(r.headers, "access-control-allow-origin: https://app.example.com");
    assert_int_equal(s_do("OPTIONS", "/nowhere", NULL, 0, NULL, &r), 404);
    /* TRACE and CONNECT: 405 with Allow; made-up methods: 501 */
    assert_int_equal(s_do("TRACE", "/v1/items/7", NULL, 0, NULL, &r), 405);
    s_assert_has(r.headers, "allow: GET, HEAD, OPTIONS\r\n");
    assert_int_equal(s_raw_get("CONNECT", "127.0.0.1:5555", out, sizeof out), 405);
    assert_int_equal(s_do("BREW", "/v1/open", NULL, 0, NULL, &r), 501);
    s_assert_has(r.body, "\"code\":\"NOT_IMPLEMENTED\"");
    assert_int_equal(s_raw_get("PROPFIND", "/v1/open", out, sizeof out), 501);
    assert_int_equal(atomic_load(&s_calls), before); /* none reached the service */
}

/* --- 6. the bearer token limit, shared with auth -------------------------------------------------
 */

static void
test_bearer_limit(void **state)
{
    (void)state;
    s_wait_ready();
    s_resp_t r;
    size_t over = 9000;
    char *h = malloc(over + 32);
    int n = snprintf(h, over + 32, "Authorization: Bearer ");
    memset(h + n, 'a', over);
    h[n + (int)over] = '\0';
    assert_int_equal(s_json("POST", "/v1/sec", "{}", h, &r), 401);
    s_assert_has(r.body, "the bearer token is 9000 bytes; the limit is 8192");
    s_assert_has(r.headers, "error=\"invalid_token\"");
    /* exactly the limit: the gateway forwards it, and auth (here a fake) decides */
    h[n + YARD_BEARER_MAX] = '\0';
    assert_int_equal(s_json("POST", "/v1/sec", "{}", h, &r), 401);
    s_assert_has(r.body, "bad token");
    free(h);
    assert_int_equal(YARD_BEARER_MAX, 8192);
}

/* --- 6b. the header block limit (docs/gateway.md, "What the client may send") ---------------
 * libmicrohttpd keeps a request's line and headers in a 16 KiB pool per connection (its size is
 * what an idle keep-alive connection costs): a 4000-byte path and query with an 8192-byte bearer
 * token fit together, 12 KiB in 32 header lines is always served (the pool also holds a record per
 * header line and then the answer's header block), more than 16 KiB never. */

/* A request of exactly total bytes: line, Host, nlines - 2 short headers, then X-Pad filling up
 * to total (its own line included) and the blank line. Caller frees. */
static char *
s_header_block(const char *line, size_t total, int nlines)
{
    char *r = malloc(total + 1);
    size_t n = (size_t)snprintf(r, total + 1, "%s\r\nHost: x\r\n", line);
    for (int i = 0; i < nlines - 2; i++) {
        n += (size_t)snprintf(r + n, total + 1 - n, "X-H%02d: v\r\n", i);
    }
    n += (size_t)snprintf(r + n, total + 1 - n, "X-Pad: ");
    size_t pad = total - n - 4; /* "\r\n\r\n" */
    memset(r + n, 'p', pad);
    memcpy(r + n + pad, "\r\n\r\n", 5);
    assert_int_equal(strlen(r), total);
    return r;
}

static void
test_header_block_limit(void **state)
{
    (void)state;
    s_wait_ready();
    char out[4096];
    /* the documented limits at once: 4000 bytes of path and query, an 8192-byte token; the
     * request reaches the auth step (the fake auth refuses the token) */
    size_t cap = 16384;
    char *req = malloc(cap);
    int n = snprintf(req, cap, "POST /v1/sec?q=");
    memset(req + n, 'q', 4000 - (sizeof "/v1/sec?q=" - 1));
    n += 4000 - (int)(sizeof "/v1/sec?q=" - 1);
    n += snprintf(req + n, cap - (size_t)n,
                  " HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
                  "Content-Type: application/json\r\nContent-Length: 2\r\n"
                  "Connection: close\r\nAuthorization: Bearer ");
    memset(req + n, 'a', YARD_BEARER_MAX);
    n += YARD_BEARER_MAX;
    n += snprintf(req + n, cap - (size_t)n, "\r\n\r\n{}");
    assert_int_equal(s_raw(req, (size_t)n, out, sizeof out), 401);
    s_assert_has(out, "bad token");
    free(req);
    /* 12 KiB in 32 header lines: served */
    req = s_header_block("GET /healthz HTTP/1.1", 12 * 1024, 32);
    assert_int_equal(s_raw(req, strlen(req), out, sizeof out), 200);
    free(req);
    /* one byte over 16 KiB, in three lines: libmicrohttpd's 431 */
    req = s_header_block("GET /healthz HTTP/1.1", 16 * 1024 + 1, 3);
    assert_int_equal(s_raw(req, strlen(req), out, sizeof out), 431);
    s_assert_has(out, "\r\nConnection: close\r\n");
    free(req);
}

/* --- 7. --listen
 * ---------------------------------------------------------------------------------- */

/* A bus error's own text can name internal addresses ("no broker answered at tcp://..."): a
 * public client gets the generic text instead. A second gateway points at a port where no
 * broker listens. */
static void
test_bus_errors_hide_endpoints(void **state)
{
    (void)state;
    int dead = yh_free_port();
    yard_config_t *cfg = yh_config_in(F.dir, "gateway:\n"
                                             "  routes:\n"
                                             "    - {method: POST, path: /v1/open, service: sec, "
                                             "timeout: 300ms}\n");
    int saved = F.bport;
    F.bport = dead;
    yard_gateway_t *gw = s_gateway(cfg);
    F.bport = saved;
    char base[64];
    memcpy(base, F.base, sizeof base);
    snprintf(F.base, sizeof F.base, "http://127.0.0.1:%u", yard_gateway_port(gw));
    s_resp_t r;
    long status = s_json("POST", "/v1/open", "{}", NULL, &r);
    memcpy(F.base, base, sizeof base);
    yard_gateway_destroy(&gw);
    yard_config_destroy(&cfg);
    print_message("no broker: %ld %.*s\n", status, (int)r.blen, r.body);
    assert_true(status == 503 || status == 504);
    assert_null(strstr(r.body, "tcp://"));
    assert_null(strstr(r.body, "127.0.0.1"));
}

static void
test_listen_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {"127.0.0.1:99999", "127.0.0.1:", "127.0.0.1",
                                      "127.0.0.1:80a",   "::1:8080",   "127.0.0.1:-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--listen=%s", bad[i]);
        char *argv[] = {flag, NULL};
        yard_gateway_opts_t o;
        char err[512] = "";
        assert_int_equal(yard_gateway_opts_fill(&o, NULL, 1, argv, err, sizeof err), 0);
        yard_gateway_t *gw = NULL;
        assert_int_equal(yard_gateway_new(&o, NULL, NULL, &gw, err, sizeof err), YARD_E_CONFIG);
        assert_null(gw);
        yard_gateway_opts_free(&o);
        s_assert_has(err, "--listen");
        s_assert_has(err, bad[i][0] == ':' ? "brackets" : bad[i]);
    }
    /* the program says so and exits with the config status, binding nothing */
    yh_run_t *run = yh_runl("yard-gateway", NULL, 10000, "--listen", "127.0.0.1:99999",
                            "--log-level", "off", NULL);
    assert_int_not_equal(run->status, 0);
    assert_false(run->timed_out);
    s_assert_has(run->err, "--listen (gateway.listen): '127.0.0.1:99999': the port must be a "
                           "number from 0 to 65535");
    yh_run_destroy(&run);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_route_closed_and_authed),
        cmocka_unit_test(test_405_allow_and_conflict),
        cmocka_unit_test(test_content_types),
        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_bearer_limit),
        cmocka_unit_test(test_header_block_limit),
        cmocka_unit_test(test_bus_errors_hide_endpoints),
        cmocka_unit_test(test_listen_rejected),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
