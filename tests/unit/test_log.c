/* The logger: every line is one valid JSON object, whatever bytes it was given; repeated
 * error lines are rate-limited and say how many were dropped; records (access logs) never
 * are; the level filters. stderr is captured into a temp file and parsed with the harness's JSON
 * reader. */
#include "capture.h"
#include "json_doc.h"
#include "yard/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Ends the capture and returns the lines parsed as JSON (the root: an array of them). */
static yh_json_t *
s_logged_lines(yh_capture_t *c)
{
    size_t size = 0;
    char *text = yh_capture_end(c, &size);
    assert_int_equal(strlen(text), size); /* no NUL byte in a log line */
    yh_json_t *lines = yh_json_parse_lines(text);
    free(text);
    assert_non_null(lines); /* every line is JSON */
    return lines;
}

static void
test_line_shape_and_escaping(void **state)
{
    (void)state;
    yard_log_set_level(YARD_LOG_INFO);
    yard_log_set_context("unit", 3);
    yh_capture_t c;
    yh_capture_start(&c, STDERR_FILENO);
    /* quotes, a backslash, a newline, a control byte, valid UTF-8, and invalid bytes: a lone
     * continuation byte, an overlong encoding, a truncated sequence, a surrogate */
    const char *evil = "q\"b\\n\nc\x01 h\xc3\xa9 \x80 \xc0\xaf \xe2\x82 \xed\xa0\x80";
    yard_log(YARD_LOG_INFO, "shape", YF_STR("evil", evil), YF_INT("n", -5), YF_UINT("u", 7),
             YF_BOOL("b", 1), YF_STRN("part", "abcdef", 3), YF_STR("none", NULL));
    yard_log(YARD_LOG_DEBUG, "filtered out");
    yh_json_t *lines = s_logged_lines(&c);
    assert_int_equal(yh_json_count(yh_json_root(lines), ""), 1);
    const msgpack_object *o = yh_json_at(yh_json_root(lines), "0");
    assert_int_equal(yh_json_type(o, ""), MSGPACK_OBJECT_MAP);
    assert_string_equal(yh_json_str(o, "level"), "info");
    assert_string_equal(yh_json_str(o, "component"), "unit");
    assert_int_equal(yh_json_int(o, "replica"), 3);
    assert_string_equal(yh_json_str(o, "msg"), "shape");
    assert_string_equal(yh_json_str(o, "evil"), "q\"b\\n\nc\x01 h\xc3\xa9 \xef\xbf\xbd \xef\xbf\xbd"
                                                "\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd"
                                                "\xef\xbf\xbd\xef\xbf\xbd");
    assert_int_equal(yh_json_int(o, "n"), -5);
    assert_int_equal(yh_json_int(o, "u"), 7);
    assert_int_equal(yh_json_bool(o, "b"), 1);
    assert_string_equal(yh_json_str(o, "part"), "abc");
    assert_int_equal(yh_json_type(o, "none"), MSGPACK_OBJECT_NIL);
    assert_non_null(yh_json_str(o, "ts"));
    yh_json_destroy(&lines);
    yard_log_set_context(NULL, -1);
}

static void
test_rate_limit_and_records(void **state)
{
    (void)state;
    yard_log_set_level(YARD_LOG_INFO);
    yh_capture_t c;
    yh_capture_start(&c, STDERR_FILENO);
    /* The same error line many times within a second: a few get through, the rest are
     * counted. Records are never dropped. */
    for (int i = 0; i < 50; i++) {
        yard_log(YARD_LOG_WARN, "flood", YF_INT("i", i));
        yard_log_record(YARD_LOG_INFO, "access", YF_INT("i", i));
    }
    yh_json_t *lines = s_logged_lines(&c);
    const msgpack_object *all = yh_json_root(lines);
    int floods = 0, records = 0;
    for (uint32_t i = 0; i < all->via.array.size; i++) {
        const char *msg = yh_json_str(&all->via.array.ptr[i], "msg");
        assert_non_null(msg);
        floods += strcmp(msg, "flood") == 0;
        records += strcmp(msg, "access") == 0;
    }
    assert_int_equal(records, 50);
    assert_true(floods >= 1 && floods <= 10); /* at most two one-second windows' bursts */
    yh_json_destroy(&lines);
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
