/* `yard ping` and `yard services` over several brokers, from outside: two real yard-broker
 * processes on free ports and one yard-actor whose two echo replicas register with both, and
 * `yard` run as a child whose stdout, stderr and exit status are checked: ping's exit codes
 * (a broker up, a broker down, a service with and without a replica matching a name prefix,
 * usage errors), its per-broker lines, and `yard services` listing each broker with a client
 * count that follows clients connecting and leaving and always counts the client that asks.
 * Every wait has a deadline. */
#include "harness.h"
#include "json_doc.h"
#include "run.h"

#include "yard/client.h"
#include "yard/mp.h"

#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define S_CLIENTS 3
#define S_ASKERS  200

typedef struct {
    char *dir;
    char ep[2][64]; /* the brokers */
    char both[140]; /* "A,B" */
    char down[64];  /* a port nobody listens on */
    char host[HOST_NAME_MAX + 1];
    pid_t broker[2], actor;
} s_bus_t;

static char *const s_env[] = {"YARD_BROKER", "YARD_CONFIG", NULL};
#define s_run(timeout_ms, ...) yh_runl("yard", s_env, (timeout_ms), __VA_ARGS__)

/* Runs yard and checks its exit status; returns the run (caller destroys it). */
static yh_run_t *
s_expect(int status, yh_run_t *r)
{
    if (r->status != status) {
        fail_msg("yard exited %d, not %d\nstdout: %s\nstderr: %s", r->status, status, r->out,
                 r->err);
    }
    return r;
}

static void
s_expect_has(const char *text, const char *needle)
{
    if (!strstr(text, needle)) {
        fail_msg("'%s' not in:\n%s", needle, text);
    }
}

static int
s_setup(void **state)
{
    s_bus_t *bus = calloc(1, sizeof *bus);
    assert_non_null(bus);
    bus->dir = yh_tmpdir();
    assert_int_equal(gethostname(bus->host, sizeof bus->host - 1), 0);
    int ports[2];
    for (int i = 0; i < 2; i++) {
        ports[i] = yh_free_port();
        snprintf(bus->ep[i], sizeof bus->ep[i], "tcp://127.0.0.1:%d", ports[i]);
        char *argv[] = {"yard-broker", "--bind", bus->ep[i], NULL};
        bus->broker[i] = yh_spawn("yard-broker", argv, NULL, bus->dir);
        assert_true(bus->broker[i] > 0);
        assert_true(yh_wait_port(ports[i], 5000));
    }
    snprintf(bus->both, sizeof bus->both, "%s,%s", bus->ep[0], bus->ep[1]);
    snprintf(bus->down, sizeof bus->down, "tcp://127.0.0.1:%d", yh_free_port());
    char *aargv[] = {"yard-actor", "echo", "--replicas", "2", "--broker", bus->both, NULL};
    bus->actor = yh_spawn("yard-actor", aargv, NULL, bus->dir);
    assert_true(bus->actor > 0);
    /* Ready when both brokers have the replicas: ping --all is what we test, so ask plainly. */
    long long deadline = yh_now_ms() + 10000;
    for (;;) {
        yh_run_t *r =
            s_run(10000, "ping", "--broker", bus->both, "--service", "echo", "--all", NULL);
        int status = r->status;
        yh_run_destroy(&r);
        if (status == 0) {
            break;
        }
        if (yh_now_ms() > deadline) {
            fail_msg("echo never registered with both brokers (last exit %d)", status);
        }
    }
    *state = bus;
    return 0;
}

static int
s_teardown(void **state)
{
    s_bus_t *bus = *state;
    yh_stop(bus->actor, SIGTERM, 5000);
    for (int i = 0; i < 2; i++) {
        yh_stop(bus->broker[i], SIGTERM, 5000);
    }
    yh_rmtree(bus->dir);
    free(bus->dir);
    free(bus);
    return 0;
}

/* --- ping ----------------------------------------------------------------------------------- */

static void
test_ping_broker_up_and_down(void **state)
{
    s_bus_t *bus = *state;
    yh_run_t *r = s_expect(0, s_run(10000, "ping", "--broker", bus->ep[0], NULL));
    char line[128];
    snprintf(line, sizeof line, "%s: up\n", bus->ep[0]);
    s_expect_has(r->out, line);
    yh_run_destroy(&r);

    r = s_expect(1, s_run(10000, "ping", "--broker", bus->down, "--timeout", "300", NULL));
    snprintf(line, sizeof line, "%s: down\n", bus->down);
    s_expect_has(r->out, line);
    s_expect_has(r->err, "not serving");
    s_expect_has(r->err, bus->down);
    yh_run_destroy(&r);

    /* several brokers: one serving is enough, unless --all (a timeout with room for the live
     * broker on a loaded machine: brokers are asked at once, so the dead one costs it once) */
    char list[200];
    snprintf(list, sizeof list, "%s,%s", bus->ep[1], bus->down);
    r = s_expect(0, s_run(10000, "ping", "--broker", list, "--timeout", "2000", NULL));
    snprintf(line, sizeof line, "%s: up\n", bus->ep[1]);
    s_expect_has(r->out, line);
    snprintf(line, sizeof line, "%s: down\n", bus->down);
    s_expect_has(r->out, line);
    yh_run_destroy(&r);
    r = s_expect(1, s_run(10000, "ping", "--broker", list, "--timeout", "2000", "--all", NULL));
    s_expect_has(r->err, "1 of 2 brokers serving");
    yh_run_destroy(&r);
}

static void
test_ping_service_replica_prefix(void **state)
{
    s_bus_t *bus = *state;
    /* this host's replicas: by name, by --local, by host/pid */
    yh_run_t *r = s_expect(0, s_run(10000, "ping", "--broker", bus->both, "--service", "echo",
                                    "--replica", bus->host, "--all", NULL));
    s_expect_has(r->out, "2 of 2 replicas serving");
    yh_run_destroy(&r);
    r = s_expect(
        0, s_run(10000, "ping", "--broker", bus->ep[0], "--service", "echo", "--local", NULL));
    yh_run_destroy(&r);
    char prefix[HOST_NAME_MAX + 32];
    snprintf(prefix, sizeof prefix, "%s/%ld", bus->host, (long)bus->actor);
    r = s_expect(0, s_run(10000, "ping", "--broker", bus->ep[0], "--service", "echo", "--replica",
                          prefix, NULL));
    yh_run_destroy(&r);

    /* another pod's prefix, one that only starts the same way, and another pid: not serving */
    static const char *const others[] = {"no-such-pod", "%sX", "%s/1"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        snprintf(prefix, sizeof prefix, others[i], bus->host);
        r = s_expect(1, s_run(10000, "ping", "--broker", bus->ep[0], "--service", "echo",
                              "--replica", prefix, NULL));
        s_expect_has(r->err, "no replica name starts with");
        s_expect_has(r->err, prefix);
        yh_run_destroy(&r);
    }

    /* a service nobody offers */
    r = s_expect(1, s_run(10000, "ping", "--broker", bus->ep[0], "--service", "nosuch", NULL));
    s_expect_has(r->err, "no replica of 'nosuch'");
    yh_run_destroy(&r);
}

static void
test_ping_usage(void **state)
{
    s_bus_t *bus = *state;
    static const char *const bad[][4] = {
        {"--replica", "x", NULL, NULL},    /* needs --service */
        {"--local", NULL, NULL, NULL},     /* needs --service */
        {"--timeout", "0", NULL, NULL},    /* out of range */
        {"--timeout", "soon", NULL, NULL}, /* not a number */
        {"--bogus", NULL, NULL, NULL},     /* unknown */
        {"extra", NULL, NULL, NULL},       /* an operand */
        {"--broker", "not-an-endpoint", NULL, NULL},
        {"--broker", "tcp://127.0.0.1:1,,tcp://127.0.0.1:2", NULL, NULL},
        {"--service", "echo", "--replica", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yh_run_t *r = s_run(10000, "ping", bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
        if (r->status != 2 || !r->err[0]) {
            fail_msg("yard ping %s %s: exit %d (want 2 and a reason): %s", bad[i][0],
                     bad[i][1] ? bad[i][1] : "", r->status, r->err);
        }
        yh_run_destroy(&r);
    }
    yh_run_t *r = s_expect(0, s_run(10000, "ping", "--help", NULL));
    s_expect_has(r->out, "usage: yard ping");
    s_expect_has(r->out, "--replica PREFIX");
    yh_run_destroy(&r);
    r = s_expect(0, s_run(10000, "--help", NULL));
    s_expect_has(r->out, "ping");
    yh_run_destroy(&r);
    (void)bus;
}

/* --- services over several brokers ------------------------------------------------------------ */

/* `clients` of broker ep, as `yard services --json` (one broker) reports it. */
static long long
s_clients(const char *ep)
{
    yh_run_t *r = s_expect(0, s_run(10000, "services", "--json", "--broker", ep, NULL));
    yh_json_t *doc = yh_json_parse(r->out, strlen(r->out));
    assert_non_null(doc);
    const msgpack_object *root = yh_json_root(doc);
    static const char *const keys[] = {"clients", "connections", "replica_peers", "subscribers"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (yh_json_int(root, keys[i]) == INT64_MIN) {
            fail_msg("services --json lacks %s: %s", keys[i], r->out);
        }
    }
    assert_int_equal(yh_json_int(root, "replica_peers"), 2);
    long long n = yh_json_int(root, "clients");
    yh_json_destroy(&doc);
    yh_run_destroy(&r);
    return n;
}

/* Waits until broker ep counts want clients. */
static void
s_wait_clients(const char *ep, long long want)
{
    long long deadline = yh_now_ms() + 10000, n = -1;
    while ((n = s_clients(ep)) != want) {
        if (yh_now_ms() > deadline) {
            fail_msg("%s counts %lld clients, not %lld", ep, n, want);
        }
    }
}

static void
test_services_clients_follow_connections(void **state)
{
    s_bus_t *bus = *state;
    /* the asking yard itself: 1, once the earlier tests' yard processes are gone (the broker
     * hears of a closed connection a moment after the process exits) */
    const long long base = 1;
    s_wait_clients(bus->ep[0], base);
    yard_client_t *c[S_CLIENTS] = {NULL};
    for (int i = 0; i < S_CLIENTS; i++) {
        assert_int_equal(yard_client_new(bus->ep[0], NULL, &c[i]), 0);
        yard_call_opts_t opts = {.op = "ping", .timeout_ms = 5000};
        yard_msg_t *reply = NULL;
        assert_int_equal(yard_client_call(c[i], "$sys", NULL, 0, &opts, &reply), 0);
        yard_msg_destroy(&reply);
    }
    s_wait_clients(bus->ep[0], base + S_CLIENTS);
    s_wait_clients(bus->ep[1], base); /* the other broker has none of them */
    for (int i = 0; i < S_CLIENTS; i++) {
        yard_client_destroy(&c[i]);
    }
    s_wait_clients(bus->ep[0], base);
}

/* A client that connects and asks `services` at once is one of the clients it is told of:
 * its ACCEPTED and its request can reach the broker in one loop turn. */
static void
test_services_counts_its_asker(void **state)
{
    s_bus_t *bus = *state;
    for (int i = 0; i < S_ASKERS; i++) {
        yard_client_t *c = NULL;
        assert_int_equal(yard_client_new(bus->ep[1], NULL, &c), 0);
        yard_call_opts_t opts = {.op = "services", .timeout_ms = 5000};
        yard_msg_t *reply = NULL;
        assert_int_equal(yard_client_call(c, "$sys", NULL, 0, &opts, &reply), 0);
        size_t size = 0;
        const void *body = yard_msg_body(reply, &size);
        msgpack_zone zone;
        msgpack_zone_init(&zone, 1024);
        msgpack_object root;
        char err[128];
        assert_int_equal(yard_mp_decode(body, size, &zone, &root, err, sizeof err), 0);
        uint64_t clients = 0;
        assert_int_equal(yard_mp_get_uint(&root, "clients", &clients, err, sizeof err), 0);
        if (clients < 1) {
            fail_msg("round %d: a fresh client asked and was told of %llu clients", i,
                     (unsigned long long)clients);
        }
        msgpack_zone_destroy(&zone);
        yard_msg_destroy(&reply);
        yard_client_destroy(&c);
    }
}

static void
test_services_per_broker_lines(void **state)
{
    s_bus_t *bus = *state;
    char list[240];
    snprintf(list, sizeof list, "%s,%s", bus->both, bus->down);
    yh_run_t *r =
        s_expect(0, s_run(20000, "services", "--broker", list, "--timeout", "2000", NULL));
    s_expect_has(r->out, "BROKER");
    s_expect_has(r->out, "CLIENTS");
    for (int i = 0; i < 2; i++) {
        const char *line = strstr(r->out, "\n");
        for (line = r->out; (line = strstr(line, bus->ep[i])) != NULL; line++) {
            if (strncmp(line + strlen(bus->ep[i]), "  ", 2) == 0) {
                break; /* the brokers table's row, not the services heading "EP:" */
            }
        }
        if (!line || !strstr(line, " up ")) {
            fail_msg("no up row for %s:\n%s", bus->ep[i], r->out);
        }
    }
    const char *down = strstr(r->out, bus->down);
    if (!down || !strstr(down, "down")) {
        fail_msg("no down row for %s:\n%s", bus->down, r->out);
    }
    s_expect_has(r->err, bus->down);
    yh_run_destroy(&r);

    r = s_expect(0,
                 s_run(20000, "services", "--json", "--broker", list, "--timeout", "2000", NULL));
    yh_json_t *doc = yh_json_parse(r->out, strlen(r->out));
    assert_non_null(doc);
    const msgpack_object *brokers = yh_json_at(yh_json_root(doc), "brokers");
    assert_int_equal(yh_json_count(brokers, ""), 3);
    for (int i = 0; i < 3; i++) {
        const msgpack_object *b = &brokers->via.array.ptr[i];
        const char *ep = i < 2 ? bus->ep[i] : bus->down;
        assert_string_equal(yh_json_str(b, "endpoint"), ep);
        assert_int_equal(yh_json_bool(b, "up"), i < 2);
        if (i < 2) {
            assert_true(yh_json_int(b, "clients") >= 1);
            assert_int_equal(yh_json_int(b, "replica_peers"), 2);
            assert_int_equal(yh_json_int(b, "services.0.replicas"), 2);
        } else {
            assert_string_equal(yh_json_str(b, "error"), "TIMEOUT");
        }
    }
    yh_json_destroy(&doc);
    yh_run_destroy(&r);

    /* none answering: exit 3 */
    r = s_expect(3, s_run(20000, "services", "--broker", bus->down, "--timeout", "300", NULL));
    yh_run_destroy(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ping_broker_up_and_down),
        cmocka_unit_test(test_ping_service_replica_prefix),
        cmocka_unit_test(test_ping_usage),
        cmocka_unit_test(test_services_clients_follow_connections),
        cmocka_unit_test(test_services_counts_its_asker),
        cmocka_unit_test(test_services_per_broker_lines),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
