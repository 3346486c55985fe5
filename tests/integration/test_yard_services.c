/* `yard services` and `yard replicas` from outside: a real yard-broker and a yard-actor running
 * three echo replicas on a free port, calls made through an in-process client (so the test
 * knows exactly how many the broker accepted), and `yard` run as a child whose stdout, stderr
 * and exit status are checked: exact totals, per-replica served counts that add up to the
 * calls, rates and latency after a complete window, the documented --json keys (parsed with
 * the harness's JSON reader), NOT_FOUND -> 1, usage -> 2, no broker -> 3. Every wait has a
 * deadline. */
#include "harness.h"
#include "json_doc.h"
#include "run.h"

#include "yard/client.h"
#include "yard/error.h"
#include "yard/json.h"

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
#include <unistd.h>

#include <cmocka.h>

#define S_REPLICAS     3
#define S_WINDOW_MS    5000 /* the broker's stats window (docs/protocol.md, $sys services) */
#define S_ECHO_TIMEOUT 5000

typedef struct {
    char *dir;
    char endpoint[64];
    char broker_flag[96];
    pid_t broker, actor;
    yard_client_t *client;
    uint64_t calls; /* echo calls the broker accepted and answered, since it started */
} s_bus_t;

/* --- running yard ------------------------------------------------------------------------- */

/* The environment must not pick a broker or a config file for yard: each run names its own. */
static char *const s_env[] = {"YARD_BROKER", "YARD_CONFIG", NULL};

/* Runs $YARD_BIN_DIR/yard with the NULL-ended arguments to completion or timeout_ms. Caller
 * owns the result; free with yh_run_destroy(). */
#define s_run(timeout_ms, ...) yh_runl("yard", s_env, (timeout_ms), __VA_ARGS__)

/* Runs yard with args (up to 3, NULL-ended) plus --json and the bus's --broker, expects exit 0
 * and returns the parsed document (caller destroys it with yh_json_destroy()). */
static yh_json_t *
s_json(const s_bus_t *bus, const char *a0, const char *a1)
{
    yh_run_t *r = a1 ? s_run(10000, a0, a1, "--json", bus->broker_flag, NULL)
                     : s_run(10000, a0, "--json", bus->broker_flag, NULL);
    if (r->status != 0) {
        fail_msg("yard %s exited %d: %s", a0, r->status, r->err);
    }
    yh_json_t *doc = yh_json_parse(r->out, strlen(r->out));
    if (!doc) {
        fail_msg("yard %s --json is not JSON (the reason is above): %s", a0, r->out);
    }
    size_t nl = 0;
    for (const char *c = r->out; *c; c++) {
        nl += *c == '\n';
    }
    assert_int_equal(nl, 1); /* one document on one line */
    yh_run_destroy(&r);
    return doc;
}

/* The services entry named name in a `yard services --json` document (borrowed), or NULL. */
static const msgpack_object *
s_service(const yh_json_t *doc, const char *name)
{
    const msgpack_object *all = yh_json_at(yh_json_root(doc), "services");
    for (long i = 0; i < yh_json_count(all, ""); i++) {
        const msgpack_object *s = &all->via.array.ptr[i];
        const char *s_name = yh_json_str(s, "name");
        if (s_name && strcmp(s_name, name) == 0) {
            return s;
        }
    }
    return NULL;
}

static long long
s_int(const msgpack_object *obj, const char *key)
{
    int64_t v = yh_json_int(obj, key);
    if (v == INT64_MIN) {
        fail_msg("%s is not an integer", key);
    }
    return v;
}

/* --- the bus ------------------------------------------------------------------------------ */

/* Asks the broker, through the client, whether echo has all its replicas. */
static bool
s_echo_ready(s_bus_t *bus)
{
    yard_call_opts_t opts = {.op = "services", .timeout_ms = 1000};
    yard_msg_t *reply = NULL;
    bool ready = false;
    if (yard_client_call(bus->client, "$sys", NULL, 0, &opts, &reply) == 0) {
        size_t n = 0;
        const void *body = yard_msg_body(reply, &n);
        char *text = NULL;
        if (yard_json_from_msgpack(body, n, &text, NULL, NULL, 0) == 0) {
            yh_json_t *doc = yh_json_parse(text, strlen(text));
            const msgpack_object *echo = doc ? s_service(doc, "echo") : NULL;
            ready = echo && yh_json_int(echo, "replicas") == S_REPLICAS;
            yh_json_destroy(&doc);
            free(text);
        }
    }
    yard_msg_destroy(&reply);
    return ready;
}

/* n echo calls; each must succeed. */
static void
s_calls(s_bus_t *bus, int n)
{
    static const unsigned char body[] = {0x81, 0xa1, 'n', 0x01}; /* {"n": 1} */
    yard_call_opts_t opts = {.timeout_ms = S_ECHO_TIMEOUT};
    for (int i = 0; i < n; i++) {
        yard_msg_t *reply = NULL;
        int rc = yard_client_call(bus->client, "echo", body, sizeof body, &opts, &reply);
        yard_msg_destroy(&reply);
        assert_int_equal(rc, 0);
        bus->calls++;
    }
}

static int
s_setup(void **state)
{
    s_bus_t *bus = calloc(1, sizeof *bus);
    assert_non_null(bus);
    bus->dir = yh_tmpdir();
    int port = yh_free_port();
    snprintf(bus->endpoint, sizeof bus->endpoint, "tcp://127.0.0.1:%d", port);
    snprintf(bus->broker_flag, sizeof bus->broker_flag, "--broker=%s", bus->endpoint);
    char *bargv[] = {"yard-broker", "--bind", bus->endpoint, NULL};
    bus->broker = yh_spawn("yard-broker", bargv, NULL, bus->dir);
    assert_true(bus->broker > 0);
    assert_true(yh_wait_port(port, 5000));
    char *aargv[] = {"yard-actor", "echo", "--replicas", "3", "--broker", bus->endpoint, NULL};
    bus->actor = yh_spawn("yard-actor", aargv, NULL, bus->dir);
    assert_true(bus->actor > 0);
    assert_int_equal(yard_client_new(bus->endpoint, NULL, &bus->client), 0);
    long long deadline = yh_now_ms() + 10000;
    while (!s_echo_ready(bus)) {
        if (yh_now_ms() > deadline) {
            fail_msg("echo never had %d replicas", S_REPLICAS);
        }
        yard_client_dispatch(bus->client, 50); /* a bounded pause before asking again */
    }
    *state = bus;
    return 0;
}

static int
s_teardown(void **state)
{
    s_bus_t *bus = *state;
    yard_client_destroy(&bus->client);
    yh_stop(bus->actor, SIGTERM, 5000);
    yh_stop(bus->broker, SIGTERM, 5000);
    yh_rmtree(bus->dir);
    free(bus->dir);
    free(bus);
    return 0;
}

/* --- tests -------------------------------------------------------------------------------- */

static void
test_services_json_shape_and_totals(void **state)
{
    s_bus_t *bus = *state;
    yh_json_t *before = s_json(bus, "services", NULL);
    const msgpack_object *echo = s_service(before, "echo");
    assert_non_null(echo);
    long long req0 = s_int(echo, "requests"), rep0 = s_int(echo, "replies");
    long long err0 = s_int(echo, "errors");
    assert_int_equal(req0, (long long)bus->calls);
    yh_json_destroy(&before);

    s_calls(bus, 40);

    yh_json_t *doc = s_json(bus, "services", NULL);
    assert_true(s_int(yh_json_root(doc), "ts_ms") >
                1600000000000LL); /* wall clock, ms since 1970 */
    echo = s_service(doc, "echo");
    assert_non_null(echo);
    static const char *const keys[] = {"name",   "replicas", "credit",  "in_flight",
                                       "queued", "requests", "replies", "errors",
                                       "rps",    "eps",      "p50_us",  "p99_us"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (!yh_json_at(echo, keys[i])) {
            fail_msg("services entry lacks %s", keys[i]);
        }
    }
    assert_int_equal(yh_json_count(echo, ""), sizeof keys / sizeof keys[0]);
    assert_int_equal(s_int(echo, "replicas"), S_REPLICAS);
    assert_true(s_int(echo, "credit") >= S_REPLICAS);
    assert_int_equal(s_int(echo, "in_flight"), 0);
    assert_int_equal(s_int(echo, "queued"), 0);
    assert_int_equal(s_int(echo, "requests"), req0 + 40);
    assert_int_equal(s_int(echo, "replies"), rep0 + 40);
    assert_int_equal(s_int(echo, "errors"), err0);
    assert_true(yh_json_num(echo, "rps") > 0); /* NAN (not a number) is not */
    assert_true(yh_json_num(echo, "eps") == 0);
    long long p50 = s_int(echo, "p50_us"), p99 = s_int(echo, "p99_us");
    assert_true(p50 > 0 && p50 <= p99);

    /* credit is the sum of the replicas' credit */
    yh_json_t *reps = s_json(bus, "replicas", "echo");
    const msgpack_object *list = yh_json_at(yh_json_root(reps), "replicas");
    long long credit = 0;
    for (long i = 0; i < yh_json_count(list, ""); i++) {
        credit += s_int(&list->via.array.ptr[i], "credit");
    }
    assert_int_equal(credit, s_int(echo, "credit"));
    yh_json_destroy(&reps);
    yh_json_destroy(&doc);
}

static void
test_services_table(void **state)
{
    s_bus_t *bus = *state;
    s_calls(bus, 5);
    yh_run_t *r = s_run(10000, "services", bus->broker_flag, NULL);
    assert_int_equal(r->status, 0);
    const char *head = strstr(r->out, "SERVICE");
    if (head != r->out || !strstr(r->out, "REPLICAS") || !strstr(r->out, "P99")) {
        fail_msg("no header: %s", r->out);
    }
    const char *line = strstr(r->out, "\necho ");
    if (!line || !strstr(line, " req/s") || !strstr(line, " err/s") ||
        (!strstr(line, " µs") && !strstr(line, " ms"))) {
        fail_msg("no echo row with units: %s", r->out);
    }
    /* aligned: the header and the row are as wide as each other */
    size_t head_len = strcspn(r->out, "\n");
    size_t row_len = 0, bytes = strcspn(line + 1, "\n");
    for (size_t k = 0; k < bytes; k++) {
        row_len += ((unsigned char)line[1 + k] & 0xC0) != 0x80;
    }
    assert_int_equal(head_len, row_len);
    yh_run_destroy(&r);

    r = s_run(10000, "replicas", "echo", bus->broker_flag, NULL);
    assert_int_equal(r->status, 0);
    char want[32];
    snprintf(want, sizeof want, "echo: %d replicas\n", S_REPLICAS);
    if (strstr(r->out, want) != r->out || !strstr(r->out, "SERVED") || !strstr(r->out, "ready")) {
        fail_msg("replicas table: %s", r->out);
    }
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    char name[320];
    for (int k = 0; k < S_REPLICAS; k++) {
        snprintf(name, sizeof name, "%s/%d/%d ", host, (int)bus->actor, k);
        if (!strstr(r->out, name)) {
            fail_msg("no row for %s: %s", name, r->out);
        }
    }
    yh_run_destroy(&r);
}

static void
test_replicas_served_adds_up(void **state)
{
    s_bus_t *bus = *state;
    s_calls(bus, 30);
    yh_json_t *doc = s_json(bus, "replicas", "echo");
    assert_string_equal(yh_json_str(yh_json_root(doc), "service"), "echo");
    const msgpack_object *reps = yh_json_at(yh_json_root(doc), "replicas");
    assert_int_equal(yh_json_count(reps, ""), S_REPLICAS);
    assert_int_equal(yh_json_type(reps, ""), MSGPACK_OBJECT_ARRAY);
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    static const char *const keys[] = {"name",         "host",      "pid",
                                       "index",        "uptime_ms", "served",
                                       "in_flight",    "credit",    "last_heartbeat_ms_ago",
                                       "heartbeat_ms", "draining",  "fill"};
    long long served = 0;
    bool seen[S_REPLICAS] = {false};
    for (uint32_t i = 0; i < reps->via.array.size; i++) {
        const msgpack_object *r = &reps->via.array.ptr[i];
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            if (!yh_json_at(r, keys[k])) {
                fail_msg("replica entry lacks %s", keys[k]);
            }
        }
        assert_int_equal(yh_json_count(r, ""), sizeof keys / sizeof keys[0]);
        assert_string_equal(yh_json_str(r, "host"), host);
        assert_int_equal(s_int(r, "pid"), bus->actor);
        long long index = s_int(r, "index");
        assert_true(index >= 0 && index < S_REPLICAS);
        assert_false(seen[index]);
        seen[index] = true;
        char name[320];
        snprintf(name, sizeof name, "%s/%d/%lld", host, (int)bus->actor, index);
        assert_string_equal(yh_json_str(r, "name"), name);
        assert_true(s_int(r, "uptime_ms") >= 0);
        assert_int_equal(s_int(r, "in_flight"), 0);
        assert_true(s_int(r, "credit") >= 1);
        long long hb = s_int(r, "heartbeat_ms");
        assert_true(hb > 0);
        assert_true(s_int(r, "last_heartbeat_ms_ago") <= 3 * hb);
        assert_int_equal(yh_json_bool(r, "draining"), 0);
        assert_int_equal(yh_json_bool(r, "fill"), 0); /* not asked for: the default */
        /* round-robin over three replicas: each served some of the calls */
        assert_true(s_int(r, "served") > 0);
        served += s_int(r, "served");
    }
    assert_int_equal(served, (long long)bus->calls);
    yh_json_destroy(&doc);
}

/* Rates and percentiles come from the last complete window: keep calls going for more than
 * one window, then the previous window holds some of them. */
static void
test_rates_after_a_window(void **state)
{
    s_bus_t *bus = *state;
    long long start = yh_now_ms();
    double rps = 0;
    long long p99 = 0;
    while (yh_now_ms() - start < S_WINDOW_MS + 500) {
        s_calls(bus, 20);
        yh_json_t *probe = s_json(bus, "services", NULL);
        yh_json_destroy(&probe);
    }
    yh_json_t *doc = s_json(bus, "services", NULL);
    const msgpack_object *echo = s_service(doc, "echo");
    assert_non_null(echo);
    rps = yh_json_num(echo, "rps");
    p99 = s_int(echo, "p99_us");
    if (!(rps > 0) || p99 <= 0) {
        fail_msg("after a window: rps %f p99_us %lld", rps, p99);
    }
    assert_true(yh_json_num(echo, "eps") == 0);
    assert_true(s_int(echo, "p50_us") <= p99);
    /* no more calls than were made can have been counted in one window */
    assert_true(rps * S_WINDOW_MS / 1000.0 <= (double)bus->calls + 0.5);
    assert_int_equal(s_int(echo, "requests"), (long long)bus->calls);
    yh_json_destroy(&doc);
}

/* Errors count in the totals and in eps, and their latency too: BAD_REQUEST from a replica
 * at once, TIMEOUT from the broker while a replica holds the request. */
static void
test_errors_counted(void **state)
{
    s_bus_t *bus = *state;
    char *argv[] = {"slow_actor", "--broker", bus->endpoint, NULL};
    pid_t slow = yh_spawn("slow_actor", argv, NULL, bus->dir);
    assert_true(slow > 0);
    static const unsigned char zero[] = {0x81, 0xa2, 'm', 's', 0x00};              /* {"ms": 0} */
    static const unsigned char later[] = {0x81, 0xa2, 'm', 's', 0xcd, 0x01, 0x90}; /* 400 */
    yard_call_opts_t opts = {.timeout_ms = 1000};
    long long deadline = yh_now_ms() + 10000;
    int rc;
    do { /* the replica registers asynchronously: NO_SERVICE until it has */
        yard_msg_t *reply = NULL;
        rc = yard_client_call(bus->client, "slow", zero, sizeof zero, &opts, &reply);
        yard_msg_destroy(&reply);
        if (rc == YARD_E_NO_SERVICE) {
            yard_client_dispatch(bus->client, 50);
        }
    } while (rc == YARD_E_NO_SERVICE && yh_now_ms() < deadline);
    assert_int_equal(rc, YARD_E_BAD_REQUEST); /* the replica's */
    for (int i = 0; i < 2; i++) {
        yard_msg_t *reply = NULL;
        rc = yard_client_call(bus->client, "slow", zero, sizeof zero, &opts, &reply);
        yard_msg_destroy(&reply);
        assert_int_equal(rc, YARD_E_BAD_REQUEST);
    }
    opts.timeout_ms = 100;
    for (int i = 0; i < 2; i++) {
        yard_msg_t *reply = NULL;
        rc = yard_client_call(bus->client, "slow", later, sizeof later, &opts, &reply);
        yard_msg_destroy(&reply);
        assert_int_equal(rc, YARD_E_TIMEOUT);
    }
    /* The client may give up a moment before the broker answers TIMEOUT: ask until it has. */
    yh_json_t *doc = NULL;
    const msgpack_object *svc = NULL;
    deadline = yh_now_ms() + 10000;
    for (;;) {
        yh_json_destroy(&doc);
        doc = s_json(bus, "services", NULL);
        svc = s_service(doc, "slow");
        assert_non_null(svc);
        if (s_int(svc, "errors") == 5 || yh_now_ms() > deadline) {
            break;
        }
    }
    assert_int_equal(s_int(svc, "requests"), 5);
    assert_int_equal(s_int(svc, "replies"), 0);
    assert_int_equal(s_int(svc, "errors"), 5);
    assert_true(yh_json_num(svc, "eps") > 0);
    assert_true(s_int(svc, "p99_us") >= 90000); /* the timeouts took about 100 ms */
    yh_json_destroy(&doc);

    yh_run_t *r = s_run(10000, "services", bus->broker_flag, NULL);
    assert_int_equal(r->status, 0);
    const char *line = strstr(r->out, "\nslow ");
    if (!line || strstr(line, " 0 err/s")) {
        fail_msg("no slow row with errors: %s", r->out);
    }
    yh_run_destroy(&r);
    yh_stop(slow, SIGTERM, 5000);
}

static void
test_unknown_service(void **state)
{
    s_bus_t *bus = *state;
    yh_run_t *r = s_run(10000, "replicas", "nosuch", bus->broker_flag, NULL);
    assert_int_equal(r->status, 1);
    assert_string_equal(r->out, "");
    if (!strstr(r->err, "error: NOT_FOUND") || !strstr(r->err, "nosuch")) {
        fail_msg("stderr: %s", r->err);
    }
    yh_run_destroy(&r);
    r = s_run(10000, "replicas", "nosuch", "--json", bus->broker_flag, NULL);
    assert_int_equal(r->status, 1);
    assert_string_equal(r->out, "");
    yh_run_destroy(&r);
}

static void
test_usage(void **state)
{
    s_bus_t *bus = *state;
    static const char *const bad[][3] = {
        {"services", "extra", NULL},    {"services", "--timeout", "soon"},
        {"services", "--bogus", NULL},  {"replicas", NULL, NULL},
        {"replicas", "a", "b"},         {"replicas", "echo", "--timeout"},
        {"services", "--timeout", "0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yh_run_t *r = s_run(5000, bad[i][0], bad[i][1], bad[i][2], NULL);
        if (r->status != 2 || !strstr(r->err, "yard ")) {
            fail_msg("yard %s %s %s: exit %d, stderr: %s", bad[i][0], bad[i][1] ? bad[i][1] : "",
                     bad[i][2] ? bad[i][2] : "", r->status, r->err);
        }
        yh_run_destroy(&r);
    }
    yh_run_t *r = s_run(5000, "services", "--help", NULL);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "usage: yard services"));
    assert_non_null(strstr(r->out, "\"p99_us\""));
    yh_run_destroy(&r);
    r = s_run(5000, "replicas", "--help", NULL);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "usage: yard replicas SERVICE"));
    assert_non_null(strstr(r->out, "\"last_heartbeat_ms_ago\""));
    yh_run_destroy(&r);
    (void)bus;
}

static void
test_no_broker(void **state)
{
    (void)state;
    char flag[64];
    snprintf(flag, sizeof flag, "--broker=tcp://127.0.0.1:%d", yh_free_port());
    yh_run_t *r = s_run(10000, "services", "--timeout", "500", flag, NULL);
    assert_int_equal(r->status, 3);
    if (!strstr(r->err, "error: UNREACHABLE") && !strstr(r->err, "error: TIMEOUT")) {
        fail_msg("stderr: %s", r->err);
    }
    yh_run_destroy(&r);
    r = s_run(10000, "replicas", "echo", "--json", "--timeout", "500", flag, NULL);
    assert_int_equal(r->status, 3);
    assert_string_equal(r->out, "");
    yh_run_destroy(&r);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest bus_tests[] = {
        cmocka_unit_test(test_services_json_shape_and_totals),
        cmocka_unit_test(test_services_table),
        cmocka_unit_test(test_replicas_served_adds_up),
        cmocka_unit_test(test_rates_after_a_window),
        cmocka_unit_test(test_errors_counted),
        cmocka_unit_test(test_unknown_service),
        cmocka_unit_test(test_usage),
    };
    const struct CMUnitTest alone_tests[] = {
        cmocka_unit_test(test_no_broker),
    };
    int failed = cmocka_run_group_tests_name("with a bus", bus_tests, s_setup, s_teardown);
    failed += cmocka_run_group_tests_name("without", alone_tests, NULL, NULL);
    return failed;
}
