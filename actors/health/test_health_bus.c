/* The health actor on a real broker, as `yard-actor health` runs: bus checks against a
 * service whose replicas are stopped one by one (min_replicas from `$sys services`, then
 * NO_SERVICE) and started again, an op that never answers (its own timeout), the events each
 * transition publishes (seen by a subscriber, once per transition), and the status page
 * through the gateway's default GET /status route, without auth. */
#include "bus_json.h"
#include "fixture.h"
#include "harness.h"
#include "replicas.h"
#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/gateway.h"
#include "yard/json.h"
#include "yard/log.h"
#include "yard/msg.h"
#include "yard/registry.h"

#include <curl/curl.h>
#include <signal.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_WAIT_MS 20000

/* --- the target service ----------------------------------------------------------------- */

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static yard_deferred_t *s_hung[512];
static int s_nhung;

static int
s_ping(yard_request_t *req, void *state)
{
    (void)state;
    return yard_request_reply(req, "\x80", 1);
}

/* Never answers: the runtime answers TIMEOUT at the caller's deadline. */
static int
s_hang(yard_request_t *req, void *state)
{
    (void)state;
    pthread_mutex_lock(&s_lock);
    if (s_nhung < 512) {
        s_hung[s_nhung++] = yard_request_defer(req);
        pthread_mutex_unlock(&s_lock);
        return 0;
    }
    pthread_mutex_unlock(&s_lock);
    return YARD_E_OVERLOADED;
}

static const yard_handler_def_t s_target_handlers[] = {
    {"ping", s_ping, "answers {}"},
    {"hang", s_hang, "never answers"},
    {NULL, NULL, NULL},
};
static const yard_actor_def_t s_target = {
    .name = "target", .description = "test target", .handlers = s_target_handlers, .credit = 64};

/* --- events ----------------------------------------------------------------------------- */

typedef struct {
    char subject[96];
    char body[512];
} s_event_t;

static s_event_t s_events[256];
static int s_nevents;

static void
s_on_event(const yard_msg_t *msg, void *arg)
{
    (void)arg;
    if (s_nevents == 256) {
        return;
    }
    s_event_t *e = &s_events[s_nevents++];
    snprintf(e->subject, sizeof e->subject, "%s", yard_msg_subject(msg));
    size_t size = 0;
    const void *body = yard_msg_body(msg, &size);
    char *json = NULL;
    size_t len = 0;
    if (yard_json_from_msgpack(body, size, &json, &len, NULL, 0) == 0) {
        snprintf(e->body, sizeof e->body, "%s", json);
    }
    free(json);
}

/* Events about check name so far (subjects health.* and alert.health.<name>). */
static int
s_count(const char *name, const char *subject)
{
    char want[96];
    snprintf(want, sizeof want, "\"check\":\"%s\"", name);
    int n = 0;
    for (int i = 0; i < s_nevents; i++) {
        n += strstr(s_events[i].body, want) && strcmp(s_events[i].subject, subject) == 0;
    }
    return n;
}

static const s_event_t *
s_last(const char *name, const char *subject)
{
    char want[96];
    snprintf(want, sizeof want, "\"check\":\"%s\"", name);
    for (int i = s_nevents - 1; i >= 0; i--) {
        if (strstr(s_events[i].body, want) && strcmp(s_events[i].subject, subject) == 0) {
            return &s_events[i];
        }
    }
    return NULL;
}

/* --- the bus ---------------------------------------------------------------------------- */

static struct {
    char *dir;
    yard_config_t *cfg;
    yard_broker_t *broker;
    int port;
    yard_actor_t *a, *b, *health;
    yard_gateway_t *gw;
    yard_client_t *sub, *caller;
} F;

static const char s_config[] = "health:\n"
                               "  down_after: 2\n"
                               "  up_after: 2\n"
                               "  jitter: 0\n"
                               "  checks:\n"
                               "    - {name: svc, bus: target, op: ping, every: 300ms, "
                               "timeout: 250ms, min_replicas: 2}\n"
                               "    - {name: stuck, bus: target, op: hang, every: 300ms, "
                               "timeout: 200ms}\n"
                               "    - {name: echo, bus: echo, every: 300ms, timeout: 250ms, "
                               "min_replicas: 2}\n";

static yard_actor_t *
s_target_start(void)
{
    char *flags[] = {"--heartbeat-ms=100", NULL};
    return yh_actor_start(&s_target, NULL, F.port, flags);
}

/* A `yard-actor echo` process (so that it can be SIGKILLed) on the test's broker. */
static pid_t
s_echo_spawn(void)
{
    char *extra[] = {"--heartbeat-ms", "100", NULL};
    return yh_actor_spawn("echo", yh_endpoint(F.port), NULL, NULL, extra, F.dir);
}

/* The check's status entry as JSON (from the health actor's status op). */
static bool
s_state_is(const char *name, const char *state, char *seen, size_t seenlen)
{
    yh_result_t r = yh_call_json(F.caller, "health", "status", NULL, NULL, 3000);
    bool ok = false;
    char want[96];
    snprintf(want, sizeof want, "{\"name\":\"%s\"", name);
    const char *at = r.status == 0 && r.json ? strstr(r.json, want) : NULL;
    if (at) {
        const char *end = strstr(at + 1, "{\"name\":");
        size_t n = end ? (size_t)(end - at) : strlen(at);
        snprintf(seen, seenlen, "%.*s", (int)n, at);
        char st[64];
        snprintf(st, sizeof st, "\"state\":\"%s\"", state);
        ok = strstr(seen, st) != NULL;
    }
    yh_result_free(&r);
    return ok;
}

/* Waits until name's state is state, pumping the subscriber meanwhile. */
static void
s_wait_state(const char *name, const char *state)
{
    char seen[4096] = "";
    long long end = yh_now_ms() + S_WAIT_MS;
    while (!s_state_is(name, state, seen, sizeof seen)) {
        if (yh_now_ms() > end) {
            fail_msg("check %s never became %s; last seen: %s", name, state, seen);
        }
        yard_client_dispatch(F.sub, 50);
    }
    /* the events of a transition are published before the record is read back: collect them */
    for (int i = 0; i < 5; i++) {
        yard_client_dispatch(F.sub, 20);
    }
}

/* The check's run count from status. */
static long
s_runs(const char *name)
{
    char seen[4096] = "";
    s_state_is(name, "x", seen, sizeof seen);
    const char *r = strstr(seen, "\"runs\":");
    return r ? strtol(r + 7, NULL, 10) : -1;
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
    F.broker = yh_broker_start_opts(&bo, NULL, &F.port);
    F.a = s_target_start();
    F.b = s_target_start();
    assert_int_equal(yard_client_new(yh_endpoint(F.port), NULL, &F.sub), 0);
    assert_int_equal(yard_client_subscribe(F.sub, "health.>", s_on_event, NULL), 0);
    assert_int_equal(yard_client_subscribe(F.sub, "alert.health.>", s_on_event, NULL), 0);
    assert_int_equal(yard_client_new(yh_endpoint(F.port), NULL, &F.caller), 0);
    for (int i = 0; i < 5; i++) {
        yard_client_dispatch(F.sub, 20); /* the subscriptions reach the broker first */
    }
    char *flags[] = {"--heartbeat-ms=100", NULL};
    F.health = yh_actor_start(&yard_actor_health, F.cfg, F.port, flags);
    F.gw = yh_gateway_start(F.cfg, F.port, NULL);
    yh_result_t r = yh_call_json_ready(F.caller, "health", "status", NULL, NULL, S_WAIT_MS);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    yard_gateway_destroy(&F.gw);
    yard_actor_destroy(&F.health);
    yard_actor_destroy(&F.a);
    yard_actor_destroy(&F.b);
    pthread_mutex_lock(&s_lock);
    for (int i = 0; i < s_nhung; i++) {
        yard_deferred_reply(&s_hung[i], "\x80", 1); /* answered at the deadline already */
    }
    s_nhung = 0;
    pthread_mutex_unlock(&s_lock);
    yard_client_destroy(&F.sub);
    yard_client_destroy(&F.caller);
    yard_broker_destroy(&F.broker);
    yard_config_destroy(&F.cfg);
    yh_rmtree(F.dir);
    free(F.dir);
    curl_global_cleanup();
    return 0;
}

/* --- tests ------------------------------------------------------------------------------ */

/* Replica processes SIGKILLed (no goodbye: the broker notices at its heartbeat deadline):
 * below min_replicas, down once; none left, still down; two new ones, up once. */
static void
test_replica_processes_killed(void **state)
{
    (void)state;
    pid_t p1 = s_echo_spawn(), p2 = s_echo_spawn();
    s_wait_state("echo", "up");
    int downs = s_count("echo", "health.down"), ups = s_count("echo", "health.up");
    yh_stop(p1, SIGKILL, 5000);
    s_wait_state("echo", "down");
    assert_int_equal(s_count("echo", "health.down"), downs + 1);
    const s_event_t *e = s_last("echo", "health.down");
    if (!strstr(e->body, "live replicas of echo: 1 (min_replicas 2)")) {
        fail_msg("health.down: %s", e->body);
    }
    yh_stop(p2, SIGKILL, 5000);
    long runs = s_runs("echo");
    long long end = yh_now_ms() + S_WAIT_MS;
    char seen[4096] = "";
    while (s_runs("echo") < runs + 4) {
        assert_true(yh_now_ms() < end);
        yard_client_dispatch(F.sub, 50);
    }
    assert_true(s_state_is("echo", "down", seen, sizeof seen));
    assert_int_equal(s_count("echo", "health.down"), downs + 1); /* no second alert */
    p1 = s_echo_spawn();
    p2 = s_echo_spawn();
    s_wait_state("echo", "up");
    assert_int_equal(s_count("echo", "health.up"), ups + 1);
    assert_int_equal(s_count("echo", "alert.health.echo"), (downs + 1) + (ups + 1));
    yh_stop(p1, SIGTERM, 5000);
    yh_stop(p2, SIGTERM, 5000);
}

/* Two replicas up; one stopped: below min_replicas, down once; both stopped: NO_SERVICE,
 * still down and no new event; both back: up once. An op that never answers is down at
 * its own timeout. */
static void
test_replicas_stopped_and_back(void **state)
{
    (void)state;
    s_wait_state("svc", "up");
    assert_int_equal(s_count("svc", "health.up"), 0); /* unknown -> up: no news */
    assert_int_equal(s_count("svc", "health.down"), 0);

    yard_actor_destroy(&F.b);
    s_wait_state("svc", "down");
    assert_int_equal(s_count("svc", "health.down"), 1);
    assert_int_equal(s_count("svc", "alert.health.svc"), 1);
    const s_event_t *e = s_last("svc", "health.down");
    if (!strstr(e->body, "live replicas of target: 1 (min_replicas 2)")) {
        fail_msg("health.down: %s", e->body);
    }
    assert_non_null(strstr(e->body, "\"duration_ms\":"));
    assert_non_null(strstr(s_last("svc", "alert.health.svc")->body, "svc is DOWN"));

    yard_actor_destroy(&F.a);
    long runs = s_runs("svc");
    long long end = yh_now_ms() + S_WAIT_MS;
    char seen[4096] = "";
    while (s_runs("svc") < runs + 3 || !s_state_is("svc", "down", seen, sizeof seen) ||
           !strstr(seen, "NO_SERVICE")) {
        if (yh_now_ms() > end) {
            fail_msg("no NO_SERVICE runs: %s", seen);
        }
        yard_client_dispatch(F.sub, 50);
    }
    assert_int_equal(s_count("svc", "health.down"), 1); /* still down: nothing new */
    assert_int_equal(s_count("svc", "alert.health.svc"), 1);

    F.a = s_target_start();
    F.b = s_target_start();
    s_wait_state("svc", "up");
    assert_int_equal(s_count("svc", "health.up"), 1);
    assert_int_equal(s_count("svc", "alert.health.svc"), 2);
    assert_non_null(strstr(s_last("svc", "alert.health.svc")->body, "svc is UP again"));
    assert_int_equal(s_count("svc", "health.down"), 1);

    /* the op that never answers */
    s_wait_state("stuck", "down");
    assert_int_equal(s_count("stuck", "health.down"), 1);
    e = s_last("stuck", "health.down");
    if (!strstr(e->body, "no reply within 200 ms")) {
        fail_msg("health.down: %s", e->body);
    }
}

typedef struct {
    char type[128];
    char csp[256];
} s_headers_t;

static size_t
s_header_cb(char *buf, size_t size, size_t n, void *arg)
{
    s_headers_t *h = arg;
    size_t len = size * n;
    if (len > 14 && strncasecmp(buf, "Content-Type: ", 14) == 0) {
        snprintf(h->type, sizeof h->type, "%.*s", (int)(len - 16), buf + 14);
    }
    if (len > 25 && strncasecmp(buf, "Content-Security-Policy: ", 25) == 0) {
        snprintf(h->csp, sizeof h->csp, "%.*s", (int)(len - 27), buf + 25);
    }
    return len;
}

static size_t
s_body_cb(char *buf, size_t size, size_t n, void *arg)
{
    char *out = arg;
    size_t have = strlen(out), len = size * n;
    size_t room = 65535 - have;
    memcpy(out + have, buf, len < room ? len : room);
    out[have + (len < room ? len : room)] = '\0';
    return len;
}

/* The gateway's default configuration serves the page at GET /status, without auth, as HTML
 * with a content security policy that allows no script and no outside asset. */
static void
test_status_page_through_gateway(void **state)
{
    (void)state;
    s_wait_state("svc", "up");
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/status", yard_gateway_port(F.gw));
    CURL *c = curl_easy_init();
    static char body[65536];
    body[0] = '\0';
    s_headers_t h = {{0}, {0}};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    assert_int_equal(code, 200);
    assert_string_equal(h.type, "text/html; charset=utf-8");
    assert_string_equal(h.csp, "default-src 'none'; style-src 'unsafe-inline'");
    assert_true(strncmp(body, "<!doctype html>", 15) == 0);
    assert_non_null(strstr(body, "<li class=\"up\"><div class=\"row\"><span class=\"dot\"></span>"
                                 "<span class=\"name\">svc</span>"));
    assert_non_null(strstr(body, ">stuck</span>"));
    assert_null(strstr(body, "target")); /* the service checked is not shown, only the name */
    /* HEAD: the same headers, no body */
    body[0] = '\0';
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    assert_int_equal(code, 200);
    assert_string_equal(body, "");
    curl_easy_cleanup(c);
}

/* A fresh `yard up` (no config file: the broker, the actors that need no credentials, the
 * gateway at its defaults) serves the page at GET /status, and says no check is set up. */
static void
test_yard_up_serves_status(void **state)
{
    (void)state;
    int bport = yh_free_port(), gport = yh_free_port();
    char bind[64], broker[64], listen[64];
    snprintf(bind, sizeof bind, "YARD_BIND=tcp://127.0.0.1:%d", bport);
    snprintf(broker, sizeof broker, "YARD_BROKER=tcp://127.0.0.1:%d", bport);
    snprintf(listen, sizeof listen, "YARD_GATEWAY_LISTEN=127.0.0.1:%d", gport);
    char *env[] = {bind, broker, listen, "YARD_CONFIG", "YARD_UP_ACTORS", "YARD_LOG_LEVEL=warn",
                   NULL};
    char *argv[] = {"yard", "up", NULL};
    pid_t pid = yh_spawn("yard", argv, env, F.dir);
    assert_true(pid > 0);
    assert_true(yh_wait_port(gport, 15000));
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/status", gport);
    CURL *c = curl_easy_init();
    static char body[65536];
    long code = 0;
    long long end = yh_now_ms() + 15000;
    do { /* the gateway may listen before the health actor registered */
        body[0] = '\0';
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_body_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    } while (code == 503 && yh_now_ms() < end);
    assert_int_equal(code, 200);
    assert_non_null(strstr(body, "No checks are configured."));
    curl_easy_cleanup(c);
    assert_int_equal(yh_stop(pid, SIGTERM, 10000) >= 0, 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_page_through_gateway),
        cmocka_unit_test(test_replicas_stopped_and_back),
        cmocka_unit_test(test_replica_processes_killed),
        cmocka_unit_test(test_yard_up_serves_status),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
