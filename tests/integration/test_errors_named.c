/* Errors name what failed, as the programs print them (issue 11): an actor whose state store
 * does not answer names the store, not a broker; a service that cannot reach what it needs
 * says so, not "no broker answered"; `yard call` where no broker ever listened names the
 * endpoint instead of a broker that "went away"; the broker's BAD_REQUEST for an out-of-range
 * timeout_ms carries the request's id and names the field; READY for a wildcard service name
 * is refused naming the rule. Real yard-broker, yard-actor, yard and redis-server processes
 * where the message comes from a program. Every wait has a deadline. */
#include "fixture.h"
#include "harness.h"
#include "run.h"
#include "test_broker_util.h"

#include "yard/client.h"
#include "yard/error.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#define WAIT 5000

/* --- actors -------------------------------------------------------------------------------- */

/* yard-actor auth on a Redis URL where nothing listens: it stops at start naming the store. */
static void
test_actor_without_its_store_names_the_store(void **state)
{
    (void)state;
    int port = yh_free_port();
    char store[96], broker[96];
    snprintf(store, sizeof store, "YARD_STORE=redis://127.0.0.1:%d/0", port);
    snprintf(broker, sizeof broker, "YARD_BROKER=tcp://127.0.0.1:%d", yh_free_port());
    char *env[] = {store, broker, NULL};
    yh_run_t *r = yh_runl("yard-actor", env, 20000, "auth", NULL);
    print_message("exit %d, stderr tail: %s\n", r->status,
                  r->err_len > 200 ? r->err + r->err_len - 200 : r->err);
    assert_int_equal(r->status, 1);
    char want[128];
    snprintf(want, sizeof want, "the state store redis://127.0.0.1:%d/0 did not answer", port);
    assert_non_null(strstr(r->err, want));
    assert_null(strstr(r->err, "no broker answered"));
    yh_run_destroy(&r);
}

static int
s_needy_handler(yard_request_t *req, void *state)
{
    (void)req;
    (void)state;
    return YARD_E_UNREACHABLE; /* as a handler does with its store's error */
}

static const yard_handler_def_t s_needy_handlers[] = {
    {"get", s_needy_handler, "fails as a store that does not answer"},
    {NULL, NULL, NULL},
};

static const yard_actor_def_t s_needy = {.name = "needy", .handlers = s_needy_handlers};

/* A handler that returns UNREACHABLE (its store's error) without a text of its own: the
 * caller reads that the service could not reach what it needs, not that no broker answered. */
static void
test_service_unreachable_is_not_a_broker(void **state)
{
    (void)state;
    int port = 0;
    yard_broker_t *broker = yh_broker_start(&port);
    yard_actor_t *actor = yh_actor_start(&s_needy, NULL, port, NULL);
    yard_client_t *client = NULL;
    assert_int_equal(yard_client_new(yh_endpoint(port), NULL, &client), 0);
    yard_call_opts_t co = {.op = "get", .timeout_ms = WAIT};
    yard_msg_t *reply = NULL;
    int rc;
    long long deadline = yh_now_ms() + WAIT;
    while ((rc = yard_client_call(client, "needy", NULL, 0, &co, &reply)) == YARD_E_NO_SERVICE &&
           yh_now_ms() < deadline) { /* the replica registers asynchronously */
        yard_msg_destroy(&reply);
    }
    assert_int_equal(rc, YARD_E_UNREACHABLE);
    assert_non_null(reply);
    const char *text = yard_msg_error_text(reply);
    print_message("needy.get: %s\n", text);
    assert_non_null(strstr(text, "could not reach something it needs"));
    assert_null(strstr(text, "broker"));
    yard_msg_destroy(&reply);
    yard_client_destroy(&client);
    yard_actor_destroy(&actor);
    yard_broker_destroy(&broker);
}

/* Redis goes away under a running auth: `yard call auth login` names the store. */
static void
test_redis_down_under_auth_names_the_store(void **state)
{
    (void)state;
    int rport = 0;
    char *rdir = NULL;
    pid_t redis = yh_redis_start(&rport, &rdir);
    if (redis < 0) {
        skip(); /* no redis-server here */
    }
    char *dir = yh_tmpdir();
    int bport = yh_free_port();
    char bind[64], flag[96], store[96], broker[96];
    snprintf(bind, sizeof bind, "tcp://127.0.0.1:%d", bport);
    snprintf(flag, sizeof flag, "--broker=%s", bind);
    snprintf(store, sizeof store, "YARD_STORE=redis://127.0.0.1:%d/0", rport);
    snprintf(broker, sizeof broker, "YARD_BROKER=%s", bind);
    char *bargv[] = {"yard-broker", "--bind", bind, NULL};
    pid_t bpid = yh_spawn("yard-broker", bargv, NULL, dir);
    assert_true(bpid > 0 && yh_wait_port(bport, WAIT));
    char *aenv[] = {store, broker, NULL};
    char *aargv[] = {"yard-actor", "auth", NULL};
    pid_t apid = yh_spawn("yard-actor", aargv, aenv, dir);
    assert_true(apid > 0);
    char *cenv[] = {"YARD_BROKER", NULL};
    const char *login = "{\"username\":\"nobody\",\"password\":\"wrong-password\"}";
    yh_run_t *r = NULL;
    long long deadline = yh_now_ms() + 10000;
    for (;;) { /* up once it answers for itself: a wrong password is UNAUTHENTICATED (exit 1) */
        r = yh_runl("yard", cenv, 10000, "call", "auth", login, "--op", "login", flag, NULL);
        if (r->status == 1 && strstr(r->err, "UNAUTHENTICATED")) {
            break;
        }
        assert_true(yh_now_ms() < deadline);
        yh_run_destroy(&r);
    }
    yh_run_destroy(&r);
    yh_redis_stop(redis, rdir);
    r = yh_runl("yard", cenv, 10000, "call", "auth", login, "--op", "login", flag, NULL);
    print_message("with redis down: exit %d: %s", r->status, r->err);
    assert_non_null(strstr(r->err, "state store"));
    assert_null(strstr(r->err, "no broker answered"));
    assert_null(strstr(r->err, "went away"));
    yh_run_destroy(&r);
    yh_stop(apid, SIGTERM, WAIT);
    yh_stop(bpid, SIGTERM, WAIT);
    yh_rmtree(dir);
    free(dir);
}

/* --- yard call ----------------------------------------------------------------------------- */

/* Nothing ever listened at the port: the call says no broker answered there, by the silence
 * limit (3 heartbeats) or by its own deadline, whichever comes first; exit 3 either way. */
static void
test_call_where_no_broker_listened(void **state)
{
    (void)state;
    int port = yh_free_port();
    char flag[64], want[96];
    snprintf(flag, sizeof flag, "--broker=tcp://127.0.0.1:%d", port);
    snprintf(want, sizeof want, "no broker answered at tcp://127.0.0.1:%d", port);
    char *env[] = {"YARD_BROKER", NULL};
    yh_run_t *r = yh_runl("yard", env, 20000, "call", "echo", "{}", flag, NULL);
    print_message("no broker: exit %d: %s", r->status, r->err);
    assert_int_equal(r->status, 3);
    assert_non_null(strstr(r->err, "error: UNREACHABLE: "));
    assert_non_null(strstr(r->err, want));
    assert_null(strstr(r->err, "went away"));
    yh_run_destroy(&r);
    r = yh_runl("yard", env, 20000, "call", "echo", "{}", "--timeout", "300", flag, NULL);
    print_message("no broker, --timeout 300: exit %d: %s", r->status, r->err);
    assert_int_equal(r->status, 3);
    assert_non_null(strstr(r->err, want));
    yh_run_destroy(&r);
}

/* --- the broker ------------------------------------------------------------------------------ */

/* A yard-broker process: an out-of-range timeout_ms is answered BAD_REQUEST with the id and
 * the field's name; READY for "a.*" is refused naming the rule, and nothing is registered. */
static void
test_broker_answers_name_the_request_and_the_rule(void **state)
{
    (void)state;
    char *dir = yh_tmpdir();
    int port = yh_free_port();
    tb_env_t env = {.ctx = zmq_ctx_new(), .codec = yard_codec_new()};
    snprintf(env.endpoint, sizeof env.endpoint, "%s", yh_endpoint(port));
    char *argv[] = {"yard-broker", "--bind", env.endpoint, NULL};
    pid_t broker = yh_spawn("yard-broker", argv, NULL, dir);
    assert_true(broker > 0 && yh_wait_port(port, WAIT));

    void *client = tb_peer(&env);
    /* {1: 4242, 2: "echo", 4: 2^32} */
    const uint8_t head[] = {'Y',  'D',  3,   2,   0x83, 0x01, 0xcd, 0x10, 0x92,
                            0x02, 0xa4, 'e', 'c', 'h',  'o',  0x04, 0xcf, 0,
                            0,    0,    1,   0,   0,    0,    0};
    const void *frames[] = {head, "\x80"};
    const size_t sizes[] = {sizeof head, 1};
    tb_send_raw(client, frames, sizes, 2);
    tb_msg_t m;
    tb_expect(&env, client, YARD_CMD_ERROR, &m, WAIT);
    print_message("timeout_ms 2^32: error %u id %llu: %.*s\n", m.h.error,
                  (unsigned long long)m.h.id, (int)m.h.error_text.len, m.h.error_text.ptr);
    assert_int_equal(m.h.error, yard_err_to_wire(YARD_E_BAD_REQUEST));
    assert_int_equal(m.h.id, 4242);
    assert_true(yard_str_eq_cstr(m.h.error_text, "timeout_ms is not an unsigned 32-bit integer"));
    tb_msg_close(&m);

    void *replica = tb_peer(&env);
    yard_header_t ready = {.service = yard_str("a.*"), .credit = 1, .heartbeat_ms = 1000};
    tb_send(replica, YARD_CMD_READY, &ready, NULL, 0);
    tb_expect(&env, replica, YARD_CMD_ERROR, &m, WAIT);
    print_message("READY a.*: %.*s\n", (int)m.h.error_text.len, m.h.error_text.ptr);
    assert_int_equal(m.h.error, yard_err_to_wire(YARD_E_BAD_REQUEST));
    char text[YARD_WIRE_TEXT_MAX + 1];
    snprintf(text, sizeof text, "%.*s", (int)m.h.error_text.len, m.h.error_text.ptr);
    assert_non_null(strstr(text, "'a.*' is not a service name"));
    assert_non_null(strstr(text, "wildcards '*' and '>'"));
    tb_msg_close(&m);
    assert_int_equal(tb_stat(&env, client, NULL, "peers"), 0);

    zmq_close(replica);
    zmq_close(client);
    yard_codec_destroy(&env.codec);
    zmq_ctx_term(env.ctx);
    assert_int_equal(yh_stop(broker, SIGTERM, WAIT), 0);
    yh_rmtree(dir);
    free(dir);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actor_without_its_store_names_the_store),
        cmocka_unit_test(test_service_unreachable_is_not_a_broker),
        cmocka_unit_test(test_redis_down_under_auth_names_the_store),
        cmocka_unit_test(test_call_where_no_broker_listened),
        cmocka_unit_test(test_broker_answers_name_the_request_and_the_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
