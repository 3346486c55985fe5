/* Outbound HTTP inside a real replica: an actor's handler defers its request, starts a long
 * poll with the replica's own engine (yard_ctx_http()), and answers from the transfer's
 * completion; while the poll is held by the server, the SAME single replica answers 1,000 bus
 * requests through a real broker, because the engine's sockets are waited on by the replica's
 * loop instead of blocking it. Then the replica stops with a poll still in flight: the runtime
 * drains and destroys the engine, whose callback gets SHUTDOWN and fails its deferred
 * request. */
#include "fixture.h"
#include "harness.h"
#include "http_fake.h"
#include "yard/actor.h"
#include "yard/actor_test.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/http.h"
#include "yard/json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CALLS 1000

static bool s_tuned;                   /* the handler makes its engine with yard_ctx_http_with() */
static char s_poll_url[256];           /* set before the actor starts */
static atomic_int s_shutdown_seen = 0; /* completions that ended with SHUTDOWN */

/* --- the actor ------------------------------------------------------------------------------- */

static void
s_poll_done(const yard_http_resp_t *resp, void *arg)
{
    yard_deferred_t *d = arg;
    int err = yard_http_resp_error(resp);
    if (err != 0) {
        atomic_fetch_add(&s_shutdown_seen, err == YARD_E_SHUTDOWN);
        yard_deferred_fail(&d, err, NULL, yard_http_resp_error_text(resp));
        return;
    }
    void *mp = NULL;
    size_t size = 0;
    char why[128];
    if (yard_http_resp_json(resp, &mp, &size, why, sizeof why) != 0) {
        yard_deferred_fail(&d, YARD_E_BAD_REQUEST, NULL, why);
        return;
    }
    yard_deferred_reply(&d, mp, size);
    free(mp);
}

/* "poll": answered when the long poll completes. */
static int
s_poll(yard_request_t *req, void *state)
{
    (void)state;
    /* an actor that tunes its engine still trusts the operator's CA bundle */
    yard_http_opts_t tuned = {.max_transfers = 8};
    yard_http_t *h = s_tuned ? yard_ctx_http_with(yard_request_ctx(req), &tuned)
                             : yard_ctx_http(yard_request_ctx(req));
    yard_http_req_t *hr = NULL;
    if (!h || yard_http_req_new("GET", s_poll_url, &hr) != 0) {
        return YARD_E_INTERNAL;
    }
    yard_http_req_timeout(hr, 60000);
    yard_deferred_t *d = yard_request_defer(req);
    int rc = yard_http_send(h, &hr, s_poll_done, d);
    if (rc != 0) {
        yard_deferred_fail(&d, rc, NULL, yard_http_last_error(h));
    }
    return 0;
}

/* everything else: echo */
static int
s_echo(yard_request_t *req, void *state)
{
    (void)state;
    size_t size = 0;
    const void *body = yard_request_body(req, &size);
    return yard_request_reply(req, body, size);
}

static const yard_handler_def_t s_handlers[] = {
    {.op = "poll", .fn = s_poll, .help = "long-poll the fake server"},
    {.op = NULL, .fn = s_echo, .help = "echo"},
    {0},
};

static const yard_actor_def_t s_def = {
    .name = "httpy",
    .description = "long polls over HTTP while answering the bus",
    .handlers = s_handlers,
};

/* --- the client side ------------------------------------------------------------------------- */

typedef struct {
    int done;
    int err;
    char json[256];
} s_poll_result_t;

static void
s_poll_reply(const yard_msg_t *reply, void *arg)
{
    s_poll_result_t *r = arg;
    r->done++;
    r->err = yard_msg_status(reply);
    size_t size = 0;
    const void *body = yard_msg_body(reply, &size);
    char *json = NULL;
    if (r->err == 0 && yard_json_from_msgpack(body, size, &json, NULL, NULL, 0) == 0) {
        snprintf(r->json, sizeof r->json, "%s", json);
    }
    free(json);
}

static yard_client_t *
s_client(int port)
{
    yard_client_opts_t o = {.heartbeat_ms = 200, .default_timeout_ms = 5000};
    yard_client_t *c = NULL;
    assert_int_equal(yard_client_new(yh_endpoint(port), &o, &c), 0);
    /* a fresh broker answers NO_SERVICE until the replica's READY arrives */
    long long until = yh_now_ms() + 10000;
    yard_call_opts_t co = {.timeout_ms = 1000};
    int rc;
    do {
        yard_msg_t *reply = NULL;
        rc = yard_client_call(c, "httpy", "\xc0", 1, &co, &reply);
        yard_msg_destroy(&reply);
    } while (rc != 0 && yh_now_ms() < until);
    assert_int_equal(rc, 0);
    return c;
}

/* Dispatches the client until the fake holds n replies. */
static void
s_wait_held(yard_client_t *c, yh_http_fake_t *f, size_t n)
{
    long long until = yh_now_ms() + 10000;
    while (yh_http_fake_waiting(f) < n) {
        assert_true(yh_now_ms() < until);
        yard_client_dispatch(c, 10);
    }
}

/* S_CALLS echo requests one after another, each checked; returns the milliseconds taken. */
static long long
s_echo_calls(yard_client_t *c)
{
    long long t0 = yh_now_ms();
    yard_call_opts_t eo = {.timeout_ms = 2000};
    for (int i = 0; i < S_CALLS; i++) {
        char body[16];
        int len = snprintf(body, sizeof body, "\xa8%08d", i); /* a str8 of fixed length */
        yard_msg_t *reply = NULL;
        assert_int_equal(yard_client_call(c, "httpy", body, (size_t)len, &eo, &reply), 0);
        size_t size = 0;
        const void *got = yard_msg_body(reply, &size);
        assert_int_equal(size, (size_t)len);
        assert_memory_equal(got, body, size);
        yard_msg_destroy(&reply);
    }
    return yh_now_ms() - t0;
}

static void
test_long_poll_while_answering_the_bus(void **state)
{
    (void)state;
    yh_http_fake_t *f = yh_http_fake_start();
    /* held until released, or answered after 30 s like a real long poll */
    yh_http_reply_t poll = {.status = 200,
                            .body = "{\"update_id\":1,\"text\":\"hi\"}",
                            .headers = "Content-Type: application/json",
                            .hold = true,
                            .delay_ms = 30000};
    yh_http_fake_script(f, "/getUpdates", &poll, 1);
    snprintf(s_poll_url, sizeof s_poll_url, "%s", yh_http_fake_url(f, "/getUpdates?timeout=30"));
    int port = 0;
    yard_broker_t *b = yh_broker_start(&port);
    char *argv[] = {"--replicas=1", "--drain_ms=1000", NULL};
    yard_actor_t *a = yh_actor_start(&s_def, NULL, port, argv);
    yard_client_t *c = s_client(port);

    long long base_ms = s_echo_calls(c);
    printf("%d bus requests answered in %lld ms with no poll in flight\n", S_CALLS, base_ms);

    s_poll_result_t pr = {0};
    yard_call_opts_t co = {.op = "poll", .timeout_ms = 60000};
    assert_int_equal(yard_client_call_async(c, "httpy", "\xc0", 1, &co, s_poll_reply, &pr), 0);
    s_wait_held(c, f, 1);

    /* the poll is in flight; the one replica answers the bus meanwhile */
    long long dt = s_echo_calls(c);
    assert_int_equal(pr.done, 0);                 /* not answered yet ... */
    assert_int_equal(yh_http_fake_waiting(f), 1); /* ... because the server still holds it */
    printf("%d bus requests answered in %lld ms (%.1f us each) while the long poll was held\n",
           S_CALLS, dt, (double)dt * 1000.0 / S_CALLS);

    /* the poll completes, and its callback answers the deferred request */
    long long t1 = yh_now_ms();
    yh_http_fake_release(f);
    long long until = yh_now_ms() + 10000;
    while (pr.done == 0) {
        assert_true(yh_now_ms() < until);
        yard_client_dispatch(c, 10);
    }
    printf("released -> deferred reply in %lld ms\n", yh_now_ms() - t1);
    assert_int_equal(pr.err, 0);
    assert_string_equal(pr.json, "{\"update_id\":1,\"text\":\"hi\"}");
    assert_int_equal(yh_http_fake_count(f, "/getUpdates"), 1);

    /* stop with a poll in flight: drained for drain_ms, then SHUTDOWN to the callback */
    s_poll_result_t pr2 = {0};
    assert_int_equal(yard_client_call_async(c, "httpy", "\xc0", 1, &co, s_poll_reply, &pr2), 0);
    s_wait_held(c, f, 1);
    long long t2 = yh_now_ms();
    yard_actor_destroy(&a);
    long long stop_ms = yh_now_ms() - t2;
    assert_int_equal(atomic_load(&s_shutdown_seen), 1);
    assert_true(stop_ms < 5000);
    printf("stopped with a poll in flight in %lld ms (drain_ms 1000)\n", stop_ms);
    yard_client_destroy(&c);
    yard_broker_destroy(&b);
    yh_http_fake_stop(&f);
}

/* The same actor without sockets, under the actor test harness: the handler's HTTP goes to
 * the local server, the harness turns the replica's engine in real time, and the deferred
 * request is answered from the completion. */
static bool
s_answered(void *arg)
{
    return yard_request_outcome_test(arg, NULL, NULL, NULL) != 1;
}

static void
test_under_the_actor_test_harness(void **state)
{
    (void)state;
    yh_http_fake_t *f = yh_http_fake_start();
    yh_http_reply_t r = {.status = 200, .body = "{\"update_id\":2}"};
    yh_http_fake_script(f, "/getUpdates", &r, 1);
    snprintf(s_poll_url, sizeof s_poll_url, "%s", yh_http_fake_url(f, "/getUpdates"));
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&s_def, NULL, &t), 0);
    yard_request_t *req = yard_actor_test_call(t, "poll", "\xc0", 1);
    assert_int_equal(yard_request_outcome_test(req, NULL, NULL, NULL), 1); /* deferred */
    assert_int_equal(yard_actor_test_run(t, 5000, s_answered, req), 0);
    const void *body = NULL;
    size_t size = 0;
    assert_int_equal(yard_request_outcome_test(req, &body, &size, NULL), 0);
    char *json = NULL;
    assert_int_equal(yard_json_from_msgpack(body, size, &json, NULL, NULL, 0), 0);
    assert_string_equal(json, "{\"update_id\":2}");
    free(json);
    yard_request_destroy_test(&req);
    yard_actor_test_destroy(&t);
    yh_http_fake_stop(&f);
}

/* The operator's CA bundle: the actor section's http_ca_file is what yard_ctx_http() trusts, so
 * a TLS server signed by it answers, and a bundle that cannot be read stops the actor at start. */
static void
test_ca_bundle_from_the_section(void **state)
{
    (void)state;
    yh_http_fake_t *f = yh_http_fake_start_tls(yh_test_cert_pem, yh_test_key_pem);
    yh_http_reply_t r = {.status = 200, .body = "{\"tls\":true}"};
    yh_http_fake_script(f, "/getUpdates", &r, 1);
    snprintf(s_poll_url, sizeof s_poll_url, "%s", yh_http_fake_url(f, "/getUpdates"));
    char *dir = yh_tmpdir();
    char ca[512], yaml[700];
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    yh_write_file(ca, yh_test_cert_pem);
    snprintf(yaml, sizeof yaml, "httpy: {http_ca_file: '%s'}\n", ca);
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&s_def, yaml, &t), 0);
    yard_request_t *req = yard_actor_test_call(t, "poll", "\xc0", 1);
    assert_int_equal(yard_actor_test_run(t, 5000, s_answered, req), 0);
    const void *body = NULL;
    size_t size = 0;
    assert_int_equal(yard_request_outcome_test(req, &body, &size, NULL), 0);
    yard_request_destroy_test(&req);
    yard_actor_test_destroy(&t);
    /* the same with an engine made with options of the actor's own, which name no CA */
    s_tuned = true;
    yh_http_fake_script(f, "/getUpdates", &r, 1);
    assert_int_equal(yard_actor_test_new(&s_def, yaml, &t), 0);
    req = yard_actor_test_call(t, "poll", "\xc0", 1);
    assert_int_equal(yard_actor_test_run(t, 5000, s_answered, req), 0);
    assert_int_equal(yard_request_outcome_test(req, &body, &size, NULL), 0);
    yard_request_destroy_test(&req);
    yard_actor_test_destroy(&t);
    s_tuned = false;
    /* without it, the system's CAs do not know this certificate */
    assert_int_equal(yard_actor_test_new(&s_def, NULL, &t), 0);
    req = yard_actor_test_call(t, "poll", "\xc0", 1);
    assert_int_equal(yard_actor_test_run(t, 5000, s_answered, req), 0);
    assert_int_equal(yard_request_outcome_test(req, &body, &size, NULL), YARD_E_IO);
    yard_request_destroy_test(&req);
    yard_actor_test_destroy(&t);
    /* a bundle that is not there stops a real actor at start, naming it */
    yard_actor_opts_t o = {.broker = "tcp://127.0.0.1:1", .http_ca_file = "/nonexistent/ca.pem"};
    yard_actor_t *a = NULL;
    assert_int_equal(yard_actor_start(&s_def, &o, NULL, &a), YARD_E_CONFIG);
    yh_rmtree(dir);
    free(dir);
    yh_http_fake_stop(&f);
}

int
main(void)
{
    /* the fake is local: a proxy from the environment (curl honours them) must not get it */
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_poll_while_answering_the_bus),
        cmocka_unit_test(test_under_the_actor_test_harness),
        cmocka_unit_test(test_ca_bundle_from_the_section),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
