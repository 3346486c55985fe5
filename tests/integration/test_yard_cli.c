/* The yard CLI from outside, as a user runs it: real yard-broker and yard-actor processes on a
 * free port, and `yard` run as a child with its stdout and stderr captured, checking what it
 * prints and its exit status (0 ok, 1 error reply, 2 usage, 3 no broker). Then `yard bench`
 * (its JSON must parse and lose nothing) and `yard up` (it answers calls and exits 0 on
 * SIGTERM). Every wait has a deadline; retries wait on a reply, not on a clock. */
#include "harness.h"
#include "json_doc.h"
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* A broker in the environment must not reach yard: each run names its own. */
static char *const s_env[] = {"YARD_BROKER", NULL};

/* Runs yard with the arguments (NULL ended) to completion within timeout_ms. Caller owns the
 * result; free with yh_run_destroy(). */
#define s_run(timeout_ms, ...) yh_runl("yard", s_env, (timeout_ms), __VA_ARGS__)

/* The shared bus: a yard-broker and an echo actor on a free port. */
typedef struct {
    char *dir;
    char broker_flag[96];
    char endpoint[64];
    int port;
    pid_t broker, actor;
} s_bus_t;

/* Calls echo until it answers (the replica registers asynchronously), with a deadline. */
static void
s_wait_echo(const char *broker_flag)
{
    long long deadline = yh_now_ms() + 10000;
    for (;;) {
        yh_run_t *r = s_run(5000, "call", "echo", "{}", "--timeout", "1000", broker_flag, NULL);
        int status = r->status;
        yh_run_destroy(&r);
        if (status == 0) {
            return;
        }
        if (yh_now_ms() > deadline) {
            fail_msg("echo never answered (last exit %d)", status);
        }
    }
}

static int
s_setup(void **state)
{
    s_bus_t *bus = calloc(1, sizeof *bus);
    assert_non_null(bus);
    bus->dir = yh_tmpdir();
    bus->port = yh_free_port();
    snprintf(bus->endpoint, sizeof bus->endpoint, "tcp://127.0.0.1:%d", bus->port);
    snprintf(bus->broker_flag, sizeof bus->broker_flag, "--broker=%s", bus->endpoint);
    char *bargv[] = {"yard-broker", "--bind", bus->endpoint, NULL};
    bus->broker = yh_spawn("yard-broker", bargv, NULL, bus->dir);
    assert_true(bus->broker > 0);
    assert_true(yh_wait_port(bus->port, 5000));
    char *aargv[] = {"yard-actor", "echo", "--broker", bus->endpoint, NULL};
    bus->actor = yh_spawn("yard-actor", aargv, NULL, bus->dir);
    assert_true(bus->actor > 0);
    s_wait_echo(bus->broker_flag);
    *state = bus;
    return 0;
}

static int
s_teardown(void **state)
{
    s_bus_t *bus = *state;
    yh_stop(bus->actor, SIGTERM, 5000);
    yh_stop(bus->broker, SIGTERM, 5000);
    yh_rmtree(bus->dir);
    free(bus->dir);
    free(bus);
    return 0;
}

static void
test_call_prints_reply(void **state)
{
    s_bus_t *bus = *state;
    yh_run_t *r = s_run(10000, "call", "echo", "{\"hello\":\"world\"}", bus->broker_flag, NULL);
    assert_int_equal(r->status, 0);
    assert_string_equal(r->out, "{\"hello\":\"world\"}\n");
    yh_run_destroy(&r);

    /* Every JSON type survives the trip through msgpack and the echo replica. */
    const char *doc = "{\"i\":-9223372036854775808,\"f\":0.1,\"s\":\"h\xc3\xa9\",\"a\":[true,null,"
                      "{}],\"big\":9223372036854775807}";
    r = s_run(10000, "call", "echo", doc, "--timeout", "3000", "--idempotent", bus->broker_flag,
              NULL);
    assert_int_equal(r->status, 0);
    char want[512];
    snprintf(want, sizeof want, "%s\n", doc);
    assert_string_equal(r->out, want);
    yh_run_destroy(&r);
}

static void
test_call_no_service(void **state)
{
    s_bus_t *bus = *state;
    yh_run_t *r = s_run(10000, "call", "nosuch", "{}", bus->broker_flag, NULL);
    assert_int_equal(r->status, 1);
    assert_string_equal(r->out, "");
    assert_non_null(strstr(r->err, "error: NO_SERVICE: no replica offers this service"));
    yh_run_destroy(&r);
}

static void
test_no_broker(void **state)
{
    (void)state;
    char flag[64];
    snprintf(flag, sizeof flag, "--broker=tcp://127.0.0.1:%d", yh_free_port());
    yh_run_t *r = s_run(10000, "call", "echo", "{}", "--timeout", "500", flag, NULL);
    assert_int_equal(r->status, 3);
    if (!strstr(r->err, "error: UNREACHABLE") && !strstr(r->err, "error: TIMEOUT")) {
        fail_msg("stderr: %s", r->err);
    }
    yh_run_destroy(&r);
}

/* The broker comes from the same places as in every program: flag, YARD_BROKER, then the
 * config file (--config or YARD_CONFIG), whose errors name the file and line. */
static void
test_broker_from_config(void **state)
{
    s_bus_t *bus = *state;
    char path[512];
    snprintf(path, sizeof path, "%s/yard.yaml", bus->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "# shared config\nbroker: %s\n", bus->endpoint);
    fclose(f);
    yh_run_t *r = s_run(10000, "call", "echo", "[1]", "--config", path, NULL);
    assert_int_equal(r->status, 0);
    assert_string_equal(r->out, "[1]\n");
    yh_run_destroy(&r);

    setenv("YARD_CONFIG", path, 1);
    r = s_run(10000, "call", "echo", "[2]", NULL);
    assert_int_equal(r->status, 0);
    assert_string_equal(r->out, "[2]\n");
    yh_run_destroy(&r);
    unsetenv("YARD_CONFIG");

    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "brokr: %s\n", bus->endpoint);
    fclose(f);
    r = s_run(10000, "call", "echo", "[3]", "--config", path, NULL);
    assert_int_equal(r->status, 2);
    char want[600];
    snprintf(want, sizeof want, "%s:1: unknown key 'brokr'", path);
    if (!strstr(r->err, want)) {
        fail_msg("stderr: %s", r->err);
    }
    yh_run_destroy(&r);
}

static void
test_usage_errors(void **state)
{
    s_bus_t *bus = *state;
    yh_run_t *r = s_run(5000, "call", "echo", "{\"a\":}", bus->broker_flag, NULL);
    assert_int_equal(r->status, 2);
    if (!strstr(r->err, "bad JSON: line 1, column 6")) {
        fail_msg("stderr: %s", r->err);
    }
    yh_run_destroy(&r);

    r = s_run(5000, "call", "echo", "{\n \"a\": 1,\n \"b\": tru }", bus->broker_flag, NULL);
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "line 3"));
    yh_run_destroy(&r);

    r = s_run(5000, "call", NULL);
    assert_int_equal(r->status, 2);
    yh_run_destroy(&r);
    r = s_run(5000, "call", "echo", "--timeout", "soon", NULL);
    assert_int_equal(r->status, 2);
    yh_run_destroy(&r);
    r = s_run(5000, "frobnicate", NULL);
    assert_int_equal(r->status, 2);
    yh_run_destroy(&r);
    r = s_run(5000, "pub", "a.b", "{}", "--count", "3", NULL);
    assert_int_equal(r->status, 2);
    yh_run_destroy(&r);

    static const char *const cmds[] = {"call", "send", "pub", "sub", "bench", "up"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        r = s_run(5000, cmds[i], "--help", NULL);
        assert_int_equal(r->status, 0);
        assert_non_null(strstr(r->out, "usage: yard"));
        yh_run_destroy(&r);
    }
    r = s_run(5000, "--help", NULL);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "bench"));
    yh_run_destroy(&r);
}

static void
test_send(void **state)
{
    s_bus_t *bus = *state;
    yh_run_t *r = s_run(10000, "send", "echo", "{\"x\":1}", bus->broker_flag, NULL);
    assert_int_equal(r->status, 0);
    assert_string_equal(r->out, "");
    yh_run_destroy(&r);
}

static void
test_pub_sub(void **state)
{
    s_bus_t *bus = *state;
    yh_run_t *sr =
        yh_run_startl("yard", s_env, "sub", "news.*", "--count", "2", bus->broker_flag, NULL);

    /* sub reports on stderr once the broker has the subscription. */
    long long deadline = yh_now_ms() + 10000;
    while (!strstr(sr->err, "\"subscribed\"") && yh_now_ms() < deadline) {
        if (!yh_run_pump(sr, 100)) {
            break;
        }
    }
    if (!strstr(sr->err, "\"subscribed\"")) {
        fail_msg("sub never subscribed: %s", sr->err);
    }
    yh_run_t *r = s_run(10000, "pub", "news.today", "{\"n\":1}", bus->broker_flag, NULL);
    assert_int_equal(r->status, 0);
    yh_run_destroy(&r);
    r = s_run(10000, "pub", "other.today", "{\"n\":2}", bus->broker_flag, NULL);
    assert_int_equal(r->status, 0);
    yh_run_destroy(&r);
    r = s_run(10000, "pub", "news.later", "[1.5,\"x\"]", bus->broker_flag, NULL);
    assert_int_equal(r->status, 0);
    yh_run_destroy(&r);
    yh_run_wait(sr, 10000);
    assert_int_equal(sr->status, 0);
    assert_string_equal(sr->out, "{\"subject\":\"news.today\",\"body\":{\"n\":1}}\n"
                                 "{\"subject\":\"news.later\",\"body\":[1.5,\"x\"]}\n");
    yh_run_destroy(&sr);
}

static void
test_bench_json(void **state)
{
    (void)state;
    yh_run_t *r = s_run(60000, "bench", "--duration", "1", "--json", NULL);
    assert_int_equal(r->status, 0);
    yh_json_t *json = yh_json_parse(r->out, strlen(r->out));
    assert_non_null(json); /* the reason is on stderr */
    const msgpack_object *doc = yh_json_root(json);
    static const char *const keys[] = {
        "sent",    "replies",           "errors",          "lost", "rt_per_s", "p50_us", "p99_us",
        "p999_us", "baseline_rt_per_s", "baseline_p99_us", "ratio"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (!yh_json_at(doc, keys[i])) {
            fail_msg("bench JSON lacks %s: %s", keys[i], r->out);
        }
    }
    assert_int_equal(yh_json_type(doc, "errors"), MSGPACK_OBJECT_MAP);
    assert_int_equal(yh_json_int(doc, "lost"), 0);
    assert_true(yh_json_int(doc, "replies") > 0);
    assert_true(yh_json_num(doc, "rt_per_s") > 0);
    assert_true(yh_json_num(doc, "baseline_rt_per_s") > 0);
    double p50 = yh_json_num(doc, "p50_us");
    double p99 = yh_json_num(doc, "p99_us");
    double p999 = yh_json_num(doc, "p999_us");
    assert_true(p50 > 0 && p50 <= p99 && p99 <= p999);
    yh_json_destroy(&json);
    yh_run_destroy(&r);
}

/* Driving an existing bus: the shared broker and echo process, no in-process bus, no
 * baseline unless asked; every call accounted for. */
static void
test_bench_existing_bus(void **state)
{
    s_bus_t *bus = *state;
    yh_run_t *r = s_run(60000, "bench", "--duration", "1", "--json", "--clients", "2", "--window",
                        "8", "--service", "echo", bus->broker_flag, NULL);
    assert_int_equal(r->status, 0);
    yh_json_t *json = yh_json_parse(r->out, strlen(r->out));
    assert_non_null(json); /* the reason is on stderr */
    const msgpack_object *doc = yh_json_root(json);
    assert_int_equal(yh_json_bool(doc, "in_process"), 0);
    assert_int_equal(yh_json_type(doc, "baseline_rt_per_s"), MSGPACK_OBJECT_NIL);
    assert_int_equal(yh_json_int(doc, "lost"), 0);
    assert_true(yh_json_int(doc, "replies") > 0);
    yh_json_destroy(&json);
    yh_run_destroy(&r);

    /* A service nobody offers: the bench says so and fails instead of reporting zeros. */
    r = s_run(60000, "bench", "--duration", "1", "--service", "nosuch", bus->broker_flag, NULL);
    assert_int_not_equal(r->status, 0);
    if (!strstr(r->err, "nosuch")) {
        fail_msg("stderr: %s", r->err);
    }
    yh_run_destroy(&r);
}

static void
test_up_answers_and_stops(void **state)
{
    (void)state;
    char *dir = yh_tmpdir();
    int port = yh_free_port();
    char bind[64], flag[80];
    snprintf(bind, sizeof bind, "tcp://127.0.0.1:%d", port);
    snprintf(flag, sizeof flag, "--broker=%s", bind);
    char *argv[] = {"yard", "up", "--bind", bind, NULL};
    pid_t up = yh_spawn("yard", argv, NULL, dir);
    assert_true(up > 0);
    assert_true(yh_wait_port(port, 5000));
    s_wait_echo(flag);
    yh_run_t *r = s_run(10000, "call", "echo", "{\"via\":\"up\"}", flag, NULL);
    assert_int_equal(r->status, 0);
    assert_string_equal(r->out, "{\"via\":\"up\"}\n");
    yh_run_destroy(&r);
    int ws = yh_stop(up, SIGTERM, 10000);
    assert_true(ws >= 0);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
    yh_rmtree(dir);
    free(dir);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest bus_tests[] = {
        cmocka_unit_test(test_call_prints_reply),
        cmocka_unit_test(test_call_no_service),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_send),
        cmocka_unit_test(test_broker_from_config),
        cmocka_unit_test(test_bench_existing_bus),
        cmocka_unit_test(test_pub_sub),
    };
    const struct CMUnitTest alone_tests[] = {
        cmocka_unit_test(test_no_broker),
        cmocka_unit_test(test_up_answers_and_stops),
        cmocka_unit_test(test_bench_json),
    };
    int failed = cmocka_run_group_tests_name("with a bus", bus_tests, s_setup, s_teardown);
    failed += cmocka_run_group_tests_name("without", alone_tests, NULL, NULL);
    return failed;
}
