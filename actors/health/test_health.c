/* The health actor through the runtime's own code (yard/actor_test.h: fake clock for the
 * intervals, real loop sources for the probes) against real local targets: the scripted HTTP
 * server (tests/harness/http_fake.h) told to fail, hang or serve a certificate about to
 * expire (made at test time with the openssl CLI), and a TCP port opened and closed.
 *
 * Shown here: transitions exactly at down_after / up_after, each published once (health.down
 * or health.up, and alert.health.<name>); a hanging check never delays another; the check,
 * status, metrics and page ops; config errors named with file and line; no checks: idles. */
#include "harness.h"
#include "health_internal.h"
#include "http_fake.h"
#include "yard/actor_test.h"
#include "yard/error.h"
#include "yard/mp.h"
#include "yard/registry.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_WAIT_MS 10000 /* real time a run may take on a loaded machine */

/* --- helpers -------------------------------------------------------------------------------- */

static hc_record_t
s_rec(yard_actor_test_t *t, const char *name)
{
    hc_record_t r;
    assert_int_equal(hc_record_load(yard_ctx_store(yard_actor_test_ctx(t)), name, &r), 0);
    return r;
}

typedef struct {
    yard_actor_test_t *t;
    const char *name;
    int64_t runs;
} s_until_t;

static bool
s_runs_reached(void *arg)
{
    s_until_t *u = arg;
    return s_rec(u->t, u->name).runs >= u->runs;
}

/* Turns the loop until name's record counts `runs` runs. */
static hc_record_t
s_wait_runs(yard_actor_test_t *t, const char *name, int64_t runs)
{
    s_until_t u = {t, name, runs};
    assert_int_equal(yard_actor_test_run(t, S_WAIT_MS, s_runs_reached, &u), 0);
    return s_rec(t, name);
}

/* One interval: the fake clock moves by ms (the timer fires), then the run completes. */
static hc_record_t
s_next(yard_actor_test_t *t, const char *name, int64_t ms)
{
    int64_t runs = s_rec(t, name).runs;
    yard_actor_test_advance(t, ms);
    return s_wait_runs(t, name, runs + 1);
}

static size_t
s_events(yard_actor_test_t *t)
{
    return yard_actor_test_published(t, 0, NULL, NULL, NULL);
}

/* Decodes msgpack data into m, on zone (the caller destroys it). */
static void
s_decode(const void *data, size_t size, msgpack_zone *zone, msgpack_object *m)
{
    msgpack_zone_init(zone, 4096);
    assert_int_equal(yard_mp_decode(data, size, zone, m, NULL, 0), 0);
}

/* Event i's subject and one string / integer field of its body. */
static void
s_event(yard_actor_test_t *t, size_t i, const char *subject, const char *key, const char *want)
{
    const char *subj = NULL;
    const void *body = NULL;
    size_t size = 0;
    assert_true(i < yard_actor_test_published(t, i, &subj, &body, &size));
    assert_string_equal(subj, subject);
    msgpack_zone zone;
    msgpack_object m;
    s_decode(body, size, &zone, &m);
    char got[256] = "";
    assert_int_equal(yard_mp_get_strbuf(&m, key, got, sizeof got, NULL, 0), 0);
    if (!strstr(got, want)) {
        fail_msg("event %zu %s: '%s' is '%s', wanted it to hold '%s'", i, subject, key, got, want);
    }
    msgpack_zone_destroy(&zone);
}

static int64_t
s_event_int(yard_actor_test_t *t, size_t i, const char *key)
{
    const void *body = NULL;
    size_t size = 0;
    assert_true(i < yard_actor_test_published(t, i, NULL, &body, &size));
    msgpack_zone zone;
    msgpack_object m;
    s_decode(body, size, &zone, &m);
    int64_t v = -1;
    assert_int_equal(yard_mp_get_int(&m, key, &v, NULL, 0), 0);
    msgpack_zone_destroy(&zone);
    return v;
}

static yard_actor_test_t *
s_start(const char *config)
{
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&yard_actor_health, config, &t), 0);
    return t;
}

static yard_actor_test_t *s_startf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* s_start() on the config that fmt and its arguments print (at most 2 KiB). */
static yard_actor_test_t *
s_startf(const char *fmt, ...)
{
    char config[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(config, sizeof config, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof config);
    return s_start(config);
}

/* Calls op (no body), which must answer at once, and decodes the reply into m on zone. The
 * caller destroys the zone and the request it returns. */
static yard_request_t *
s_op(yard_actor_test_t *t, const char *op, msgpack_zone *zone, msgpack_object *m)
{
    yard_request_t *req = yard_actor_test_call(t, op, NULL, 0);
    const void *out = NULL;
    size_t size = 0;
    assert_int_equal(yard_request_outcome_test(req, &out, &size, NULL), 0);
    s_decode(out, size, zone, m);
    return req;
}

/* The text of a text op (metrics, page): a msgpack string. Caller frees. */
static char *
s_text_op(yard_actor_test_t *t, const char *op, char *type, size_t typelen)
{
    msgpack_zone zone;
    msgpack_object m;
    yard_request_t *req = s_op(t, op, &zone, &m);
    assert_int_equal(m.type, MSGPACK_OBJECT_STR);
    char *text = calloc(1, m.via.str.size + 1); /* not strndup: the bytes are not a C string */
    memcpy(text, m.via.str.ptr, m.via.str.size);
    const char *ct = yard_request_answer_header_test(req, "http.header.Content-Type");
    snprintf(type, typelen, "%s", ct ? ct : "");
    msgpack_zone_destroy(&zone);
    yard_request_destroy_test(&req);
    return text;
}

/* --- tests ---------------------------------------------------------------------------------- */

/* Down exactly at the down_after-th failure in a row, up again exactly at the up_after-th
 * success; each transition published once (and the first "up" from unknown not at all). */
static void
test_http_transitions_at_thresholds(void **state)
{
    (void)state;
    yh_http_fake_t *f = yh_http_fake_start();
    yh_http_reply_t ok = {.status = 200, .body = "<h1>Welcome home</h1>"};
    yh_http_reply_t bad = {.status = 500, .body = "oops"};
    yh_http_reply_t other = {.status = 200, .body = "a parked domain"};
    yh_http_fake_script(f, "/site", &ok, 1);
    yard_actor_test_t *t =
        s_startf("health:\n  down_after: 3\n  up_after: 2\n  jitter: 0\n  checks:\n"
                 "    - {name: site, http: '%s', every: 1s, timeout: 1s, contains: Welcome}\n",
                 yh_http_fake_url(f, "/site"));
    hc_record_t r = s_wait_runs(t, "site", 1); /* at once, when the lease is taken */
    assert_int_equal(r.state, HC_UNKNOWN);
    r = s_next(t, "site", 1000);
    assert_int_equal(r.state, HC_UP); /* the 2nd success */
    assert_int_equal(s_events(t), 0); /* unknown -> up is no news */

    yh_http_fake_script(f, "/site", &bad, 1);
    r = s_next(t, "site", 1000);
    assert_int_equal(r.state, HC_UP);
    r = s_next(t, "site", 1000);
    assert_int_equal(r.state, HC_UP);
    assert_int_equal(r.fails, 2);
    assert_int_equal(s_events(t), 0);
    r = s_next(t, "site", 1000); /* the 3rd failure in a row */
    assert_int_equal(r.state, HC_DOWN);
    assert_int_equal(s_events(t), 2);
    s_event(t, 0, "health.down", "check", "site");
    s_event(t, 0, "health.down", "reason", "HTTP 500");
    assert_int_equal(s_event_int(t, 0, "duration_ms"), 3000); /* up from run 2 to run 5 */
    s_event(t, 1, "alert.health.site", "text", "site is DOWN: HTTP 500");
    r = s_next(t, "site", 1000);
    assert_int_equal(r.state, HC_DOWN);
    assert_int_equal(s_events(t), 2); /* still down: nothing new */

    yh_http_fake_script(f, "/site", &ok, 1);
    r = s_next(t, "site", 1000);
    assert_int_equal(r.state, HC_DOWN); /* one success is not enough */
    assert_int_equal(s_events(t), 2);
    r = s_next(t, "site", 1000);
    assert_int_equal(r.state, HC_UP);
    assert_int_equal(s_events(t), 4);
    s_event(t, 2, "health.up", "check", "site");
    assert_int_equal(s_event_int(t, 2, "duration_ms"), 3000); /* down from run 5 to run 8 */
    s_event(t, 3, "alert.health.site", "text", "site is UP again");

    /* a 200 without the expected text is a failure too */
    yh_http_fake_script(f, "/site", &other, 1);
    r = s_next(t, "site", 1000);
    assert_false(r.last_ok);
    assert_non_null(strstr(r.last_error, "without the expected text"));
    assert_int_equal(yh_http_fake_count(f, "/site"), (size_t)r.runs);
    yard_actor_test_destroy(&t);
    yh_http_fake_stop(&f);
}

typedef struct {
    yard_actor_test_t *t;
    yh_http_fake_t *f;
} s_hang_t;

static bool
s_fast_ran_while_held(void *arg)
{
    s_hang_t *h = arg;
    return s_rec(h->t, "fast").runs >= 1 && yh_http_fake_waiting(h->f) == 1;
}

/* A check that hangs fails at its own timeout, and meanwhile another check keeps its pace. */
static void
test_hang_fails_at_timeout_without_delaying_others(void **state)
{
    (void)state;
    yh_http_fake_t *f = yh_http_fake_start();
    yh_http_reply_t hang = {.status = 200, .body = "late", .hold = true, .delay_ms = 20000};
    yh_http_reply_t ok = {.status = 200, .body = "ok"};
    yh_http_fake_script(f, "/slow", &hang, 1);
    yh_http_fake_script(f, "/fast", &ok, 1);
    char slow[256];
    snprintf(slow, sizeof slow, "%s", yh_http_fake_url(f, "/slow"));
    yard_actor_test_t *t = s_startf("health:\n  jitter: 0\n  down_after: 1\n  checks:\n"
                                    "    - {name: slow, http: '%s', every: 10s, timeout: 3s}\n"
                                    "    - {name: fast, http: '%s', every: 1s, timeout: 1s}\n",
                                    slow, yh_http_fake_url(f, "/fast"));
    s_hang_t h = {t, f};
    assert_int_equal(yard_actor_test_run(t, S_WAIT_MS, s_fast_ran_while_held, &h), 0);
    long long t0 = yh_now_ms();
    for (int i = 0; i < 3; i++) {
        s_next(t, "fast", 1000); /* the fast check keeps running while the slow one hangs */
    }
    assert_int_equal(s_rec(t, "slow").runs, 0);
    hc_record_t r = s_wait_runs(t, "slow", 1);
    long long waited = yh_now_ms() - t0;
    assert_false(r.last_ok);
    assert_int_equal(r.state, HC_DOWN);
    assert_non_null(strstr(r.last_error, "no answer within 3000 ms"));
    assert_true(r.last_latency_ms >= 2900 && r.last_latency_ms < 8000);
    assert_true(waited < 8000);
    yh_http_fake_release(f);
    yard_actor_test_destroy(&t);
    yh_http_fake_stop(&f);
}

/* max_latency: a reply slower than the threshold is a failure. */
static void
test_latency_threshold(void **state)
{
    (void)state;
    yh_http_fake_t *f = yh_http_fake_start();
    yh_http_reply_t slow = {.status = 200, .body = "ok", .delay_ms = 400};
    yh_http_fake_script(f, "/x", &slow, 1);
    yard_actor_test_t *t =
        s_startf("health:\n  checks:\n    - {name: lat, http: '%s', every: 5s, timeout: 2s, "
                 "max_latency: 200ms, expect_status: [200, 204]}\n",
                 yh_http_fake_url(f, "/x"));
    hc_record_t r = s_wait_runs(t, "lat", 1);
    assert_false(r.last_ok);
    assert_non_null(strstr(r.last_error, "slow: "));
    assert_true(r.last_latency_ms >= 400);
    yard_actor_test_destroy(&t);
    yh_http_fake_stop(&f);
}

static int
s_listen(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    return fd;
}

/* A TCP port opened, closed (down at the 2nd refusal) and opened again (up at the 2nd
 * connect); also through a name (localhost), which goes through the asynchronous lookup. */
static void
test_tcp_open_closed(void **state)
{
    (void)state;
    int port = yh_free_port();
    int fd = s_listen(port);
    yard_actor_test_t *t =
        s_startf("health:\n  jitter: 0\n  down_after: 2\n  up_after: 2\n  checks:\n"
                 "    - {name: port, tcp: '127.0.0.1:%d', every: 1s, timeout: 1s}\n"
                 "    - {name: named, tcp: 'localhost:%d', every: 1s, timeout: 1s}\n",
                 port, port);
    s_wait_runs(t, "port", 1);
    s_wait_runs(t, "named", 1); /* a tick that finds a run still going skips it */
    hc_record_t r = s_next(t, "port", 1000);
    assert_int_equal(r.state, HC_UP);
    assert_int_equal(s_wait_runs(t, "named", 2).state, HC_UP);
    close(fd);
    r = s_next(t, "port", 1000);
    assert_int_equal(r.state, HC_UP);
    assert_non_null(strstr(r.last_error, "refused"));
    r = s_next(t, "port", 1000);
    assert_int_equal(r.state, HC_DOWN);
    fd = s_listen(port);
    r = s_next(t, "port", 1000);
    assert_int_equal(r.state, HC_DOWN);
    r = s_next(t, "port", 1000);
    assert_int_equal(r.state, HC_UP);
    /* down and up: two events each (health.* and alert.*) for each check */
    size_t n = s_events(t);
    assert_true(n >= 4);
    yard_actor_test_destroy(&t);
    close(fd);
}

/* A certificate with 5 days left, made now: cert_days 14 fails and says how many are left;
 * the metric shows it. The harness's certificate (to 2099) passes. */
static void
test_cert_days(void **state)
{
    (void)state;
    char *dir = yh_tmpdir();
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -days 5 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem -out %s/cert.pem "
             ">/dev/null 2>&1",
             dir, dir);
    if (system(cmd) != 0) {
        yh_rmtree(dir);
        free(dir);
        skip(); /* no openssl CLI (scripts/install-deps.sh installs it) */
    }
    char path[512], *cert = NULL, *key = NULL;
    size_t len = 0;
    FILE *fp;
    snprintf(path, sizeof path, "%s/cert.pem", dir);
    assert_non_null(fp = fopen(path, "r"));
    assert_true(getdelim(&cert, &len, '\0', fp) > 0);
    fclose(fp);
    snprintf(path, sizeof path, "%s/key.pem", dir);
    len = 0;
    assert_non_null(fp = fopen(path, "r"));
    assert_true(getdelim(&key, &len, '\0', fp) > 0);
    fclose(fp);
    yh_http_fake_t *f = yh_http_fake_start_tls(cert, key);
    yh_http_fake_t *good = yh_http_fake_start_tls(yh_test_cert_pem, yh_test_key_pem);
    yh_http_reply_t ok = {.status = 200, .body = "ok"};
    yh_http_fake_script(f, "/", &ok, 1);
    yh_http_fake_script(good, "/", &ok, 1);
    /* trust both certificates */
    char bundle[512];
    snprintf(bundle, sizeof bundle, "%s/ca.pem", dir);
    size_t both = strlen(cert) + strlen(yh_test_cert_pem) + 2;
    char *pem = malloc(both);
    snprintf(pem, both, "%s\n%s", cert, yh_test_cert_pem);
    yh_write_file(bundle, pem);
    char url[256];
    snprintf(url, sizeof url, "%s", yh_http_fake_url(f, "/"));
    yard_actor_test_t *t = s_startf("health:\n  http_ca_file: %s\n  down_after: 1\n  checks:\n"
                                    "    - {name: expiring, http: '%s', every: 1m, cert_days: 14}\n"
                                    "    - {name: fine, http: '%s', every: 1m, cert_days: 14}\n",
                                    bundle, url, yh_http_fake_url(good, "/"));
    hc_record_t r = s_wait_runs(t, "expiring", 1);
    assert_false(r.last_ok);
    /* 5 days minus the seconds since it was made: 4 whole days, or 5 within its first second */
    assert_true(r.cert_days == 4 || r.cert_days == 5);
    char want[64];
    snprintf(want, sizeof want, "expires in %lld days (cert_days 14)", (long long)r.cert_days);
    assert_non_null(strstr(r.last_error, want));
    int64_t expiring_days = r.cert_days;
    r = s_wait_runs(t, "fine", 1);
    assert_true(r.last_ok);
    assert_true(r.cert_days > 20000);
    char type[128];
    char *metrics = s_text_op(t, "metrics", type, sizeof type);
    snprintf(want, sizeof want, "health_check_cert_days{check=\"expiring\",kind=\"http\"} %lld\n",
             (long long)expiring_days);
    assert_non_null(strstr(metrics, want));
    assert_non_null(strstr(metrics, "health_check_up{check=\"expiring\",kind=\"http\"} 0\n"));
    assert_non_null(strstr(type, "text/plain"));
    free(metrics);
    yard_actor_test_destroy(&t);
    yh_http_fake_stop(&f);
    yh_http_fake_stop(&good);
    free(pem);
    free(cert);
    free(key);
    yh_rmtree(dir);
    free(dir);
}

typedef struct {
    yard_request_t *req;
} s_req_wait_t;

static bool
s_answered(void *arg)
{
    s_req_wait_t *w = arg;
    return yard_request_outcome_test(w->req, NULL, NULL, NULL) != 1;
}

/* A fake whose /ping answers 204. */
static yh_http_fake_t *
s_ping_fake(void)
{
    yh_http_fake_t *f = yh_http_fake_start();
    yh_http_reply_t ok = {.status = 204};
    yh_http_fake_script(f, "/ping", &ok, 1);
    return f;
}

/* The actor with check api on f's /ping (every 1h, 204 expected, up after one success) and
 * the check lines in more, once api has run. */
static yard_actor_test_t *
s_api_start(yh_http_fake_t *f, const char *more)
{
    yard_actor_test_t *t =
        s_startf("health:\n  up_after: 1\n  checks:\n"
                 "    - {name: api, http: '%s', every: 1h, expect_status: 204}\n%s",
                 yh_http_fake_url(f, "/ping"), more);
    s_wait_runs(t, "api", 1);
    return t;
}

/* The op check {name: api}, sent. */
static s_req_wait_t
s_check_api(yard_actor_test_t *t)
{
    return (s_req_wait_t){yard_actor_test_call(t, "check",
                                               "\x81\xa4name\xa3"
                                               "api",
                                               10)};
}

typedef struct {
    yh_http_fake_t *f;
    size_t n;
} s_count_t;

static bool
s_served(void *arg)
{
    s_count_t *c = arg;
    return yh_http_fake_count(c->f, "/ping") >= c->n;
}

/* A run's outcome waits for the check's record lock, which another replica takes while it
 * applies a run of its own (a `check` op there while the lease holder runs here): nothing is
 * recorded or answered until the lock is free, then both the record and the answer follow. */
static void
test_check_waits_for_the_record_lock(void **state)
{
    (void)state;
    yh_http_fake_t *f = s_ping_fake();
    yard_actor_test_t *t = s_api_start(f, "");
    yard_store_t *store = yard_ctx_store(yard_actor_test_ctx(t));
    assert_int_equal(yard_store_set_nx(store, "health:apply:api", "other", 5, 60000), 1);
    s_req_wait_t w = s_check_api(t);
    s_count_t served = {f, 2};
    assert_int_equal(yard_actor_test_run(t, S_WAIT_MS, s_served, &served), 0);
    for (int i = 0; i < 10; i++) { /* retries every 20 ms while the lock is taken */
        yard_actor_test_advance(t, 20);
        yard_actor_test_run(t, 20, s_answered, &w);
    }
    assert_int_equal(yard_request_outcome_test(w.req, NULL, NULL, NULL), 1); /* still waiting */
    assert_int_equal(s_rec(t, "api").runs, 1);
    assert_int_equal(yard_store_del(store, "health:apply:api"), 1);
    yard_actor_test_advance(t, 20);
    assert_int_equal(yard_actor_test_run(t, S_WAIT_MS, s_answered, &w), 0);
    assert_int_equal(yard_request_outcome_test(w.req, NULL, NULL, NULL), 0);
    assert_int_equal(s_rec(t, "api").runs, 2);
    char *v = NULL;
    size_t len = 0; /* and the lock is given back */
    assert_int_equal(yard_store_get(store, "health:apply:api", &v, &len), YARD_E_NOT_FOUND);
    yard_request_destroy_test(&w.req);
    yard_actor_test_destroy(&t);
    yh_http_fake_stop(&f);
}

/* check {name} runs now and answers with the result; status, metrics and page show it. */
static void
test_ops(void **state)
{
    (void)state;
    yh_http_fake_t *f = s_ping_fake();
    yard_actor_test_t *t =
        s_api_start(f, "    - {name: never-run, tcp: '127.0.0.1:1', every: 1h}\n");
    s_req_wait_t w = s_check_api(t);
    assert_int_equal(yard_actor_test_run(t, S_WAIT_MS, s_answered, &w), 0);
    const void *out = NULL;
    size_t size = 0;
    assert_int_equal(yard_request_outcome_test(w.req, &out, &size, NULL), 0);
    msgpack_zone zone;
    msgpack_object m;
    s_decode(out, size, &zone, &m);
    bool okv = false;
    char st[16];
    assert_int_equal(yard_mp_get_bool(&m, "ok", &okv, NULL, 0), 0);
    assert_true(okv);
    assert_int_equal(yard_mp_get_strbuf(&m, "state", st, sizeof st, NULL, 0), 0);
    assert_string_equal(st, "up");
    yard_request_destroy_test(&w.req);
    assert_int_equal(s_rec(t, "api").runs, 2);
    assert_int_equal(yh_http_fake_count(f, "/ping"), 2);

    /* an unknown name */
    yard_request_t *req = yard_actor_test_call(t, "check", "\x81\xa4name\xa4nope", 11);
    const char *app = NULL;
    assert_int_equal(yard_request_outcome_test(req, NULL, NULL, &app), YARD_E_SERVICE);
    assert_string_equal(app, "NOT_FOUND");
    yard_request_destroy_test(&req);

    /* status: both checks, with their uptime */
    req = yard_actor_test_call(t, "status", NULL, 0);
    assert_int_equal(yard_request_outcome_test(req, &out, &size, NULL), 0);
    assert_int_equal(yard_mp_decode(out, size, &zone, &m, NULL, 0), 0);
    const msgpack_object *checks = NULL;
    assert_int_equal(yard_mp_get_array(&m, "checks", &checks, NULL, 0), 0);
    assert_int_equal(checks->via.array.size, 2);
    const msgpack_object *c0 = &checks->via.array.ptr[0], *uptime = NULL;
    assert_int_equal(yard_mp_get_strbuf(c0, "state", st, sizeof st, NULL, 0), 0);
    assert_string_equal(st, "up");
    assert_int_equal(yard_mp_get_map(c0, "uptime", &uptime, NULL, 0), 0);
    double h1 = 0;
    assert_int_equal(yard_mp_get_double(uptime, "1h", &h1, NULL, 0), 0);
    assert_true(h1 == 1.0);
    int64_t up = 0;
    assert_int_equal(yard_mp_get_int(&m, "up", &up, NULL, 0), 0);
    assert_int_equal(up, 1);
    yard_request_destroy_test(&req);
    msgpack_zone_destroy(&zone);

    /* page: names and states only, escaped, self-contained, for phones */
    char type[128];
    char *page = s_text_op(t, "page", type, sizeof type);
    assert_string_equal(type, "text/html; charset=utf-8");
    assert_non_null(strstr(page, "<meta name=\"viewport\""));
    assert_non_null(strstr(page, "<li class=\"up\">"));
    assert_non_null(strstr(page, ">api</span>"));
    assert_non_null(strstr(page, ">never-run</span>"));
    assert_null(strstr(page, "127.0.0.1")); /* no target is shown */
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, "src="));
    assert_null(strstr(page, "href="));
    free(page);
    char *metrics = s_text_op(t, "metrics", type, sizeof type);
    assert_non_null(strstr(metrics, "health_check_up{check=\"api\",kind=\"http\"} 1\n"));
    assert_non_null(strstr(metrics, "health_check_up{check=\"never-run\",kind=\"tcp\"}"));
    assert_non_null(strstr(metrics, "health_check_latency_seconds{check=\"api\",kind=\"http\"} "));
    free(metrics);
    yard_actor_test_destroy(&t);
    yh_http_fake_stop(&f);
}

/* No checks: the actor starts, idles and says so. */
static void
test_no_checks_idles(void **state)
{
    (void)state;
    yard_actor_test_t *t = s_start(NULL);
    yard_actor_test_advance(t, 3600000);
    msgpack_zone zone;
    msgpack_object m;
    yard_request_t *req = s_op(t, "status", &zone, &m);
    char note[256];
    assert_int_equal(yard_mp_get_strbuf(&m, "note", note, sizeof note, NULL, 0), 0);
    assert_non_null(strstr(note, "no checks configured"));
    msgpack_zone_destroy(&zone);
    yard_request_destroy_test(&req);
    char type[64];
    char *page = s_text_op(t, "page", type, sizeof type);
    assert_non_null(strstr(page, "No checks are configured."));
    free(page);
    assert_int_equal(s_events(t), 0);
    yard_actor_test_destroy(&t);
}

/* Bad checks stop the actor with a config error (the reason, with file and line, is logged). */
static void
test_config_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "health:\n  checks:\n    - {name: a, http: 'http://x/', colour: red}\n",
        "health:\n  checks:\n    - {name: a}\n",
        "health:\n  checks:\n    - {name: a, http: 'http://x/', tcp: 'x:1'}\n",
        "health:\n  checks:\n    - {name: a, http: 'ftp://x/'}\n",
        "health:\n  checks:\n    - {name: a, tcp: 'x'}\n",
        "health:\n  checks:\n    - {name: a, tcp: 'x:99999'}\n",
        "health:\n  checks:\n    - {name: a, http: 'http://x/', every: 1s, timeout: 5s}\n",
        "health:\n  checks:\n    - {name: a, http: 'http://x/', every: 10ms}\n",
        "health:\n  checks:\n    - {name: 'a b', http: 'http://x/'}\n",
        "health:\n  checks:\n    - {name: a, http: 'http://x/'}\n    - {name: a, tcp: 'x:1'}\n",
        "health:\n  checks:\n    - {name: a, http: 'http://x/', cert_days: 14}\n",
        "health:\n  checks:\n    - {name: a, tcp: 'x:1', contains: hi}\n",
        "health:\n  checks:\n    - {name: a, bus: auth, min_replicas: 0}\n",
        "health:\n  checks: {name: a}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yard_actor_test_t *t = NULL;
        int rc = yard_actor_test_new(&yard_actor_health, bad[i], &t);
        if (rc != YARD_E_CONFIG) {
            fail_msg("config %zu was taken (rc %d):\n%s", i, rc, bad[i]);
        }
        assert_null(t);
    }
    /* the error names file and line */
    hc_checks_t c;
    char err[512];
    char *dir = yh_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/yard.yaml", dir);
    yard_config_t *cfg = yh_config_write(
        path, "health:\n  checks:\n    - name: a\n      http: 'http://x/'\n      colour: red\n",
        err, sizeof err);
    assert_non_null(cfg);
    assert_int_equal(hc_checks_load(cfg, &c, err, sizeof err), YARD_E_CONFIG);
    assert_non_null(strstr(err, "yard.yaml:5: health.checks: unknown key 'colour'"));
    yard_config_destroy(&cfg);
    yh_rmtree(dir);
    free(dir);
}

/* Every text on the page is HTML-escaped and every label value in the metrics is escaped,
 * whatever a name holds (the config allows only [A-Za-z0-9_-]; the renderers do not rely on
 * it). */
static void
test_escaping(void **state)
{
    (void)state;
    hc_check_t c = {.kind = HC_HTTP, .target = "http://x/"};
    snprintf(c.name, sizeof c.name, "%s", "<script>x</script>&\"'\\");
    hc_checks_t checks = {.checks = &c, .n = 1};
    hc_record_t r;
    hc_record_fresh(&r);
    size_t len = 0;
    char *page = hc_render_page(&checks, &r, 1764892800000, &len);
    assert_int_equal(strlen(page), len);
    assert_null(strstr(page, "<script"));
    assert_non_null(strstr(page, ">&lt;script&gt;x&lt;/script&gt;&amp;&quot;&#39;\\</span>"));
    free(page);
    char *metrics = hc_render_metrics(&checks, &r, &len);
    assert_non_null(strstr(metrics, "health_check_up{check=\"<script>x</script>&\\\"'\\\\\",kind"));
    free(metrics);
}

int
main(void)
{
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_transitions_at_thresholds),
        cmocka_unit_test(test_hang_fails_at_timeout_without_delaying_others),
        cmocka_unit_test(test_latency_threshold),
        cmocka_unit_test(test_tcp_open_closed),
        cmocka_unit_test(test_cert_days),
        cmocka_unit_test(test_ops),
        cmocka_unit_test(test_check_waits_for_the_record_lock),
        cmocka_unit_test(test_no_checks_idles),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_escaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
