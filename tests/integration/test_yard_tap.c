/* `yard monitor` and `yard tap` from outside, as an operator runs them: a real yard-broker, the
 * echo actor as a yard-actor process, and the two commands as children whose stdout and
 * stderr are read while they run. Checks: the monitor shows a replica registering and, once
 * its process is SIGKILLed, its connection closing, its heartbeat lost and the replica
 * declared dead; a tap on a service sees a call's request and reply bodies, a tap on a
 * subject sees publishes, a tap asking for 50/s sees far fewer than a flood of 2000 and is
 * told how many it missed; a broker with tapping off makes `yard tap` exit 1; usage is exit 2
 * and no broker exit 3; every --json line parses; a tap on auth during a login, a verify and
 * a plain op sees each call with its size and outcome, never the password or a token, and
 * still the plain op's body. Every wait has a deadline. */
#include "harness.h"
#include "json_doc.h"
#include "run.h"

#include "yard/client.h"
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

/* A broker in the environment must not reach yard: each run names its own. */
static char *const s_env[] = {"YARD_BROKER", NULL};

/* Starts yard with the arguments (NULL ended). Caller frees with yh_run_destroy() after
 * s_end. */
#define s_start(...) yh_run_startl("yard", s_env, __VA_ARGS__)

/* Runs yard to completion (arguments NULL ended). Caller frees with yh_run_destroy(). */
#define s_run(timeout_ms, ...) yh_runl("yard", s_env, (timeout_ms), __VA_ARGS__)

/* Waits until stdout (or stderr) past offset from holds needle. */
static bool
s_wait_for(yh_run_t *c, bool in_err, size_t from, const char *needle, int timeout_ms)
{
    long long deadline = yh_now_ms() + timeout_ms;
    for (;;) {
        const char *buf = in_err ? c->err : c->out;
        size_t len = in_err ? c->err_len : c->out_len;
        if (from <= len && strstr(buf + from, needle)) {
            return true;
        }
        if (yh_now_ms() >= deadline || !yh_run_pump(c, 50)) {
            return strstr(buf + (from <= len ? from : len), needle) != NULL;
        }
    }
}

/* Sends sig (0: none, just wait) and collects the rest of the output and the exit status. */
static void
s_end(yh_run_t *c, int sig, int timeout_ms)
{
    if (sig && c->pid > 0) {
        kill(c->pid, sig);
    }
    yh_run_wait(c, timeout_ms);
}

/* --- the bus ----------------------------------------------------------------------------- */

typedef struct {
    char *dir;
    char endpoint[64], flag[96];
    int port;
    pid_t broker;
} s_bus_t;

static void
s_bus_start(s_bus_t *bus, const char *extra1, const char *extra2)
{
    bus->port = yh_free_port();
    snprintf(bus->endpoint, sizeof bus->endpoint, "tcp://127.0.0.1:%d", bus->port);
    snprintf(bus->flag, sizeof bus->flag, "--broker=%s", bus->endpoint);
    char *argv[] = {"yard-broker", "--bind",       bus->endpoint,  "--heartbeat-ms",
                    "200",         (char *)extra1, (char *)extra2, NULL};
    bus->broker = yh_spawn("yard-broker", argv, NULL, bus->dir);
    assert_true(bus->broker > 0);
    assert_true(yh_wait_port(bus->port, 5000));
}

static int
s_setup(void **state)
{
    s_bus_t *bus = calloc(1, sizeof *bus);
    assert_non_null(bus);
    bus->dir = yh_tmpdir();
    s_bus_start(bus, NULL, NULL);
    *state = bus;
    return 0;
}

static int
s_teardown(void **state)
{
    s_bus_t *bus = *state;
    yh_stop(bus->broker, SIGTERM, 5000);
    yh_rmtree(bus->dir);
    free(bus->dir);
    free(bus);
    return 0;
}

static pid_t
s_spawn_echo(const s_bus_t *bus)
{
    char *argv[] = {"yard-actor",     "echo", "--broker", (char *)bus->endpoint,
                    "--heartbeat-ms", "100",  NULL};
    pid_t pid = yh_spawn("yard-actor", argv, NULL, bus->dir);
    assert_true(pid > 0);
    return pid;
}

/* Each line of text parses as a JSON object; returns them as the root array (caller destroys
 * it with yh_json_destroy()). */
static yh_json_t *
s_json_lines(const char *text)
{
    assert_null(strstr(text, "\n\n")); /* no empty line */
    yh_json_t *doc = yh_json_parse_lines(text);
    assert_non_null(doc); /* the line that is not JSON is on stderr */
    const msgpack_object *all = yh_json_root(doc);
    for (uint32_t i = 0; i < all->via.array.size; i++) {
        if (all->via.array.ptr[i].type != MSGPACK_OBJECT_MAP) {
            fail_msg("line %u is not a JSON object: %s", i + 1, text);
        }
    }
    return doc;
}

/* --- usage and no broker ------------------------------------------------------------------ */

static void
test_usage_and_no_broker(void **state)
{
    (void)state;
    const char *usage[][4] = {
        {"tap", NULL},
        {"tap", "echo", "--rate", "0"},
        {"tap", "echo", "extra", NULL},
        {"tap", "bad..pattern", NULL},
        {"monitor", "--kind", "bogus", NULL},
        {"monitor", "extra", NULL},
        {"monitor", "--nope", NULL},
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        yh_run_t *c = s_run(10000, usage[i][0], usage[i][1], usage[i][2], usage[i][3], NULL);
        if (c->status != 2) {
            fail_msg("yard %s %s: exit %d, stderr: %s", usage[i][0], usage[i][1] ? usage[i][1] : "",
                     c->status, c->err);
        }
        assert_true(c->err_len > 0);
        yh_run_destroy(&c);
    }
    yh_run_t *c = s_run(10000, "tap", "--help", NULL);
    assert_int_equal(c->status, 0);
    assert_non_null(strstr(c->out, "usage: yard tap"));
    yh_run_destroy(&c);

    char flag[64];
    snprintf(flag, sizeof flag, "--broker=tcp://127.0.0.1:%d", yh_free_port());
    c = s_run(10000, "tap", "echo", "--timeout", "500", flag, NULL);
    assert_int_equal(c->status, 3);
    yh_run_destroy(&c);
    c = s_run(10000, "monitor", "--timeout", "500", flag, NULL);
    assert_int_equal(c->status, 3);
    yh_run_destroy(&c);
}

/* --- monitor ------------------------------------------------------------------------------ */

/* The replica's events name it "host/pid/index": its lines hold "/pid/". */
static void
test_monitor_replica_lifecycle(void **state)
{
    s_bus_t *bus = *state;
    yh_run_t *mon = s_start("monitor", bus->flag, NULL);
    yh_run_t *js = s_start("monitor", "--json", bus->flag, NULL);
    assert_true(s_wait_for(mon, true, 0, "monitoring", 10000));
    assert_true(s_wait_for(js, true, 0, "monitoring", 10000));

    pid_t actor = s_spawn_echo(bus);
    char tag[32];
    snprintf(tag, sizeof tag, "/%d/", (int)actor);
    if (!s_wait_for(mon, false, 0, "replica registered", 10000)) {
        fail_msg("no registration in: %s", mon->out);
    }
    assert_non_null(strstr(mon->out, tag));
    assert_non_null(strstr(mon->out, "replica_ready"));
    assert_non_null(strstr(mon->out, "accepted"));

    size_t mark = mon->out_len;
    assert_true(WIFSIGNALED(yh_stop(actor, SIGKILL, 5000)));
    if (!s_wait_for(mon, false, mark, "replica declared dead", 10000)) {
        fail_msg("no death after the kill in: %s", mon->out + mark);
    }
    const char *after = mon->out + mark;
    assert_non_null(strstr(after, "disconnected"));
    assert_non_null(strstr(after, "heartbeat_lost"));
    const char *dead = strstr(after, "replica_dead");
    assert_non_null(dead);
    const char *eol = strchr(dead, '\n');
    assert_non_null(eol);
    assert_true(memmem(dead, (size_t)(eol - dead), tag, strlen(tag)) != NULL);

    assert_true(s_wait_for(js, false, 0, "replica_dead", 5000));
    s_end(mon, SIGTERM, 5000);
    s_end(js, SIGTERM, 5000);
    assert_int_equal(mon->status, 0);
    assert_int_equal(js->status, 0);
    yh_json_t *lines = s_json_lines(js->out);
    const msgpack_object *all = yh_json_root(lines);
    bool ready = false, died = false;
    for (uint32_t i = 0; i < all->via.array.size; i++) {
        const msgpack_object *ev = &all->via.array.ptr[i];
        const char *kind = yh_json_str(ev, "event");
        assert_non_null(kind);
        assert_true(yh_json_int(ev, "ts_ms") != INT64_MIN);
        const char *replica = yh_json_str(ev, "replica");
        bool ours = replica && strstr(replica, tag);
        ready |= ours && strcmp(kind, "replica_ready") == 0;
        died |= ours && strcmp(kind, "replica_dead") == 0;
    }
    assert_true(ready && died);
    yh_json_destroy(&lines);
    yh_run_destroy(&mon);
    yh_run_destroy(&js);
}

/* --kind keeps only the kinds asked for. */
static void
test_monitor_kind_filter(void **state)
{
    s_bus_t *bus = *state;
    yh_run_t *mon = s_start("monitor", "--kind", "registered", "--count", "1", bus->flag, NULL);
    assert_true(s_wait_for(mon, true, 0, "monitoring", 10000));
    pid_t actor = s_spawn_echo(bus);
    s_end(mon, 0, 10000);
    yh_stop(actor, SIGTERM, 5000);
    assert_int_equal(mon->status, 0);
    assert_non_null(strstr(mon->out, "replica registered"));
    assert_null(strstr(mon->out, "accepted"));
    yh_run_destroy(&mon);
}

/* --- tap ---------------------------------------------------------------------------------- */

static void
test_tap_service(void **state)
{
    s_bus_t *bus = *state;
    pid_t actor = s_spawn_echo(bus);
    long long deadline = yh_now_ms() + 10000;
    for (;;) { /* the replica registers asynchronously */
        yh_run_t *c = s_run(10000, "call", "echo", "{}", "--timeout", "1000", bus->flag, NULL);
        int status = c->status;
        yh_run_destroy(&c);
        if (status == 0) {
            break;
        }
        assert_true(yh_now_ms() < deadline);
    }
    yh_run_t *tap = s_start("tap", "echo", "--count", "2", bus->flag, NULL);
    yh_run_t *js = s_start("tap", "echo", "--json", "--count", "2", bus->flag, NULL);
    assert_true(s_wait_for(tap, true, 0, "tapping 'echo'", 10000));
    assert_true(s_wait_for(js, true, 0, "tapping 'echo'", 10000));
    yh_run_t *call =
        s_run(10000, "call", "echo", "{\"hello\":\"tap\"}", "--op", "greet", bus->flag, NULL);
    assert_int_equal(call->status, 0);
    yh_run_destroy(&call);
    s_end(tap, 0, 10000);
    s_end(js, 0, 10000);
    assert_int_equal(tap->status, 0);
    assert_int_equal(js->status, 0);
    const char *req = strstr(tap->out, "request");
    assert_non_null(req);
    const char *rep = strstr(req, "reply");
    assert_non_null(rep);
    assert_non_null(strstr(req, "op=greet"));
    assert_true(strstr(req, "{\"hello\":\"tap\"}") < rep);
    assert_non_null(strstr(rep, "{\"hello\":\"tap\"}"));

    yh_json_t *lines = s_json_lines(js->out);
    assert_int_equal(yh_json_count(yh_json_root(lines), ""), 2);
    const msgpack_object *a = yh_json_at(yh_json_root(lines), "0");
    const msgpack_object *b = yh_json_at(yh_json_root(lines), "1");
    assert_string_equal(yh_json_str(a, "kind"), "request");
    assert_string_equal(yh_json_str(a, "service"), "echo");
    assert_string_equal(yh_json_str(a, "op"), "greet");
    assert_string_equal(yh_json_str(a, "body.hello"), "tap");
    assert_string_equal(yh_json_str(b, "kind"), "reply");
    assert_true(yh_json_equal(yh_json_at(a, "id"), yh_json_at(b, "id")));
    assert_true(yh_json_equal(yh_json_at(a, "client"), yh_json_at(b, "client")));
    assert_true(yh_json_equal(yh_json_at(a, "body"), yh_json_at(b, "body")));
    yh_json_destroy(&lines);
    yh_run_destroy(&tap);
    yh_run_destroy(&js);
    yh_stop(actor, SIGTERM, 5000);
}

static void
test_tap_subject(void **state)
{
    s_bus_t *bus = *state;
    yh_run_t *tap = s_start("tap", "jobs.>", "--count", "1", bus->flag, NULL);
    assert_true(s_wait_for(tap, true, 0, "tapping 'jobs.>'", 10000));
    yh_run_t *c = s_run(10000, "pub", "other.thing", "{\"n\":0}", bus->flag, NULL);
    assert_int_equal(c->status, 0);
    yh_run_destroy(&c);
    c = s_run(10000, "pub", "jobs.mail.sent", "{\"n\":1}", bus->flag, NULL);
    assert_int_equal(c->status, 0);
    yh_run_destroy(&c);
    s_end(tap, 0, 10000);
    assert_int_equal(tap->status, 0);
    assert_non_null(strstr(tap->out, "publish  jobs.mail.sent"));
    assert_non_null(strstr(tap->out, "{\"n\":1}"));
    assert_null(strstr(tap->out, "other.thing"));
    yh_run_destroy(&tap);
}

/* Sums the publish lines and the dropped counts of a --json tap's output. */
static void
s_count(const char *out, uint64_t *seen, uint64_t *dropped)
{
    yh_json_t *lines = s_json_lines(out);
    const msgpack_object *all = yh_json_root(lines);
    *seen = *dropped = 0;
    for (uint32_t i = 0; i < all->via.array.size; i++) {
        const msgpack_object *l = &all->via.array.ptr[i];
        const char *kind = yh_json_str(l, "kind");
        *seen += kind && strcmp(kind, "publish") == 0;
        if (yh_json_type(l, "dropped") >= 0) {
            int64_t d = yh_json_int(l, "dropped");
            assert_true(d >= 0);
            *dropped += (uint64_t)d;
        }
    }
    yh_json_destroy(&lines);
}

static void
test_tap_rate_limit(void **state)
{
    s_bus_t *bus = *state;
    yh_run_t *tap = s_start("tap", "flood.>", "--rate", "50", "--json", bus->flag, NULL);
    yh_run_t *human = s_start("tap", "flood.>", "--rate", "50", bus->flag, NULL);
    assert_true(s_wait_for(tap, true, 0, "at up to 50 messages/s", 10000));
    assert_true(s_wait_for(human, true, 0, "at up to 50 messages/s", 10000));
    yard_client_t *client = NULL;
    assert_int_equal(yard_client_new(bus->endpoint, NULL, &client), 0);
    const char body[] = "\x81\xa1n\x01"; /* {"n":1} */
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(yard_client_publish(client, "flood.x", body, sizeof body - 1), 0);
    }
    yard_call_opts_t po = {.op = "ping", .timeout_ms = 5000};
    yard_msg_t *reply = NULL;
    assert_int_equal(yard_client_call(client, "$sys", NULL, 0, &po, &reply), 0);
    yard_msg_destroy(&reply);
    yard_client_destroy(&client);

    /* Every copy is either seen or counted as dropped: the last count comes in a notice
     * within about a second of the flood. */
    uint64_t seen = 0, dropped = 0;
    long long deadline = yh_now_ms() + 10000;
    while (seen + dropped < 2000 && yh_now_ms() < deadline) {
        yh_run_pump(tap, 100);
        char *copy = strdup(tap->out);
        char *last_nl = strrchr(copy, '\n');
        if (last_nl) {
            last_nl[1] = '\0';
            s_count(copy, &seen, &dropped);
        }
        free(copy);
    }
    assert_true(s_wait_for(human, false, 0, " dropped)", 5000));
    s_end(tap, SIGTERM, 5000);
    s_end(human, SIGTERM, 5000);
    assert_int_equal(tap->status, 0);
    assert_int_equal(human->status, 0);
    s_count(tap->out, &seen, &dropped);
    print_message("tap at 50/s: saw %llu of 2000, %llu dropped\n", (unsigned long long)seen,
                  (unsigned long long)dropped);
    assert_true(seen > 0 && seen < 500);
    assert_true(dropped > 0);
    assert_int_equal(seen + dropped, 2000);
    yh_run_destroy(&tap);
    yh_run_destroy(&human);
}

/* --- sensitive ops ------------------------------------------------------------------------- */

#define S_ADMIN_PW "tap-must-never-show-this-pw-7c1e"

/* `yard call auth BODY --op OP`; returns the run (caller destroys it). */
static yh_run_t *
s_call_auth(const s_bus_t *bus, const char *op, const char *body)
{
    return s_run(10000, "call", "auth", body, "--op", op, bus->flag, NULL);
}

/* auth marks login, refresh, verify, logout, revoke, user.* and invite.* sensitive: a tap on
 * it during a login and a verify shows each call, its size and its outcome, and no byte of
 * the password or the tokens; an op that is not sensitive (key.rotate) is tapped as before,
 * body and error text included. */
static void
test_tap_hides_sensitive_ops(void **state)
{
    s_bus_t *bus = *state;
    char broker_env[96];
    snprintf(broker_env, sizeof broker_env, "YARD_BROKER=%s", bus->endpoint);
    char *env[] = {broker_env, "YARD_AUTH_ADMIN_USER=root", "YARD_AUTH_ADMIN_PASSWORD=" S_ADMIN_PW,
                   NULL};
    char *argv[] = {"yard-actor", "auth", NULL};
    pid_t actor = yh_spawn("yard-actor", argv, env, bus->dir);
    assert_true(actor > 0);
    long long deadline = yh_now_ms() + 10000;
    for (;;) { /* registered once it answers for itself (a wrong password: exit 1) */
        yh_run_t *c = s_call_auth(bus, "login", "{\"username\":\"x\",\"password\":\"y\"}");
        int status = c->status;
        yh_run_destroy(&c);
        if (status == 1) {
            break;
        }
        assert_true(yh_now_ms() < deadline);
    }
    yh_run_t *tap = s_start("tap", "auth", "--count", "6", bus->flag, NULL);
    yh_run_t *js = s_start("tap", "auth", "--json", "--count", "6", bus->flag, NULL);
    assert_true(s_wait_for(tap, true, 0, "tapping 'auth'", 10000));
    assert_true(s_wait_for(js, true, 0, "tapping 'auth'", 10000));

    yh_run_t *c =
        s_call_auth(bus, "login", "{\"username\":\"root\",\"password\":\"" S_ADMIN_PW "\"}");
    assert_int_equal(c->status, 0);
    yh_json_t *pair = yh_json_parse(c->out, c->out_len);
    assert_non_null(pair);
    char *access = strdup(yh_json_str(yh_json_root(pair), "access_token"));
    char *refresh = strdup(yh_json_str(yh_json_root(pair), "refresh_token"));
    assert_true(access && strlen(access) > 20 && refresh && strlen(refresh) > 20);
    yh_json_destroy(&pair);
    yh_run_destroy(&c);
    char verify[4096];
    snprintf(verify, sizeof verify, "{\"token\":\"%s\"}", access);
    c = s_call_auth(bus, "verify", verify);
    assert_int_equal(c->status, 0);
    yh_run_destroy(&c);
    c = s_call_auth(bus, "key.rotate", "{\"plain\":\"visible-body-marker\"}");
    assert_int_equal(c->status, 1); /* no token: UNAUTHENTICATED, and not sensitive */
    yh_run_destroy(&c);

    s_end(tap, 0, 10000);
    s_end(js, 0, 10000);
    assert_int_equal(tap->status, 0);
    assert_int_equal(js->status, 0);
    print_message("tap auth:\n%s", tap->out);
    const char *outs[] = {tap->out, js->out, tap->err, js->err};
    const char *secrets[] = {S_ADMIN_PW, access, refresh};
    for (size_t i = 0; i < 4; i++) {
        for (size_t k = 0; k < 3; k++) {
            if (strstr(outs[i], secrets[k])) {
                fail_msg("a secret (%zu) is in the tap's output:\n%s", k, outs[i]);
            }
        }
        /* Not a fragment either: a token's 20-byte middle. */
        char piece[21];
        snprintf(piece, sizeof piece, "%.20s", access + strlen(access) / 2);
        assert_null(strstr(outs[i], piece));
    }
    /* The human lines: each call, its size, its outcome. */
    const char *login = strstr(tap->out, "op=login");
    assert_non_null(login);
    assert_non_null(strstr(login, "bytes not shown>"));
    const char *reply = strstr(login, "reply");
    assert_non_null(reply);
    assert_non_null(strstr(reply, "bytes not shown>"));
    assert_non_null(strstr(tap->out, "op=verify"));
    assert_non_null(strstr(tap->out, "visible-body-marker"));
    assert_non_null(strstr(tap->out, "UNAUTHENTICATED: this operation needs"));

    /* The JSON lines: hidden and size instead of a body, for every sensitive copy. */
    yh_json_t *lines = s_json_lines(js->out);
    const msgpack_object *all = yh_json_root(lines);
    assert_int_equal(all->via.array.size, 6);
    int hidden = 0;
    for (uint32_t i = 0; i < all->via.array.size; i++) {
        const msgpack_object *l = &all->via.array.ptr[i];
        const char *kind = yh_json_str(l, "kind");
        const char *h = yh_json_str(l, "hidden");
        if (i < 4) { /* login and verify: request, reply */
            assert_non_null(h);
            assert_string_equal(h, "sensitive");
            assert_true(yh_json_int(l, "size") > 0);
            assert_int_equal(yh_json_type(l, "body"), -1);
            assert_string_equal(kind, i % 2 ? "reply" : "request");
            hidden++;
        } else {
            assert_null(h);
            assert_true(yh_json_type(l, "body") >= 0 || strcmp(kind, "error") == 0);
        }
    }
    assert_int_equal(hidden, 4);
    assert_string_equal(yh_json_str(yh_json_at(all, "4"), "body.plain"), "visible-body-marker");
    yh_json_destroy(&lines);
    free(access);
    free(refresh);
    yh_run_destroy(&tap);
    yh_run_destroy(&js);
    yh_stop(actor, SIGTERM, 5000);
}

/* Tapping switched off, by flag or by the config file: `yard tap` says so and exits 1. */
static void
test_tap_off(void **state)
{
    s_bus_t *shared = *state;
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/tapoff.yaml", shared->dir);
    yh_write_file(cfg, "tap: false\n");
    char cfg_flag[600];
    snprintf(cfg_flag, sizeof cfg_flag, "--config=%s", cfg);
    const char *how[] = {"--no-tap", cfg_flag};
    for (size_t i = 0; i < 2; i++) {
        s_bus_t bus = {.dir = shared->dir};
        s_bus_start(&bus, how[i], NULL);
        yh_run_t *c = s_run(10000, "tap", "echo", bus.flag, NULL);
        if (c->status != 1 || !strstr(c->err, "tapping is switched off")) {
            fail_msg("%s: exit %d, stderr: %s", how[i], c->status, c->err);
        }
        yh_run_destroy(&c);
        yh_stop(bus.broker, SIGTERM, 5000);
    }
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_and_no_broker),
        cmocka_unit_test(test_monitor_replica_lifecycle),
        cmocka_unit_test(test_monitor_kind_filter),
        cmocka_unit_test(test_tap_service),
        cmocka_unit_test(test_tap_subject),
        cmocka_unit_test(test_tap_rate_limit),
        cmocka_unit_test(test_tap_hides_sensitive_ops),
        cmocka_unit_test(test_tap_off),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
