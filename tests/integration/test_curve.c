/* CURVE and per-key permissions from outside, as an operator deploys them: `yard keygen`
 * writes the keys, a real yard-broker takes its own (flags --key, --keys-dir), the echo actor
 * runs as a yard-actor process with its key by flag, and `yard` commands take theirs from the
 * environment or a config file. Checks: keygen's files and modes; a client without a key,
 * with a key not in keys_dir, and with the wrong broker key are refused (a log line naming
 * the setting to check) and `yard monitor` shows handshake_failed; a key without a permission
 * gets FORBIDDEN naming it (exit 1) and `yard monitor` shows permission_refused; with keys,
 * calls and pub/sub work; a broker refuses to bind beyond loopback without CURVE unless
 * insecure. Every wait has a deadline. */
#include "harness.h"
#include "run.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define S_PATH 512

typedef struct {
    char *dir;
    char endpoint[64], flag[96];
    int port;
    pid_t broker, echo;
    char path[8][S_PATH]; /* see s_key() */
    /* the environment of each identity: "YARD_CURVE_KEY=..." and the broker's public key */
    char key_env[4][S_PATH + 32], broker_env[S_PATH + 32];
} s_bus_t;

enum { S_BROKER, S_ALICE, S_BOB, S_MALLORY, S_SVC, S_KEYS_DIR };
static const char *const s_names[] = {"broker", "alice", "bob", "mallory", "svc"};

static char *s_noenv[] = {"YARD_BROKER",           "YARD_CONFIG",         "YARD_CURVE_KEY",
                          "YARD_CURVE_BROKER_KEY", "YARD_CURVE_KEYS_DIR", NULL};

/* Waits until stdout (or stderr) holds needle. */
static bool
s_wait_for(yh_run_t *c, bool in_err, const char *needle, int timeout_ms)
{
    long long deadline = yh_now_ms() + timeout_ms;
    for (;;) {
        if (strstr(in_err ? c->err : c->out, needle)) {
            return true;
        }
        if (yh_now_ms() >= deadline || !yh_run_pump(c, 50)) {
            return strstr(in_err ? c->err : c->out, needle) != NULL;
        }
    }
}

/* The environment of a yard command run as who (S_ALICE...; -1: no key at all). */
static void
s_env(const s_bus_t *bus, int who, char **env)
{
    int n = 0;
    env[n++] = "YARD_BROKER";
    env[n++] = "YARD_CONFIG";
    env[n++] = "YARD_CURVE_KEYS_DIR";
    if (who < 0) {
        env[n++] = "YARD_CURVE_KEY";
        env[n++] = "YARD_CURVE_BROKER_KEY";
    } else {
        env[n++] = (char *)bus->key_env[who - S_ALICE];
        env[n++] = (char *)bus->broker_env;
    }
    env[n] = NULL;
}

/* argv for `yard` with the arguments that are not NULL, then --broker. */
static void
s_argv(const s_bus_t *bus, char **argv, const char *a1, const char *a2, const char *a3,
       const char *a4)
{
    const char *args[] = {a1, a2, a3, a4};
    int n = 0;
    argv[n++] = "yard";
    for (int i = 0; i < 4; i++) {
        if (args[i]) {
            argv[n++] = (char *)args[i];
        }
    }
    argv[n++] = (char *)bus->flag;
    argv[n] = NULL;
}

static yh_run_t *
s_yard(const s_bus_t *bus, int who, int timeout_ms, const char *a1, const char *a2, const char *a3,
       const char *a4)
{
    char *env[8], *argv[8];
    s_env(bus, who, env);
    s_argv(bus, argv, a1, a2, a3, a4);
    return yh_run("yard", argv, env, timeout_ms);
}

static yh_run_t *
s_yard_start(const s_bus_t *bus, int who, const char *a1, const char *a2, const char *a3,
             const char *a4)
{
    char *env[8], *argv[8];
    s_env(bus, who, env);
    s_argv(bus, argv, a1, a2, a3, a4);
    return yh_run_start("yard", argv, env);
}

/* yard keygen DIR/<name> with the permission flags in perm (NULL ended; may be NULL). */
static void
s_keygen(s_bus_t *bus, int i, const char *const *perm)
{
    snprintf(bus->path[i], S_PATH, "%s/%s", bus->dir, s_names[i]);
    char *argv[20] = {"yard", "keygen", bus->path[i]};
    for (int n = 0; perm && perm[n] && n < 16; n++) {
        argv[3 + n] = (char *)perm[n];
    }
    yh_run_t *c = yh_run("yard", argv, s_noenv, 10000);
    if (c->status != 0) {
        fail_msg("yard keygen %s: exit %d: %s", s_names[i], c->status, c->err);
    }
    yh_run_destroy(&c);
}

/* Copies a public certificate into keys_dir, as an operator hands it over. */
static void
s_allow(const s_bus_t *bus, int i)
{
    char dst[S_PATH + 16], text[4096];
    FILE *f = fopen(bus->path[i], "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    snprintf(dst, sizeof dst, "%s/%s", bus->path[S_KEYS_DIR], s_names[i]);
    yh_write_file(dst, text);
}

/* A call of echo as alice that succeeds within timeout_ms: the actor has registered. */
static void
s_wait_echo(const s_bus_t *bus, int timeout_ms)
{
    long long deadline = yh_now_ms() + timeout_ms;
    for (;;) {
        yh_run_t *c = s_yard(bus, S_ALICE, 10000, "call", "echo", "{\"x\":1}", NULL);
        int status = c->status;
        yh_run_destroy(&c);
        if (status == 0) {
            return;
        }
        if (yh_now_ms() >= deadline) {
            fail_msg("echo never answered with keys (last exit %d)", status);
        }
        struct timespec ts = {0, 100 * 1000 * 1000}; /* a back-off between polls */
        nanosleep(&ts, NULL);
    }
}

static int
s_setup(void **state)
{
    s_bus_t *bus = calloc(1, sizeof *bus);
    assert_non_null(bus);
    bus->dir = yh_tmpdir();
    snprintf(bus->path[S_KEYS_DIR], S_PATH, "%s/keys", bus->dir);
    assert_int_equal(mkdir(bus->path[S_KEYS_DIR], 0700), 0);
    s_keygen(bus, S_BROKER, NULL);
    s_keygen(bus, S_ALICE, NULL);
    /* bob: may call echo and publish and subscribe in news, offers nothing, no $sys or tap */
    s_keygen(bus, S_BOB,
             (const char *const[]){"--call", "echo", "--publish", "news.>", "--subscribe", "news.>",
                                   "--offer", "", "--sys", "no", "--tap", "no", NULL});
    s_keygen(bus, S_MALLORY, NULL);
    s_keygen(bus, S_SVC, (const char *const[]){"--offer", "echo", "--call", "", NULL});
    s_allow(bus, S_ALICE);
    s_allow(bus, S_BOB);
    s_allow(bus, S_SVC);
    for (int i = S_ALICE; i <= S_SVC; i++) {
        snprintf(bus->key_env[i - S_ALICE], sizeof bus->key_env[0], "YARD_CURVE_KEY=%s_secret",
                 bus->path[i]);
    }
    snprintf(bus->broker_env, sizeof bus->broker_env, "YARD_CURVE_BROKER_KEY=%s",
             bus->path[S_BROKER]);

    bus->port = yh_free_port();
    snprintf(bus->endpoint, sizeof bus->endpoint, "tcp://127.0.0.1:%d", bus->port);
    snprintf(bus->flag, sizeof bus->flag, "--broker=%s", bus->endpoint);
    char bkey[S_PATH + 8];
    snprintf(bkey, sizeof bkey, "%s_secret", bus->path[S_BROKER]);
    char *bargv[] = {"yard-broker", "--bind", bus->endpoint, "--heartbeat-ms",      "200",
                     "--key",       bkey,     "--keys-dir",  bus->path[S_KEYS_DIR], NULL};
    bus->broker = yh_spawn("yard-broker", bargv, s_noenv, bus->dir);
    assert_true(bus->broker > 0);
    assert_true(yh_wait_port(bus->port, 5000));

    char skey[S_PATH + 8];
    snprintf(skey, sizeof skey, "%s_secret", bus->path[S_SVC]);
    char *aargv[] = {"yard-actor", "echo",         "--broker",          bus->endpoint, "--key",
                     skey,         "--broker-key", bus->path[S_BROKER], NULL};
    bus->echo = yh_spawn("yard-actor", aargv, s_noenv, bus->dir);
    assert_true(bus->echo > 0);
    s_wait_echo(bus, 10000);
    *state = bus;
    return 0;
}

static int
s_teardown(void **state)
{
    s_bus_t *bus = *state;
    yh_stop(bus->echo, SIGTERM, 5000);
    yh_stop(bus->broker, SIGTERM, 5000);
    yh_rmtree(bus->dir);
    free(bus->dir);
    free(bus);
    return 0;
}

/* --- keygen ------------------------------------------------------------------------------- */

static char *
s_slurp(const char *path)
{
    static char text[4096];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

static void
test_keygen_files(void **state)
{
    s_bus_t *bus = *state;
    char secret[S_PATH + 8];
    snprintf(secret, sizeof secret, "%s_secret", bus->path[S_BOB]);
    struct stat st;
    assert_int_equal(stat(secret, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_non_null(strstr(s_slurp(secret), "secret-key"));
    const char *pub = s_slurp(bus->path[S_BOB]);
    assert_null(strstr(pub, "secret-key"));
    assert_non_null(strstr(pub, "public-key"));
    assert_non_null(strstr(pub, "call = \"echo\""));
    assert_non_null(strstr(pub, "name = \"bob\""));
    /* never overwrites a key; a NAME is required */
    yh_run_t *c = yh_runl("yard", s_noenv, 10000, "keygen", bus->path[S_BOB], NULL);
    assert_int_equal(c->status, 2);
    assert_non_null(strstr(c->err, "already exists"));
    yh_run_destroy(&c);
    c = yh_runl("yard", s_noenv, 10000, "keygen", NULL);
    assert_int_equal(c->status, 2);
    yh_run_destroy(&c);
}

/* --- refused handshakes ------------------------------------------------------------------- */

/* Runs `yard call echo` as who (broker_key_env: another broker key; NULL: the right one),
 * expects it to fail with log_text on stderr, and `yard monitor` to show handshake_failed. */
static void
s_refused(s_bus_t *bus, int who, const char *broker_key_env, const char *log_text)
{
    yh_run_t *mon =
        s_yard_start(bus, S_ALICE, "monitor", "--kind", "handshake_failed", "--count=1");
    assert_true(s_wait_for(mon, true, "monitoring", 10000));
    char *env[8];
    s_env(bus, who, env);
    if (broker_key_env) {
        env[4] = (char *)broker_key_env;
    }
    yh_run_t *c =
        yh_runl("yard", env, 15000, "call", "echo", "{}", "--timeout", "1500", bus->flag, NULL);
    /* The call itself ends UNREACHABLE or TIMEOUT (3), or OVERLOADED (1) when it was sent
     * while no connection was up between refusals; the log line says why. */
    if ((c->status != 3 && c->status != 1) || !strstr(c->err, log_text)) {
        fail_msg("exit %d (want 3 or 1), stderr: %s", c->status, c->err);
    }
    yh_run_destroy(&c);
    if (yh_run_wait(mon, 10000) != 0) {
        fail_msg("monitor: exit %d, out: %s err: %s", mon->status, mon->out, mon->err);
    }
    assert_non_null(strstr(mon->out, "handshake_failed"));
    yh_run_destroy(&mon);
}

static void
test_no_key_refused(void **state)
{
    s_refused(*state, -1, NULL, "the broker requires CURVE");
}

static void
test_unknown_key_refused(void **state)
{
    s_refused(*state, S_MALLORY, NULL, "not in the broker's curve.keys_dir");
}

static void
test_wrong_broker_key_refused(void **state)
{
    s_bus_t *bus = *state;
    char env[S_PATH + 32];
    snprintf(env, sizeof env, "YARD_CURVE_BROKER_KEY=%s", bus->path[S_MALLORY]);
    s_refused(bus, S_ALICE, env, "curve.broker_key");
}

/* --- permissions -------------------------------------------------------------------------- */

static void
test_permission_refused(void **state)
{
    s_bus_t *bus = *state;
    yh_run_t *mon = s_yard_start(bus, S_ALICE, "monitor", "--kind", "forbidden", "--count=5");
    assert_true(s_wait_for(mon, true, "monitoring", 10000));

    /* bob may call echo but nothing else, and may not use $sys */
    yh_run_t *c = s_yard(bus, S_BOB, 10000, "call", "echo", "{\"a\":2}", NULL);
    assert_int_equal(c->status, 0);
    assert_non_null(strstr(c->out, "\"a\""));
    yh_run_destroy(&c);
    c = s_yard(bus, S_BOB, 10000, "call", "auth", "{}", NULL);
    if (c->status != 1 || !strstr(c->err, "FORBIDDEN") ||
        !strstr(c->err, "permission 'call' refused: key bob")) {
        fail_msg("bob calling auth: exit %d, stderr: %s", c->status, c->err);
    }
    yh_run_destroy(&c);
    c = s_yard(bus, S_BOB, 10000, "services", NULL, NULL, NULL);
    if (c->status != 1 || !strstr(c->err, "permission 'sys' refused")) {
        fail_msg("bob listing services: exit %d, stderr: %s", c->status, c->err);
    }
    yh_run_destroy(&c);
    /* a publish outside news.> is refused (publishing has no reply: the monitor shows it) */
    c = s_yard(bus, S_BOB, 10000, "pub", "other.thing", "{}", NULL);
    yh_run_destroy(&c);
    /* subscriptions: news.* is inside news.>, other.> is not; tapping is off for bob */
    yh_run_t *ok = s_yard_start(bus, S_BOB, "sub", "news.*", NULL, NULL);
    yh_run_t *sub = s_yard_start(bus, S_BOB, "sub", "other.>", NULL, NULL);
    yh_run_t *tap = s_yard_start(bus, S_BOB, "tap", "echo", NULL, NULL);

    if (yh_run_wait(mon, 10000) != 0) {
        fail_msg("monitor: exit %d, out: %s err: %s", mon->status, mon->out, mon->err);
    }
    assert_non_null(strstr(mon->out, "permission_refused"));
    assert_non_null(strstr(mon->out, "bob"));
    assert_non_null(strstr(mon->out, "(call auth)"));
    assert_non_null(strstr(mon->out, "(sys $sys)"));
    assert_non_null(strstr(mon->out, "(publish other.thing)"));
    if (!strstr(mon->out, "(subscribe other.>)")) {
        fail_msg("monitor out: %s", mon->out);
    }
    assert_non_null(strstr(mon->out, "(tap $tap."));
    assert_null(strstr(mon->out, "news."));
    yh_run_destroy(&mon);
    /* the refused subscriber is told why (the client logs an ERROR no call can carry) */
    if (!s_wait_for(sub, true, "permission 'subscribe' refused", 10000)) {
        fail_msg("yard sub other.> stderr: %s", sub->err);
    }
    yh_run_destroy(&ok);
    yh_run_destroy(&sub);
    yh_run_destroy(&tap);

    /* alice's certificate restricts nothing: $sys answers her */
    c = s_yard(bus, S_ALICE, 10000, "services", NULL, NULL, NULL);
    assert_int_equal(c->status, 0);
    assert_non_null(strstr(c->out, "echo"));
    yh_run_destroy(&c);
}

/* A replica whose key may not offer the service is refused at READY. */
static void
test_offer_refused(void **state)
{
    s_bus_t *bus = *state;
    yh_run_t *mon = s_yard_start(bus, S_ALICE, "monitor", "--kind", "forbidden", "--count=1");
    assert_true(s_wait_for(mon, true, "monitoring", 10000));
    char key[S_PATH + 8];
    snprintf(key, sizeof key, "%s_secret", bus->path[S_BOB]);
    char *argv[] = {"yard-actor", "echo",         "--broker",          bus->endpoint, "--key",
                    key,          "--broker-key", bus->path[S_BROKER], NULL};
    pid_t bob_echo = yh_spawn("yard-actor", argv, s_noenv, bus->dir);
    assert_true(bob_echo > 0);
    if (yh_run_wait(mon, 10000) != 0) {
        fail_msg("monitor: exit %d, out: %s err: %s", mon->status, mon->out, mon->err);
    }
    assert_non_null(strstr(mon->out, "(offer echo)"));
    yh_run_destroy(&mon);
    yh_stop(bob_echo, SIGTERM, 5000);
}

/* keys_dir is reread when it changes: a certificate copied in admits its key, one removed
 * refuses it (new connections), a duplicate is skipped. */
static void
test_keys_dir_reloaded(void **state)
{
    s_bus_t *bus = *state;
    s_allow(bus, S_MALLORY);
    long long deadline = yh_now_ms() + 10000;
    int status = -1;
    while (status != 0 && yh_now_ms() < deadline) {
        yh_run_t *c = s_yard(bus, S_MALLORY, 10000, "call", "echo", "{}", "--timeout=1000");
        status = c->status;
        yh_run_destroy(&c);
    }
    assert_int_equal(status, 0);

    char path[S_PATH + 16];
    snprintf(path, sizeof path, "%s/%s", bus->path[S_KEYS_DIR], s_names[S_MALLORY]);
    assert_int_equal(unlink(path), 0);
    deadline = yh_now_ms() + 10000;
    while (status == 0 && yh_now_ms() < deadline) {
        yh_run_t *c = s_yard(bus, S_MALLORY, 10000, "call", "echo", "{}", "--timeout=1000");
        status = c->status;
        if (status != 0) {
            assert_non_null(strstr(c->err, "not in the broker's curve.keys_dir"));
        }
        yh_run_destroy(&c);
    }
    assert_int_not_equal(status, 0);

    /* a second copy of a certificate (the same public key) is skipped, and the broker, whose
     * zauth would abort on it, keeps serving */
    char text[4096], copy[S_PATH + 16];
    FILE *f = fopen(bus->path[S_ALICE], "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    snprintf(copy, sizeof copy, "%s/alice.bak", bus->path[S_KEYS_DIR]);
    yh_write_file(copy, text);
    /* the broker's log says it skipped the copy */
    char log[S_PATH + 64];
    snprintf(log, sizeof log, "%s/yard-broker.%d.log", bus->dir, (int)bus->broker);
    long long until = yh_now_ms() + 10000;
    bool skipped = false;
    while (!skipped && yh_now_ms() < until) {
        char buf[65536];
        FILE *lf = fopen(log, "r");
        size_t got = lf ? fread(buf, 1, sizeof buf - 1, lf) : 0;
        if (lf) {
            fclose(lf);
        }
        buf[got] = '\0';
        skipped = strstr(buf, "alice.bak") != NULL;
        yh_run_t *c = s_yard(bus, S_ALICE, 10000, "call", "echo", "{}", NULL);
        assert_int_equal(c->status, 0); /* and answers all the while */
        yh_run_destroy(&c);
    }
    assert_true(skipped);
    assert_int_equal(kill(bus->broker, 0), 0);
    assert_int_equal(unlink(copy), 0);
}

/* --- with keys, the bus works --------------------------------------------------------------- */

static void
test_pubsub_with_keys(void **state)
{
    s_bus_t *bus = *state;
    yh_run_t *sub = s_yard_start(bus, S_ALICE, "sub", "news.>", "--count=1", NULL);
    /* the subscription is live once a publish reaches it: publish until one does */
    long long deadline = yh_now_ms() + 10000;
    bool got = false;
    while (!got && yh_now_ms() < deadline) {
        yh_run_t *c = s_yard(bus, S_BOB, 10000, "pub", "news.today", "{\"n\":7}", NULL);
        assert_int_equal(c->status, 0);
        yh_run_destroy(&c);
        got = s_wait_for(sub, false, "\"n\"", 200);
    }
    assert_true(got);
    assert_int_equal(yh_run_wait(sub, 10000), 0);
    yh_run_destroy(&sub);
}

/* The same keys from a config file's curve: section, and from flags, instead of the
 * environment. */
static void
test_keys_from_config_file(void **state)
{
    s_bus_t *bus = *state;
    char cfg[S_PATH + 16], text[3 * S_PATH];
    snprintf(cfg, sizeof cfg, "%s/alice.yaml", bus->dir);
    snprintf(text, sizeof text, "broker: %s\ncurve:\n  key: %s_secret\n  broker_key: %s\n",
             bus->endpoint, bus->path[S_ALICE], bus->path[S_BROKER]);
    yh_write_file(cfg, text);
    yh_run_t *c =
        yh_runl("yard", s_noenv, 10000, "call", "echo", "{\"f\":1}", "--config", cfg, NULL);
    if (c->status != 0) {
        fail_msg("exit %d, stderr: %s", c->status, c->err);
    }
    assert_non_null(strstr(c->out, "\"f\""));
    yh_run_destroy(&c);

    /* and from flags, which win over the environment (here mallory's key) */
    char key[S_PATH + 16], env_key[S_PATH + 32];
    snprintf(key, sizeof key, "--key=%s_secret", bus->path[S_ALICE]);
    snprintf(env_key, sizeof env_key, "YARD_CURVE_KEY=%s_secret", bus->path[S_MALLORY]);
    char *env[] = {"YARD_BROKER", "YARD_CONFIG", "YARD_CURVE_BROKER_KEY", env_key, NULL};
    c = yh_runl("yard", env, 10000, "call", "echo", "{\"g\":1}", key, "--broker-key",
                bus->path[S_BROKER], bus->flag, NULL);
    if (c->status != 0) {
        fail_msg("exit %d, stderr: %s", c->status, c->err);
    }
    assert_non_null(strstr(c->out, "\"g\""));
    yh_run_destroy(&c);
}

/* --- the safe-bind default ---------------------------------------------------------------- */

static void
test_bind_beyond_loopback(void **state)
{
    (void)state;
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://0.0.0.0:%d", yh_free_port());
    yh_run_t *c = yh_runl("yard-broker", s_noenv, 10000, "--bind", ep, NULL);
    if (c->status != 2 || !strstr(c->err, "refusing to bind") || !strstr(c->err, "insecure")) {
        fail_msg("exit %d, stderr: %s", c->status, c->err);
    }
    yh_run_destroy(&c);
    c = yh_runl("yard-broker", s_noenv, 10000, "--bind", "tcp://*:1", NULL);
    assert_int_equal(c->status, 2);
    yh_run_destroy(&c);
    /* insecure: true says the operator accepts it */
    c = yh_run_startl("yard-broker", s_noenv, "--bind", ep, "--insecure", NULL);
    assert_true(s_wait_for(c, true, "broker running", 10000));
    kill(c->pid, SIGTERM);
    assert_int_equal(yh_run_wait(c, 10000), 0);
    yh_run_destroy(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen_files),
        cmocka_unit_test(test_no_key_refused),
        cmocka_unit_test(test_unknown_key_refused),
        cmocka_unit_test(test_wrong_broker_key_refused),
        cmocka_unit_test(test_permission_refused),
        cmocka_unit_test(test_offer_refused),
        cmocka_unit_test(test_keys_dir_reloaded),
        cmocka_unit_test(test_pubsub_with_keys),
        cmocka_unit_test(test_keys_from_config_file),
        cmocka_unit_test(test_bind_beyond_loopback),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
