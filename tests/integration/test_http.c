/* The outbound HTTP engine against the scripted local server (harness/http_fake.h), driven by
 * a loop of the test's own that does what a replica's loop does with a source: prepare,
 * yard_wait(), dispatch. Reads as the engine's usage example: build a request, send it, read
 * the response in the callback. */
#include "capture.h"
#include "harness.h"
#include "http_fake.h"
#include "yard/error.h"
#include "yard/http.h"
#include "yard/json.h"
#include "yard/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* --- a loop like a replica's ---------------------------------------------------------------- */

/* Wait items the loop offers the engine: a replica offers what its links leave over. */
static int s_max_items = YARD_WAIT_MAX;

/* One turn: wait at most max_ms (less when the engine needs a turn sooner). */
static void
s_turn(yard_loop_source_t *src, int64_t max_ms)
{
    yard_wait_item_t items[YARD_WAIT_MAX];
    int64_t now = yard_loop_now_ms();
    int64_t wake = now + max_ms;
    int n = src->prepare(src->ctx, items, s_max_items, &wake);
    int64_t timeout = wake > now ? wake - now : 0;
    assert_true(yard_wait(items, n, (long)timeout) >= 0);
    src->dispatch(src->ctx, items, n, yard_loop_now_ms());
}

/* Turns until nothing is in flight; fails the test past timeout_ms. */
static void
s_run(yard_http_t *h, int timeout_ms)
{
    yard_loop_source_t src = yard_http_source(h);
    int64_t end = yard_loop_now_ms() + timeout_ms;
    while (yard_http_in_flight(h) > 0) {
        assert_true(yard_loop_now_ms() < end);
        s_turn(&src, 50);
    }
}

/* Turns until the fake has seen n requests on path (they may still be held). */
static void
s_run_until_seen(yard_http_t *h, yh_http_fake_t *f, const char *path, size_t n, int timeout_ms)
{
    yard_loop_source_t src = yard_http_source(h);
    int64_t end = yard_loop_now_ms() + timeout_ms;
    while (yh_http_fake_count(f, path) < n || yh_http_fake_waiting(f) < n) {
        assert_true(yard_loop_now_ms() < end);
        s_turn(&src, 10);
    }
}

/* --- what a callback saw ------------------------------------------------------------------ */

typedef struct {
    int calls;
    int err;
    int status;
    uint32_t attempts;
    char body[8192];
    size_t body_len;
    char header[256];
    char err_text[512];
    char url[512];
    int64_t done_ms;
} s_seen_t;

static const char *s_header_name = "X-Thing";

static void
s_done(const yard_http_resp_t *resp, void *arg)
{
    s_seen_t *s = arg;
    s->calls++;
    s->err = yard_http_resp_error(resp);
    s->status = yard_http_resp_status(resp);
    s->attempts = yard_http_resp_attempts(resp);
    const char *body = yard_http_resp_body(resp, &s->body_len);
    snprintf(s->body, sizeof s->body, "%s", body);
    const char *hv = yard_http_resp_header(resp, s_header_name);
    snprintf(s->header, sizeof s->header, "%s", hv ? hv : "");
    snprintf(s->err_text, sizeof s->err_text, "%s", yard_http_resp_error_text(resp));
    snprintf(s->url, sizeof s->url, "%s", yard_http_resp_url_redacted(resp));
    s->done_ms = yard_loop_now_ms();
}

static yard_http_t *
s_engine(uint32_t max_transfers, size_t max_body)
{
    yard_http_opts_t opts = {.max_transfers = max_transfers, .max_body = max_body};
    yard_http_t *h = NULL;
    assert_int_equal(yard_http_new(&opts, &h), 0);
    return h;
}

static void
s_get(yard_http_t *h, const char *url, uint32_t timeout_ms, const yard_http_retry_t *retry,
      s_seen_t *seen)
{
    yard_http_req_t *req = NULL;
    assert_int_equal(yard_http_req_new("GET", url, &req), 0);
    yard_http_req_timeout(req, timeout_ms);
    if (retry) {
        assert_int_equal(yard_http_req_retry(req, retry), 0);
    }
    assert_int_equal(yard_http_send(h, &req, s_done, seen), 0);
    assert_null(req);
}

/* --- tests ---------------------------------------------------------------------------------- */

/* Sequential requests to one host reuse one kept-alive connection; headers are found in any
 * case; the User-Agent names Switchyard. */
static void
test_keepalive_reuse(void **state)
{
    (void)state;
    yh_http_fake_t *f = yh_http_fake_start();
    yh_http_reply_t ok = {.status = 200, .body = "hello", .headers = "X-Thing: abc"};
    yh_http_fake_script(f, "/ok", &ok, 1);
    yard_http_t *h = s_engine(0, 0);
    enum { N = 50 };
    int64_t t0 = yard_loop_now_ms();
    for (int i = 0; i < N; i++) {
        s_seen_t seen = {0};
        s_header_name = i % 2 ? "x-thing" : "X-THING";
        s_get(h, yh_http_fake_url(f, "/ok"), 5000, NULL, &seen);
        s_run(h, 5000);
        assert_int_equal(seen.calls, 1);
        assert_int_equal(seen.err, 0);
        assert_int_equal(seen.status, 200);
        assert_string_equal(seen.body, "hello");
        assert_string_equal(seen.header, "abc");
        assert_int_equal(seen.attempts, 1);
    }
    int64_t dt = yard_loop_now_ms() - t0;
    s_header_name = "X-Thing";
    assert_int_equal(yh_http_fake_count(f, "/ok"), N);
    assert_int_equal(yh_http_fake_connections(f), 1);
    char ua[128];
    assert_non_null(yh_http_fake_header(yh_http_fake_request(f, 0), "User-Agent", ua, sizeof ua));
    assert_true(strncmp(ua, "switchyard/", 11) == 0);
    printf("keep-alive: %d sequential GETs on %u connection(s), %.3f ms each\n", N,
           yh_http_fake_connections(f), (double)dt / N);
    yard_http_destroy(&h);
    assert_null(h);
    yh_http_fake_stop(&f);
}

/* A JSON body both ways: msgpack in, JSON on the wire, JSON back, msgpack out. */
static void
test_json_both_ways(void **state)
{
    (void)state;
    yh_http_fake_t *f = yh_http_fake_start();
    yh_http_reply_t r = {.status = 201,
                         .body = "{\"id\":7,\"ok\":true}",
                         .headers = "Content-Type: application/json"};
    yh_http_fake_script(f, "/items", &r, 1);
    yard_http_t *h = s_engine(0, 0);
    void *mp = NULL;
    size_t mp_size = 0;
    const char *in = "{\"name\":\"widget\",\"n\":-3}";
    assert_int_equal(yard_json_to_msgpack(in, strlen(in), &mp, &mp_size, NULL, 0), 0);
    yard_http_req_t *req = NULL;
    assert_int_equal(yard_http_req_new("POST", yh_http_fake_url(f, "/items"), &req), 0);
    assert_int_equal(yard_http_req_json_msgpack(req, mp, mp_size), 0);
    free(mp);
    s_seen_t seen = {0};
    assert_int_equal(yard_http_send(h, &req, s_done, &seen), 0);
    s_run(h, 5000);
    assert_int_equal(seen.status, 201);
    const yh_http_fake_req_t *got = yh_http_fake_request(f, 0);
    assert_string_equal(got->method, "POST");
    assert_string_equal(got->body, in);
    char ct[64];
    assert_string_equal(yh_http_fake_header(got, "Content-Type", ct, sizeof ct),
                        "application/json");
    /* the response body as msgpack, and back to JSON to compare */
    char *round = NULL;
    assert_int_equal(yard_json_to_msgpack(seen.body, seen.body_len, &mp, &mp_size, NULL, 0), 0);
    assert_int_equal(yard_json_from_msgpack(mp, mp_size, &round, NULL, NULL, 0), 0);
    assert_string_equal(round, "{\"id\":7,\"ok\":true}");
    free(round);
    free(mp);
    /* bad JSON text is refused before anything is sent */
    assert_int_equal(yard_http_req_new("POST", yh_http_fake_url(f, "/items"), &req), 0);
    assert_int_equal(yard_http_req_json(req, "{\"a\":", 5), YARD_E_BAD_REQUEST);
    yard_http_req_destroy(&req);
    assert_null(req);
    yard_http_destroy(&h);
    yh_http_fake_stop(&f);
}

/* A server slower than the timeout: TIMEOUT, soon after the timeout, with a clear text. */
static void
test_timeout(void **state)
{
    (void)state;
    yh_http_fake_t *f = yh_http_fake_start();
    yh_http_reply_t slow = {.status = 200, .body = "late", .delay_ms = 5000};
    yh_http_fake_script(f, "/slow", &slow, 1);
    yard_http_t *h = s_engine(0, 0);
    s_seen_t seen = {0};
    int64_t t0 = yard_loop_now_ms();
    s_get(h, yh_http_fake_url(f, "/slow"), 300, NULL, &seen);
    s_run(h, 4000);
    int64_t dt = seen.done_ms - t0;
    assert_int_equal(seen.err, YARD_E_TIMEOUT);
    assert_int_equal(seen.status, 0);
    assert_true(dt >= 290 && dt < 2000);
    assert_non_null(strstr(seen.err_text, "GET http://127.0.0.1:"));
    assert_non_null(strstr(seen.err_text, "timed out"));
    /* nothing listening: UNREACHABLE */
    yard_http_req_t *req = NULL;
    int port = yh_http_fake_port(f);
    yh_http_fake_stop(&f);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/gone", port);
    assert_int_equal(yard_http_req_new("GET", url, &req), 0);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(yard_http_send(h, &req, s_done, &seen), 0);
    s_run(h, 4000);
    assert_int_equal(seen.err, YARD_E_UNREACHABLE);
    assert_int_equal(seen.attempts, 1);
    /* retried when the caller says transport failures are worth another attempt */
    yard_http_retry_t p = {.max_attempts = 3, .base_ms = 1, .retry_transport = true};
    memset(&seen, 0, sizeof seen);
    s_get(h, url, 1000, &p, &seen);
    s_run(h, 4000);
    assert_int_equal(seen.err, YARD_E_UNREACHABLE);
    assert_int_equal(seen.attempts, 3);
    yard_http_destroy(&h);
}

/* Many transfers at once, all held by the server together, then all answered; past
 * max_transfers a request fails at once. */
static void
test_many_in_flight(void **state)
{
    (void)state;
    enum { N = 48 };
    yh_http_fake_t *f = yh_http_fake_start();
    yh_http_reply_t held = {.status = 200, .body = "released", .hold = true, .delay_ms = 20000};
    yh_http_fake_script(f, "/held", &held, 1);
    yard_http_t *h = s_engine(N, 0);
    static s_seen_t seen[N];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < N; i++) {
        s_get(h, yh_http_fake_url(f, "/held"), 30000, NULL, &seen[i]);
    }
    assert_int_equal(yard_http_in_flight(h), N);
    yard_http_req_t *req = NULL;
    assert_int_equal(yard_http_req_new("GET", yh_http_fake_url(f, "/held"), &req), 0);
    s_seen_t extra = {0};
    assert_int_equal(yard_http_send(h, &req, s_done, &extra), YARD_E_OVERLOADED);
    assert_null(req);
    assert_non_null(strstr(yard_http_last_error(h), "max_transfers 48"));
    /* fewer wait items than sockets: the engine still moves every transfer */
    s_max_items = 4;
    s_run_until_seen(h, f, "/held", N, 10000);
    assert_int_equal(yh_http_fake_waiting(f), N);
    yh_http_fake_release(f);
    s_run(h, 10000);
    s_max_items = YARD_WAIT_MAX;
    for (int i = 0; i < N; i++) {
        assert_int_equal(seen[i].calls, 1);
        assert_int_equal(seen[i].status, 200);
        assert_string_equal(seen[i].body, "released");
    }
    assert_int_equal(extra.calls, 0);
    yard_http_destroy(&h);
    yh_http_fake_stop(&f);
}

static const yard_http_retry_t s_retry_fast = {
    .max_attempts = 5, .base_ms = 10, .cap_ms = 5000, .statuses = {429, 502, 503, 504}};

/* 503, 503, 200: three attempts, the 200 delivered. */
static void
test_retry_then_success(void **state)
{
    (void)state;
    yh_http_fake_t *f = yh_http_fake_start();
    yh_http_reply_t seq[] = {{.status = 503, .body = "busy"},
                             {.status = 503, .body = "busy"},
                             {.status = 200, .body = "fine"}};
    yh_http_fake_script(f, "/flaky", seq, 3);
    yard_http_t *h = s_engine(0, 0);
    s_seen_t seen = {0};
    s_get(h, yh_http_fake_url(f, "/flaky"), 5000, &s_retry_fast, &seen);
    s_run(h, 10000);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.err, 0);
    assert_int_equal(seen.status, 200);
    assert_string_equal(seen.body, "fine");
    assert_int_equal(seen.attempts, 3);
    assert_int_equal(yh_http_fake_count(f, "/flaky"), 3);
    /* attempts run out: the last 503 is what the caller gets */
    yh_http_reply_t down = {.status = 503, .body = "down"};
    yh_http_fake_script(f, "/down", &down, 1);
    yard_http_retry_t three = s_retry_fast;
    three.max_attempts = 3;
    memset(&seen, 0, sizeof seen);
    s_get(h, yh_http_fake_url(f, "/down"), 5000, &three, &seen);
    s_run(h, 10000);
    assert_int_equal(seen.status, 503);
    assert_int_equal(seen.attempts, 3);
    assert_string_equal(seen.body, "down");
    yard_http_destroy(&h);
    yh_http_fake_stop(&f);
}

/* A POST is not retried unless the caller lists POST; a status not listed is not retried. */
static void
test_no_retry_for_unsafe_method(void **state)
{
    (void)state;
    yh_http_fake_t *f = yh_http_fake_start();
    yh_http_reply_t seq[] = {{.status = 503}, {.status = 200}};
    yh_http_fake_script(f, "/post", seq, 2);
    yard_http_t *h = s_engine(0, 0);
    yard_http_req_t *req = NULL;
    assert_int_equal(yard_http_req_new("POST", yh_http_fake_url(f, "/post"), &req), 0);
    assert_int_equal(yard_http_req_body(req, "x=1", 3, "application/x-www-form-urlencoded"), 0);
    assert_int_equal(yard_http_req_retry(req, &s_retry_fast), 0);
    s_seen_t seen = {0};
    assert_int_equal(yard_http_send(h, &req, s_done, &seen), 0);
    s_run(h, 5000);
    assert_int_equal(seen.status, 503);
    assert_int_equal(seen.attempts, 1);
    assert_int_equal(yh_http_fake_count(f, "/post"), 1);
    /* the caller says POST is safe here: retried */
    yard_http_retry_t posts = s_retry_fast;
    posts.methods = "POST";
    yh_http_fake_script(f, "/post", seq, 2);
    assert_int_equal(yard_http_req_new("POST", yh_http_fake_url(f, "/post"), &req), 0);
    assert_int_equal(yard_http_req_retry(req, &posts), 0);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(yard_http_send(h, &req, s_done, &seen), 0);
    s_run(h, 5000);
    assert_int_equal(seen.status, 200);
    assert_int_equal(seen.attempts, 2);
    /* 404 is not in the list */
    yh_http_reply_t nf = {.status = 404};
    yh_http_fake_script(f, "/nf", &nf, 1);
    memset(&seen, 0, sizeof seen);
    s_get(h, yh_http_fake_url(f, "/nf"), 5000, &s_retry_fast, &seen);
    s_run(h, 5000);
    assert_int_equal(seen.status, 404);
    assert_int_equal(seen.attempts, 1);
    yard_http_destroy(&h);
    yh_http_fake_stop(&f);
}

/* Retry-After in seconds and as an HTTP date: the retry waits at least that long, even though
 * the backoff alone would retry within 10 ms. */
static void
test_retry_after(void **state)
{
    (void)state;
    yh_http_fake_t *f = yh_http_fake_start();
    yh_http_reply_t secs[] = {{.status = 429, .headers = "Retry-After: 1"}, {.status = 200}};
    yh_http_fake_script(f, "/secs", secs, 2);
    yard_http_t *h = s_engine(0, 0);
    yard_http_retry_t p = s_retry_fast;
    p.base_ms = 1;
    s_seen_t seen = {0};
    int64_t t0 = yard_loop_now_ms();
    s_get(h, yh_http_fake_url(f, "/secs"), 5000, &p, &seen);
    s_run(h, 10000);
    int64_t waited = seen.done_ms - t0;
    assert_int_equal(seen.status, 200);
    assert_int_equal(seen.attempts, 2);
    assert_true(waited >= 1000);
    printf("Retry-After: 1 -> retried after %lld ms\n", (long long)waited);
    /* an HTTP date 2 s ahead (whole seconds: at least 1 s after the truncation) */
    char date_hdr[128];
    time_t when = time(NULL) + 2;
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(date_hdr, sizeof date_hdr, "Retry-After: %a, %d %b %Y %H:%M:%S GMT", &tm);
    yh_http_reply_t dated[] = {{.status = 503, .headers = date_hdr}, {.status = 200}};
    yh_http_fake_script(f, "/dated", dated, 2);
    memset(&seen, 0, sizeof seen);
    t0 = yard_loop_now_ms();
    s_get(h, yh_http_fake_url(f, "/dated"), 5000, &p, &seen);
    s_run(h, 10000);
    waited = seen.done_ms - t0;
    assert_int_equal(seen.status, 200);
    assert_int_equal(seen.attempts, 2);
    assert_true(waited >= 1000);
    printf("Retry-After: <date +2 s> -> retried after %lld ms\n", (long long)waited);
    yard_http_destroy(&h);
    yh_http_fake_stop(&f);
}

/* The helpers alone: Retry-After's two forms, and the full-jitter bounds. */
static void
test_retry_helpers(void **state)
{
    (void)state;
    int64_t ms = -1;
    assert_int_equal(yard_http_retry_after_ms("120", 0, &ms), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(yard_http_retry_after_ms(" 0 ", 0, &ms), 0);
    assert_int_equal(ms, 0);
    /* Sun, 06 Nov 1994 08:49:37 GMT is 784111777 */
    assert_int_equal(yard_http_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111770, &ms), 0);
    assert_int_equal(ms, 7000);
    assert_int_equal(yard_http_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111999, &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(yard_http_retry_after_ms("soon", 0, &ms), YARD_E_INVALID);
    assert_int_equal(yard_http_retry_after_ms("12abc", 0, &ms), YARD_E_INVALID);
    assert_int_equal(yard_http_retry_after_ms("-5", 0, &ms), YARD_E_INVALID);
    yard_http_retry_t p = {.base_ms = 100, .cap_ms = 1000};
    uint64_t rnd = 0x12345678;
    for (uint32_t k = 1; k <= 8; k++) {
        uint32_t ceiling = 100u << (k - 1) < 1000 ? 100u << (k - 1) : 1000;
        for (int i = 0; i < 200; i++) {
            rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
            assert_true(yard_http_backoff_ms(&p, k, rnd, -1) <= ceiling);
        }
        assert_int_equal(yard_http_backoff_ms(&p, k, ceiling, -1), ceiling);
        assert_int_equal(yard_http_backoff_ms(&p, k, 0, -1), 0);
    }
    /* Retry-After wins when longer, capped */
    assert_int_equal(yard_http_backoff_ms(&p, 1, 0, 700), 700);
    assert_int_equal(yard_http_backoff_ms(&p, 1, 0, 5000), 1000);
    assert_int_equal(yard_http_backoff_ms(&p, 40, 999999, -1), 999999 % 1001);
}

/* A body over max_body fails the transfer with TOO_LARGE, with or without Content-Length. */
static void
test_body_cap(void **state)
{
    (void)state;
    yh_http_fake_t *f = yh_http_fake_start();
    static char big[4097];
    memset(big, 'b', 4096);
    yh_http_reply_t sized = {.status = 200, .body = big};
    yh_http_reply_t chunked = {.status = 200, .body = big, .chunked = true};
    yh_http_reply_t fits = {.status = 200, .body = big, .body_len = 1024};
    yh_http_fake_script(f, "/sized", &sized, 1);
    yh_http_fake_script(f, "/chunked", &chunked, 1);
    yh_http_fake_script(f, "/fits", &fits, 1);
    yard_http_t *h = s_engine(0, 1024);
    s_seen_t a = {0}, b = {0}, c = {0};
    s_get(h, yh_http_fake_url(f, "/sized"), 5000, &s_retry_fast, &a);
    s_get(h, yh_http_fake_url(f, "/chunked"), 5000, NULL, &b);
    s_get(h, yh_http_fake_url(f, "/fits"), 5000, NULL, &c);
    s_run(h, 5000);
    assert_int_equal(a.err, YARD_E_TOO_LARGE);
    assert_int_equal(a.attempts, 1); /* never retried: it would only be too large again */
    assert_non_null(strstr(a.err_text, "over max_body (1024 bytes)"));
    assert_int_equal(b.err, YARD_E_TOO_LARGE);
    assert_non_null(strstr(b.err_text, "over max_body (1024 bytes)"));
    assert_int_equal(c.err, 0);
    assert_int_equal(c.body_len, 1024);
    yard_http_destroy(&h);
    yh_http_fake_stop(&f);
}

/* Bad input is refused with a clear error before anything is sent. */
static void
test_bad_input(void **state)
{
    (void)state;
    yard_http_req_t *req = NULL;
    assert_int_equal(yard_http_req_new("get", "http://127.0.0.1/", &req), YARD_E_INVALID);
    assert_int_equal(yard_http_req_new("GET", "ftp://127.0.0.1/", &req), YARD_E_INVALID);
    assert_int_equal(yard_http_req_new("GET", "http://127.0.0.1/a b", &req), YARD_E_INVALID);
    assert_int_equal(yard_http_req_new("GET", NULL, &req), YARD_E_INVALID);
    assert_null(req);
    assert_int_equal(yard_http_req_new("GET", "http://127.0.0.1:1/bot{secret}/x", &req), 0);
    assert_int_equal(yard_http_req_header(req, "X-Evil", "a\r\nInjected: 1"), YARD_E_INVALID);
    assert_int_equal(yard_http_req_header(req, "Bad Name", "v"), YARD_E_INVALID);
    yard_http_retry_t p = {.max_attempts = 21};
    assert_int_equal(yard_http_req_retry(req, &p), YARD_E_INVALID);
    p = (yard_http_retry_t){.max_attempts = 2, .statuses = {700}};
    assert_int_equal(yard_http_req_retry(req, &p), YARD_E_INVALID);
    /* the placeholder was never filled: refused at send, callback never called */
    yard_http_t *h = s_engine(0, 0);
    s_seen_t seen = {0};
    assert_int_equal(yard_http_send(h, &req, s_done, &seen), YARD_E_INVALID);
    assert_null(req);
    assert_non_null(strstr(yard_http_last_error(h), "{secret}"));
    assert_int_equal(yard_http_in_flight(h), 0);
    /* a secret that is neither a placeholder's value nor in the URL */
    assert_int_equal(yard_http_req_new("GET", "http://127.0.0.1:1/x", &req), 0);
    assert_int_equal(yard_http_req_secret(req, "nothere"), YARD_E_INVALID);
    assert_int_equal(yard_http_req_secret(req, "x"), 0);
    yard_http_req_destroy(&req);
    assert_int_equal(yard_http_req_new("GET", "http://127.0.0.1:1/{secret}", &req), 0);
    assert_int_equal(yard_http_req_secret(req, "two words"), YARD_E_INVALID);
    assert_int_equal(yard_http_req_secret(req, "line\nbreak"), YARD_E_INVALID);
    yard_http_req_destroy(&req);
    yard_http_opts_t opts = {.max_transfers = YARD_HTTP_MAX_TRANSFERS_UP + 1};
    yard_http_t *bad = NULL;
    assert_int_equal(yard_http_new(&opts, &bad), YARD_E_INVALID);
    assert_null(bad);
    yard_http_destroy(&h);
    assert_int_equal(seen.calls, 0);
}

/* --- redaction: capture stderr, where the logger writes ----------------------------------- */

#define S_BOT_TOKEN "123456789:AAH-very-secret-bot-token"
#define S_BEARER    "bearer-secret-0123456789"
#define S_API_KEY   "api-key-secret-abcdef"
#define S_PATH_KEY  "pathkey-secret-42"

/* Secrets in the URL (a placeholder, and a marked substring) and in Authorization and a
 * header marked secret reach the server, but no log line (debug included) and no error
 * text. */
static void
test_redaction(void **state)
{
    (void)state;
    yh_http_fake_t *f = yh_http_fake_start();
    yh_http_reply_t seq[] = {{.status = 503}, {.status = 503, .delay_ms = 3000}};
    char path[256];
    snprintf(path, sizeof path, "/bot%s/getUpdates", S_BOT_TOKEN);
    yh_http_fake_script(f, path, seq, 2);
    yard_http_t *h = s_engine(0, 0);
    yard_log_set_level(YARD_LOG_DEBUG);
    yh_capture_t cap;
    yh_capture_start(&cap, STDERR_FILENO);
    char url[512];
    snprintf(url, sizeof url, "%s?key=%s", yh_http_fake_url(f, "/bot{secret}/getUpdates"),
             S_PATH_KEY);
    yard_http_req_t *req = NULL;
    assert_int_equal(yard_http_req_new("GET", url, &req), 0);
    assert_int_equal(yard_http_req_secret(req, S_BOT_TOKEN), 0);
    assert_int_equal(yard_http_req_secret(req, S_PATH_KEY), 0);
    assert_int_equal(yard_http_req_header(req, "Authorization", "Bearer " S_BEARER), 0);
    assert_int_equal(yard_http_req_header_secret(req, "X-Api-Key", S_API_KEY), 0);
    yard_http_retry_t p = s_retry_fast;
    p.max_attempts = 2;
    assert_int_equal(yard_http_req_retry(req, &p), 0);
    yard_http_req_timeout(req, 300); /* the second attempt times out: an error text */
    s_seen_t seen = {0};
    assert_int_equal(yard_http_send(h, &req, s_done, &seen), 0);
    s_run(h, 10000);
    /* a refused request's text too */
    assert_int_equal(yard_http_req_new("GET", "http://127.0.0.1:1/{secret}/{secret}", &req), 0);
    assert_int_equal(yard_http_req_secret(req, S_BOT_TOKEN), 0);
    assert_int_equal(yard_http_send(h, &req, s_done, &seen), YARD_E_INVALID);
    char *logs = yh_capture_end(&cap, NULL);
    yard_log_set_level(YARD_LOG_INFO);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.err, YARD_E_TIMEOUT);
    assert_int_equal(seen.attempts, 2);
    /* the server got the real thing */
    const yh_http_fake_req_t *got = yh_http_fake_request(f, 0);
    char v[128];
    assert_string_equal(got->path, path);
    assert_string_equal(got->query, "key=" S_PATH_KEY);
    assert_string_equal(yh_http_fake_header(got, "Authorization", v, sizeof v), "Bearer " S_BEARER);
    assert_string_equal(yh_http_fake_header(got, "X-Api-Key", v, sizeof v), S_API_KEY);
    /* the texts show where the secrets were */
    assert_non_null(strstr(seen.err_text, "/bot<secret>/getUpdates?key=<secret>"));
    assert_non_null(strstr(seen.url, "/bot<secret>/getUpdates"));
    assert_non_null(strstr(logs, "http: retrying"));
    assert_non_null(strstr(logs, "<secret>"));
    const char *secrets[] = {S_BOT_TOKEN, "AAH-very-secret", S_BEARER, S_API_KEY, S_PATH_KEY};
    for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++) {
        if (strstr(logs, secrets[i]) || strstr(seen.err_text, secrets[i]) ||
            strstr(seen.url, secrets[i]) || strstr(yard_http_last_error(h), secrets[i])) {
            fail_msg("secret %s leaked; logs:\n%s", secrets[i], logs);
        }
    }
    free(logs);
    yard_http_destroy(&h);
    yh_http_fake_stop(&f);
}

/* --- drain ------------------------------------------------------------------------------- */

/* Drain refuses new requests and stays busy while transfers run; destroy then ends each one
 * with SHUTDOWN (callbacks run exactly once, nothing leaks under ASan). */
static void
test_drain_with_transfers_in_flight(void **state)
{
    (void)state;
    enum { N = 5 };
    yh_http_fake_t *f = yh_http_fake_start();
    yh_http_reply_t held = {.status = 200, .hold = true, .delay_ms = 20000};
    yh_http_reply_t quick = {.status = 200, .body = "quick"};
    yh_http_fake_script(f, "/held", &held, 1);
    yh_http_fake_script(f, "/quick", &quick, 1);
    yard_http_t *h = s_engine(0, 0);
    yard_loop_source_t src = yard_http_source(h);
    s_seen_t seen[N + 1];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < N; i++) {
        s_get(h, yh_http_fake_url(f, "/held"), 30000, NULL, &seen[i]);
    }
    /* one waiting to retry, for a long time: drain ends it with its last outcome */
    yh_http_reply_t busy = {.status = 503, .headers = "Retry-After: 20"};
    yh_http_fake_script(f, "/busy", &busy, 1);
    s_get(h, yh_http_fake_url(f, "/busy"), 30000, &s_retry_fast, &seen[N]);
    s_run_until_seen(h, f, "/held", N, 10000);
    s_run_until_seen(h, f, "/busy", 1, 10000);
    src.drain(src.ctx);
    assert_true(src.busy(src.ctx));
    yard_http_req_t *req = NULL;
    assert_int_equal(yard_http_req_new("GET", yh_http_fake_url(f, "/quick"), &req), 0);
    assert_int_equal(yard_http_send(h, &req, s_done, &seen[0]), YARD_E_SHUTDOWN);
    assert_non_null(strstr(yard_http_last_error(h), "draining"));
    /* waiting to retry or still running, the 503 ends without a retry once draining */
    int64_t end = yard_loop_now_ms() + 3000;
    while (seen[N].calls == 0) {
        assert_true(yard_loop_now_ms() < end);
        s_turn(&src, 10);
    }
    assert_int_equal(seen[N].calls, 1);
    assert_int_equal(seen[N].status, 503);
    assert_int_equal(seen[N].attempts, 1);
    assert_int_equal(yard_http_in_flight(h), N);
    assert_true(src.busy(src.ctx));
    src.destroy(src.ctx); /* the loop's last call: the engine is gone after it */
    for (int i = 0; i < N; i++) {
        assert_int_equal(seen[i].calls, 1);
        assert_int_equal(seen[i].err, YARD_E_SHUTDOWN);
        assert_non_null(strstr(seen[i].err_text, "shut down"));
    }
    yh_http_fake_stop(&f);
}

/* --- TLS and proxies ----------------------------------------------------------------------- */

/* TLS peers are verified by default: a self-signed server is refused with a clear error, and
 * accepted once its certificate is the engine's CA bundle. */
static void
test_tls_verified_by_default(void **state)
{
    (void)state;
    yh_http_fake_t *f = yh_http_fake_start_tls(yh_test_cert_pem, yh_test_key_pem);
    yh_http_reply_t ok = {.status = 200, .body = "secure"};
    yh_http_fake_script(f, "/tls", &ok, 1);
    yard_http_t *h = s_engine(0, 0);
    s_seen_t seen = {0};
    s_get(h, yh_http_fake_url(f, "/tls"), 5000, NULL, &seen);
    s_run(h, 5000);
    assert_int_equal(seen.err, YARD_E_IO);
    assert_non_null(strstr(seen.err_text, "certificate"));
    yard_http_destroy(&h);
    /* the certificate as the CA bundle */
    char *dir = yh_tmpdir();
    char ca_path[512];
    snprintf(ca_path, sizeof ca_path, "%s/ca.pem", dir);
    yh_write_file(ca_path, yh_test_cert_pem);
    yard_http_opts_t opts = {.ca_file = ca_path};
    assert_int_equal(yard_http_new(&opts, &h), 0);
    memset(&seen, 0, sizeof seen);
    s_get(h, yh_http_fake_url(f, "/tls"), 5000, NULL, &seen);
    s_run(h, 5000);
    assert_int_equal(seen.err, 0);
    assert_int_equal(seen.status, 200);
    assert_string_equal(seen.body, "secure");
    yh_rmtree(dir);
    free(dir);
    yard_http_destroy(&h);
    yh_http_fake_stop(&f);
}

static void
s_expiry_done(const yard_http_resp_t *resp, void *arg)
{
    int64_t *out = arg;
    out[0] = yard_http_resp_status(resp);
    out[1] = yard_http_resp_cert_expiry(resp, &out[2]);
}

/* A request marked with yard_http_req_certinfo() reads the peer certificate's notAfter (the
 * harness's certificate runs to 2099), also a second time (a fresh connection each time, so
 * no reused connection hides it); an unmarked request and a plain http one tell NOT_FOUND. */
static void
test_cert_expiry(void **state)
{
    (void)state;
    yh_http_fake_t *f = yh_http_fake_start_tls(yh_test_cert_pem, yh_test_key_pem);
    yh_http_reply_t ok = {.status = 200, .body = "secure"};
    yh_http_fake_script(f, "/tls", &ok, 1);
    char *dir = yh_tmpdir();
    char ca_path[512];
    snprintf(ca_path, sizeof ca_path, "%s/ca.pem", dir);
    yh_write_file(ca_path, yh_test_cert_pem);
    yard_http_opts_t opts = {.ca_file = ca_path};
    yard_http_t *h = NULL;
    assert_int_equal(yard_http_new(&opts, &h), 0);
    for (int round = 0; round < 3; round++) {
        int64_t got[3] = {0, 1, 0};
        yard_http_req_t *req = NULL;
        assert_int_equal(yard_http_req_new("GET", yh_http_fake_url(f, "/tls"), &req), 0);
        if (round < 2) {
            yard_http_req_certinfo(req);
        }
        assert_int_equal(yard_http_send(h, &req, s_expiry_done, got), 0);
        s_run(h, 5000);
        assert_int_equal(got[0], 200);
        if (round == 2) {
            assert_int_equal(got[1], YARD_E_NOT_FOUND);
            continue;
        }
        assert_int_equal(got[1], 0);
        time_t t = (time_t)got[2];
        struct tm tm;
        gmtime_r(&t, &tm);
        assert_int_equal(tm.tm_year + 1900, 2099);
    }
    assert_int_equal(yh_http_fake_connections(f), 3); /* the marked ones kept no connection */
    yard_http_destroy(&h);
    yh_http_fake_stop(&f);
    /* plain http: no certificate */
    f = yh_http_fake_start();
    yh_http_fake_script(f, "/plain", &ok, 1);
    assert_int_equal(yard_http_new(NULL, &h), 0);
    int64_t got[3] = {0, 1, 0};
    yard_http_req_t *req = NULL;
    assert_int_equal(yard_http_req_new("GET", yh_http_fake_url(f, "/plain"), &req), 0);
    yard_http_req_certinfo(req);
    assert_int_equal(yard_http_send(h, &req, s_expiry_done, got), 0);
    s_run(h, 5000);
    assert_int_equal(got[0], 200);
    assert_int_equal(got[1], YARD_E_NOT_FOUND);
    yard_http_destroy(&h);
    yh_http_fake_stop(&f);
    yh_rmtree(dir);
    free(dir);
}

static bool
s_proxy_answer(const yh_http_fake_req_t *req, yh_http_reply_t *reply, void *arg)
{
    (void)req;
    (void)arg;
    *reply = (yh_http_reply_t){.status = 200, .body = "via proxy"};
    return true;
}

/* http_proxy from the environment is used (curl reads it; the engine keeps that). */
static void
test_proxy_from_environment(void **state)
{
    (void)state;
    yh_http_fake_t *proxy = yh_http_fake_start();
    yh_http_fake_handler(proxy, s_proxy_answer, NULL);
    char url[64];
    snprintf(url, sizeof url, "%s", yh_http_fake_url(proxy, ""));
    assert_int_equal(setenv("http_proxy", url, 1), 0);
    yard_http_t *h = s_engine(0, 0);
    s_seen_t seen = {0};
    s_get(h, "http://upstream.invalid/hello", 5000, NULL, &seen);
    s_run(h, 5000);
    unsetenv("http_proxy");
    assert_int_equal(seen.err, 0);
    assert_string_equal(seen.body, "via proxy");
    assert_int_equal(yh_http_fake_count(proxy, NULL), 1);
    char host[64];
    assert_string_equal(
        yh_http_fake_header(yh_http_fake_request(proxy, 0), "Host", host, sizeof host),
        "upstream.invalid");
    yard_http_destroy(&h);
    yh_http_fake_stop(&proxy);
}

int
main(void)
{
    /* the fake is local: a proxy from the environment (curl honours them) must not get it */
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keepalive_reuse),
        cmocka_unit_test(test_json_both_ways),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_many_in_flight),
        cmocka_unit_test(test_retry_then_success),
        cmocka_unit_test(test_no_retry_for_unsafe_method),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_retry_helpers),
        cmocka_unit_test(test_body_cap),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_drain_with_transfers_in_flight),
        cmocka_unit_test(test_tls_verified_by_default),
        cmocka_unit_test(test_cert_expiry),
        cmocka_unit_test(test_proxy_from_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
