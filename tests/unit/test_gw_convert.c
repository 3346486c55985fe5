/* Gateway error bodies (gateway/convert.c): every error the gateway sends is
 * {"error":{"code","message"}}, valid JSON whatever bytes a service's error text holds, and
 * parses back to the very strings it was given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_internal.h"
#include "json_doc.h"
#include "yard/error.h"

/* gw_error_json(code, message), checked to be one JSON object of that shape; returns the
 * text (caller frees) and sets *doc to it parsed (caller destroys). */
static char *
s_error(const char *code, const char *message, yh_json_t **doc)
{
    size_t len = 0;
    char *text = gw_error_json(code, message, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    *doc = yh_json_parse(text, len);
    assert_non_null(*doc);
    const msgpack_object *root = yh_json_root(*doc);
    assert_int_equal(yh_json_count(root, ""), 1);
    assert_int_equal(yh_json_count(root, "error"), 2);
    return text;
}

static void
test_error_body_shape(void **state)
{
    (void)state;
    yh_json_t *doc = NULL;
    char *text = s_error("NOT_FOUND", "no route", &doc);
    assert_string_equal(text, "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"no route\"}}");
    free(text);
    yh_json_destroy(&doc);

    /* no code, no message: INTERNAL and "" */
    text = s_error(NULL, NULL, &doc);
    assert_string_equal(text, "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"\"}}");
    free(text);
    yh_json_destroy(&doc);
}

/* Quotes, backslashes, control bytes and UTF-8 in a service's text come back exactly. */
static void
test_error_body_escapes(void **state)
{
    (void)state;
    static const char msg[] = "say \"hi\"\\ now\n\ttab \x01 h\xc3\xa9 \xf0\x9f\x9a\x82 </script>";
    yh_json_t *doc = NULL;
    char *text = s_error("app.oops", msg, &doc);
    assert_null(strchr(text, '\n'));
    assert_null(strchr(text, '\x01'));
    assert_string_equal(yh_json_str(yh_json_root(doc), "error.code"), "app.oops");
    assert_string_equal(yh_json_str(yh_json_root(doc), "error.message"), msg);
    free(text);
    yh_json_destroy(&doc);
}

/* Text that is not UTF-8 (in the message or the code) cannot be JSON: the body says so
 * instead, and never carries the bytes. */
static void
test_error_body_not_utf8(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"SERVICE", "bad \xff byte"},
        {"SERVICE", "overlong \xc0\xaf"},
        {"SERVICE", "surrogate \xed\xa0\x80"},
        {"x\xfe", "fine"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yh_json_t *doc = NULL;
        char *text = s_error(bad[i][0], bad[i][1], &doc);
        assert_string_equal(yh_json_str(yh_json_root(doc), "error.code"), "INTERNAL");
        assert_string_equal(yh_json_str(yh_json_root(doc), "error.message"),
                            "error text is not valid UTF-8");
        free(text);
        yh_json_destroy(&doc);
    }
}

static void
test_status_for_error(void **state)
{
    (void)state;
    static const struct {
        int err, status;
        bool retry;
    } rows[] = {
        {YARD_E_NO_SERVICE, 503, false}, {YARD_E_OVERLOADED, 503, true},
        {YARD_E_TIMEOUT, 504, false},    {YARD_E_BAD_REQUEST, 400, false},
        {YARD_E_TOO_LARGE, 413, false},  {YARD_E_UNAUTHENTICATED, 401, false},
        {YARD_E_FORBIDDEN, 403, false},  {YARD_E_NOT_FOUND, 404, false},
        {YARD_E_SERVICE, 500, false},    {YARD_E_INTERNAL, 502, false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *code = NULL;
        bool retry = !rows[i].retry;
        assert_int_equal(gw_status_for_error(rows[i].err, &code, &retry), rows[i].status);
        assert_int_equal(retry, rows[i].retry);
        assert_string_equal(code, yard_err_name(rows[i].err));
    }
}

/* A service's own error names go through the same table: CONFLICT is 409 whichever operation
 * failed with it; a name the table does not know is 500. */
static void
test_status_for_app_error(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int status;
        bool retry;
    } rows[] = {
        {"CONFLICT", 409, false},     {"NOT_FOUND", 404, false},    {"INVALID", 400, false},
        {"FORBIDDEN", 403, false},    {"RATE_LIMITED", 429, false}, {"OVERLOADED", 503, true},
        {"USER_UNKNOWN", 500, false}, {"conflict", 500, false},     {NULL, 500, false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        bool retry = !rows[i].retry;
        assert_int_equal(gw_status_for_app_error(rows[i].name, &retry), rows[i].status);
        assert_int_equal(retry, rows[i].retry);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_body_shape),     cmocka_unit_test(test_error_body_escapes),
        cmocka_unit_test(test_error_body_not_utf8),  cmocka_unit_test(test_status_for_error),
        cmocka_unit_test(test_status_for_app_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
