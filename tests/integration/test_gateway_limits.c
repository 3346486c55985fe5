/* The HTTP gateway's limits and deployment shapes end to end, which test_gateway.c does not
 * reach: rate limits per client IP (429, Retry-After, RATE_LIMITED, counted in /metrics), per
 * bearer token (each token its own bucket), shared between two gateways through a Redis
 * started by the harness; a service queue that is full (503 OVERLOADED with Retry-After);
 * two gateways on one port with SO_REUSEPORT; and `yard up` serving HTTP as a process.
 *
 * A broker and test actors run in this process on free ports; each test builds the gateways
 * it needs from a config file written into a temp dir. Rate-limit assertions allow exactly
 * the refill that the measured elapsed time permits, so a slow machine cannot fail them and
 * a limiter that does not limit cannot pass them. Every wait is a poll with a deadline. */
#include "fixture.h"
#include "harness.h"
#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/client.h"
#include "yard/options.h"
#include "yard/error.h"
#include "yard/gateway.h"
#include "yard/log.h"

#include <curl/curl.h>
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
#include <sys/wait.h>
#include <unistd.h>

/* A number macro as a string literal, for flags. */
#define S_STR(x)     S_STR_(x)
#define S_STR_(x)    #x
#define S_HB         100
#define S_WAIT_MS    10000
#define S_MAX_HOLD   16
#define S_OVERLOAD_N 6

/* --- test actors ---------------------------------------------------------------------------- */

static int
s_op_echo(yard_request_t *req, void *state)
{
    (void)state;
    size_t size;
    const void *body = yard_request_body(req, &size);
    return yard_request_reply(req, body, size);
}

static int
s_op_ping(yard_request_t *req, void *state)
{
    (void)state;
    return yard_request_reply(req, "\xc3", 1); /* true */
}

/* "gwl": op ping, anything else echoes. */
static const yard_handler_def_t s_gwl_handlers[] = {
    {"ping", s_op_ping, "true"},
    {NULL, s_op_echo, "echo"},
    {NULL, NULL, NULL},
};
static const yard_actor_def_t s_gwl_def = {
    .name = "gwl", .description = "gateway limits test actor", .handlers = s_gwl_handlers};

/* "held": op ping answers at once; anything else is held (deferred) until s_release(). */
static pthread_mutex_t s_hold_lock = PTHREAD_MUTEX_INITIALIZER;
static yard_deferred_t *s_holds[S_MAX_HOLD];
static int s_nholds;
static bool s_released;
static atomic_int s_held;

static int
s_op_hold(yard_request_t *req, void *state)
{
    (void)state;
    atomic_fetch_add(&s_held, 1);
    pthread_mutex_lock(&s_hold_lock);
    bool now = s_released || s_nholds == S_MAX_HOLD;
    if (!now) {
        s_holds[s_nholds++] = yard_request_defer(req);
    }
    pthread_mutex_unlock(&s_hold_lock);
    return now ? yard_request_reply(req, "\x81\xa2ok\xc3", 5) : 0; /* {"ok":true} */
}

/* Answers every held request and lets later ones through at once. */
static void
s_release(void)
{
    yard_deferred_t *d[S_MAX_HOLD];
    pthread_mutex_lock(&s_hold_lock);
    s_released = true;
    int n = s_nholds;
    memcpy(d, s_holds, sizeof d);
    s_nholds = 0;
    pthread_mutex_unlock(&s_hold_lock);
    for (int i = 0; i < n; i++) {
        yard_deferred_reply(&d[i], "\x81\xa2ok\xc3", 5);
    }
}

static const yard_handler_def_t s_held_handlers[] = {
    {"ping", s_op_ping, "true"},
    {NULL, s_op_hold, "held until released"},
    {NULL, NULL, NULL},
};
static const yard_actor_def_t s_held_def = {
    .name = "held", .description = "holds requests", .handlers = s_held_handlers, .credit = 1};

/* The fake auth service: every token is valid, subject "u", no scopes (the rate limit is
 * taken before the auth call, so this test needs nothing more). */
static int
s_auth_verify(yard_request_t *req, void *state)
{
    (void)state;
    static const char r[] = "\x83\xa3sub\xa1u\xa6scopes\x90\xa3"
                            "exp\x00"; /* {"sub":"u","scopes":[],"exp":0} */
    return yard_request_reply(req, r, sizeof r - 1);
}

static const yard_handler_def_t s_auth_handlers[] = {{"verify", s_auth_verify, "verify"},
                                                     {NULL, NULL, NULL}};
static const yard_actor_def_t s_auth_def = {
    .name = "auth", .description = "fake auth", .handlers = s_auth_handlers};

/* --- fixture: a broker with gwl and auth ------------------------------------------------------ */

typedef struct {
    int bport;
    yard_broker_t *broker;
    yard_actor_t *gwl, *auth;
    char *dir;
} s_fx_t;

static s_fx_t F;

/* The fixture's actor (yh_actor_start) with replicas, heartbeat S_HB and a 2 s drain. */
static yard_actor_t *
s_actor(const yard_actor_def_t *def, int bport, int replicas)
{
    char rflag[32];
    snprintf(rflag, sizeof rflag, "--replicas=%d", replicas);
    char *flags[] = {rflag, "--heartbeat-ms=" S_STR(S_HB), "--drain-ms=2000", NULL};
    yard_actor_t *a = yh_actor_start(def, NULL, bport, flags);
    assert_non_null(a);
    return a;
}

/* The fixture's broker (yh_broker_start_opts) on a free port, heartbeat S_HB, and a queue of
 * queue_max per service (0: the default). */
static yard_broker_t *
s_broker(int *port, int64_t queue_max)
{
    yard_broker_opts_t bo = {.heartbeat_ms = S_HB, .heartbeat_min_ms = 50, .queue_max = queue_max};
    yard_broker_t *b = yh_broker_start_opts(&bo, NULL, port);
    assert_non_null(b);
    return b;
}

/* Waits until service answers op on the broker at bport (its replicas registered). */
static void
s_wait_bus(int bport, const char *service, const char *op, const void *body, size_t size)
{
    yard_client_t *cl = NULL;
    assert_int_equal(yard_client_new(yh_endpoint(bport), NULL, &cl), 0);
    long long until = yh_now_ms() + S_WAIT_MS;
    int rc;
    do {
        yard_msg_t *rep = NULL;
        yard_call_opts_t o = {.op = op, .timeout_ms = 1000};
        rc = yard_client_call(cl, service, body, size, &o, &rep);
        yard_msg_destroy(&rep);
    } while (rc != 0 && yh_now_ms() < until);
    yard_client_destroy(&cl);
    if (rc != 0) {
        fail_msg("service %s did not answer: %s", service, yard_err_name(rc));
    }
}

static int
s_setup(void **state)
{
    (void)state;
    yard_log_set_level(YARD_LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    F.dir = yh_tmpdir();
    F.broker = s_broker(&F.bport, 0);
    F.gwl = s_actor(&s_gwl_def, F.bport, 2);
    F.auth = s_actor(&s_auth_def, F.bport, 1);
    s_wait_bus(F.bport, "gwl", "ping", NULL, 0);
    s_wait_bus(F.bport, "auth", "verify", "\x81\xa5token\xa1x", 9);
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    yard_actor_destroy(&F.auth);
    yard_actor_destroy(&F.gwl);
    yard_broker_destroy(&F.broker);
    yh_rmtree(F.dir);
    free(F.dir);
    curl_global_cleanup();
    return 0;
}

/* Writes text to <dir>/<name> and loads it. Caller owns the result (yard_config_destroy()). */
static yard_config_t *
s_config(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", F.dir, name);
    char err[512] = "";
    yard_config_t *cfg = yh_config_write(path, text, err, sizeof err);
    if (cfg == NULL) {
        fail_msg("config %s: %s", name, err);
    }
    return cfg;
}

/* A started gateway on the broker at bport with cfg and extra flags (NULL ended), as
 * yh_gateway_try(). *rc_out is yard_gateway_new()'s result; NULL when it refused. Caller owns
 * the result; free with yard_gateway_destroy(). */
static yard_gateway_t *
s_gateway_try(const yard_config_t *cfg, int bport, const char *const *flags, int *rc_out)
{
    /* No config: the test services on the default route (it is off unless configured). */
    yard_config_t *base = NULL;
    if (!cfg) {
        base = s_config("base.yaml", "gateway:\n  default_route: {services: [gwl, held]}\n");
        cfg = base;
    }
    yard_gateway_t *gw = yh_gateway_try(cfg, bport, flags, rc_out);
    yard_config_destroy(&base);
    return gw;
}

static yard_gateway_t *
s_gateway(const yard_config_t *cfg, int bport, const char *const *flags)
{
    int rc = 0;
    yard_gateway_t *gw = s_gateway_try(cfg, bport, flags, &rc);
    assert_int_equal(rc, 0);
    return gw;
}

/* --- an HTTP client --------------------------------------------------------------------------- */

typedef struct {
    long status;
    char body[32768];
    size_t blen;
    char headers[8192];
    size_t hlen;
} s_resp_t;

static size_t
s_body_cb(char *p, size_t sz, size_t n, void *arg)
{
    s_resp_t *r = arg;
    size_t len = sz * n, room = sizeof r->body - 1 - r->blen;
    size_t k = len < room ? len : room;
    memcpy(r->body + r->blen, p, k);
    r->blen += k;
    r->body[r->blen] = '\0';
    return len;
}

static size_t
s_hdr_cb(char *p, size_t sz, size_t n, void *arg)
{
    s_resp_t *r = arg;
    size_t len = sz * n, room = sizeof r->headers - 1 - r->hlen;
    size_t k = len < room ? len : room;
    memcpy(r->headers + r->hlen, p, k);
    r->hlen += k;
    r->headers[r->hlen] = '\0';
    return len;
}

/* An easy handle for method port/path; a fresh connection each time (FORBID_REUSE), so
 * SO_REUSEPORT's spreading of connections is exercised too. */
static CURL *
s_easy(int port, const char *method, const char *path, const char *body, struct curl_slist *hdrs,
       s_resp_t *r)
{
    char url[256];
    memset(r, 0, sizeof *r);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url); /* libcurl copies it */
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    /* A body is JSON (curl would call it a form, which the gateway refuses with 415).
     * Static: curl only reads the list. */
    static char json_type[] = "Content-Type: application/json";
    static struct curl_slist json_hdr = {json_type, NULL};
    if (body && !hdrs) {
        hdrs = &json_hdr;
    } else if (body) {
        bool typed = false;
        for (const struct curl_slist *h = hdrs; h; h = h->next) {
            typed = typed || strncmp(h->data, "Content-Type:", 13) == 0;
        }
        if (!typed) {
            curl_slist_append(hdrs, json_type);
        }
    }
    if (hdrs) {
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_hdr_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    return c;
}

static long
s_do(int port, const char *method, const char *path, const char *body, struct curl_slist *hdrs,
     s_resp_t *r)
{
    CURL *c = s_easy(port, method, path, body, hdrs, r);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        curl_easy_cleanup(c);
        fail_msg("%s :%d%s %s: %s", method, port, path, body ? body : "", curl_easy_strerror(cc));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    return r->status;
}

/* The value of response header name (lower case, no colon) as an integer; -1 when absent. */
static long
s_header_int(const s_resp_t *r, const char *name)
{
    char want[64];
    snprintf(want, sizeof want, "\n%s:", name);
    const char *p = strcasestr(r->headers, want);
    return p ? strtol(p + strlen(want), NULL, 10) : -1;
}

/* Checks a 429: Retry-After >= 1 and the documented error body. */
static void
s_assert_rate_limited(const s_resp_t *r)
{
    assert_int_equal(r->status, 429);
    long ra = s_header_int(r, "retry-after");
    if (ra < 1) {
        fail_msg("429 without Retry-After >= 1; headers:\n%s", r->headers);
    }
    if (!strstr(r->body, "{\"error\":{\"code\":\"RATE_LIMITED\"")) {
        fail_msg("429 body: %s", r->body);
    }
}

/* Sends up to max requests until the first 429 (kept in *limited); returns how many passed
 * with 200 before it and the milliseconds the run took. Any status but 200 and 429 fails. */
static int
s_until_limited(const int *ports, int nports, const char *path, struct curl_slist *hdrs, int max,
                s_resp_t *limited, long long *took_ms)
{
    long long t0 = yh_now_ms();
    int ok = 0;
    for (int i = 0; i < max; i++) {
        s_do(ports[i % nports], "POST", path, "1", hdrs, limited);
        if (limited->status == 429) {
            *took_ms = yh_now_ms() - t0;
            return ok;
        }
        if (limited->status != 200) {
            fail_msg("request %d to %s: %ld %s", i, path, limited->status, limited->body);
        }
        ok++;
    }
    fail_msg("%d requests to %s passed: no 429 (the limit did not apply)", max, path);
    return ok;
}

/* A token bucket that starts full at burst and refills at rate/s lets through at most
 * burst + floor(elapsed * rate) requests before refusing one; and at least burst. */
static void
s_assert_burst(int ok, int burst, double rate, long long took_ms)
{
    int most = burst + (int)((double)took_ms * rate / 1000.0);
    print_message("%d passed before the 429 (burst %d, rate %g/s, %lld ms: at most %d)\n", ok,
                  burst, rate, took_ms, most);
    assert_in_range(ok, burst, most);
}

/* The sum of http_requests_total{...,code="<code>"} in a /metrics text. */
static long
s_metric_code(const char *text, const char *code)
{
    char label[32];
    snprintf(label, sizeof label, "code=\"%s\"", code);
    long sum = 0;
    for (const char *p = text; (p = strstr(p, "http_requests_total{")); p++) {
        if (p != text && p[-1] != '\n') {
            continue; /* a # HELP or # TYPE line */
        }
        /* The labels end at "} (a route pattern has braces of its own), the value follows. */
        const char *end = strstr(p, "\"} ");
        const char *hit = strstr(p, label);
        const char *eol = strchr(p, '\n');
        if (end && hit && hit < end && (!eol || end < eol)) {
            sum += strtol(end + 2, NULL, 10);
        }
    }
    return sum;
}

/* Polls /metrics until http_requests_total for code reaches want (completion callbacks run
 * after the client has its response), with a deadline. Returns the last count seen. */
static long
s_wait_metric(int port, const char *code, long want)
{
    s_resp_t *r = malloc(sizeof *r);
    long got = -1;
    long long until = yh_now_ms() + 5000;
    do {
        assert_int_equal(s_do(port, "GET", "/metrics", NULL, NULL, r), 200);
        got = s_metric_code(r->body, code);
    } while (got < want && yh_now_ms() < until);
    if (got != want) {
        print_message("/metrics:\n%s\n", r->body);
    }
    free(r);
    return got;
}

/* --- 1. per client IP --------------------------------------------------------------------- */

static void
test_rate_limit_per_ip(void **state)
{
    (void)state;
    yard_config_t *cfg = s_config("per_ip.yaml", "gateway:\n"
                                                 "  default_route: {services: [gwl]}\n"
                                                 "  rate_limit:\n"
                                                 "    per_ip: {rate: 5, burst: 5}\n");
    yard_gateway_t *gw = s_gateway(cfg, F.bport, NULL);
    int port = yard_gateway_port(gw);
    s_resp_t *r = malloc(sizeof *r);
    long long took = 0;
    int ok = s_until_limited(&port, 1, "/v1/gwl", NULL, 30, r, &took);
    s_assert_burst(ok, 5, 5, took);
    s_assert_rate_limited(r);
    long limited = 1;
    /* Retry-After is whole seconds: an empty bucket at 5/s has a token within 1 s. */
    assert_int_equal(s_header_int(r, "retry-after"), 1);
    /* More at once: each one either passes on a refilled token or is refused the same way. */
    for (int i = 0; i < 3; i++) {
        if (s_do(port, "POST", "/v1/gwl", "1", NULL, r) == 429) {
            s_assert_rate_limited(r);
            limited++;
        } else {
            assert_int_equal(r->status, 200);
        }
    }
    /* The built-in routes are not limited, and /metrics counts every 429. */
    assert_int_equal(s_do(port, "GET", "/healthz", NULL, NULL, r), 200);
    long counted = s_wait_metric(port, "429", limited);
    print_message("429s sent %ld, counted in /metrics %ld\n", limited, counted);
    assert_int_equal(counted, limited);
    free(r);
    yard_gateway_destroy(&gw);
    yard_config_destroy(&cfg);
}

/* --- 2. per bearer token -------------------------------------------------------------------- */

static void
test_rate_limit_per_token(void **state)
{
    (void)state;
    yard_config_t *cfg = s_config("per_token.yaml", "gateway:\n"
                                                    "  default_route: {services: [gwl]}\n"
                                                    "  rate_limit:\n"
                                                    "    per_token: {rate: 0.5, burst: 3}\n"
                                                    "  routes:\n"
                                                    "    - method: POST\n"
                                                    "      path: \"/v1/me\"\n"
                                                    "      service: gwl\n"
                                                    "      auth: bearer\n");
    yard_gateway_t *gw = s_gateway(cfg, F.bport, NULL);
    int port = yard_gateway_port(gw);
    s_resp_t *r = malloc(sizeof *r);
    struct curl_slist *alice = curl_slist_append(NULL, "Authorization: Bearer alice");
    struct curl_slist *bob = curl_slist_append(NULL, "Authorization: Bearer bob");
    long long took = 0;
    int ok = s_until_limited(&port, 1, "/v1/me", alice, 30, r, &took);
    s_assert_burst(ok, 3, 0.5, took);
    s_assert_rate_limited(r);
    assert_int_equal(s_header_int(r, "retry-after"), 2); /* one token every 2 s */
    /* alice's empty bucket does not touch bob's: his burst is all there. */
    long long bob0 = yh_now_ms();
    for (int i = 0; i < 3; i++) {
        if (s_do(port, "POST", "/v1/me", "1", bob, r) != 200) {
            fail_msg("bob's request %d after alice was limited: %ld %s", i, r->status, r->body);
        }
    }
    /* ... and bob is limited on his own bucket too. */
    ok = s_until_limited(&port, 1, "/v1/me", bob, 30, r, &took);
    s_assert_burst(3 + ok, 3, 0.5, yh_now_ms() - bob0);
    s_assert_rate_limited(r);
    /* No per_ip limit is configured: requests without a token are refused by auth, not by a
     * bucket keyed by address. */
    assert_int_equal(s_do(port, "POST", "/v1/me", "1", NULL, r), 401);
    assert_int_equal(s_do(port, "POST", "/v1/gwl", "1", NULL, r), 200);
    curl_slist_free_all(alice);
    curl_slist_free_all(bob);
    free(r);
    yard_gateway_destroy(&gw);
    yard_config_destroy(&cfg);
}

/* --- 3. shared through Redis ------------------------------------------------------------------ */

static void
test_rate_limit_shared(void **state)
{
    (void)state;
    int rport = 0;
    char *rdir = NULL;
    pid_t redis = yh_redis_start(&rport, &rdir);
    if (redis < 0) {
        print_message("redis-server is not installed or did not start: shared limits skipped\n");
        skip();
    }
    yard_config_t *cfg = s_config("shared.yaml", "gateway:\n"
                                                 "  default_route: {services: [gwl]}\n"
                                                 "  rate_limit:\n"
                                                 "    per_ip: {rate: 0.5, burst: 6}\n");
    char store[80];
    snprintf(store, sizeof store, "--store=redis://127.0.0.1:%d", rport);
    const char *flags[] = {store, NULL};
    yard_gateway_t *a = s_gateway(cfg, F.bport, flags);
    yard_gateway_t *b = s_gateway(cfg, F.bport, flags);
    int ports[2] = {yard_gateway_port(a), yard_gateway_port(b)};
    assert_int_not_equal(ports[0], ports[1]);
    s_resp_t *r = malloc(sizeof *r);
    long long took = 0;
    /* Alternating A, B, A, ...: one bucket of 6 for both, not 6 each. */
    int ok = s_until_limited(ports, 2, "/v1/gwl", NULL, 30, r, &took);
    s_assert_burst(ok, 6, 0.5, took);
    s_assert_rate_limited(r);
    assert_int_equal(s_header_int(r, "retry-after"), 2);
    /* The other gateway sees the same empty bucket (unless a token refilled meanwhile). */
    long long t0 = yh_now_ms();
    s_do(ports[(ok + 1) % 2], "POST", "/v1/gwl", "1", NULL, r);
    if (yh_now_ms() - t0 + took < 2000) {
        s_assert_rate_limited(r);
    }
    free(r);
    yard_gateway_destroy(&a);
    yard_gateway_destroy(&b);
    yard_config_destroy(&cfg);
    yh_redis_stop(redis, rdir);
}

/* --- 4. a full service queue: 503 OVERLOADED ----------------------------------------------- */

static void
test_overloaded(void **state)
{
    (void)state;
    /* Its own broker: a queue of 1 per service; "held" takes one request at a time (credit 1)
     * and holds it. Of S_OVERLOAD_N at once: 1 held, 1 queued, the rest refused. */
    int bport = 0;
    yard_broker_t *broker = s_broker(&bport, 1);
    yard_actor_t *held = s_actor(&s_held_def, bport, 1);
    s_wait_bus(bport, "held", "ping", NULL, 0);
    yard_gateway_t *gw = s_gateway(NULL, bport, NULL);
    int port = yard_gateway_port(gw);

    CURLM *m = curl_multi_init();
    CURL *e[S_OVERLOAD_N];
    s_resp_t *r = calloc(S_OVERLOAD_N, sizeof *r);
    for (int i = 0; i < S_OVERLOAD_N; i++) {
        e[i] = s_easy(port, "POST", "/v1/held", "{}", NULL, &r[i]);
        curl_easy_setopt(e[i], CURLOPT_PRIVATE, &r[i]);
        curl_multi_add_handle(m, e[i]);
    }
    int refused_early = 0, running = S_OVERLOAD_N, done = 0;
    bool released = false;
    long long until = yh_now_ms() + 20000, release_by = yh_now_ms() + S_WAIT_MS;
    while ((running > 0 || done < S_OVERLOAD_N) && yh_now_ms() < until) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            s_resp_t *one = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&one);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &one->status);
            if (msg->data.result != CURLE_OK) {
                one->status = -1;
            }
            done++;
            refused_early += !released && one->status == 503;
        }
        /* Release once the refusals are in (and the held one is held), or at the deadline so
         * a wrong gateway fails on the counts below rather than hanging. */
        if (!released && ((refused_early >= S_OVERLOAD_N - 2 && atomic_load(&s_held) >= 1) ||
                          yh_now_ms() > release_by)) {
            s_release();
            released = true;
        }
        curl_multi_poll(m, NULL, 0, 20, NULL);
    }
    int ok = 0, overloaded = 0;
    for (int i = 0; i < S_OVERLOAD_N; i++) {
        if (r[i].status == 200) {
            ok++;
        } else if (r[i].status == 503) {
            if (!strstr(r[i].body, "\"code\":\"OVERLOADED\"") ||
                s_header_int(&r[i], "retry-after") < 1) {
                fail_msg("503 without OVERLOADED and Retry-After: %s\n%s", r[i].body, r[i].headers);
            }
            overloaded++;
        } else {
            print_message("request %d: %ld %s\n", i, r[i].status, r[i].body);
        }
        curl_multi_remove_handle(m, e[i]);
        curl_easy_cleanup(e[i]);
    }
    curl_multi_cleanup(m);
    print_message("%d concurrent: %d ok, %d OVERLOADED (%d before release), held %d\n",
                  S_OVERLOAD_N, ok, overloaded, refused_early, atomic_load(&s_held));
    assert_int_equal(refused_early, S_OVERLOAD_N - 2);
    assert_int_equal(overloaded, S_OVERLOAD_N - 2);
    assert_int_equal(ok, 2); /* the held one and the queued one, once released */
    free(r);
    yard_gateway_destroy(&gw);
    yard_actor_destroy(&held);
    yard_broker_destroy(&broker);
}

/* --- 5. SO_REUSEPORT ---------------------------------------------------------------------- */

static void
test_reuse_port(void **state)
{
    (void)state;
    int port = yh_free_port();
    char listen[64];
    snprintf(listen, sizeof listen, "--listen=127.0.0.1:%d", port);
    const char *flags[] = {listen, "--reuse-port=true", NULL};
    yard_gateway_t *a = s_gateway(NULL, F.bport, flags);
    yard_gateway_t *b = s_gateway(NULL, F.bport, flags);
    assert_int_equal(yard_gateway_port(a), port);
    assert_int_equal(yard_gateway_port(b), port);
    /* Without the option a third one cannot bind the port: the option is what allows it. */
    const char *plain[] = {listen, NULL};
    int rc = 0;
    yard_gateway_t *c = s_gateway_try(NULL, F.bport, plain, &rc);
    assert_null(c);
    assert_int_equal(rc, YARD_E_IO);
    s_resp_t *r = malloc(sizeof *r);
    /* Fresh connections: the kernel spreads them over both listening sockets. */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(s_do(port, "POST", "/v1/gwl", "{\"i\":1}", NULL, r), 200);
        assert_string_equal(r->body, "{\"i\":1}");
    }
    yard_gateway_destroy(&a);
    /* The port still serves, through the one left. */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(s_do(port, "POST", "/v1/gwl", "{\"i\":2}", NULL, r), 200);
        assert_string_equal(r->body, "{\"i\":2}");
    }
    free(r);
    yard_gateway_destroy(&b);
}

/* --- 6. yard up serves HTTP ------------------------------------------------------------------- */

static void
test_yard_up_http(void **state)
{
    (void)state;
    int bport = yh_free_port(), hport = yh_free_port();
    char text[256], path[512];
    snprintf(text, sizeof text,
             "bind: tcp://127.0.0.1:%d\n"
             "gateway:\n"
             "  listen: 127.0.0.1:%d\n"
             "  default_route: {services: [echo]}\n",
             bport, hport);
    snprintf(path, sizeof path, "%s/up.yaml", F.dir);
    yh_write_file(path, text);
    char *argv[] = {"yard", "up", "--config", path, NULL};
    pid_t up = yh_spawn("yard", argv, NULL, F.dir);
    assert_true(up > 0);
    if (!yh_wait_port(hport, S_WAIT_MS)) {
        int ws = yh_stop(up, SIGKILL, 2000);
        fail_msg("yard up: no HTTP on port %d (wait status %d; log in %s)", hport, ws, F.dir);
    }
    s_resp_t *r = malloc(sizeof *r);
    /* The echo replicas register over inproc right after start: wait for them. */
    long long until = yh_now_ms() + S_WAIT_MS;
    while (s_do(hport, "POST", "/v1/echo", "{\"a\":1}", NULL, r) == 503 && yh_now_ms() < until) {
    }
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "{\"a\":1}");
    assert_int_equal(s_do(hport, "GET", "/healthz", NULL, NULL, r), 200);
    free(r);
    int ws = yh_stop(up, SIGTERM, 15000);
    assert_true(ws >= 0);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
    assert_false(yh_wait_port(hport, 100));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_limit_per_ip), cmocka_unit_test(test_rate_limit_per_token),
        cmocka_unit_test(test_rate_limit_shared), cmocka_unit_test(test_overloaded),
        cmocka_unit_test(test_reuse_port),        cmocka_unit_test(test_yard_up_http),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
