/* The four programs' shared skeleton, run as a user runs them: `--help` prints the options
 * with secrets as <secret> (and no secret from the environment), a config file with a bad key
 * stops each with exit 2 and the file:line, and `yard up` runs the actors its config chooses,
 * skipping one that lacks a required setting with one log line while the bus keeps running. */
#include "harness.h"
#include "run.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* Secrets in the environment that --help must never print; and no broker or config from the
 * test's own environment. */
static char *const s_env[] = {
    "YARD_BROKER",
    "YARD_CONFIG",
    "YARD_UP_ACTORS",
    "YARD_STORE=redis://app:hunter2-store@127.0.0.1:1/0",
    "YARD_AUTH_ADMIN_PASSWORD=hunter2-admin",
    "YARD_NEEDY_TOKEN",
    "YARD_NEEDY_TOKEN_FILE",
    NULL,
};

/* For running a bus: no secrets needed, nothing from the test's environment. */
static char *const s_up_env[] = {"YARD_BROKER", "YARD_CONFIG",      "YARD_UP_ACTORS",
                                 "YARD_STORE",  "YARD_NEEDY_TOKEN", "YARD_NEEDY_TOKEN_FILE",
                                 NULL};

static void
s_assert_has(const char *text, const char *want)
{
    if (strstr(text, want) == NULL) {
        fail_msg("expected \"%s\" in:\n%s", want, text);
    }
}

static size_t
s_count(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *p = strstr(text, what); p != NULL; p = strstr(p + 1, what)) {
        n++;
    }
    return n;
}

static void
test_help_shows_options_not_secrets(void **state)
{
    (void)state;
    const struct {
        const char *prog;
        char *argv[4];
        const char *option;
        bool has_secret; /* the tables shown have a secret option */
    } cases[] = {
        {"yard-broker", {"yard-broker", "--help", NULL}, "--max-in-flight <int>", false},
        {"yard-gateway", {"yard-gateway", "--help", NULL}, "--listen <text>", false},
        {"yard-actor", {"yard-actor", "echo", "--help", NULL}, "--replicas <int>", false},
        {"yard-actor", {"yard-actor", "auth", "--help", NULL}, "--admin-user <text>", true},
        {"yard", {"yard", "up", "--help", NULL}, "--bind <text>", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        yh_run_t *r = yh_run(cases[i].prog, cases[i].argv, s_env, 10000);
        assert_int_equal(r->status, 0);
        s_assert_has(r->out, "FLAG");
        s_assert_has(r->out, cases[i].option);
        s_assert_has(r->out, "KEY_file");
        if (cases[i].has_secret) {
            s_assert_has(r->out, "--admin-password <secret>");
        }
        if (strstr(r->out, "hunter2") || strstr(r->err, "hunter2")) {
            fail_msg("%s printed a secret:\n%s%s", cases[i].prog, r->out, r->err);
        }
        yh_run_destroy(&r);
    }
}

/* Writes text to <dir>/yard.yaml; returns the path (caller frees). */
static char *
s_config(const char *dir, const char *text)
{
    size_t n = strlen(dir) + 16;
    char *path = malloc(n);
    snprintf(path, n, "%s/yard.yaml", dir);
    yh_write_file(path, text);
    return path;
}

static void
test_bad_key_names_file_and_line(void **state)
{
    (void)state;
    char *dir = yh_tmpdir();
    char *path = s_config(dir, "log_level: info\nbindd: tcp://127.0.0.1:1\n");
    char want[600];
    snprintf(want, sizeof want, "%s:2: unknown key 'bindd' at the top level", path);
    const struct {
        const char *prog;
        char *argv[5];
    } cases[] = {
        {"yard-broker", {"yard-broker", "--config", path, NULL}},
        {"yard-gateway", {"yard-gateway", "--config", path, NULL}},
        {"yard-actor", {"yard-actor", "echo", "--config", path, NULL}},
        {"yard", {"yard", "up", "--config", path, NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        yh_run_t *r = yh_run(cases[i].prog, cases[i].argv, s_env, 10000);
        if (r->status != 2 || strstr(r->err, want) == NULL) {
            fail_msg("%s %s: exit %d, stderr:\n%s", cases[i].prog, cases[i].argv[1], r->status,
                     r->err);
        }
        yh_run_destroy(&r);
    }
    free(path);

    /* In an actor's section, and an unknown actor in up.actors. */
    path = s_config(dir, "echo:\n  replicas: 1\n  replcas: 2\n");
    yh_run_t *r = yh_runl("yard-actor", s_env, 10000, "echo", "--config", path, NULL);
    assert_int_equal(r->status, 2);
    snprintf(want, sizeof want, "%s:3: unknown key 'replcas' in section 'echo'", path);
    s_assert_has(r->err, want);
    yh_run_destroy(&r);
    free(path);
    path = s_config(dir, "up:\n  actors:\n    - echo\n    - nope\n");
    r = yh_runl("yard", s_env, 10000, "up", "--config", path, NULL);
    assert_int_equal(r->status, 2);
    snprintf(want, sizeof want, "%s:4: up.actors: unknown actor 'nope' (known:", path);
    s_assert_has(r->err, want);
    yh_run_destroy(&r);
    free(path);
    yh_rmtree(dir);
    free(dir);
}

/* A running `yard up` (or up_needy) and its broker. */
typedef struct {
    yh_run_t *run;
    char broker_flag[96];
} s_up_t;

/* Starts prog with the config text and extra environment, and waits for its "bus up" line. */
static void
s_up_start(s_up_t *up, const char *dir, const char *prog, const char *text, char *const env[])
{
    char *path = s_config(dir, text);
    int port = yh_free_port();
    char bind[64];
    snprintf(bind, sizeof bind, "tcp://127.0.0.1:%d", port);
    snprintf(up->broker_flag, sizeof up->broker_flag, "--broker=%s", bind);
    /* `yard up ...`, or the test's own `up_needy ...` (the command itself). */
    bool yard = strcmp(prog, "yard") == 0;
    char *argv[] = {(char *)prog, "up", "--config", path, "--bind", bind, NULL};
    if (!yard) {
        memmove(argv + 1, argv + 2, 5 * sizeof *argv);
    }
    up->run = yh_run_start(prog, argv, env);
    long long deadline = yh_now_ms() + 15000;
    while (strstr(up->run->err, "\"msg\":\"bus up\"") == NULL) {
        if (yh_now_ms() > deadline || !yh_run_pump(up->run, 100)) {
            fail_msg("%s never said bus up; stderr:\n%s", prog, up->run->err);
        }
    }
    free(path);
}

/* `yard services --json` until want shows up, with a deadline (replicas register
 * asynchronously). Returns the last output (caller frees). */
static char *
s_services_until(const s_up_t *up, const char *want)
{
    long long deadline = yh_now_ms() + 10000;
    for (;;) {
        yh_run_t *r = yh_runl("yard", s_env, 10000, "services", "--json", up->broker_flag, NULL);
        char *out = strdup(r->out);
        yh_run_destroy(&r);
        if (strstr(out, want) != NULL) {
            return out;
        }
        if (yh_now_ms() > deadline) {
            fail_msg("%s never listed in:\n%s", want, out);
        }
        free(out);
        yh_run_pump(up->run, 50); /* keep its stderr flowing while we wait */
    }
}

static void
s_up_stop(s_up_t *up)
{
    assert_int_equal(kill(up->run->pid, SIGTERM), 0);
    assert_int_equal(yh_run_wait(up->run, 15000), 0);
}

static void
test_up_runs_the_chosen_actors(void **state)
{
    (void)state;
    char *dir = yh_tmpdir();
    s_up_t up;
    s_up_start(&up, dir, "yard", "up:\n  actors: [echo]\ngateway:\n  listen: 127.0.0.1:0\n",
               s_up_env);
    s_assert_has(up.run->err, "\"msg\":\"bus up\"");
    s_assert_has(up.run->err, "\"actors\":1");
    char *services = s_services_until(&up, "\"echo\"");
    assert_null(strstr(services, "\"auth\""));
    assert_null(strstr(services, "\"scheduler\""));
    free(services);
    assert_int_equal(s_count(up.run->err, "\"msg\":\"actor started\""), 1);
    s_up_stop(&up);
    yh_run_destroy(&up.run);

    /* YARD_UP_ACTORS beats the file. */
    char *const env[] = {"YARD_BROKER", "YARD_CONFIG", "YARD_STORE", "YARD_UP_ACTORS=scheduler",
                         NULL};
    s_up_start(&up, dir, "yard", "up:\n  actors: [echo]\ngateway:\n  listen: 127.0.0.1:0\n", env);
    services = s_services_until(&up, "\"scheduler\"");
    assert_null(strstr(services, "\"echo\""));
    free(services);
    s_up_stop(&up);
    yh_run_destroy(&up.run);
    yh_rmtree(dir);
    free(dir);
}

static void
test_up_skips_an_actor_missing_a_setting(void **state)
{
    (void)state;
    char *dir = yh_tmpdir();
    s_up_t up;
    s_up_start(&up, dir, "up_needy",
               "up:\n  actors: [echo, needy]\ngateway:\n  listen: 127.0.0.1:0\n", s_up_env);
    char *services = s_services_until(&up, "\"echo\"");
    assert_null(strstr(services, "\"needy\""));
    free(services);
    /* One line, naming the actor and the setting; no retry after it; still running. */
    assert_int_equal(s_count(up.run->err, "actor skipped"), 1);
    s_assert_has(up.run->err, "\"level\":\"warn\"");
    s_assert_has(up.run->err, "\"msg\":\"actor skipped: setting missing\",\"actor\":\"needy\","
                              "\"setting\":\"needy.token\"");
    assert_int_equal(kill(up.run->pid, 0), 0);
    s_up_stop(&up);
    assert_int_equal(s_count(up.run->err, "needy"), 2); /* the skip line only */
    yh_run_destroy(&up.run);

    /* Given the token from a file, it runs, chosen or by default. */
    char token_path[512], env_token[600];
    snprintf(token_path, sizeof token_path, "%s/token", dir);
    yh_write_file(token_path, "tok-hunter2\n");
    snprintf(env_token, sizeof env_token, "YARD_NEEDY_TOKEN_FILE=%s", token_path);
    char *const env[] = {"YARD_BROKER",    "YARD_CONFIG", "YARD_STORE",
                         "YARD_UP_ACTORS", env_token,     NULL};
    s_up_start(&up, dir, "up_needy",
               "up:\n  actors: [echo, needy]\ngateway:\n  listen: 127.0.0.1:0\n", env);
    services = s_services_until(&up, "\"needy\"");
    free(services);
    assert_null(strstr(up.run->err, "actor skipped"));
    s_up_stop(&up);
    assert_null(strstr(up.run->err, "hunter2"));
    yh_run_destroy(&up.run);

    char *const env_default[] = {"YARD_BROKER",    "YARD_CONFIG", "YARD_STORE",
                                 "YARD_UP_ACTORS", env_token,     NULL};
    s_up_start(&up, dir, "up_needy", "gateway:\n  listen: 127.0.0.1:0\n", env_default);
    services = s_services_until(&up, "\"needy\"");
    free(services);
    s_assert_has(up.run->err, "\"actors\":2");
    s_up_stop(&up);
    yh_run_destroy(&up.run);

    /* By default without it: left out, with one info line naming the setting. */
    s_up_start(&up, dir, "up_needy", "gateway:\n  listen: 127.0.0.1:0\n", s_up_env);
    s_assert_has(up.run->err, "\"actors\":1");
    s_assert_has(up.run->err, "\"msg\":\"actor not started: no credentials configured\","
                              "\"actor\":\"needy\",\"setting\":\"needy.token\"");
    s_up_stop(&up);
    assert_int_equal(s_count(up.run->err, "needy"), 2); /* that line only */
    yh_run_destroy(&up.run);
    yh_rmtree(dir);
    free(dir);
}

/* The README's way to give `yard up` an admin user: the name in the environment, the
 * password from a file. A login then works, and the password is in no log line. */
static void
test_up_admin_from_file(void **state)
{
    (void)state;
    char *dir = yh_tmpdir();
    char pw_path[512], env_pw[600];
    snprintf(pw_path, sizeof pw_path, "%s/admin-password", dir);
    yh_write_file(pw_path, "correct-horse-hunter2\n");
    snprintf(env_pw, sizeof env_pw, "YARD_AUTH_ADMIN_PASSWORD_FILE=%s", pw_path);
    char *const env[] = {"YARD_BROKER",
                         "YARD_CONFIG",
                         "YARD_UP_ACTORS",
                         "YARD_STORE",
                         "YARD_AUTH_ADMIN_USER=root",
                         env_pw,
                         "YARD_LOG_LEVEL=debug",
                         NULL};
    s_up_t up;
    s_up_start(&up, dir, "yard", "gateway:\n  listen: 127.0.0.1:0\n", env);
    s_assert_has(up.run->err, "\"msg\":\"auth: created the first admin\",\"user\":\"root\"");
    yh_run_t *r = yh_runl("yard", s_up_env, 10000, "call", "auth", "--op", "login",
                          "{\"username\":\"root\",\"password\":\"correct-horse-hunter2\"}",
                          up.broker_flag, NULL);
    if (r->status != 0 || strstr(r->out, "access_token") == NULL) {
        fail_msg("login: exit %d\n%s%s", r->status, r->out, r->err);
    }
    yh_run_destroy(&r);
    s_up_stop(&up);
    s_assert_has(up.run->err, "\"key\":\"admin_password\",\"value\":\"<secret>\"");
    assert_null(strstr(up.run->err, "hunter2"));
    yh_run_destroy(&up.run);
    yh_rmtree(dir);
    free(dir);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_shows_options_not_secrets),
        cmocka_unit_test(test_bad_key_names_file_and_line),
        cmocka_unit_test(test_up_runs_the_chosen_actors),
        cmocka_unit_test(test_up_skips_an_actor_missing_a_setting),
        cmocka_unit_test(test_up_admin_from_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
