/* The client without a broker: endpoint parsing, argument checks, and the guarantee that every
 * accepted call ends exactly once (TIMEOUT at its deadline when nobody answers, SHUTDOWN at
 * destroy), with the outcome readable through yard_msg_t. Reads as a usage example of
 * yard/client.h and yard/msg.h. */
#include "harness.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

static void
test_endpoints(void **state)
{
    (void)state;
    yard_client_t *c = NULL;
    assert_int_equal(yard_client_new("", NULL, &c), YARD_E_CONFIG);
    assert_null(c);
    assert_int_equal(yard_client_new("localhost:5555", NULL, &c), YARD_E_CONFIG);
    assert_int_equal(yard_client_new("tcp://", NULL, &c), YARD_E_CONFIG);
    assert_int_equal(yard_client_new("tcp://127.0.0.1:1, tcp://127.0.0.1:2", NULL, &c), 0);
    assert_non_null(c);
    yard_client_destroy(&c);
    assert_null(c);
    setenv("YARD_BROKER", "tcp://127.0.0.1:3", 1);
    assert_int_equal(yard_client_new(NULL, NULL, &c), 0);
    yard_client_destroy(&c);
    unsetenv("YARD_BROKER");
}

static void
test_bad_arguments(void **state)
{
    (void)state;
    yard_client_t *c = NULL;
    assert_int_equal(yard_client_new(yh_endpoint(yh_free_port()), NULL, &c), 0);
    char long_name[300];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(yard_client_send(c, "", "\xc0", 1, NULL), YARD_E_INVALID);
    assert_int_equal(yard_client_send(c, long_name, "\xc0", 1, NULL), YARD_E_INVALID);
    assert_int_equal(yard_client_publish(c, "a.*", "\xc0", 1), YARD_E_INVALID);
    assert_int_equal(yard_client_unsubscribe(c, "never.subscribed"), YARD_E_NOT_FOUND);
    assert_int_equal(yard_client_pending(c), 0);
    /* Nothing outstanding: dispatch returns at once with nothing run. */
    assert_int_equal(yard_client_dispatch(c, 0), 0);
    yard_client_destroy(&c);
}

typedef struct {
    int calls;
    int status;
    char text[128];
} s_outcome_t;

static void
s_cb(const yard_msg_t *m, void *arg)
{
    s_outcome_t *o = arg;
    o->calls++;
    o->status = yard_msg_status(m);
    strncpy(o->text, yard_msg_error_text(m), sizeof o->text - 1);
    size_t size = 99;
    yard_msg_body(m, &size);
    assert_int_equal(size, 0);
    assert_string_equal(yard_msg_app_error(m), "");
    assert_string_equal(yard_msg_subject(m), "");
    assert_null(yard_msg_header(m, "x"));
}

static void
test_timeout_without_broker(void **state)
{
    (void)state;
    yard_client_opts_t o = {.heartbeat_ms = 50, .default_timeout_ms = 100};
    yard_client_t *c = NULL;
    assert_int_equal(yard_client_new(yh_endpoint(yh_free_port()), &o, &c), 0);
    s_outcome_t out = {0};
    long long t0 = yh_now_ms();
    assert_int_equal(yard_client_call_async(c, "svc", "\xc0", 1, NULL, s_cb, &out), 0);
    assert_int_equal(yard_client_pending(c), 1);
    while (out.calls == 0 && yh_now_ms() - t0 < 5000) {
        yard_client_dispatch(c, -1);
    }
    assert_int_equal(out.calls, 1);
    /* TIMEOUT at deadline + one heartbeat, or UNREACHABLE after 3 silent heartbeats. */
    assert_true(out.status == YARD_E_TIMEOUT || out.status == YARD_E_UNREACHABLE);
    assert_true(yh_now_ms() - t0 < 100 + 3 * 50 + 200);
    assert_int_equal(yard_client_pending(c), 0);

    /* The synchronous form returns the error; local errors carry no details. */
    yard_msg_t *reply = (yard_msg_t *)1;
    int rc = yard_client_call(c, "svc", "\xc0", 1, NULL, &reply);
    assert_true(rc == YARD_E_TIMEOUT || rc == YARD_E_UNREACHABLE);
    if (reply) {
        assert_int_equal(yard_msg_status(reply), rc);
        yard_msg_destroy(&reply);
    }
    yard_client_destroy(&c);
}

static void
test_destroy_ends_pending(void **state)
{
    (void)state;
    yard_client_t *c = NULL;
    assert_int_equal(yard_client_new(yh_endpoint(yh_free_port()), NULL, &c), 0);
    s_outcome_t out[100] = {0};
    for (int i = 0; i < 100; i++) {
        yard_call_opts_t co = {.timeout_ms = 60000, .flags = i % 2 ? YARD_FLAG_IDEMPOTENT : 0};
        assert_int_equal(yard_client_call_async(c, "svc", NULL, 0, &co, s_cb, &out[i]), 0);
    }
    assert_int_equal(yard_client_pending(c), 100);
    yard_client_destroy(&c);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(out[i].calls, 1);
        assert_int_equal(out[i].status, YARD_E_SHUTDOWN);
    }
}

int
main(void)
{
    yard_log_set_level(YARD_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_timeout_without_broker),
        cmocka_unit_test(test_destroy_ends_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
