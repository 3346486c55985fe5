/* The HTTP gateway end to end: a real broker in this process on a free TCP port, test actors
 * on the actor runtime (and slow_actor as a process, to be SIGKILLed), the gateway on
 * 127.0.0.1:0, and libcurl (easy and multi) or a raw socket as the client. Every status code
 * of docs/gateway.md, path params and query, bodies near and over the limit (chunked too),
 * slow actors, a killed actor, 1,000 held requests on a few threads, pipelining, keep-alive,
 * the auth step (a step of the route: no verify call without it, one with it, and a failed
 * verify never reaches the service), metrics and drain on stop. Every wait is a poll with a
 * deadline. */
#include "fixture.h"
#include "harness.h"
#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/gateway.h"
#include "yard/log.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_HB 100
/* A number macro as a string literal, for flags. */
#define S_STR(x)  S_STR_(x)
#define S_STR_(x) #x

/* --- test actors ---------------------------------------------------------------------------- */

/* A worker thread completing deferred tokens after a delay. */
typedef struct s_job {
    yard_deferred_t *d;
    long long due_ms;
    struct s_job *next;
} s_job_t;

static pthread_mutex_t s_jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_jobs_cond = PTHREAD_COND_INITIALIZER;
static s_job_t *s_jobs;
static bool s_jobs_quit;
static pthread_t s_worker;
static atomic_int s_held;

static void *
s_worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&s_jobs_lock);
    for (;;) {
        s_job_t *due = NULL, **pp = &s_jobs;
        long long now = yh_now_ms(), next = now + 100;
        while (*pp) {
            if ((*pp)->due_ms <= now || s_jobs_quit) {
                s_job_t *j = *pp;
                *pp = j->next;
                j->next = due;
                due = j;
            } else {
                next = (*pp)->due_ms < next ? (*pp)->due_ms : next;
                pp = &(*pp)->next;
            }
        }
        if (due) {
            pthread_mutex_unlock(&s_jobs_lock);
            while (due) {
                s_job_t *j = due;
                due = j->next;
                yard_deferred_reply(&j->d, "\x81\xa2ok\xc3", 5); /* {"ok":true} */
                free(j);
            }
            pthread_mutex_lock(&s_jobs_lock);
            continue;
        }
        if (s_jobs_quit) {
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long wait = next - now;
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s_jobs_cond, &s_jobs_lock, &ts);
    }
    pthread_mutex_unlock(&s_jobs_lock);
    return NULL;
}

/* "gwt": op echo (default), inspect (the bus headers back as a map), slow (defer 1.5 s),
 * fail (a service error; 404 when the body says so), created (201 + Location), empty. */
static int
s_op_echo(yard_request_t *req, void *state)
{
    (void)state;
    size_t size;
    const void *body = yard_request_body(req, &size);
    return yard_request_reply(req, body, size);
}

/* Calls that reached the inspect op and the fake auth service's verify (test_auth_steps). */
static atomic_int s_inspect_calls, s_verify_calls;

static int
s_op_inspect(yard_request_t *req, void *state)
{
    (void)state;
    atomic_fetch_add(&s_inspect_calls, 1);
    static const char *const keys[] = {"http.method",
                                       "http.path",
                                       "http.query",
                                       "http.param.id",
                                       "http.header.user-agent",
                                       "http.header.content-type",
                                       "x-request-id",
                                       "auth.sub",
                                       "auth.scopes",
                                       NULL};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    size_t n = 0;
    for (size_t i = 0; keys[i]; i++) {
        n += yard_request_header(req, keys[i]) != NULL;
    }
    msgpack_pack_map(&pk, n);
    for (size_t i = 0; keys[i]; i++) {
        const char *v = yard_request_header(req, keys[i]);
        if (v) {
            msgpack_pack_str_with_body(&pk, keys[i], strlen(keys[i]));
            msgpack_pack_str_with_body(&pk, v, strlen(v));
        }
    }
    int rc = yard_request_reply(req, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static int
s_op_slow(yard_request_t *req, void *state)
{
    (void)state;
    atomic_fetch_add(&s_held, 1);
    s_job_t *j = calloc(1, sizeof *j);
    j->d = yard_request_defer(req);
    j->due_ms = yh_now_ms() + 1500;
    pthread_mutex_lock(&s_jobs_lock);
    j->next = s_jobs;
    s_jobs = j;
    pthread_cond_signal(&s_jobs_cond);
    pthread_mutex_unlock(&s_jobs_lock);
    return 0;
}

static int
s_op_fail(yard_request_t *req, void *state)
{
    (void)state;
    const char *q = yard_request_header(req, "http.query");
    if (q && strstr(q, "404")) {
        yard_request_set_header(req, "http.status", "404");
    }
    return yard_request_fail(req, YARD_E_SERVICE, "USER_UNKNOWN", "no such user");
}

static int
s_op_created(yard_request_t *req, void *state)
{
    (void)state;
    yard_request_set_header(req, "http.status", "201");
    yard_request_set_header(req, "http.header.Location", "/v1/things/7");
    return yard_request_reply(req, "\x81\xa2id\x07", 5);
}

static int
s_op_empty(yard_request_t *req, void *state)
{
    (void)state;
    return yard_request_reply(req, NULL, 0);
}

static const yard_handler_def_t s_gwt_handlers[] = {
    {"inspect", s_op_inspect, "headers back"},
    {"slow", s_op_slow, "1.5 s"},
    {"fail", s_op_fail, "service error"},
    {"created", s_op_created, "201"},
    {"empty", s_op_empty, "no body"},
    {NULL, s_op_echo, "echo"},
    {NULL, NULL, NULL},
};

static const yard_actor_def_t s_gwt_def = {
    .name = "gwt", .description = "gateway test actor", .handlers = s_gwt_handlers, .credit = 2000};

/* The fake auth service: token "good" -> sub u1, scopes a,b; "noscope" -> FORBIDDEN;
 * anything else -> UNAUTHENTICATED. */
static int
s_auth_verify(yard_request_t *req, void *state)
{
    (void)state;
    atomic_fetch_add(&s_verify_calls, 1);
    const msgpack_object *o = yard_request_object(req);
    const char *tok = "";
    size_t tlen = 0;
    for (uint32_t i = 0; o && o->type == MSGPACK_OBJECT_MAP && i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 5 &&
            memcmp(kv->key.via.str.ptr, "token", 5) == 0 && kv->val.type == MSGPACK_OBJECT_STR) {
            tok = kv->val.via.str.ptr;
            tlen = kv->val.via.str.size;
        }
    }
    if (tlen == 4 && memcmp(tok, "good", 4) == 0) {
        /* {"sub":"u1","scopes":["a","b"],"exp":0} */
        static const char r[] = "\x83\xa3sub\xa2u1\xa6scopes\x92\xa1"
                                "a\xa1"
                                "b\xa3"
                                "exp\x00";
        return yard_request_reply(req, r, sizeof r - 1);
    }
    if (tlen == 7 && memcmp(tok, "noscope", 7) == 0) {
        return yard_request_fail(req, YARD_E_FORBIDDEN, NULL, "missing scope");
    }
    return yard_request_fail(req, YARD_E_UNAUTHENTICATED, NULL, "bad token");
}

static const yard_handler_def_t s_auth_handlers[] = {{"verify", s_auth_verify, "verify"},
                                                     {NULL, NULL, NULL}};
static const yard_actor_def_t s_auth_def = {
    .name = "auth", .description = "fake auth", .handlers = s_auth_handlers};

/* --- fixture -------------------------------------------------------------------------------- */

typedef struct {
    int bport;
    yard_broker_t *broker;
    yard_actor_t *gwt;
    yard_gateway_t *gw;
    yard_config_t *cfg;
    char *dir;
    char base[64];
} s_fx_t;

static s_fx_t F;

static const char s_config[] = "gateway:\n"
                               "  default_route: {services: [gwt, nosuchservice]}\n"
                               "  cors:\n"
                               "    origins: [\"https://app.example.com\"]\n"
                               "    methods: [GET, POST]\n"
                               "    headers: [Authorization, Content-Type]\n"
                               "    max_age: 600\n"
                               "  routes:\n"
                               "    - method: GET\n"
                               "      path: \"/v1/users/{id}\"\n"
                               "      service: gwt\n"
                               "      op: inspect\n"
                               "    - method: POST\n"
                               "      path: \"/v1/small\"\n"
                               "      service: gwt\n"
                               "      body_limit: 1KiB\n"
                               "    - method: POST\n"
                               "      path: \"/v1/slow\"\n"
                               "      service: gwt\n"
                               "      op: slow\n"
                               "      timeout: 300ms\n"
                               "    - method: POST\n"
                               "      path: \"/v1/hold\"\n"
                               "      service: gwt\n"
                               "      op: slow\n"
                               "      timeout: 10s\n"
                               "    - method: POST\n"
                               "      path: \"/v1/killme\"\n"
                               "      service: slow\n"
                               "      timeout: 10s\n"
                               "    - method: GET\n"
                               "      path: \"/v1/me\"\n"
                               "      service: gwt\n"
                               "      op: inspect\n"
                               "      auth: bearer\n"
                               "      scopes: [a]\n"
                               "    - method: POST\n"
                               "      path: \"/v1/fail\"\n"
                               "      service: gwt\n"
                               "      op: fail\n"
                               "    - method: POST\n"
                               "      path: \"/v1/created\"\n"
                               "      service: gwt\n"
                               "      op: created\n"
                               "    - method: POST\n"
                               "      path: \"/v1/empty\"\n"
                               "      service: gwt\n"
                               "      op: empty\n";

static yard_gateway_t *
s_gateway_new(int threads)
{
    char tflag[32];
    snprintf(tflag, sizeof tflag, "--threads=%d", threads);
    const char *flags[] = {"--drain-ms=5000", threads ? tflag : NULL, NULL};
    return yh_gateway_start(F.cfg, F.bport, flags);
}

static int
s_setup(void **state)
{
    (void)state;
    yard_log_set_level(YARD_LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_create(&s_worker, NULL, s_worker_main, NULL);
    F.dir = yh_tmpdir();
    F.cfg = yh_config_in(F.dir, s_config); /* loaded, or the test aborts naming the error */
    assert_non_null(F.cfg);
    yard_broker_opts_t bo = {.heartbeat_ms = S_HB, .heartbeat_min_ms = 50};
    F.broker = yh_broker_start_opts(&bo, NULL, &F.bport);
    assert_non_null(F.broker);
    char *flags[] = {"--replicas=2", "--heartbeat-ms=" S_STR(S_HB), "--drain-ms=2000", NULL};
    F.gwt = yh_actor_start(&s_gwt_def, NULL, F.bport, flags);
    assert_non_null(F.gwt);
    F.gw = s_gateway_new(2);
    snprintf(F.base, sizeof F.base, "http://127.0.0.1:%u", yard_gateway_port(F.gw));
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    yard_gateway_destroy(&F.gw);
    yard_actor_destroy(&F.gwt);
    yard_broker_destroy(&F.broker);
    pthread_mutex_lock(&s_jobs_lock);
    s_jobs_quit = true;
    pthread_cond_signal(&s_jobs_cond);
    pthread_mutex_unlock(&s_jobs_lock);
    pthread_join(s_worker, NULL);
    yard_config_destroy(&F.cfg);
    yh_rmtree(F.dir);
    free(F.dir);
    curl_global_cleanup();
    return 0;
}

/* --- an HTTP client --------------------------------------------------------------------------- */

typedef struct {
    long status;
    char body[8192];
    size_t blen;
    char headers[8192];
    size_t hlen;
    long connects;
} s_resp_t;

static size_t
s_body_cb(char *p, size_t sz, size_t n, void *arg)
{
    s_resp_t *r = arg;
    size_t len = sz * n, room = sizeof r->body - 1 - r->blen;
    memcpy(r->body + r->blen, p, len < room ? len : room);
    r->blen += len < room ? len : room;
    r->body[r->blen] = '\0';
    return len;
}

static size_t
s_hdr_cb(char *p, size_t sz, size_t n, void *arg)
{
    s_resp_t *r = arg;
    size_t len = sz * n, room = sizeof r->headers - 1 - r->hlen;
    memcpy(r->headers + r->hlen, p, len < room ? len : room);
    r->hlen += len < room ? len : room;
    r->headers[r->hlen] = '\0';
    return len;
}

/* A body is JSON unless a test says otherwise (curl would call it a form, which the gateway
 * refuses with 415). Static: curl only reads the list. */
static char s_json_type[] = "Content-Type: application/json";
static struct curl_slist s_json_hdr = {s_json_type, NULL};

static CURL *
s_easy(const char *method, const char *path, const char *body, size_t blen, struct curl_slist *hdrs,
       s_resp_t *r)
{
    if (body && !hdrs) {
        hdrs = &s_json_hdr;
    } else if (body) {
        bool typed = false;
        for (const struct curl_slist *h = hdrs; h; h = h->next) {
            typed = typed || strncasecmp(h->data, "Content-Type:", 13) == 0;
        }
        if (!typed) {
            curl_slist_append(hdrs, s_json_type);
        }
    }
    static _Thread_local char url[512];
    memset(r, 0, sizeof *r);
    snprintf(url, sizeof url, "%s%s", F.base, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    }
    if (hdrs) {
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_hdr_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    return c;
}

static long
s_do(const char *method, const char *path, const char *body, struct curl_slist *hdrs, s_resp_t *r)
{
    CURL *c = s_easy(method, path, body, body ? strlen(body) : 0, hdrs, r);
    CURLcode cc = curl_easy_perform(c);
    assert_int_equal(cc, CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    return r->status;
}

static bool
s_has_header(const s_resp_t *r, const char *line)
{
    return strcasestr(r->headers, line) != NULL;
}

/* Waits until service answers through the gateway (replicas registered). */
static void
s_wait_service(const char *path, const char *body)
{
    long long until = yh_now_ms() + 10000;
    s_resp_t r;
    while (s_do("POST", path, body, NULL, &r) == 503 && yh_now_ms() < until) {
    }
    assert_true(r.status != 503);
}

/* --- tests ---------------------------------------------------------------------------------- */

static void
test_echo_exact(void **state)
{
    (void)state;
    s_wait_service("/v1/gwt", "1");
    s_resp_t r;
    const char *in = "{\"big\":9223372036854775807,\"neg\":-9223372036854775808,\"f\":0.1,"
                     "\"s\":\"h\xc3\xa9\",\"t\":true,\"n\":null,\"a\":[1,[2,{}]]}";
    assert_int_equal(s_do("POST", "/v1/gwt", in, NULL, &r), 200);
    assert_string_equal(r.body, in);
    assert_true(s_has_header(&r, "content-type: application/json"));
    assert_true(s_has_header(&r, "x-process-time: 0."));
    assert_true(s_has_header(&r, "x-request-id: "));
    struct curl_slist *h = curl_slist_append(NULL, "X-Request-Id: my-id-42");
    assert_int_equal(s_do("POST", "/v1/gwt", "[]", h, &r), 200);
    assert_true(s_has_header(&r, "x-request-id: my-id-42\r\n"));
    curl_slist_free_all(h);
    /* an id that is too long is replaced */
    char longid[300] = "X-Request-Id: ";
    memset(longid + 14, 'x', 200);
    h = curl_slist_append(NULL, longid);
    assert_int_equal(s_do("POST", "/v1/gwt", "[]", h, &r), 200);
    assert_false(s_has_header(&r, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
    curl_slist_free_all(h);
}

/* Integers of the whole int64 and uint64 ranges cross JSON -> msgpack -> JSON unchanged. */
static void
test_echo_int64_uint64(void **state)
{
    (void)state;
    s_wait_service("/v1/gwt", "1");
    s_resp_t r;
    const char *in = "{\"big\":18446744073709551615,\"neg\":-9223372036854775808}";
    assert_int_equal(s_do("POST", "/v1/gwt", in, NULL, &r), 200);
    assert_string_equal(r.body, in);
}

static void
test_params_query_headers(void **state)
{
    (void)state;
    s_resp_t r;
    struct curl_slist *h = curl_slist_append(NULL, "User-Agent: gwtest/1");
    assert_int_equal(s_do("GET", "/v1/users/42?x=1&y=%20z", NULL, h, &r), 200);
    curl_slist_free_all(h);
    assert_non_null(strstr(r.body, "\"http.method\":\"GET\""));
    assert_non_null(strstr(r.body, "\"http.path\":\"/v1/users/42\""));
    assert_non_null(strstr(r.body, "\"http.query\":\"x=1&y=%20z\""));
    assert_non_null(strstr(r.body, "\"http.param.id\":\"42\""));
    assert_non_null(strstr(r.body, "\"http.header.user-agent\":\"gwtest/1\""));
    assert_non_null(strstr(r.body, "\"x-request-id\":\""));
}

static void
test_statuses(void **state)
{
    (void)state;
    s_resp_t r;
    assert_int_equal(s_do("POST", "/v1/gwt", "{\"a\":", NULL, &r), 400);
    assert_non_null(strstr(r.body, "\"code\":\"BAD_JSON\""));
    assert_non_null(strstr(r.body, "line 1, column"));
    assert_int_equal(s_do("GET", "/nowhere", NULL, NULL, &r), 404);
    assert_non_null(strstr(r.body, "{\"error\":{\"code\":\"NOT_FOUND\""));
    assert_int_equal(s_do("DELETE", "/v1/users/1", NULL, NULL, &r), 405);
    assert_int_equal(s_do("POST", "/v1/nosuchservice", "{}", NULL, &r), 503);
    assert_non_null(strstr(r.body, "NO_SERVICE"));
    assert_int_equal(s_do("POST", "/v1/fail", "{}", NULL, &r), 500);
    assert_non_null(strstr(r.body, "\"code\":\"USER_UNKNOWN\""));
    assert_int_equal(s_do("POST", "/v1/fail?want=404", "{}", NULL, &r), 404);
    assert_non_null(strstr(r.body, "\"code\":\"USER_UNKNOWN\""));
    assert_int_equal(s_do("POST", "/v1/created", "{}", NULL, &r), 201);
    assert_true(s_has_header(&r, "location: /v1/things/7"));
    assert_string_equal(r.body, "{\"id\":7}");
    assert_int_equal(s_do("POST", "/v1/empty", "{}", NULL, &r), 204);
    long long t0 = yh_now_ms();
    assert_int_equal(s_do("POST", "/v1/slow", "{}", NULL, &r), 504);
    long long took = yh_now_ms() - t0;
    assert_true(took >= 250 && took < 1500);
    assert_non_null(strstr(r.body, "TIMEOUT"));
    assert_int_equal(s_do("GET", "/healthz", NULL, NULL, &r), 200);
    long long until = yh_now_ms() + 5000;
    while (s_do("GET", "/readyz", NULL, NULL, &r) != 200 && yh_now_ms() < until) {
    }
    assert_int_equal(r.status, 200);
}

static void
test_body_limits(void **state)
{
    (void)state;
    s_resp_t r;
    /* /v1/small: 1 KiB. A JSON string of exactly 1024 bytes passes; 1025 does not. */
    char body[2100];
    memset(body, 'a', sizeof body);
    body[0] = '"';
    body[1023] = '"';
    body[1024] = '\0';
    assert_int_equal(s_do("POST", "/v1/small", body, NULL, &r), 200);
    body[1023] = 'a';
    body[1024] = '"';
    body[1025] = '\0';
    assert_int_equal(s_do("POST", "/v1/small", body, NULL, &r), 413);
    assert_non_null(strstr(r.body, "TOO_LARGE"));
    /* chunked: no Content-Length, counted as it arrives */
    struct curl_slist *h = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    body[2000] = '"';
    body[2001] = '\0';
    assert_int_equal(s_do("POST", "/v1/small", body, h, &r), 413);
    body[1023] = '"';
    body[1024] = '\0';
    assert_int_equal(s_do("POST", "/v1/small", body, h, &r), 200);
    curl_slist_free_all(h);
    /* the default limit (1 MiB), over and under */
    size_t big = 1024 * 1024 + 10;
    char *b = malloc(big + 1);
    memset(b, 'b', big);
    b[0] = '"';
    b[big - 1] = '"';
    b[big] = '\0';
    assert_int_equal(s_do("POST", "/v1/gwt", b, NULL, &r), 413);
    b[big - 100] = '"';
    b[big - 99] = '\0';
    r.status = 0;
    CURL *c = s_easy("POST", "/v1/gwt", b, big - 99, NULL, &r);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    assert_int_equal(r.status, 200); /* 1 MiB - 89 bytes: the body (truncated in r) came back */
    free(b);
}

static void
test_auth(void **state)
{
    (void)state;
    s_resp_t r;
    assert_int_equal(s_do("GET", "/v1/me", NULL, NULL, &r), 401);
    assert_true(s_has_header(&r, "www-authenticate: Bearer"));
    struct curl_slist *h = curl_slist_append(NULL, "Authorization: Basic abc");
    assert_int_equal(s_do("GET", "/v1/me", NULL, h, &r), 401);
    curl_slist_free_all(h);
    h = curl_slist_append(NULL, "Authorization: Bearer good");
    assert_int_equal(s_do("GET", "/v1/me", NULL, h, &r), 503); /* no auth service yet */
    char *flags[] = {"--replicas=1", "--heartbeat-ms=" S_STR(S_HB), "--drain-ms=1000", NULL};
    yard_actor_t *auth = yh_actor_start(&s_auth_def, NULL, F.bport, flags);
    assert_non_null(auth);
    long long until = yh_now_ms() + 10000;
    while (s_do("GET", "/v1/me", NULL, h, &r) == 503 && yh_now_ms() < until) {
    }
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"auth.sub\":\"u1\""));
    assert_non_null(strstr(r.body, "\"auth.scopes\":\"a,b\""));
    curl_slist_free_all(h);
    h = curl_slist_append(NULL, "Authorization: Bearer noscope");
    assert_int_equal(s_do("GET", "/v1/me", NULL, h, &r), 403);
    curl_slist_free_all(h);
    h = curl_slist_append(NULL, "Authorization: Bearer wrong");
    assert_int_equal(s_do("GET", "/v1/me", NULL, h, &r), 401);
    curl_slist_free_all(h);
    yard_actor_destroy(&auth);
}

/* GET path with an Authorization: Bearer token; returns the status. */
static long
s_get_bearer(const char *path, const char *token, s_resp_t *r)
{
    char line[64];
    snprintf(line, sizeof line, "Authorization: Bearer %s", token);
    struct curl_slist *h = curl_slist_append(NULL, line);
    long st = s_do("GET", path, NULL, h, r);
    curl_slist_free_all(h);
    return st;
}

/* The bearer check is a step of the route (auth: bearer puts VERIFY before the route's call):
 * a route without it makes no verify call, even when the client sends a token; one with it
 * makes exactly one per request; a failed verify never reaches the route's service. The
 * counters are read after the HTTP answer, which comes after the calls that count. */
static void
test_auth_steps(void **state)
{
    (void)state;
    char *flags[] = {"--replicas=1", "--heartbeat-ms=" S_STR(S_HB), "--drain-ms=1000", NULL};
    yard_actor_t *auth = yh_actor_start(&s_auth_def, NULL, F.bport, flags);
    assert_non_null(auth);
    s_resp_t r;
    long long until = yh_now_ms() + 10000;
    while (s_get_bearer("/v1/me", "good", &r) == 503 && yh_now_ms() < until) {
    }
    assert_int_equal(r.status, 200);
    int v = atomic_load(&s_verify_calls), i = atomic_load(&s_inspect_calls);
    /* no auth on the route: the token is not verified (nor forwarded as an identity) */
    assert_int_equal(s_get_bearer("/v1/users/7", "good", &r), 200);
    assert_null(strstr(r.body, "auth.sub"));
    assert_int_equal(atomic_load(&s_verify_calls), v);
    assert_int_equal(atomic_load(&s_inspect_calls), i + 1);
    /* auth: bearer: one verify, then the call, which sees the identity */
    assert_int_equal(s_get_bearer("/v1/me", "good", &r), 200);
    assert_non_null(strstr(r.body, "\"auth.sub\":\"u1\""));
    assert_int_equal(atomic_load(&s_verify_calls), v + 1);
    assert_int_equal(atomic_load(&s_inspect_calls), i + 2);
    /* a failed verify ends the request: the route's service never sees it */
    assert_int_equal(s_get_bearer("/v1/me", "wrong", &r), 401);
    assert_non_null(strstr(r.body, "bad token"));
    assert_int_equal(s_get_bearer("/v1/me", "noscope", &r), 403);
    assert_non_null(strstr(r.body, "missing scope"));
    assert_int_equal(atomic_load(&s_verify_calls), v + 3);
    assert_int_equal(atomic_load(&s_inspect_calls), i + 2);
    yard_actor_destroy(&auth);
}

static void
test_keepalive_and_pipelining(void **state)
{
    (void)state;
    s_resp_t r;
    CURL *c = s_easy("POST", "/v1/gwt", "1", 1, NULL, &r);
    for (int i = 0; i < 5; i++) {
        r.blen = 0;
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
    }
    long n = 0;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &n);
    assert_int_equal(n, 0); /* the last transfer reused the connection */
    curl_easy_cleanup(c);

    /* Two requests in one write; two responses, in order. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(yard_gateway_port(F.gw))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char req[] = "POST /v1/gwt HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 7\r\n\r\n\"first\""
                       "POST /v1/gwt HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 8\r\n\r\n\"second\"";
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    char buf[4096];
    size_t got = 0;
    long long until = yh_now_ms() + 10000;
    struct timeval tv = {0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (yh_now_ms() < until && got < sizeof buf - 1) {
        ssize_t k = read(fd, buf + got, sizeof buf - 1 - got);
        if (k > 0) {
            got += (size_t)k;
            buf[got] = '\0';
            if (strstr(buf, "\"second\"")) {
                break;
            }
        } else if (k == 0) {
            break;
        }
    }
    close(fd);
    char *a = strstr(buf, "\"first\""), *b = strstr(buf, "\"second\"");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    assert_int_equal(strncmp(buf, "HTTP/1.1 200", 12), 0);
}

static int
s_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

/* Runs n concurrent requests to path with curl multi; calls mid() once all are held
 * (s_held reached target) and returns how many got each status. */
static void
s_multi(int n, const char *path, int *ok, int *other, int held_target, void (*mid)(void))
{
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    CURL **e = calloc((size_t)n, sizeof *e);
    s_resp_t *r = calloc((size_t)n, sizeof *r);
    for (int i = 0; i < n; i++) {
        e[i] = s_easy("POST", path, "{}", 2, NULL, &r[i]);
        curl_easy_setopt(e[i], CURLOPT_FORBID_REUSE, 1L);
        curl_multi_add_handle(m, e[i]);
    }
    int running = n;
    bool mid_done = mid == NULL;
    long long until = yh_now_ms() + 60000;
    while (running > 0 && yh_now_ms() < until) {
        curl_multi_perform(m, &running);
        if (!mid_done && atomic_load(&s_held) >= held_target) {
            mid();
            mid_done = true;
        }
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    assert_true(mid_done);
    *ok = *other = 0;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
        long st = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &st);
        if (msg->data.result == CURLE_OK && st == 200) {
            (*ok)++;
        } else {
            (*other)++;
        }
    }
    for (int i = 0; i < n; i++) {
        curl_multi_remove_handle(m, e[i]);
        curl_easy_cleanup(e[i]);
    }
    free(e);
    free(r);
    curl_multi_cleanup(m);
}

static int s_threads_during;

static void
s_count_threads(void)
{
    s_threads_during = s_threads();
}

static void
test_thousand_held(void **state)
{
    (void)state;
    int before = s_threads();
    int base = atomic_load(&s_held);
    int ok = 0, other = 0;
    s_multi(1000, "/v1/hold", &ok, &other, base + 1000, s_count_threads);
    print_message("threads before %d, with 1000 held %d; ok %d other %d\n", before,
                  s_threads_during, ok, other);
    assert_int_equal(ok, 1000);
    assert_int_equal(other, 0);
    assert_true(s_threads_during <= before + 2);
}

static void
test_cors(void **state)
{
    (void)state;
    s_resp_t r;
    struct curl_slist *h = curl_slist_append(NULL, "Origin: https://app.example.com");
    h = curl_slist_append(h, "Access-Control-Request-Method: POST");
    h = curl_slist_append(h, "Access-Control-Request-Headers: Content-Type");
    assert_int_equal(s_do("OPTIONS", "/v1/gwt", NULL, h, &r), 204);
    assert_true(s_has_header(&r, "access-control-allow-origin: https://app.example.com"));
    assert_true(s_has_header(&r, "access-control-allow-methods: "));
    curl_slist_free_all(h);
    h = curl_slist_append(NULL, "Origin: https://evil.example.com");
    h = curl_slist_append(h, "Access-Control-Request-Method: POST");
    assert_int_equal(s_do("OPTIONS", "/v1/gwt", NULL, h, &r), 403);
    curl_slist_free_all(h);
    h = curl_slist_append(NULL, "Origin: https://app.example.com");
    assert_int_equal(s_do("POST", "/v1/gwt", "1", h, &r), 200);
    assert_true(s_has_header(&r, "access-control-allow-origin: https://app.example.com"));
    curl_slist_free_all(h);
}

static void
test_metrics(void **state)
{
    (void)state;
    s_resp_t r;
    assert_int_equal(s_do("GET", "/metrics", NULL, NULL, &r), 200);
    /* 1000 successful /v1/hold and at least one 404 and one 504 */
    assert_non_null(strstr(r.body, "http_requests_total{"));
    long hold = 0;
    for (char *p = r.body; (p = strstr(p, "http_requests_total{")); p++) {
        if (strstr(p, "route=\"/v1/hold\"") && strstr(p, "code=\"200\"") &&
            strstr(p, "route=\"/v1/hold\"") < strchr(p, '\n')) {
            hold += strtol(strchr(p, '}') + 1, NULL, 10);
        }
    }
    assert_int_equal(hold, 1000);
}

static void
test_killed_actor(void **state)
{
    (void)state;
    char ep[64];
    snprintf(ep, sizeof ep, "%s", yh_endpoint(F.bport));
    char *argv[] = {"slow_actor", "--broker", ep, "--heartbeat-ms", "100", NULL};
    pid_t pid = yh_spawn("slow_actor", argv, NULL, NULL);
    assert_true(pid > 0);
    s_wait_service("/v1/killme", "1");
    s_resp_t r;
    CURL *c = s_easy("POST", "/v1/killme", "{\"ms\":8000}", 11, NULL, &r);
    CURLM *m = curl_multi_init();
    curl_multi_add_handle(m, c);
    /* wait until the broker says the replica holds it */
    yard_client_t *cl = NULL;
    assert_int_equal(yard_client_new(ep, NULL, &cl), 0);
    int running = 1;
    long long until = yh_now_ms() + 10000;
    bool held = false;
    while (!held && yh_now_ms() < until) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 20, NULL);
        yard_msg_t *rep = NULL;
        yard_call_opts_t o = {.op = "stats", .timeout_ms = 1000};
        if (yard_client_call(cl, "$sys", NULL, 0, &o, &rep) == 0) {
            size_t sz;
            const char *b = yard_msg_body(rep, &sz);
            /* "in_flight" followed by a positive fixint for the only busy service */
            for (size_t i = 0; i + 10 < sz; i++) {
                if (memcmp(b + i, "\xa9in_flight", 10) == 0 && b[i + 10] >= 1 && b[i + 10] < 0x7f) {
                    held = true;
                }
            }
        }
        yard_msg_destroy(&rep);
    }
    yard_client_destroy(&cl);
    assert_true(held);
    long long t0 = yh_now_ms();
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    until = yh_now_ms() + 15000;
    while (running && yh_now_ms() < until) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    assert_int_equal(running, 0);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    print_message("killed actor: %ld after %lld ms: %s\n", r.status, yh_now_ms() - t0, r.body);
    assert_true(r.status == 503 || r.status == 504);
    assert_null(strstr(r.body, "tcp://")); /* no internal endpoint in a public answer */
    curl_multi_remove_handle(m, c);
    curl_easy_cleanup(c);
    curl_multi_cleanup(m);
}

static yard_gateway_t *s_drain_gw;
static int s_drain_port;

static void *
s_stopper(void *arg)
{
    yard_gateway_stop(arg);
    return NULL;
}

static void
s_stop_mid(void)
{
    /* stop from another thread: yard_gateway_stop blocks until the drain ends */
    pthread_t t;
    pthread_create(&t, NULL, s_stopper, s_drain_gw);
    pthread_detach(t);
    long long until = yh_now_ms() + 5000;
    while (yh_wait_port(s_drain_port, 50) && yh_now_ms() < until) {
    }
    assert_false(yh_wait_port(s_drain_port, 50)); /* new connections refused */
}

static void
test_drain(void **state)
{
    (void)state;
    s_drain_gw = s_gateway_new(2);
    s_drain_port = yard_gateway_port(s_drain_gw);
    char saved[64];
    memcpy(saved, F.base, sizeof saved);
    snprintf(F.base, sizeof F.base, "http://127.0.0.1:%d", s_drain_port);
    int base = atomic_load(&s_held);
    int ok = 0, other = 0;
    s_multi(20, "/v1/hold", &ok, &other, base + 20, s_stop_mid);
    assert_int_equal(ok, 20); /* in flight when the stop began: all completed */
    memcpy(F.base, saved, sizeof saved);
    yard_gateway_destroy(&s_drain_gw);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_exact),
        cmocka_unit_test(test_params_query_headers),
        cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_auth_steps),
        cmocka_unit_test(test_keepalive_and_pipelining),
        cmocka_unit_test(test_thousand_held),
        cmocka_unit_test(test_cors),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_killed_actor),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_echo_int64_uint64),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
