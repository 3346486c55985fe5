/* How an actor is configured: shared settings at the top level, the actor's own (replicas,
 * credit, drain_ms and its options table) in its section, with environment and flags over the
 * file; and the refusal to run a stateful actor's replicas on a store they cannot share. */
#include "yard/actor.h"
#include "yard/error.h"
#include "yard/options.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *greeting;
    int64_t limit;
} s_opts_t;

static const yard_option_t s_options[] = {
    {"greeting", YARD_OPT_STRING, "hello", offsetof(s_opts_t, greeting), "what to say", 0, 0, 0},
    {"limit", YARD_OPT_INT, "10", offsetof(s_opts_t, limit), "how many", 1, 100, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

static int
s_handle(yard_request_t *req, void *state)
{
    (void)state;
    return yard_request_reply(req, NULL, 0);
}

static const yard_handler_def_t s_handlers[] = {{NULL, s_handle, "replies"}, {NULL, NULL, NULL}};

static const yard_actor_def_t s_def = {
    .name = "greeter",
    .description = "test actor",
    .handlers = s_handlers,
    .options = s_options,
    .options_size = sizeof(s_opts_t),
};

/* Writes text to a fresh temp file and loads it. Caller owns the config and frees path. */
static yard_config_t *
s_load(const char *text, char **path)
{
    char tmpl[] = "/tmp/yard-actor-config-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    yard_config_t *cfg = NULL;
    char err[256] = "";
    assert_int_equal(yard_config_load(tmpl, &cfg, err, sizeof err), 0);
    *path = strdup(tmpl);
    return cfg;
}

static void
test_defaults(void **state)
{
    (void)state;
    yard_actor_opts_t opts;
    void *own = NULL;
    char err[256] = "";
    assert_int_equal(yard_actor_configure(&s_def, NULL, 0, NULL, &opts, &own, err, sizeof err), 0);
    assert_int_equal(opts.replicas, 1);
    assert_string_equal(opts.broker, "tcp://127.0.0.1:5555");
    assert_string_equal(opts.store, "memory");
    s_opts_t *o = own;
    assert_string_equal(o->greeting, "hello");
    assert_int_equal(o->limit, 10);
    yard_actor_config_free(&s_def, &opts, &own);
    assert_null(own);
}

static void
test_section_env_and_flags(void **state)
{
    (void)state;
    char *path = NULL;
    yard_config_t *cfg = s_load("broker: tcp://10.0.0.1:7000\n"
                                "greeter:\n"
                                "  replicas: 3\n"
                                "  credit: 4\n"
                                "  greeting: hi\n",
                                &path);
    setenv("YARD_GREETER_CREDIT", "7", 1);
    setenv("YARD_GREETER_LIMIT", "20", 1);
    char *argv[] = {"--replicas", "5", "--greeting=bonjour", "--heartbeat-ms", "250", NULL};
    yard_actor_opts_t opts;
    void *own = NULL;
    char err[256] = "";
    assert_int_equal(yard_actor_configure(&s_def, cfg, 5, argv, &opts, &own, err, sizeof err), 0);
    assert_string_equal(opts.broker, "tcp://10.0.0.1:7000"); /* file, top level */
    assert_int_equal(opts.replicas, 5);                      /* flag over file */
    assert_int_equal(opts.credit, 7);                        /* environment over file */
    assert_int_equal(opts.heartbeat_ms, 250);                /* shared flag */
    s_opts_t *o = own;
    assert_string_equal(o->greeting, "bonjour");
    assert_int_equal(o->limit, 20);
    yard_actor_config_free(&s_def, &opts, &own);
    unsetenv("YARD_GREETER_CREDIT");
    unsetenv("YARD_GREETER_LIMIT");
    yard_config_destroy(&cfg);
    unlink(path);
    free(path);
}

static void
test_errors_name_the_source(void **state)
{
    (void)state;
    char *path = NULL;
    yard_config_t *cfg = s_load("greeter:\n  replicas: 2\n  replcas: 3\n", &path);
    yard_actor_opts_t opts;
    void *own = NULL;
    char err[256] = "";
    assert_int_equal(yard_actor_configure(&s_def, cfg, 0, NULL, &opts, &own, err, sizeof err),
                     YARD_E_CONFIG);
    char want[300];
    snprintf(want, sizeof want, "%s:3:", path);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "replcas"));
    assert_null(own);
    yard_config_destroy(&cfg);
    unlink(path);
    free(path);

    /* Scale is per actor: a top-level replicas would silently apply to nobody. */
    cfg = s_load("replicas: 3\n", &path);
    assert_int_equal(yard_actor_configure(&s_def, cfg, 0, NULL, &opts, &own, err, sizeof err),
                     YARD_E_CONFIG);
    assert_non_null(strstr(err, "unknown key 'replicas' at the top level"));
    yard_config_destroy(&cfg);
    unlink(path);
    free(path);

    char *argv[] = {"--limit", "500", NULL};
    assert_int_equal(yard_actor_configure(&s_def, NULL, 2, argv, &opts, &own, err, sizeof err),
                     YARD_E_CONFIG);
    assert_non_null(strstr(err, "--limit"));

    setenv("YARD_LOG_LEVEL", "loud", 1);
    assert_int_equal(yard_actor_configure(&s_def, NULL, 0, NULL, &opts, &own, err, sizeof err),
                     YARD_E_CONFIG);
    assert_non_null(strstr(err, "loud"));
    unsetenv("YARD_LOG_LEVEL");
}

/* An actor that cannot start without a credential: run directly, it stops at configuration
 * with the setting named; given the setting (here from a file), it configures. */
typedef struct {
    char *token;
} s_needy_opts_t;

static const yard_option_t s_needy_options[] = {
    {"token", YARD_OPT_STRING, NULL, offsetof(s_needy_opts_t, token), "API token", 0, 0,
     YARD_OPT_SECRET | YARD_OPT_REQUIRED},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

static void
test_required_setting(void **state)
{
    (void)state;
    yard_actor_def_t def = s_def;
    def.name = "needy";
    def.options = s_needy_options;
    def.options_size = sizeof(s_needy_opts_t);
    yard_actor_opts_t opts;
    void *own = NULL;
    char err[512] = "";
    assert_int_equal(yard_actor_configure(&def, NULL, 0, NULL, &opts, &own, err, sizeof err),
                     YARD_E_CONFIG);
    assert_non_null(strstr(err, "required setting needy.token is missing"));
    assert_non_null(strstr(err, "YARD_NEEDY_TOKEN"));
    assert_null(own);

    char path[] = "/tmp/yard-actor-token-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret-value-1\n", 15), 15);
    close(fd);
    char *argv[] = {"--token-file", path, NULL};
    assert_int_equal(yard_actor_configure(&def, NULL, 2, argv, &opts, &own, err, sizeof err), 0);
    assert_string_equal(((s_needy_opts_t *)own)->token, "s3cret-value-1");
    yard_actor_config_free(&def, &opts, &own);
    unlink(path);
}

static void
test_stateful_needs_shared_store(void **state)
{
    (void)state;
    yard_actor_def_t def = s_def;
    def.stateful = true;
    s_opts_t own = {.greeting = "x", .limit = 1};
    yard_actor_opts_t opts = {.broker = "tcp://127.0.0.1:1", .replicas = 2, .store = "memory"};
    yard_actor_t *actor = NULL;
    assert_int_equal(yard_actor_start(&def, &opts, &own, &actor), YARD_E_CONFIG);
    assert_null(actor);

    /* One replica keeps its state in its own process: allowed. */
    opts.replicas = 1;
    assert_int_equal(yard_actor_start(&def, &opts, &own, &actor), 0);
    assert_non_null(actor);
    yard_actor_destroy(&actor);
}

/* The sensitive list: op names or patterns that match a handler's op (a typo would leave an
 * op tapped while its author believes it hidden), at most 64; with a fallback handler any
 * op may be marked. */
static void
test_sensitive_ops_checked(void **state)
{
    (void)state;
    static const yard_handler_def_t named[] = {
        {"login", s_handle, "logs in"}, {"user.get", s_handle, "a user"}, {NULL, NULL, NULL}};
    yard_actor_def_t def = {.name = "vault", .handlers = named};
    yard_actor_opts_t opts = {.broker = "tcp://127.0.0.1:1", .store = "memory"};
    yard_actor_t *actor = NULL;
    static const char *const good[] = {"login", "user.*", NULL};
    def.sensitive = good;
    assert_int_equal(yard_actor_start(&def, &opts, NULL, &actor), 0);
    yard_actor_destroy(&actor);
    static const char *const typo[] = {"login", "logn", NULL};
    static const char *const bad[] = {"user..get", NULL};
    static const char *const other[] = {"admin.*", NULL};
    const char *const *refused[] = {typo, bad, other};
    for (size_t i = 0; i < 3; i++) {
        def.sensitive = refused[i];
        assert_int_equal(yard_actor_start(&def, &opts, NULL, &actor), YARD_E_INVALID);
        assert_null(actor);
    }
    const char *many[YARD_WIRE_SENSITIVE_MAX + 2];
    for (int i = 0; i <= YARD_WIRE_SENSITIVE_MAX; i++) {
        many[i] = "login";
    }
    many[YARD_WIRE_SENSITIVE_MAX + 1] = NULL;
    def.sensitive = many;
    assert_int_equal(yard_actor_start(&def, &opts, NULL, &actor), YARD_E_INVALID);
    many[YARD_WIRE_SENSITIVE_MAX] = NULL; /* 64 is the bound, not over it */
    assert_int_equal(yard_actor_start(&def, &opts, NULL, &actor), 0);
    yard_actor_destroy(&actor);

    yard_actor_def_t any = s_def; /* a fallback handler takes any op */
    static const char *const anything[] = {"whatever.op", NULL};
    any.sensitive = anything;
    s_opts_t own = {.greeting = "x", .limit = 1};
    assert_int_equal(yard_actor_start(&any, &opts, &own, &actor), 0);
    yard_actor_destroy(&actor);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_section_env_and_flags),
        cmocka_unit_test(test_errors_name_the_source),
        cmocka_unit_test(test_required_setting),
        cmocka_unit_test(test_stateful_needs_shared_store),
        cmocka_unit_test(test_sensitive_ops_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
