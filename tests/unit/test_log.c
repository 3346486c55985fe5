/* The logger: every line is one valid JSON object, whatever bytes it was given; repeated
 * error lines are rate-limited and say how many were dropped; records (access logs) never
 * are; the level filters. stderr is captured into a temp file and parsed with jansson. */
#include "yard/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    int saved;
    FILE *file;
} s_capture_t;

static void
s_capture_start(s_capture_t *c)
{
    fflush(stderr);
    c->file = tmpfile();
    assert_non_null(c->file);
    c->saved = dup(STDERR_FILENO);
    assert_true(dup2(fileno(c->file), STDERR_FILENO) >= 0);
}

/* Ends the capture and returns the lines as parsed JSON objects (a JSON array). */
static json_t *
s_capture_end(s_capture_t *c)
{
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    rewind(c->file);
    json_t *lines = json_array();
    char buf[8192];
    while (fgets(buf, sizeof buf, c->file)) {
        json_error_t err;
        json_t *o = json_loads(buf, 0, &err);
        if (!o) {
            fail_msg("not JSON (%s): %s", err.text, buf);
        }
        json_array_append_new(lines, o);
    }
    fclose(c->file);
    return lines;
}

static const char *
s_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void
test_line_shape_and_escaping(void **state)
{
    (void)state;
    yard_log_set_level(YARD_LOG_INFO);
    yard_log_set_context("unit", 3);
    s_capture_t c;
    s_capture_start(&c);
    /* quotes, a backslash, a newline, a control byte, valid UTF-8, and invalid bytes: a lone
     * continuation byte, an overlong encoding, a truncated sequence, a surrogate */
    const char *evil = "q\"b\\n\nc\x01 h\xc3\xa9 \x80 \xc0\xaf \xe2\x82 \xed\xa0\x80";
    yard_log(YARD_LOG_INFO, "shape", YF_STR("evil", evil), YF_INT("n", -5), YF_UINT("u", 7),
             YF_BOOL("b", 1), YF_STRN("part", "abcdef", 3), YF_STR("none", NULL));
    yard_log(YARD_LOG_DEBUG, "filtered out");
    json_t *lines = s_capture_end(&c);
    assert_int_equal(json_array_size(lines), 1);
    json_t *o = json_array_get(lines, 0);
    assert_string_equal(s_str(o, "level"), "info");
    assert_string_equal(s_str(o, "component"), "unit");
    assert_int_equal(json_integer_value(json_object_get(o, "replica")), 3);
    assert_string_equal(s_str(o, "msg"), "shape");
    assert_string_equal(s_str(o, "evil"), "q\"b\\n\nc\x01 h\xc3\xa9 \xef\xbf\xbd \xef\xbf\xbd"
                                          "\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd"
                                          "\xef\xbf\xbd\xef\xbf\xbd");
    assert_int_equal(json_integer_value(json_object_get(o, "n")), -5);
    assert_int_equal(json_integer_value(json_object_get(o, "u")), 7);
    assert_true(json_is_true(json_object_get(o, "b")));
    assert_string_equal(s_str(o, "part"), "abc");
    assert_true(json_is_null(json_object_get(o, "none")));
    assert_non_null(s_str(o, "ts"));
    json_decref(lines);
    yard_log_set_context(NULL, -1);
}

static void
test_rate_limit_and_records(void **state)
{
    (void)state;
    yard_log_set_level(YARD_LOG_INFO);
    s_capture_t c;
    s_capture_start(&c);
    /* The same error line many times within a second: a few get through, the rest are
     * counted. Records are never dropped. */
    for (int i = 0; i < 50; i++) {
        yard_log(YARD_LOG_WARN, "flood", YF_INT("i", i));
        yard_log_record(YARD_LOG_INFO, "access", YF_INT("i", i));
    }
    json_t *lines = s_capture_end(&c);
    int floods = 0, records = 0;
    for (size_t i = 0; i < json_array_size(lines); i++) {
        const char *msg = s_str(json_array_get(lines, i), "msg");
        floods += strcmp(msg, "flood") == 0;
        records += strcmp(msg, "access") == 0;
    }
    assert_int_equal(records, 50);
    assert_true(floods >= 1 && floods <= 10); /* at most two one-second windows' bursts */
    json_decref(lines);
}

static void
test_level_parse(void **state)
{
    (void)state;
    yard_log_level_t l;
    assert_int_equal(yard_log_level_parse("warn", &l), 0);
    assert_int_equal(l, YARD_LOG_WARN);
    assert_int_not_equal(yard_log_level_parse("loud", &l), 0);
    yard_log_set_level(YARD_LOG_OFF);
    assert_false(yard_log_enabled(YARD_LOG_ERROR));
    yard_log_set_level(YARD_LOG_INFO);
    assert_true(yard_log_enabled(YARD_LOG_ERROR));
    assert_false(yard_log_enabled(YARD_LOG_DEBUG));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_shape_and_escaping),
        cmocka_unit_test(test_rate_limit_and_records),
        cmocka_unit_test(test_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
