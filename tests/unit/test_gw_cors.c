/* Gateway CORS: origins from gateway.cors, the headers of actual requests and preflights.
 * Read as the usage example of gateway/cors.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cors.h"
#include "harness.h"
#include "yard/error.h"

typedef struct {
    char *dir;
    char *path;
    yard_config_t *cfg;
    yard_gw_cors_t *cors;
} fixture_t;

/* The headers a call handed back, "Name: value\n" each. */
typedef struct {
    char text[2048];
    int count;
} headers_t;

static void
s_add(void *arg, const char *name, const char *value)
{
    headers_t *h = arg;
    size_t used = strlen(h->text);
    snprintf(h->text + used, sizeof h->text - used, "%s: %s\n", name, value);
    h->count++;
}

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->dir = yh_tmpdir();
    assert_non_null(f->dir);
    size_t n = strlen(f->dir) + 16;
    f->path = malloc(n);
    snprintf(f->path, n, "%s/yard.yaml", f->dir);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    yard_gw_cors_destroy(&f->cors);
    yard_config_destroy(&f->cfg);
    yh_rmtree(f->dir);
    free(f->dir);
    free(f->path);
    free(f);
    return 0;
}

static int
s_build(fixture_t *f, const char *text, char *err, size_t errlen)
{
    yard_gw_cors_destroy(&f->cors);
    yard_config_destroy(&f->cfg);
    char lerr[256];
    f->cfg = yh_config_write(f->path, text, lerr, sizeof lerr);
    if (f->cfg == NULL) {
        fail_msg("load: %s", lerr);
    }
    err[0] = '\0';
    return yard_gw_cors_new(f->cfg, &f->cors, err, errlen);
}

static void
s_assert_has(const char *text, const char *want)
{
    if (strstr(text, want) == NULL) {
        fail_msg("expected \"%s\" in \"%s\"", want, text);
    }
}

static void
s_assert_bad(fixture_t *f, const char *text, const char *want)
{
    char err[512];
    assert_int_equal(s_build(f, text, err, sizeof err), YARD_E_CONFIG);
    assert_null(f->cors);
    s_assert_has(err, want);
}

static void
test_off(void **state)
{
    fixture_t *f = *state;
    char err[256];
    assert_int_equal(yard_gw_cors_new(NULL, &f->cors, err, sizeof err), 0);
    assert_null(f->cors);
    assert_int_equal(s_build(f, "gateway:\n  cors:\n", err, sizeof err), 0);
    assert_null(f->cors);
    /* a NULL table adds nothing and refuses preflights */
    headers_t h = {"", 0};
    yard_gw_cors_apply(NULL, "https://a.example", s_add, &h);
    assert_false(yard_gw_cors_preflight(NULL, "https://a.example", "GET", NULL, s_add, &h));
    assert_int_equal(h.count, 0);
}

static void
test_exact_origins(void **state)
{
    fixture_t *f = *state;
    char err[256];
    assert_int_equal(s_build(f,
                             "gateway:\n"
                             "  cors:\n"
                             "    origins: ['https://app.example.com', 'http://localhost:3000']\n"
                             "    methods: [GET, POST, DELETE]\n"
                             "    headers: [Authorization, Content-Type]\n"
                             "    max_age: 120\n",
                             err, sizeof err),
                     0);
    assert_non_null(f->cors);

    /* actual request from an allowed origin: echoed, with Vary */
    headers_t h = {"", 0};
    yard_gw_cors_apply(f->cors, "https://app.example.com", s_add, &h);
    s_assert_has(h.text, "Access-Control-Allow-Origin: https://app.example.com\n");
    s_assert_has(h.text, "Vary: Origin\n");
    s_assert_has(h.text, "Access-Control-Expose-Headers: X-Request-Id");
    assert_null(strstr(h.text, "Credentials"));

    /* another origin: only Vary (the answer depends on Origin) */
    headers_t other = {"", 0};
    yard_gw_cors_apply(f->cors, "https://evil.example.com", s_add, &other);
    assert_string_equal(other.text, "Vary: Origin\n");
    headers_t none = {"", 0};
    yard_gw_cors_apply(f->cors, NULL, s_add, &none);
    assert_int_equal(none.count, 0);

    /* preflight: method and every requested header, case-insensitively */
    headers_t p = {"", 0};
    assert_true(yard_gw_cors_preflight(f->cors, "http://localhost:3000", "delete",
                                       "content-type, AUTHORIZATION", s_add, &p));
    s_assert_has(p.text, "Access-Control-Allow-Origin: http://localhost:3000\n");
    s_assert_has(p.text, "Access-Control-Allow-Methods: GET, POST, DELETE\n");
    s_assert_has(p.text, "Access-Control-Allow-Headers: Authorization, Content-Type\n");
    s_assert_has(p.text, "Access-Control-Max-Age: 120\n");

    headers_t q = {"", 0};
    assert_true(yard_gw_cors_preflight(f->cors, "http://localhost:3000", "GET", NULL, s_add, &q));
    assert_true(yard_gw_cors_preflight(f->cors, "http://localhost:3000", "GET", "", s_add, &q));
    assert_true(yard_gw_cors_preflight(f->cors, "http://localhost:3000", "GET", " , ", s_add, &q));
    headers_t r = {"", 0};
    assert_false(yard_gw_cors_preflight(f->cors, "http://localhost:3000", "PUT", NULL, s_add, &r));
    assert_false(yard_gw_cors_preflight(f->cors, "http://localhost:3000", "GET",
                                        "Content-Type, X-Secret", s_add, &r));
    assert_false(
        yard_gw_cors_preflight(f->cors, "https://evil.example.com", "GET", NULL, s_add, &r));
    assert_false(yard_gw_cors_preflight(f->cors, "http://localhost:3000", NULL, NULL, s_add, &r));
    assert_null(strstr(r.text, "Allow-Origin"));
}

static void
test_any_origin(void **state)
{
    fixture_t *f = *state;
    char err[256];
    assert_int_equal(s_build(f, "gateway:\n  cors: {origins: ['*']}\n", err, sizeof err), 0);
    headers_t h = {"", 0};
    yard_gw_cors_apply(f->cors, "https://anyone.example", s_add, &h);
    s_assert_has(h.text, "Access-Control-Allow-Origin: *\n");
    assert_null(strstr(h.text, "Vary"));
    /* the defaults: GET, HEAD, POST; a few common headers; ten minutes */
    headers_t p = {"", 0};
    assert_true(
        yard_gw_cors_preflight(f->cors, "https://x.example", "POST", "Content-Type", s_add, &p));
    s_assert_has(p.text, "Access-Control-Allow-Methods: GET, HEAD, POST\n");
    s_assert_has(p.text, "Access-Control-Max-Age: 600\n");
    assert_false(yard_gw_cors_preflight(f->cors, "https://x.example", "PATCH", NULL, s_add, &p));

    /* "*" with credentials: the origin is echoed, never "*" */
    assert_int_equal(s_build(f,
                             "gateway:\n  cors: {origins: ['*'], credentials: true, "
                             "methods: ['*'], headers: ['*']}\n",
                             err, sizeof err),
                     0);
    headers_t c = {"", 0};
    yard_gw_cors_apply(f->cors, "https://anyone.example", s_add, &c);
    s_assert_has(c.text, "Access-Control-Allow-Origin: https://anyone.example\n");
    s_assert_has(c.text, "Access-Control-Allow-Credentials: true\n");
    s_assert_has(c.text, "Vary: Origin\n");
    headers_t d = {"", 0};
    assert_true(
        yard_gw_cors_preflight(f->cors, "https://a.example", "PATCH", "X-Custom", s_add, &d));
    s_assert_has(d.text, "Access-Control-Allow-Methods: PATCH\n");
    s_assert_has(d.text, "Access-Control-Allow-Headers: X-Custom\n");
}

static void
test_errors(void **state)
{
    fixture_t *f = *state;
    s_assert_bad(f, "gateway:\n  cors: [a]\n", "yard.yaml:2: gateway.cors: expected a map");
    s_assert_bad(f, "gateway:\n  cors:\n    methods: [GET]\n",
                 "yard.yaml:3: gateway.cors.origins: missing");
    s_assert_bad(f, "gateway:\n  cors:\n    origins: ['*']\n    orgins: [x]\n",
                 "yard.yaml:4: gateway.cors: unknown key 'orgins'");
    s_assert_bad(f, "gateway:\n  cors:\n    origins: 'https://a.example'\n",
                 "yard.yaml:3: gateway.cors.origins: expected a list");
    s_assert_bad(f, "gateway:\n  cors:\n    origins:\n      - 'https://a.example/'\n",
                 "yard.yaml:4: gateway.cors.origins: invalid item 'https://a.example/'");
    s_assert_bad(f, "gateway:\n  cors:\n    origins: [a.example]\n", "invalid item 'a.example'");
    s_assert_bad(f, "gateway:\n  cors:\n    origins: ['*']\n    methods: [[GET]]\n",
                 "gateway.cors.methods: invalid item");
    s_assert_bad(f, "gateway:\n  cors:\n    origins: ['*']\n    max_age: 1y\n",
                 "yard.yaml:4: gateway.cors.max_age: invalid integer '1y'");
    s_assert_bad(f, "gateway:\n  cors:\n    origins: ['*']\n    max_age: 100000\n",
                 "max_age: 100000 is out of range");
    s_assert_bad(f, "gateway:\n  cors:\n    origins: ['*']\n    credentials: perhaps\n",
                 "yard.yaml:4: gateway.cors.credentials: invalid boolean 'perhaps'");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exact_origins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_any_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
