/* The telegram actor's webhook mode through a real gateway: Telegram POSTs an update to the
 * gateway's route (auth: none; the route's pass_headers forwards X-Telegram-Bot-Api-Secret-
 * Token), the actor checks the secret and handles the update (an event, a reply at the Bot API
 * fake). A wrong or missing secret is 401 through the gateway's error mapping and handles
 * nothing; the same header on a route that does not list it never reaches the actor. The secret
 * appears in no log line, no tap copy and no error text. */
#include "capture.h"
#include "fixture.h"
#include "harness.h"
#include "telegram_fake.h"
#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/client.h"
#include "yard/gateway.h"
#include "yard/msg.h"
#include "yard/registry.h"

#include <curl/curl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_TOKEN   "123456:TEST-token_abc"
#define S_SECRET  "gw-Secret_token-42"
#define S_WAIT_MS 15000

static struct {
    char *dir;
    int bport;
    yard_broker_t *broker;
    yard_config_t *cfg;
    yard_actor_t *tg;
    yard_gateway_t *gw;
    yard_client_t *client;
    tg_fake_t *fake;
    pthread_mutex_t lock;
    size_t updates;    /* telegram.update.message events */
    size_t taps;       /* tap copies of webhook requests */
    size_t tap_hidden; /* ... marked tap.hidden: sensitive, without a body */
    size_t tap_leaks;  /* tap copies with the secret in a header or the body */
} F = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char *s_config_fmt =
    "store: memory\n"
    "telegram:\n"
    "  token: \"" S_TOKEN "\"\n"
    "  api_base: %s\n"
    "  mode: webhook\n"
    "  webhook: {url: \"https://bot.example.com/telegram/hook\", secret_token_file: %s/hook}\n"
    "  lease: 2s\n"
    "  drain_ms: 500\n"
    "gateway:\n"
    "  routes:\n"
    "    - method: POST\n"
    "      path: /telegram/hook\n"
    "      service: telegram\n"
    "      op: webhook\n"
    "      auth: none\n"
    "      body_limit: 1MiB\n"
    "      pass_headers: [X-Telegram-Bot-Api-Secret-Token]\n"
    "    - {method: POST, path: /telegram/other, service: telegram, op: webhook}\n";

/* --- bus side: events and tap copies ----------------------------------------------------- */

static bool
s_has_secret(const char *s, size_t n)
{
    size_t k = strlen(S_SECRET);
    for (size_t i = 0; s && i + k <= n; i++) {
        if (memcmp(s + i, S_SECRET, k) == 0) {
            return true;
        }
    }
    return false;
}

static void
s_tap(const yard_msg_t *msg)
{
    const char *op = yard_msg_header(msg, "tap.op");
    const char *kind = yard_msg_header(msg, "tap.kind");
    bool leak = false;
    for (size_t i = 0; i < yard_msg_header_count(msg); i++) {
        const char *k = NULL, *v = NULL;
        yard_msg_header_at(msg, i, &k, &v);
        leak |= (k && s_has_secret(k, strlen(k))) || (v && s_has_secret(v, strlen(v)));
    }
    size_t size = 0;
    const void *body = yard_msg_body(msg, &size);
    leak |= s_has_secret(body, size);
    pthread_mutex_lock(&F.lock);
    F.tap_leaks += leak;
    if (op && strcmp(op, "webhook") == 0 && kind && strcmp(kind, "request") == 0) {
        F.taps++;
        const char *hidden = yard_msg_header(msg, "tap.hidden");
        F.tap_hidden += hidden && strcmp(hidden, "sensitive") == 0 && size == 0;
    }
    pthread_mutex_unlock(&F.lock);
}

static void
s_on_msg(const yard_msg_t *msg, void *arg)
{
    (void)arg;
    const char *subject = yard_msg_subject(msg);
    if (subject && strncmp(subject, "$tap.", 5) == 0) {
        s_tap(msg);
        return;
    }
    if (subject && strcmp(subject, "telegram.update.message") == 0) {
        pthread_mutex_lock(&F.lock);
        F.updates++;
        pthread_mutex_unlock(&F.lock);
    }
}

static size_t
s_count(const size_t *field)
{
    pthread_mutex_lock(&F.lock);
    size_t n = *field;
    pthread_mutex_unlock(&F.lock);
    return n;
}

/* Dispatches the client until *field reaches n (true), or the wait's deadline (false). */
static bool
s_reach(const size_t *field, size_t n)
{
    long long until = yh_now_ms() + S_WAIT_MS;
    while (s_count(field) < n && yh_now_ms() < until) {
        yard_client_dispatch(F.client, 20);
    }
    return s_count(field) >= n;
}

/* s_reach, or fails naming what. */
static void
s_wait_count(const size_t *field, size_t n, const char *what)
{
    if (!s_reach(field, n)) {
        fail_msg("%s: %zu, expected %zu", what, s_count(field), n);
    }
}

/* Dispatches the client for ms (to let events that must not come, come). */
static void
s_settle(int ms)
{
    long long until = yh_now_ms() + ms;
    while (yh_now_ms() < until) {
        yard_client_dispatch(F.client, 20);
    }
}

/* --- HTTP side ----------------------------------------------------------------------------- */

typedef struct {
    long status;
    char body[4096];
    size_t len;
} s_http_t;

static size_t
s_body_cb(char *data, size_t size, size_t n, void *arg)
{
    s_http_t *r = arg;
    size_t take = size * n;
    size_t room = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, data, take < room ? take : room);
    r->len += take < room ? take : room;
    r->body[r->len] = '\0';
    return size * n;
}

/* POSTs json to path on the gateway, with the header line hdr ("Name: value"; NULL: none). */
static s_http_t
s_post(const char *path, const char *json, const char *hdr)
{
    s_http_t r = {0};
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)yard_gateway_port(F.gw), path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (hdr) {
        h = curl_slist_append(h, hdr);
    }
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        fail_msg("POST %s: %s", path, curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return r;
}

static int64_t s_next_id = 8000;

/* A message update in chat 77 with text, as Telegram POSTs it. */
static const char *
s_update(const char *text, char *buf, size_t len)
{
    int64_t id = s_next_id++;
    size_t cmd = strcspn(text, " ");
    snprintf(buf, len,
             "{\"update_id\":%lld,\"message\":{\"message_id\":%lld,\"date\":1700000000,"
             "\"chat\":{\"id\":77,\"type\":\"private\"},\"from\":{\"id\":77,\"is_bot\":false,"
             "\"first_name\":\"T\",\"language_code\":\"en\"},\"text\":\"%s\",\"entities\":"
             "[{\"type\":\"bot_command\",\"offset\":0,\"length\":%zu}]}}",
             (long long)id, (long long)id, text, cmd);
    return buf;
}

/* --- fixture ------------------------------------------------------------------------------- */

static int
s_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    F.fake = tg_fake_start(S_TOKEN);
    F.dir = yh_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/hook", F.dir);
    yh_write_file(path, S_SECRET "\n");
    char text[4096];
    snprintf(text, sizeof text, s_config_fmt, tg_fake_api_base(F.fake), F.dir);
    F.cfg = yh_config_in(F.dir, text);
    /* taps on (`yard tap` is off unless the broker allows it): the test looks at the copies */
    yard_broker_opts_t bo = {.heartbeat_ms = 200, .heartbeat_min_ms = 50, .tap = true};
    F.broker = yh_broker_start_opts(&bo, NULL, &F.bport);
    F.tg = yh_actor_start(yard_registry_find("telegram"), F.cfg, F.bport, NULL);
    F.gw = yh_gateway_start(F.cfg, F.bport, NULL);
    yard_client_opts_t co = {.default_timeout_ms = 5000};
    assert_int_equal(yard_client_new(yh_endpoint(F.bport), &co, &F.client), 0);
    assert_int_equal(yard_client_subscribe(F.client, "telegram.>", s_on_msg, NULL), 0);
    assert_int_equal(yard_client_subscribe(F.client, "$tap.telegram", s_on_msg, NULL), 0);
    /* the leader set the webhook up with Telegram: the actor runs, in webhook mode */
    char url[512] = "", secret[512] = "";
    long long until = yh_now_ms() + S_WAIT_MS;
    while (!url[0] && yh_now_ms() < until) {
        yard_client_dispatch(F.client, 20);
        tg_fake_webhook(F.fake, url, secret);
    }
    assert_string_equal(url, "https://bot.example.com/telegram/hook");
    assert_string_equal(secret, S_SECRET);
    /* the gateway reaches the service: no longer 503 NO_SERVICE */
    char buf[1024];
    s_http_t r = {.status = 503};
    until = yh_now_ms() + S_WAIT_MS;
    while (r.status == 503 && yh_now_ms() < until) {
        r = s_post("/telegram/hook", s_update("/help", buf, sizeof buf), NULL);
        if (r.status == 503) {
            s_settle(50);
        }
    }
    assert_int_equal(r.status, 401);
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    yard_client_destroy(&F.client);
    yard_gateway_destroy(&F.gw);
    yard_actor_destroy(&F.tg);
    yard_broker_destroy(&F.broker);
    yard_config_destroy(&F.cfg);
    tg_fake_stop(&F.fake);
    yh_rmtree(F.dir);
    free(F.dir);
    curl_global_cleanup();
    return 0;
}

/* --- tests --------------------------------------------------------------------------------- */

/* The right secret: 204 at once, the update handled after (event, /help answered). */
static void
test_right_secret_is_handled(void **state)
{
    (void)state;
    size_t updates = s_count(&F.updates);
    size_t sent = tg_fake_sent(F.fake, 77);
    char buf[1024];
    s_http_t r = s_post("/telegram/hook", s_update("/help", buf, sizeof buf),
                        "X-Telegram-Bot-Api-Secret-Token: " S_SECRET);
    assert_int_equal(r.status, 204);
    s_wait_count(&F.updates, updates + 1, "telegram.update.message events");
    assert_true(tg_fake_wait_sent(F.fake, 77, sent + 1, S_WAIT_MS) >= sent + 1);
    char *t = tg_fake_sent_text(F.fake, 77, sent, NULL);
    assert_non_null(t);
    assert_non_null(strstr(t, "/help"));
    free(t);
    /* header names are case-insensitive: a lower-case one is the same header */
    r = s_post("/telegram/hook", s_update("/help", buf, sizeof buf),
               "x-telegram-bot-api-secret-token: " S_SECRET);
    assert_int_equal(r.status, 204);
    s_wait_count(&F.updates, updates + 2, "telegram.update.message events");
}

/* A missing or wrong secret: 401 UNAUTHENTICATED from the actor through the gateway's error
 * mapping, nothing handled, and the error names no secret. */
static void
test_wrong_or_missing_secret_is_refused(void **state)
{
    (void)state;
    size_t updates = s_count(&F.updates);
    size_t sent = tg_fake_sent(F.fake, 77);
    char buf[1024];
    s_http_t r = s_post("/telegram/hook", s_update("/help", buf, sizeof buf), NULL);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "\"UNAUTHENTICATED\""));
    r = s_post("/telegram/hook", s_update("/help", buf, sizeof buf),
               "X-Telegram-Bot-Api-Secret-Token: " S_SECRET "x");
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "\"UNAUTHENTICATED\""));
    assert_false(s_has_secret(r.body, r.len));
    r = s_post("/telegram/hook", s_update("/help", buf, sizeof buf),
               "X-Telegram-Bot-Api-Secret-Token: gw-Secret");
    assert_int_equal(r.status, 401);
    /* a route without pass_headers never forwards it, right or not */
    r = s_post("/telegram/other", s_update("/help", buf, sizeof buf),
               "X-Telegram-Bot-Api-Secret-Token: " S_SECRET);
    assert_int_equal(r.status, 401);
    /* a value that is not UTF-8: 400 naming the header, not its value */
    r = s_post("/telegram/hook", s_update("/help", buf, sizeof buf),
               "X-Telegram-Bot-Api-Secret-Token: " S_SECRET "\xff");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "x-telegram-bot-api-secret-token header is not valid UTF-8"));
    assert_false(s_has_secret(r.body, r.len));
    s_settle(500);
    assert_int_equal(s_count(&F.updates), updates);
    assert_int_equal(tg_fake_sent(F.fake, 77), sent);
}

/* The secret in no log line (gateway access log, actor warnings) and no tap copy: the webhook
 * op is sensitive (no body) and a tap never copies a request's bus headers. */
static void
test_secret_in_no_log_or_tap(void **state)
{
    (void)state;
    size_t taps = s_count(&F.taps);
    size_t updates = s_count(&F.updates);
    /* the logger passes 5 lines of one message a second: start in a fresh second, so that the
     * lines looked for below are not the earlier tests' suppressed ones */
    time_t now = time(NULL);
    while (time(NULL) == now) {
        yard_client_dispatch(F.client, 20);
    }
    yh_capture_t cap;
    yh_capture_start(&cap, STDERR_FILENO);
    char buf[1024];
    s_http_t good = s_post("/telegram/hook", s_update("/help", buf, sizeof buf),
                           "X-Telegram-Bot-Api-Secret-Token: " S_SECRET);
    s_http_t bad = s_post("/telegram/hook", s_update("/help", buf, sizeof buf),
                          "X-Telegram-Bot-Api-Secret-Token: " S_SECRET "-wrong");
    bool handled = s_reach(&F.updates, updates + 1);
    bool tapped = s_reach(&F.taps, taps + 2);
    size_t len = 0;
    char *log = yh_capture_end(&cap, &len); /* before any assertion: cmocka writes to stderr */
    assert_true(handled);
    print_message("tap copies of webhook requests: %zu, hidden %zu, leaks %zu\n", s_count(&F.taps),
                  s_count(&F.tap_hidden), s_count(&F.tap_leaks));
    assert_true(tapped);
    assert_int_equal(good.status, 204);
    assert_int_equal(bad.status, 401);
    /* the capture saw the logs: the refusal's warning and the access log line are there */
    assert_non_null(strstr(log, "webhook call without the right secret token"));
    assert_non_null(strstr(log, "/telegram/hook"));
    assert_false(s_has_secret(log, len));
    free(log);
    assert_int_equal(s_count(&F.tap_hidden), s_count(&F.taps));
    assert_int_equal(s_count(&F.tap_leaks), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_right_secret_is_handled),
        cmocka_unit_test(test_wrong_or_missing_secret_is_refused),
        cmocka_unit_test(test_secret_in_no_log_or_tap),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
