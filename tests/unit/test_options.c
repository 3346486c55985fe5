/* Options: a table fills a struct from defaults, the YAML file, the environment and flags, in
 * that order of priority; every error names where the bad value came from. Read as the usage
 * example of yard/options.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <unistd.h>

#include "capture.h"
#include "harness.h"
#include "yard/error.h"
#include "yard/actor.h"
#include "yard/log.h"
#include "yard/options.h"

typedef struct {
    char *name;
    int64_t replicas;
    bool verbose;
    uint32_t heartbeat_ms;
    uint64_t max_body;
} echo_opts_t;

static const yard_option_t s_table[] = {
    {"name", YARD_OPT_STRING, "echo", offsetof(echo_opts_t, name), "service name", 0, 0, 0},
    {"replicas", YARD_OPT_INT, "1", offsetof(echo_opts_t, replicas), "replica threads", 1, 64, 0},
    {"verbose", YARD_OPT_BOOL, "false", offsetof(echo_opts_t, verbose), "log every request", 0, 0,
     0},
    {"heartbeat_ms", YARD_OPT_MS, "2500", offsetof(echo_opts_t, heartbeat_ms), "heartbeat interval",
     10, 600000, 0},
    {"max_body", YARD_OPT_SIZE, "1MiB", offsetof(echo_opts_t, max_body), "largest body", 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

typedef struct {
    char *dir;
    char *path;
} fixture_t;

static const char *const s_env_vars[] = {
    "YARD_ECHO_NAME",
    "YARD_ECHO_REPLICAS",
    "YARD_ECHO_VERBOSE",
    "YARD_ECHO_HEARTBEAT_MS",
    "YARD_ECHO_MAX_BODY",
    "YARD_HEARTBEAT_MS",
    "YARD_REPLICAS",
    "YARD_ECHO_NAME_FILE",
    "YARD_TG_TOKEN",
    "YARD_TG_TOKEN_FILE",
    "YARD_TG_STORE",
    "YARD_TG_STORE_FILE",
    "YARD_TG_USER",
    "YARD_TG_USER_FILE",
    "YARD_ECHO_HEARTBEAT_MS_FILE",
    NULL,
};

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->dir = yh_tmpdir();
    assert_non_null(f->dir);
    size_t n = strlen(f->dir) + 16;
    f->path = malloc(n);
    snprintf(f->path, n, "%s/yard.yaml", f->dir);
    for (size_t i = 0; s_env_vars[i] != NULL; i++) {
        unsetenv(s_env_vars[i]);
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    for (size_t i = 0; s_env_vars[i] != NULL; i++) {
        unsetenv(s_env_vars[i]);
    }
    yh_rmtree(f->dir);
    free(f->dir);
    free(f->path);
    free(f);
    return 0;
}

static yard_config_t *
s_load(fixture_t *f, const char *text)
{
    yh_write_file(f->path, text);
    yard_config_t *cfg = NULL;
    char err[256] = "";
    int rc = yard_config_load(f->path, &cfg, err, sizeof err);
    if (rc != 0) {
        fail_msg("load failed: %s", err);
    }
    return cfg;
}

/* Asserts that err contains want. */
static void
s_assert_has(const char *err, const char *want)
{
    if (strstr(err, want) == NULL) {
        fail_msg("expected \"%s\" in \"%s\"", want, err);
    }
}

static void
test_defaults(void **state)
{
    (void)state;
    echo_opts_t o = {0};
    char err[256] = "";
    assert_int_equal(yard_options_apply(s_table, &o, NULL, "echo", 0, NULL, err, sizeof err), 0);
    assert_string_equal(o.name, "echo");
    assert_int_equal(o.replicas, 1);
    assert_false(o.verbose);
    assert_int_equal(o.heartbeat_ms, 2500);
    assert_int_equal(o.max_body, 1024 * 1024);
    yard_options_free(s_table, &o);
    assert_null(o.name);
}

static void
test_precedence(void **state)
{
    fixture_t *f = *state;
    yard_config_t *cfg = s_load(f, "heartbeat_ms: 1s\n"
                                   "echo:\n"
                                   "  name: from-file\n"
                                   "  replicas: 2\n"
                                   "  heartbeat_ms: 3s\n"
                                   "  max_body: 64KiB\n");
    echo_opts_t o = {0};
    char err[256] = "";

    /* file over defaults */
    assert_int_equal(yard_options_apply(s_table, &o, cfg, "echo", 0, NULL, err, sizeof err), 0);
    assert_string_equal(o.name, "from-file");
    assert_int_equal(o.replicas, 2);
    assert_int_equal(o.heartbeat_ms, 3000);
    assert_int_equal(o.max_body, 65536);

    /* environment over file */
    setenv("YARD_ECHO_REPLICAS", "3", 1);
    setenv("YARD_ECHO_NAME", "from-env", 1);
    assert_int_equal(yard_options_apply(s_table, &o, cfg, "echo", 0, NULL, err, sizeof err), 0);
    assert_string_equal(o.name, "from-env");
    assert_int_equal(o.replicas, 3);
    assert_int_equal(o.heartbeat_ms, 3000);

    /* flags over environment; both flag forms; the last repeat wins */
    char *argv[] = {"--replicas",   "4",        "--name=from-flag", "--heartbeat-ms", "1500ms",
                    "--replicas=5", "--verbose"};
    assert_int_equal(yard_options_apply(s_table, &o, cfg, "echo", 7, argv, err, sizeof err), 0);
    assert_string_equal(o.name, "from-flag");
    assert_int_equal(o.replicas, 5);
    assert_int_equal(o.heartbeat_ms, 1500);
    assert_true(o.verbose);
    assert_int_equal(o.max_body, 65536);

    /* the top level is a different namespace: YARD_<KEY>, top-level keys */
    echo_opts_t top = {0};
    setenv("YARD_REPLICAS", "7", 1);
    assert_int_equal(yard_options_apply(s_table, &top, cfg, NULL, 0, NULL, err, sizeof err), 0);
    assert_int_equal(top.heartbeat_ms, 1000);
    assert_int_equal(top.replicas, 7);
    assert_string_equal(top.name, "echo");

    yard_options_free(s_table, &o);
    yard_options_free(s_table, &top);
    yard_config_destroy(&cfg);
    assert_null(cfg);
}

/* Applies one flag value and returns the rc; err receives the message. */
static int
s_flag(const char *flag, const char *value, echo_opts_t *o, char *err, size_t errlen)
{
    char *argv[] = {(char *)flag, (char *)value};
    return yard_options_apply(s_table, o, NULL, "echo", 2, argv, err, errlen);
}

static void
test_ms_values(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint32_t ms;
    } good[] = {{"1500", 1500},  {"1500ms", 1500}, {"2s", 2000},  {"1m", 60000},
                {"10m", 600000}, {"10 s", 10000},  {"100MS", 100}};
    char err[256];
    echo_opts_t o = {0};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(s_flag("--heartbeat-ms", good[i].text, &o, err, sizeof err), 0);
        assert_int_equal(o.heartbeat_ms, good[i].ms);
    }
    static const char *const bad[] = {"abc", "-5", "2x", "1.5s", "", "s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(s_flag("--heartbeat-ms", bad[i], &o, err, sizeof err), YARD_E_CONFIG);
        s_assert_has(err, "--heartbeat-ms");
        s_assert_has(err, "invalid duration");
    }
    /* range: [10, 600000] ms; 1h is out */
    assert_int_equal(s_flag("--heartbeat-ms", "1h", &o, err, sizeof err), YARD_E_CONFIG);
    s_assert_has(err, "out of range [10, 600000] ms");
    assert_int_equal(s_flag("--heartbeat-ms", "5", &o, err, sizeof err), YARD_E_CONFIG);
    s_assert_has(err, "out of range");
    assert_int_equal(s_flag("--heartbeat-ms", "99999999999", &o, err, sizeof err), YARD_E_CONFIG);
    s_assert_has(err, "too large");
    yard_options_free(s_table, &o);
}

/* Long intervals (a DNS refresh every 25 days) and compound forms, through the same parser
 * every option and structured key uses. */
/* A secret inside a structured list: key or key_file, the KEY_file rules, file:line errors
 * that never show the value, and the value registered with the logger. */
static void
test_node_secret(void **state)
{
    fixture_t *f = *state;
    char tok[600], empty[600], text[2048];
    snprintf(tok, sizeof tok, "%s/tok", f->dir);
    snprintf(empty, sizeof empty, "%s/empty", f->dir);
    yh_write_file(tok, "s3cr3t-from-file\n");
    yh_write_file(empty, "\n");
    snprintf(text, sizeof text,
             "dns:\n"
             "  records:\n"
             "    - {name: a, token_file: %s}\n" /* 3 */
             "    - {name: b, token: inline-s3cr3t}\n"
             "    - {name: c}\n"
             "    - {name: d, token: x, token_file: %s}\n" /* 6 */
             "    - {name: e, token_file: %s}\n"           /* 7 */
             "    - {name: f, token_file: /nonexistent/yard}\n",
             tok, tok, empty);
    yard_config_t *cfg = s_load(f, text);
    yard_config_node_t recs = yard_config_node(cfg, "dns.records");
    char err[512] = "";
    char *out = NULL;
    assert_int_equal(
        yard_config_node_secret(yard_config_node_item(recs, 0), "token", &out, err, sizeof err), 0);
    assert_string_equal(out, "s3cr3t-from-file");
    free(out);
    assert_int_equal(
        yard_config_node_secret(yard_config_node_item(recs, 1), "token", &out, err, sizeof err), 0);
    assert_string_equal(out, "inline-s3cr3t");
    free(out);
    assert_int_equal(
        yard_config_node_secret(yard_config_node_item(recs, 2), "token", &out, err, sizeof err), 0);
    assert_null(out);
    assert_int_equal(
        yard_config_node_secret(yard_config_node_item(recs, 3), "token", &out, err, sizeof err),
        YARD_E_CONFIG);
    s_assert_has(err, ":6: give token or token_file, not both");
    assert_int_equal(
        yard_config_node_secret(yard_config_node_item(recs, 4), "token", &out, err, sizeof err),
        YARD_E_CONFIG);
    s_assert_has(err, ":7: token_file: ");
    s_assert_has(err, "is empty");
    assert_int_equal(
        yard_config_node_secret(yard_config_node_item(recs, 5), "token", &out, err, sizeof err),
        YARD_E_CONFIG);
    s_assert_has(err, "cannot read '/nonexistent/yard'");
    assert_null(strstr(err, "s3cr3t"));
    yard_config_destroy(&cfg);
}

static void
test_ms_compound_and_days(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint32_t ms;
    } good[] = {{"1h30m", 5400000},  {"25d", 2160000000u}, {"1m30s", 90000},
                {"1h 30m", 5400000}, {"2d12h", 216000000}, {"1s500ms", 1500}};
    char err[256];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint32_t v = 0;
        assert_int_equal(yard_option_parse(YARD_OPT_MS, good[i].text, &v, err, sizeof err), 0);
        assert_int_equal(v, good[i].ms);
    }
    static const char *const bad[] = {"5m3", "1h30", "d", "1x30m", "30m-"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t v = 0;
        assert_int_equal(yard_option_parse(YARD_OPT_MS, bad[i], &v, err, sizeof err),
                         YARD_E_CONFIG);
        s_assert_has(err, "invalid duration");
    }
    uint32_t v = 0;
    assert_int_equal(yard_option_parse(YARD_OPT_MS, "50d", &v, err, sizeof err), YARD_E_CONFIG);
    s_assert_has(err, "too large");
}

static void
test_size_values(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t bytes;
    } good[] = {{"65536", 65536},     {"512B", 512}, {"64KiB", 65536},          {"1MiB", 1048576},
                {"1GiB", 1073741824}, {"2k", 2048},  {"1TiB", 1099511627776ULL}};
    char err[256];
    echo_opts_t o = {0};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(s_flag("--max-body", good[i].text, &o, err, sizeof err), 0);
        assert_int_equal(o.max_body, good[i].bytes);
    }
    static const char *const bad[] = {"lots", "1KB", "-1", "1.5MiB", "12 parsecs"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(s_flag("--max-body", bad[i], &o, err, sizeof err), YARD_E_CONFIG);
        s_assert_has(err, "--max-body");
        s_assert_has(err, "invalid size");
    }
    assert_int_equal(s_flag("--max-body", "99999999999TiB", &o, err, sizeof err), YARD_E_CONFIG);
    s_assert_has(err, "too large");
    yard_options_free(s_table, &o);
}

static void
test_bool_and_int_values(void **state)
{
    (void)state;
    char err[256];
    echo_opts_t o = {0};
    static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
    static const char *const no[] = {"false", "no", "off", "0", "False"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        o.verbose = false;
        assert_int_equal(s_flag("--verbose", yes[i], &o, err, sizeof err), 0);
        assert_true(o.verbose);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        o.verbose = true;
        assert_int_equal(s_flag("--verbose", no[i], &o, err, sizeof err), 0);
        assert_false(o.verbose);
    }
    assert_int_equal(s_flag("--verbose", "maybe", &o, err, sizeof err), YARD_E_CONFIG);
    s_assert_has(err, "--verbose: invalid boolean 'maybe'");

    assert_int_equal(s_flag("--replicas", "64", &o, err, sizeof err), 0);
    assert_int_equal(o.replicas, 64);
    assert_int_equal(s_flag("--replicas", "three", &o, err, sizeof err), YARD_E_CONFIG);
    s_assert_has(err, "--replicas: invalid integer 'three'");
    assert_int_equal(s_flag("--replicas", "65", &o, err, sizeof err), YARD_E_CONFIG);
    s_assert_has(err, "--replicas: 65 is out of range [1, 64]");
    assert_int_equal(s_flag("--replicas", "0", &o, err, sizeof err), YARD_E_CONFIG);
    assert_int_equal(s_flag("--replicas", "99999999999999999999", &o, err, sizeof err),
                     YARD_E_CONFIG);
    yard_options_free(s_table, &o);
}

static void
test_flag_errors(void **state)
{
    (void)state;
    char err[256];
    echo_opts_t o = {0};
    char *unknown[] = {"--replcas", "3"};
    assert_int_equal(yard_options_apply(s_table, &o, NULL, "echo", 2, unknown, err, sizeof err),
                     YARD_E_CONFIG);
    s_assert_has(err, "--replcas: unknown flag");
    char *missing[] = {"--replicas"};
    assert_int_equal(yard_options_apply(s_table, &o, NULL, "echo", 1, missing, err, sizeof err),
                     YARD_E_CONFIG);
    s_assert_has(err, "--replicas: missing value");
    char *stray[] = {"replicas=3"};
    assert_int_equal(yard_options_apply(s_table, &o, NULL, "echo", 1, stray, err, sizeof err),
                     YARD_E_CONFIG);
    s_assert_has(err, "'replicas=3'");
    yard_options_free(s_table, &o);
}

static void
test_env_errors(void **state)
{
    (void)state;
    char err[256];
    echo_opts_t o = {0};
    setenv("YARD_ECHO_HEARTBEAT_MS", "soon", 1);
    assert_int_equal(yard_options_apply(s_table, &o, NULL, "echo", 0, NULL, err, sizeof err),
                     YARD_E_CONFIG);
    s_assert_has(err, "YARD_ECHO_HEARTBEAT_MS: invalid duration 'soon'");
    unsetenv("YARD_ECHO_HEARTBEAT_MS");
    setenv("YARD_ECHO_REPLICAS", "100", 1);
    assert_int_equal(yard_options_apply(s_table, &o, NULL, "echo", 0, NULL, err, sizeof err),
                     YARD_E_CONFIG);
    s_assert_has(err, "YARD_ECHO_REPLICAS: 100 is out of range [1, 64]");
    yard_options_free(s_table, &o);
}

static void
test_file_errors(void **state)
{
    fixture_t *f = *state;
    char err[256];
    char want[512];
    echo_opts_t o = {0};

    /* unknown key in a section, with its line */
    yard_config_t *cfg = s_load(f, "broker: tcp://127.0.0.1:5555\n"
                                   "echo:\n"
                                   "  replcas: 3\n");
    assert_int_equal(yard_config_check_section(cfg, s_table, "echo", err, sizeof err),
                     YARD_E_CONFIG);
    snprintf(want, sizeof want, "%s:3: unknown key 'replcas' in section 'echo'", f->path);
    s_assert_has(err, want);
    s_assert_has(err, "did you mean 'replicas'?");
    assert_int_equal(yard_options_apply(s_table, &o, cfg, "echo", 0, NULL, err, sizeof err),
                     YARD_E_CONFIG);
    s_assert_has(err, want);
    /* the top level is fine: a known key and an actor's map */
    assert_int_equal(yard_config_check_section(cfg, NULL, NULL, err, sizeof err), 0);
    assert_true(yard_config_has_section(cfg, "echo"));
    assert_false(yard_config_has_section(cfg, "broker"));
    assert_false(yard_config_has_section(cfg, "nope"));
    yard_config_destroy(&cfg);

    /* unknown top-level scalar key */
    cfg = s_load(f, "# shared config\n"
                    "log_level: info\n"
                    "hearbeat_ms: 100\n");
    assert_int_equal(yard_config_check_section(cfg, NULL, NULL, err, sizeof err), YARD_E_CONFIG);
    snprintf(want, sizeof want, "%s:3: unknown key 'hearbeat_ms' at the top level", f->path);
    s_assert_has(err, want);
    s_assert_has(err, "did you mean 'heartbeat_ms'?");
    yard_config_destroy(&cfg);

    /* bad value in the file: file, line, key and reason */
    cfg = s_load(f, "echo:\n"
                    "  replicas: 2\n"
                    "  heartbeat_ms: soon\n");
    assert_int_equal(yard_options_apply(s_table, &o, cfg, "echo", 0, NULL, err, sizeof err),
                     YARD_E_CONFIG);
    snprintf(want, sizeof want, "%s:3: echo.heartbeat_ms: invalid duration 'soon'", f->path);
    s_assert_has(err, want);
    yard_config_destroy(&cfg);

    /* a list where a value belongs */
    cfg = s_load(f, "echo:\n"
                    "  replicas: [1, 2]\n");
    assert_int_equal(yard_options_apply(s_table, &o, cfg, "echo", 0, NULL, err, sizeof err),
                     YARD_E_CONFIG);
    snprintf(want, sizeof want, "%s:2: echo.replicas: expected a single value", f->path);
    s_assert_has(err, want);
    yard_config_destroy(&cfg);

    /* a section that is not a map */
    cfg = s_load(f, "echo: 3\n");
    assert_int_equal(yard_options_apply(s_table, &o, cfg, "echo", 0, NULL, err, sizeof err),
                     YARD_E_CONFIG);
    s_assert_has(err, "section 'echo' must be a map");
    yard_config_destroy(&cfg);

    /* YAML syntax error, duplicate key, missing file */
    yh_write_file(f->path, "echo:\n  replicas: 2\n bad: [\n");
    assert_int_equal(yard_config_load(f->path, &cfg, err, sizeof err), YARD_E_CONFIG);
    assert_null(cfg);
    snprintf(want, sizeof want, "%s:", f->path);
    s_assert_has(err, want);
    yh_write_file(f->path, "echo:\n  replicas: 2\n  replicas: 3\n");
    assert_int_equal(yard_config_load(f->path, &cfg, err, sizeof err), YARD_E_CONFIG);
    snprintf(want, sizeof want, "%s:3: duplicate key 'replicas' (first at line 2)", f->path);
    s_assert_has(err, want);
    assert_int_equal(yard_config_load("/nonexistent/yard.yaml", &cfg, err, sizeof err), YARD_E_IO);
    s_assert_has(err, "/nonexistent/yard.yaml: cannot open");
    /* an alias that contains itself: refused, not a stack overflow (found by fuzz_config) */
    yh_write_file(f->path, "&x [t: *x]\n");
    assert_int_equal(yard_config_load(f->path, &cfg, err, sizeof err), YARD_E_CONFIG);
    assert_null(cfg);
    s_assert_has(err, f->path);

    /* an empty file is an empty config; a null value keeps the default */
    cfg = s_load(f, "");
    assert_int_equal(yard_options_apply(s_table, &o, cfg, "echo", 0, NULL, err, sizeof err), 0);
    assert_string_equal(yard_config_path(cfg), f->path);
    yard_config_destroy(&cfg);
    cfg = s_load(f, "echo:\n  replicas:\n");
    assert_int_equal(yard_options_apply(s_table, &o, cfg, "echo", 0, NULL, err, sizeof err), 0);
    assert_int_equal(o.replicas, 1);
    yard_config_destroy(&cfg);
    yard_options_free(s_table, &o);
}

static void
test_known_keys(void **state)
{
    (void)state;
    /* Every key a program reads at the top level must be on the list, or a shared file that
     * sets it would be refused. (The broker's table is checked the same way in its tests.) */
    for (const yard_option_t *o = yard_actor_common_options; o->key; o++) {
        assert_true(yard_config_known_key(o->key));
    }
    assert_true(yard_config_known_key("config"));
    assert_true(yard_config_known_key("bind"));
    /* An actor's own scale lives in its section; at the top level it would apply to nobody. */
    for (const yard_option_t *o = yard_actor_section_options; o->key; o++) {
        assert_false(yard_config_known_key(o->key));
    }
    assert_false(yard_config_known_key("replcas"));
    assert_false(yard_config_known_key("echo"));
    assert_false(yard_config_known_key(NULL));
}

static void
test_help(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    yard_options_help(s_table, "echo", out);
    fclose(out);

    s_assert_has(text, "--heartbeat-ms <duration>");
    s_assert_has(text, "YARD_ECHO_HEARTBEAT_MS");
    s_assert_has(text, "2500");
    s_assert_has(text, "heartbeat interval [10, 600000] ms");
    s_assert_has(text, "--max-body <size>");
    s_assert_has(text, "1MiB");
    s_assert_has(text, "YARD_ECHO_VERBOSE");

    /* aligned: the environment column starts at the same offset on every line */
    long col = -1;
    int lines = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char *env = strstr(line, "YARD_ECHO_");
        if (env == NULL) {
            env = strstr(line, "ENVIRONMENT");
        }
        assert_non_null(env);
        if (col < 0) {
            col = env - line;
        }
        assert_int_equal(env - line, col);
        lines++;
    }
    assert_int_equal(lines, 6); /* header + five options */
    free(text);

    /* the top level names YARD_<KEY> */
    text = NULL;
    out = open_memstream(&text, &len);
    yard_options_help(s_table, NULL, out);
    fclose(out);
    s_assert_has(text, "YARD_HEARTBEAT_MS");
    free(text);
}

/* Structured config: a module declares its list/map key as YARD_OPT_NODE and walks it with the
 * node API, reporting errors with the lines the nodes carry. */
typedef struct {
    int64_t threads;
} gw_opts_t;

static const yard_option_t s_gw_table[] = {
    {"threads", YARD_OPT_INT, "4", offsetof(gw_opts_t, threads), "HTTP threads", 1, 64, 0},
    {"routes", YARD_OPT_NODE, NULL, 0, "route table", 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

static void
test_nodes(void **state)
{
    fixture_t *f = *state;
    yard_config_t *cfg = s_load(f, "gateway:\n"                                  /* 1 */
                                   "  threads: 2\n"                              /* 2 */
                                   "  routes:\n"                                 /* 3 */
                                   "    - method: GET\n"                         /* 4 */
                                   "      path: /v1/users/{id}\n"                /* 5 */
                                   "      scopes: [a, b]\n"                      /* 6 */
                                   "    - {path: /v1/x, service: x, bogus: 1}\n" /* 7 */
                                   "  empty:\n");                                /* 8 */
    yard_config_node_t routes = yard_config_node(cfg, "gateway.routes");
    assert_int_equal(yard_config_node_kind(routes), YARD_CONFIG_LIST);
    assert_int_equal(yard_config_node_line(routes), 4);
    assert_int_equal(yard_config_node_len(routes), 2);

    yard_config_node_t r0 = yard_config_node_item(routes, 0);
    assert_int_equal(yard_config_node_kind(r0), YARD_CONFIG_MAP);
    assert_int_equal(yard_config_node_len(r0), 3);
    yard_config_node_t path = yard_config_node_get(r0, "path");
    assert_int_equal(yard_config_node_kind(path), YARD_CONFIG_SCALAR);
    assert_string_equal(yard_config_node_text(path), "/v1/users/{id}");
    assert_int_equal(yard_config_node_line(path), 5);
    yard_config_node_t scopes = yard_config_node_get(r0, "scopes");
    assert_int_equal(yard_config_node_kind(scopes), YARD_CONFIG_LIST);
    assert_string_equal(yard_config_node_text(yard_config_node_item(scopes, 1)), "b");
    assert_null(yard_config_node_text(scopes)); /* not a scalar */

    /* iterate keys with lines: how a module refuses an unknown key with file:line */
    yard_config_node_t r1 = yard_config_node_item(routes, 1);
    const char *unknown = NULL;
    int unknown_line = 0;
    for (size_t i = 0; i < yard_config_node_len(r1); i++) {
        yard_config_node_t value;
        int line;
        const char *key = yard_config_node_key(r1, i, &value, &line);
        assert_non_null(key);
        assert_int_equal(yard_config_node_kind(value), YARD_CONFIG_SCALAR);
        if (strcmp(key, "path") != 0 && strcmp(key, "service") != 0) {
            unknown = key;
            unknown_line = line;
        }
    }
    assert_string_equal(unknown, "bogus");
    assert_int_equal(unknown_line, 7);
    assert_null(yard_config_node_key(r1, 3, NULL, NULL));

    /* absent nodes chain without checks */
    yard_config_node_t none = yard_config_node(cfg, "gateway.cors.origins");
    assert_int_equal(yard_config_node_kind(none), YARD_CONFIG_ABSENT);
    assert_int_equal(yard_config_node_line(none), 0);
    assert_int_equal(yard_config_node_len(none), 0);
    assert_int_equal(yard_config_node_kind(yard_config_node_get(none, "x")), YARD_CONFIG_ABSENT);
    assert_int_equal(yard_config_node_kind(yard_config_node_item(routes, 2)), YARD_CONFIG_ABSENT);
    assert_int_equal(yard_config_node_kind(yard_config_node_item(r0, 0)), YARD_CONFIG_ABSENT);
    assert_int_equal(yard_config_node_kind(yard_config_node(cfg, "gateway.threads.x")),
                     YARD_CONFIG_ABSENT);
    assert_int_equal(yard_config_node_kind(yard_config_node(NULL, "gateway")), YARD_CONFIG_ABSENT);
    yard_config_node_t empty = yard_config_node(cfg, "gateway.empty");
    assert_int_equal(yard_config_node_kind(empty), YARD_CONFIG_NULL);
    assert_string_equal(yard_config_node_text(empty), "");
    assert_int_equal(yard_config_node_kind(yard_config_node(cfg, NULL)), YARD_CONFIG_MAP);
    yard_config_destroy(&cfg);
}

static void
test_node_option(void **state)
{
    fixture_t *f = *state;
    /* A NODE entry makes the section check accept the key; apply leaves it to the module. */
    yard_config_t *cfg = s_load(f, "gateway:\n"
                                   "  threads: 2\n"
                                   "  routes:\n"
                                   "    - {path: /a, service: a}\n");
    gw_opts_t o = {0};
    char err[256] = "";
    assert_int_equal(yard_options_apply(s_gw_table, &o, cfg, "gateway", 0, NULL, err, sizeof err),
                     0);
    assert_int_equal(o.threads, 2);
    /* no flag and no environment variable for a structured key */
    setenv("YARD_GATEWAY_ROUTES", "x", 1);
    char *argv[] = {"--routes", "x"};
    assert_int_equal(yard_options_apply(s_gw_table, &o, cfg, "gateway", 2, argv, err, sizeof err),
                     YARD_E_CONFIG);
    s_assert_has(err, "--routes: unknown flag");
    assert_int_equal(yard_options_apply(s_gw_table, &o, cfg, "gateway", 0, NULL, err, sizeof err),
                     0);
    unsetenv("YARD_GATEWAY_ROUTES");
    yard_config_destroy(&cfg);

    /* a key the table does not declare is still refused with its line */
    cfg = s_load(f, "gateway:\n"
                    "  routes: []\n"
                    "  cors: {}\n");
    assert_int_equal(yard_config_check_section(cfg, s_gw_table, "gateway", err, sizeof err),
                     YARD_E_CONFIG);
    s_assert_has(err, "yard.yaml:3: unknown key 'cors' in section 'gateway'");
    yard_config_destroy(&cfg);

    /* duplicate keys inside a map inside a list are refused at load, with both lines */
    yh_write_file(f->path, "gateway:\n"
                           "  routes:\n"
                           "    - path: /a\n"
                           "      path: /b\n");
    assert_int_equal(yard_config_load(f->path, &cfg, err, sizeof err), YARD_E_CONFIG);
    s_assert_has(err, "yard.yaml:4: duplicate key 'path' (first at line 3)");
    assert_null(cfg);

    /* --help lists it without flag or variable */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    yard_options_help(s_gw_table, "gateway", out);
    fclose(out);
    s_assert_has(text, "routes:");
    s_assert_has(text, "(structured, see docs)");
    s_assert_has(text, "route table");
    assert_null(strstr(text, "--routes"));
    assert_null(strstr(text, "YARD_GATEWAY_ROUTES"));
    free(text);
}

static void
test_option_parse(void **state)
{
    (void)state;
    char err[256] = "";
    uint32_t ms = 0;
    assert_int_equal(yard_option_parse(YARD_OPT_MS, "2s", &ms, err, sizeof err), 0);
    assert_int_equal(ms, 2000);
    assert_int_equal(yard_option_parse(YARD_OPT_MS, "2 days", &ms, err, sizeof err), YARD_E_CONFIG);
    s_assert_has(err, "invalid duration '2 days'");
    assert_int_equal(ms, 2000); /* untouched on failure */
    uint64_t size = 0;
    assert_int_equal(yard_option_parse(YARD_OPT_SIZE, "64KiB", &size, err, sizeof err), 0);
    assert_int_equal(size, 65536);
    assert_int_equal(yard_option_parse(YARD_OPT_SIZE, "lots", &size, err, sizeof err),
                     YARD_E_CONFIG);
    s_assert_has(err, "invalid size");
    int64_t n = 0;
    assert_int_equal(yard_option_parse(YARD_OPT_INT, "-42", &n, err, sizeof err), 0);
    assert_int_equal(n, -42);
    assert_int_equal(yard_option_parse(YARD_OPT_INT, "4x", &n, err, sizeof err), YARD_E_CONFIG);
    bool b = false;
    assert_int_equal(yard_option_parse(YARD_OPT_BOOL, "yes", &b, err, sizeof err), 0);
    assert_true(b);
    assert_int_equal(yard_option_parse(YARD_OPT_BOOL, "maybe", &b, err, sizeof err), YARD_E_CONFIG);
    s_assert_has(err, "invalid boolean 'maybe'");
    char *str = NULL;
    assert_int_equal(yard_option_parse(YARD_OPT_STRING, "hi", &str, err, sizeof err), 0);
    assert_string_equal(str, "hi");
    free(str);
    assert_int_equal(yard_option_parse(YARD_OPT_NODE, "x", &n, err, sizeof err), YARD_E_CONFIG);
    assert_int_equal(yard_option_parse(YARD_OPT_INT, NULL, &n, err, sizeof err), YARD_E_CONFIG);
}

/* Secrets and files: an actor with an API token (secret, required), a store URL whose
 * password is secret, and a plain setting. */
typedef struct {
    char *token;
    char *store;
    char *user;
} tg_opts_t;

static const yard_option_t s_tg_table[] = {
    {"token", YARD_OPT_STRING, NULL, offsetof(tg_opts_t, token), "bot token", 0, 0,
     YARD_OPT_SECRET | YARD_OPT_REQUIRED},
    {"store", YARD_OPT_STRING, "memory", offsetof(tg_opts_t, store), "state store", 0, 0,
     YARD_OPT_SECRET_URL},
    {"user", YARD_OPT_STRING, "bot", offsetof(tg_opts_t, user), "bot name", 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

/* Writes text (len bytes) to <dir>/<name> and returns the path (caller frees). */
static char *
s_file(fixture_t *f, const char *name, const char *text, size_t len)
{
    size_t n = strlen(f->dir) + strlen(name) + 2;
    char *path = malloc(n);
    snprintf(path, n, "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    fclose(fp);
    return path;
}

static int
s_apply_tg(yard_config_t *cfg, tg_opts_t *o, int argc, char **argv, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    return yard_options_apply(s_tg_table, o, cfg, "tg", argc, argv, err, errlen);
}

static void
test_value_files(void **state)
{
    fixture_t *f = *state;
    char err[512] = "";
    char yaml[1024];
    tg_opts_t o;
    char *from_file = s_file(f, "token", "file-token-1\n", 13);
    char *from_env = s_file(f, "token.env", "env-token-2\r\n", 13);
    char *from_flag = s_file(f, "token.flag", "flag-token-3", 12);
    char *two_lines = s_file(f, "two", "line\n\n", 6);

    /* KEY_file in the file's section: read at start, the trailing newline dropped. */
    snprintf(yaml, sizeof yaml, "tg:\n  token_file: %s\n", from_file);
    yard_config_t *cfg = s_load(f, yaml);
    assert_int_equal(s_apply_tg(cfg, &o, 0, NULL, err, sizeof err), 0);
    assert_string_equal(o.token, "file-token-1");
    yard_options_free(s_tg_table, &o);

    /* The environment's _FILE beats the file ("\r\n" dropped too); the flag beats both. */
    setenv("YARD_TG_TOKEN_FILE", from_env, 1);
    assert_int_equal(s_apply_tg(cfg, &o, 0, NULL, err, sizeof err), 0);
    assert_string_equal(o.token, "env-token-2");
    yard_options_free(s_tg_table, &o);
    char *flags[] = {"--token-file", from_flag};
    assert_int_equal(s_apply_tg(cfg, &o, 2, flags, err, sizeof err), 0);
    assert_string_equal(o.token, "flag-token-3");
    yard_options_free(s_tg_table, &o);
    char *plain[] = {"--token=inline-4"};
    assert_int_equal(s_apply_tg(cfg, &o, 1, plain, err, sizeof err), 0);
    assert_string_equal(o.token, "inline-4");
    yard_options_free(s_tg_table, &o);
    unsetenv("YARD_TG_TOKEN_FILE");

    /* A plain value in the environment beats the file's KEY_file. */
    setenv("YARD_TG_TOKEN", "env-plain-5", 1);
    assert_int_equal(s_apply_tg(cfg, &o, 0, NULL, err, sizeof err), 0);
    assert_string_equal(o.token, "env-plain-5");
    yard_options_free(s_tg_table, &o);
    unsetenv("YARD_TG_TOKEN");
    yard_config_destroy(&cfg);

    /* Only one newline goes; any option type can come from a file. */
    char *two[] = {"--user-file", two_lines, "--token", "x-token"};
    assert_int_equal(s_apply_tg(NULL, &o, 4, two, err, sizeof err), 0);
    assert_string_equal(o.user, "line\n");
    yard_options_free(s_tg_table, &o);
    char *hb = s_file(f, "hb", "2s\n", 3);
    setenv("YARD_ECHO_HEARTBEAT_MS_FILE", hb, 1);
    echo_opts_t e = {0};
    assert_int_equal(yard_options_apply(s_table, &e, NULL, "echo", 0, NULL, err, sizeof err), 0);
    assert_int_equal(e.heartbeat_ms, 2000);
    yard_options_free(s_table, &e);
    unsetenv("YARD_ECHO_HEARTBEAT_MS_FILE");

    free(from_file);
    free(from_env);
    free(from_flag);
    free(two_lines);
    free(hb);
}

static void
test_value_file_errors(void **state)
{
    fixture_t *f = *state;
    char err[512] = "";
    char yaml[1024];
    char want[1024];
    tg_opts_t o;
    char *empty = s_file(f, "empty", "", 0);
    char *newline = s_file(f, "newline", "\n", 1);
    char *big_text = malloc(YARD_OPT_FILE_MAX + 1);
    memset(big_text, 'a', YARD_OPT_FILE_MAX + 1);
    char *big = s_file(f, "big", big_text, YARD_OPT_FILE_MAX + 1);
    char *max = s_file(f, "max", big_text, YARD_OPT_FILE_MAX);
    free(big_text);
    char *nul = s_file(f, "nul", "ab\0cd", 5);
    char missing[512];
    snprintf(missing, sizeof missing, "%s/no-such-file", f->dir);

    /* A missing file: the file's line, the option and the path, and why. */
    snprintf(yaml, sizeof yaml, "tg:\n  user: x\n  token_file: %s\n", missing);
    yard_config_t *cfg = s_load(f, yaml);
    assert_int_equal(s_apply_tg(cfg, &o, 0, NULL, err, sizeof err), YARD_E_CONFIG);
    snprintf(want, sizeof want, "%s:3: tg.token_file: cannot read '%s': No such file", f->path,
             missing);
    s_assert_has(err, want);
    yard_options_free(s_tg_table, &o);
    yard_config_destroy(&cfg);

    /* Empty (or only a newline), too large, a NUL byte. */
    const char *const bad[][2] = {
        {empty, "is empty"},
        {newline, "is empty"},
        {big, "is larger than 65536 bytes"},
        {nul, "holds a NUL byte"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("YARD_TG_TOKEN_FILE", bad[i][0], 1);
        assert_int_equal(s_apply_tg(NULL, &o, 0, NULL, err, sizeof err), YARD_E_CONFIG);
        snprintf(want, sizeof want, "environment variable YARD_TG_TOKEN_FILE: '%s' %s", bad[i][0],
                 bad[i][1]);
        s_assert_has(err, want);
        yard_options_free(s_tg_table, &o);
    }
    /* Exactly the limit is fine. */
    setenv("YARD_TG_TOKEN_FILE", max, 1);
    assert_int_equal(s_apply_tg(NULL, &o, 0, NULL, err, sizeof err), 0);
    assert_int_equal(strlen(o.token), YARD_OPT_FILE_MAX);
    yard_options_free(s_tg_table, &o);

    /* KEY and KEY_file in one source. */
    setenv("YARD_TG_TOKEN", "also", 1);
    assert_int_equal(s_apply_tg(NULL, &o, 0, NULL, err, sizeof err), YARD_E_CONFIG);
    s_assert_has(err, "YARD_TG_TOKEN and YARD_TG_TOKEN_FILE are both set (use one)");
    yard_options_free(s_tg_table, &o);
    unsetenv("YARD_TG_TOKEN");
    unsetenv("YARD_TG_TOKEN_FILE");
    snprintf(yaml, sizeof yaml, "tg:\n  token: inline\n  token_file: %s\n", max);
    cfg = s_load(f, yaml);
    assert_int_equal(s_apply_tg(cfg, &o, 0, NULL, err, sizeof err), YARD_E_CONFIG);
    snprintf(want, sizeof want, "%s:3: tg.token and token_file are both given (use one)", f->path);
    s_assert_has(err, want);
    assert_null(strstr(err, "inline")); /* the secret's value is not in the error */
    yard_options_free(s_tg_table, &o);
    yard_config_destroy(&cfg);
    char *both[] = {"--token-file", max, "--token", "inline"};
    assert_int_equal(s_apply_tg(NULL, &o, 4, both, err, sizeof err), YARD_E_CONFIG);
    s_assert_has(err, "--token and --token-file are both given (use one)");
    yard_options_free(s_tg_table, &o);

    /* KEY_file is only known for keys the table has. */
    cfg = s_load(f, "tg:\n  tokens_file: /x\n");
    assert_int_equal(s_apply_tg(cfg, &o, 0, NULL, err, sizeof err), YARD_E_CONFIG);
    s_assert_has(err, ":2: unknown key 'tokens_file' in section 'tg'");
    yard_options_free(s_tg_table, &o);
    yard_config_destroy(&cfg);

    free(empty);
    free(newline);
    free(big);
    free(max);
    free(nul);
}

static void
test_required(void **state)
{
    fixture_t *f = *state;
    char err[512] = "";
    tg_opts_t o;

    /* Nobody gave the token: the error names the setting and where to give it. */
    assert_int_equal(s_apply_tg(NULL, &o, 0, NULL, err, sizeof err), YARD_E_CONFIG);
    s_assert_has(err, "required setting tg.token is missing");
    s_assert_has(err, "YARD_TG_TOKEN");
    s_assert_has(err, "--token");
    yard_options_free(s_tg_table, &o);
    const yard_option_t *m = yard_options_missing(s_tg_table, NULL, "tg");
    assert_non_null(m);
    assert_string_equal(m->key, "token");

    /* An empty value is as good as none. */
    setenv("YARD_TG_TOKEN", "", 1);
    assert_int_equal(s_apply_tg(NULL, &o, 0, NULL, err, sizeof err), YARD_E_CONFIG);
    assert_non_null(yard_options_missing(s_tg_table, NULL, "tg"));
    yard_options_free(s_tg_table, &o);
    unsetenv("YARD_TG_TOKEN");

    /* Given by the file's KEY_file, or the environment: nothing missing. */
    yard_config_t *cfg = s_load(f, "tg:\n  token_file: /somewhere\n");
    assert_null(yard_options_missing(s_tg_table, cfg, "tg"));
    yard_config_destroy(&cfg);
    cfg = s_load(f, "tg:\n  token:\n");
    assert_non_null(yard_options_missing(s_tg_table, cfg, "tg")); /* present, no value */
    yard_config_destroy(&cfg);
    setenv("YARD_TG_TOKEN_FILE", "/somewhere", 1);
    assert_null(yard_options_missing(s_tg_table, NULL, "tg"));
    unsetenv("YARD_TG_TOKEN_FILE");
    assert_null(yard_options_missing(s_table, NULL, "echo")); /* nothing required */
}

static void
test_secret_display(void **state)
{
    (void)state;
    char buf[256];
    const yard_option_t *token = &s_tg_table[0], *store = &s_tg_table[1], *user = &s_tg_table[2];
    assert_string_equal(yard_option_display(token, "abc123", buf, sizeof buf), "<secret>");
    assert_string_equal(yard_option_display(token, NULL, buf, sizeof buf), "-");
    assert_string_equal(yard_option_display(user, "bot", buf, sizeof buf), "bot");
    assert_string_equal(yard_option_display(store, "memory", buf, sizeof buf), "memory");
    assert_string_equal(yard_option_display(store, "redis://127.0.0.1:6379/0", buf, sizeof buf),
                        "redis://127.0.0.1:6379/0");
    assert_string_equal(
        yard_option_display(store, "redis://app:pw-9@redis.local:6379/2", buf, sizeof buf),
        "redis://app:<secret>@redis.local:6379/2");
    assert_string_equal(yard_option_display(store, "redis://pw-9@h:1", buf, sizeof buf),
                        "redis://<secret>@h:1");
    assert_string_equal(yard_option_display(store, "redis://h:1/0?x=a@b", buf, sizeof buf),
                        "redis://h:1/0?x=a@b"); /* an '@' after the host is not userinfo */

    /* --help: the secret's default column and placeholder say <secret>. */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    yard_options_help(s_tg_table, "tg", out);
    fclose(out);
    s_assert_has(text, "--token <secret>");
    s_assert_has(text, "YARD_TG_TOKEN");
    char *line = strstr(text, "--token <secret>");
    char *end = strchr(line, '\n');
    *end = '\0';
    s_assert_has(line, "  <secret>  bot token");
    free(text);
}

/* Runs fn with the process's stderr (where the logger writes) captured, and returns what was
 * written (caller frees). */
static char *
s_capture_stderr(fixture_t *f, void (*fn)(fixture_t *f, void *arg), void *arg)
{
    yh_capture_t c;
    yh_capture_start(&c, STDERR_FILENO);
    fn(f, arg);
    return yh_capture_end(&c, NULL);
}

/* Everything that might show the secrets: the settings logged at debug, a log line whose
 * message and fields carry them, an error from a bad flag, and a redacted error line. */
static void
s_log_secrets(fixture_t *f, void *arg)
{
    (void)arg;
    char err[512] = "";
    char *token = s_file(f, "token", "tok-XYZ-123456\n", 15);
    setenv("YARD_TG_TOKEN_FILE", token, 1);
    setenv("YARD_TG_STORE", "redis://app:pw-ABC-987@127.0.0.1:6379/0", 1);
    yard_log_set_level(YARD_LOG_DEBUG);
    tg_opts_t o;
    assert_int_equal(s_apply_tg(NULL, &o, 0, NULL, err, sizeof err), 0);
    assert_string_equal(o.token, "tok-XYZ-123456"); /* the value itself is intact */
    yard_options_log(s_tg_table, &o, "tg");
    yard_log(YARD_LOG_WARN, "calling with tok-XYZ-123456 failed", YF_STR("token", o.token),
             YF_STR("store", o.store), YF_STRN("part", o.token, 9));
    char line[256];
    yard_log_redact("error: bad token tok-XYZ-123456 here", line, sizeof line);
    fprintf(stderr, "%s\n", line);
    yard_options_free(s_tg_table, &o);
    char *bad[] = {"--store"};
    assert_int_equal(s_apply_tg(NULL, &o, 1, bad, err, sizeof err), YARD_E_CONFIG);
    fprintf(stderr, "%s\n", err);
    yard_options_free(s_tg_table, &o);
    yard_log_set_level(YARD_LOG_INFO);
    unsetenv("YARD_TG_TOKEN_FILE");
    unsetenv("YARD_TG_STORE");
    free(token);
}

static void
s_log_short_url_password(fixture_t *f, void *arg)
{
    (void)f;
    (void)arg;
    char err[512] = "";
    tg_opts_t o;
    char *flags[] = {"--store", "redis://app:pq@short.example:6379/0", "--token", "t-000-long"};
    assert_int_equal(s_apply_tg(NULL, &o, 4, flags, err, sizeof err), 0);
    yard_log(YARD_LOG_WARN, "cannot open the store", YF_STR("store", o.store));
    yard_options_free(s_tg_table, &o);
}

static void
test_secret_log(void **state)
{
    fixture_t *f = *state;
    char *text = s_capture_stderr(f, s_log_secrets, NULL);
    /* The grep: neither secret anywhere, and their places say <secret>. */
    if (strstr(text, "XYZ-123456") || strstr(text, "pw-ABC-987")) {
        fail_msg("a secret reached the log:\n%s", text);
    }
    s_assert_has(text, "\"key\":\"token\",\"value\":\"<secret>\"");
    s_assert_has(text, "\"value\":\"redis://app:<secret>@127.0.0.1:6379/0\"");
    s_assert_has(text, "\"msg\":\"calling with <secret> failed\",\"token\":\"<secret>\"");
    s_assert_has(text, "\"store\":\"redis://app:<secret>@127.0.0.1:6379/0\"");
    s_assert_has(text, "\"part\":\"tok-XYZ-1\""); /* only a whole secret is one */
    s_assert_has(text, "error: bad token <secret> here");
    s_assert_has(text, "\"key\":\"user\",\"value\":\"bot\"");
    free(text);

    /* A URL password too short to redact alone: the whole URL goes. */
    text = s_capture_stderr(f, s_log_short_url_password, NULL);
    if (strstr(text, "redis://app:pq@short.example")) {
        fail_msg("a short URL password reached the log:\n%s", text);
    }
    s_assert_has(text, "\"store\":\"<secret>\"");
    free(text);
}

/* A struct filled by hand gets the table's defaults for the numbers it left zero, where zero
 * is not a value the option allows; the table is the only place the defaults are written. */
static void
test_fill_unset(void **state)
{
    (void)state;
    typedef struct {
        int64_t replicas; /* [1, 64]: 0 is unset */
        int64_t credit;   /* [0, 100]: 0 is a value */
        uint32_t drain_ms;
        uint64_t max_body; /* no range: 0 is unset */
        bool tap;
        char *name;
    } hand_t;
    static const yard_option_t table[] = {
        {"replicas", YARD_OPT_INT, "3", offsetof(hand_t, replicas), "", 1, 64, 0},
        {"credit", YARD_OPT_INT, "16", offsetof(hand_t, credit), "", 0, 100, 0},
        {"drain_ms", YARD_OPT_MS, "5s", offsetof(hand_t, drain_ms), "", 1, 60000, 0},
        {"max_body", YARD_OPT_SIZE, "1KiB", offsetof(hand_t, max_body), "", 0, 0, 0},
        {"tap", YARD_OPT_BOOL, "true", offsetof(hand_t, tap), "", 0, 0, 0},
        {"name", YARD_OPT_STRING, "echo", offsetof(hand_t, name), "", 0, 0, 0},
        {NULL, 0, NULL, 0, NULL, 0, 0, 0},
    };
    hand_t h = {0};
    yard_options_fill_unset(table, &h);
    assert_int_equal(h.replicas, 3);
    assert_int_equal(h.credit, 0);
    assert_int_equal(h.drain_ms, 5000);
    assert_int_equal(h.max_body, 1024);
    assert_false(h.tap); /* false is a value */
    assert_null(h.name); /* strings are the caller's */
    h.replicas = 7;
    yard_options_fill_unset(table, &h);
    assert_int_equal(h.replicas, 7); /* a set field is kept */
    assert_string_equal(yard_options_default(table, "name"), "echo");
    assert_null(yard_options_default(table, "nope"));
    assert_string_equal(yard_options_default(yard_actor_common_options, "broker"),
                        YARD_OPT_DEFAULT_BROKER);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ms_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ms_compound_and_days, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bool_and_int_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_option, setup, teardown),
        cmocka_unit_test_setup_teardown(test_option_parse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_display, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fill_unset, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
