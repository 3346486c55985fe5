/* The program skeleton (yard/program.h): what every Switchyard main does before and after its
 * own work, in-process: --help from the tables, --config and YARD_CONFIG, flags to the table
 * that names them, aliases, log_level, the exit codes, and the wait for SIGTERM. Read as the
 * usage example of yard/program.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "harness.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/program.h"

typedef struct {
    char *bind;
    char *password;
    int64_t queue;
    bool tap;
    char *log_level;
} s_opts_t;

static const yard_option_t s_table[] = {
    {"bind", YARD_OPT_STRING, "tcp://127.0.0.1:5555", offsetof(s_opts_t, bind), "endpoints", 0, 0,
     0},
    {"password", YARD_OPT_STRING, NULL, offsetof(s_opts_t, password), "a secret", 0, 0,
     YARD_OPT_SECRET},
    {"queue", YARD_OPT_INT, "10", offsetof(s_opts_t, queue), "queue length", 1, 100, 0},
    {"tap", YARD_OPT_BOOL, "true", offsetof(s_opts_t, tap), "taps", 0, 0, 0},
    {"log_level", YARD_OPT_STRING, "info", offsetof(s_opts_t, log_level), "level", 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

typedef struct {
    int64_t threads;
} s_section_t;

static const yard_option_t s_section_table[] = {
    {"threads", YARD_OPT_INT, "2", offsetof(s_section_t, threads), "threads", 1, 64, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

static const char *const s_aliases[] = {"--no-tap", "--tap=false", NULL};

static const yard_program_def_t s_def = {
    .name = "yard-test",
    .component = "test",
    .usage = "usage: yard-test [--config FILE]\n",
    .aliases = s_aliases,
};

typedef struct {
    char *dir;
    char *config;
} fixture_t;

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->dir = yh_tmpdir();
    size_t n = strlen(f->dir) + 16;
    f->config = malloc(n);
    snprintf(f->config, n, "%s/yard.yaml", f->dir);
    unsetenv("YARD_CONFIG");
    unsetenv("YARD_QUEUE");
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    unsetenv("YARD_CONFIG");
    unsetenv("YARD_QUEUE");
    yard_log_set_level(YARD_LOG_INFO);
    yh_rmtree(f->dir);
    free(f->dir);
    free(f->config);
    free(f);
    return 0;
}

/* Runs the skeleton on argv (argv[0] included) up to configure, with stdout and stderr
 * captured; returns configure's result and sets *code to yard_program_end's. *out and *err
 * get what was printed (caller frees). */
static int
s_run(int argc, char **argv, s_opts_t *opts, s_section_t *sec, int *code, char **out, char **err)
{
    yh_capture_t cap[2];
    yh_capture_start(&cap[0], STDOUT_FILENO);
    yh_capture_start(&cap[1], STDERR_FILENO);
    yard_program_t *p = yard_program_new(&s_def, argc, argv);
    yard_program_options(p, "options:", s_table, NULL, opts);
    yard_program_options(p, "section thing:", s_section_table, "thing", sec);
    int rc = yard_program_configure(p);
    *code = yard_program_end(&p);
    assert_null(p);
    *err = yh_capture_end(&cap[1], NULL);
    *out = yh_capture_end(&cap[0], NULL);
    return rc;
}

static void
s_assert_has(const char *text, const char *want)
{
    if (strstr(text, want) == NULL) {
        fail_msg("expected \"%s\" in \"%s\"", want, text);
    }
}

static void
test_help(void **state)
{
    (void)state;
    s_opts_t o = {0};
    s_section_t s = {0};
    int code = -1;
    char *out, *err;
    char *argv[] = {"yard-test", "--queue", "5", "--help", NULL};
    assert_int_equal(s_run(4, argv, &o, &s, &code, &out, &err), 1);
    assert_int_equal(code, 0);
    s_assert_has(out, "usage: yard-test [--config FILE]");
    s_assert_has(out, "options:\n");
    s_assert_has(out, "--bind <text>");
    s_assert_has(out, "--password <secret>");
    s_assert_has(out, "section thing:\n");
    s_assert_has(out, "YARD_THING_THREADS");
    s_assert_has(out, "KEY_file");
    assert_string_equal(err, "");
    assert_int_equal(o.queue, 0); /* help applies nothing */
    free(out);
    free(err);
}

static void
test_config_flags_aliases_level(void **state)
{
    fixture_t *f = *state;
    yh_write_file(f->config, "queue: 7\nlog_level: debug\nthing:\n  threads: 3\n");
    setenv("YARD_CONFIG", f->config, 1);
    s_opts_t o = {0};
    s_section_t s = {0};
    int code = -1;
    char *out, *err;
    char *argv[] = {"yard-test", "--no-tap", "--threads=4", "--bind", "tcp://x:1", NULL};
    assert_int_equal(s_run(5, argv, &o, &s, &code, &out, &err), 0);
    assert_int_equal(code, 0);
    assert_int_equal(o.queue, 7);                  /* YARD_CONFIG's file */
    assert_false(o.tap);                           /* the alias */
    assert_int_equal(s.threads, 4);                /* the flag went to the table that has it */
    assert_string_equal(o.bind, "tcp://x:1");      /* the other table's flag */
    assert_true(yard_log_enabled(YARD_LOG_DEBUG)); /* log_level applied */
    s_assert_has(err, "\"msg\":\"option\",\"section\":\"thing\",\"key\":\"threads\""); /* debug */
    yard_options_free(s_table, &o);
    free(out);
    free(err);

    /* --config beats YARD_CONFIG; an empty one means none. */
    char *argv2[] = {"yard-test", "--config=", NULL};
    assert_int_equal(s_run(2, argv2, &o, &s, &code, &out, &err), 0);
    assert_int_equal(o.queue, 10);
    yard_options_free(s_table, &o);
    free(out);
    free(err);
}

static void
test_errors_and_exit_codes(void **state)
{
    fixture_t *f = *state;
    s_opts_t o = {0};
    s_section_t s = {0};
    int code = -1;
    char *out, *err;

    /* A bad key in the file: exit 2, the error names file:line, after the program's name. */
    yh_write_file(f->config, "queue: 7\nqueeu: 8\n");
    char *argv[] = {"yard-test", "--config", f->config, NULL};
    assert_int_equal(s_run(3, argv, &o, &s, &code, &out, &err), 1);
    assert_int_equal(code, 2);
    char want[600];
    snprintf(want, sizeof want, "yard-test: %s:2: unknown key 'queeu' at the top level", f->config);
    s_assert_has(err, want);
    yard_options_free(s_table, &o);
    free(out);
    free(err);

    /* --config without a name, an unknown flag, a bad log level, a missing file. */
    const struct {
        char *arg;
        const char *want;
    } cases[] = {
        {"--config", "yard-test: --config: missing file name"},
        {"--nope", "yard-test: --nope: unknown flag (see --help)"},
        {"--log-level=loud", "yard-test: log_level: 'loud' is not debug"},
        {"--config=/no/such/yard.yaml", "yard-test: /no/such/yard.yaml: cannot open"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *args[] = {"yard-test", cases[i].arg, NULL};
        assert_int_equal(s_run(2, args, &o, &s, &code, &out, &err), 1);
        assert_int_equal(code, 2);
        s_assert_has(err, cases[i].want);
        yard_options_free(s_table, &o);
        free(out);
        free(err);
    }
}

static void
test_fail_and_wait(void **state)
{
    (void)state;
    char *argv[] = {"yard-test", NULL};
    yard_program_t *p = yard_program_new(&s_def, 1, argv);
    assert_int_equal(yard_program_configure(p), 0);
    /* The first failure wins: a start failure is 1, a config failure 2. */
    assert_int_equal(yard_program_fail(p, YARD_E_IO, "cannot bind"), YARD_E_IO);
    yard_program_fail(p, YARD_E_CONFIG, "later");
    fflush(stderr);
    int saved = dup(2);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    close(null);
    assert_int_equal(yard_program_end(&p), 1);
    dup2(saved, 2);
    close(saved);

    /* The wait returns the signal that came: SIGTERM is blocked by yard_program_new, so one
     * raised before the wait is pending and taken by it. */
    p = yard_program_new(&s_def, 1, argv);
    assert_int_equal(yard_program_configure(p), 0);
    int flags = 0;
    char **rest = yard_program_flags(p, &flags);
    assert_non_null(rest);
    assert_int_equal(flags, 0);
    assert_null(yard_program_config(p));
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    assert_int_equal(yard_program_wait(p), SIGTERM);
    assert_int_equal(yard_program_end(&p), 0);
    assert_int_equal(yard_program_end(&p), 0); /* NULL: nothing */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_flags_aliases_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_and_exit_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_and_wait, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
