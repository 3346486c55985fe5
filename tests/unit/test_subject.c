/* Subject validity and wildcard matching, as a table. */
#include "yard/subject.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static void
test_valid(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int subject, pattern;
    } cases[] = {
        {"a", 1, 1},      {"a.b.c", 1, 1},       {"$sys.events", 1, 1},
        {"*", 0, 1},      {">", 0, 1},           {"a.*.c", 0, 1},
        {"a.>", 0, 1},    {"a.>.c", 0, 0},       {"", 0, 0},
        {".a", 0, 0},     {"a.", 0, 0},          {"a..b", 0, 0},
        {"a b", 0, 0},    {"a*", 0, 0},          {"a.b>", 0, 0},
        {"a.\x01", 0, 0}, {"jobs.mail-1", 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        yard_str_t s = yard_str(cases[i].s);
        assert_int_equal(yard_subject_valid(s), cases[i].subject);
        assert_int_equal(yard_subject_pattern_valid(s), cases[i].pattern);
    }
}

static void
test_match(void **state)
{
    (void)state;
    static const struct {
        const char *p, *s;
        int match;
    } cases[] = {
        {"a.b", "a.b", 1}, {"a.b", "a.c", 0},   {"a.b", "a.b.c", 0},   {"a.b.c", "a.b", 0},
        {"a.*", "a.b", 1}, {"a.*", "a.b.c", 0}, {"*.b", "a.b", 1},     {"*", "a", 1},
        {"*", "a.b", 0},   {"a.>", "a.b", 1},   {"a.>", "a.b.c", 1},   {"a.>", "a", 0},
        {">", "a", 1},     {">", "a.b.c", 1},   {"*.*", "a.b", 1},     {"*.>", "a.b", 1},
        {"ab", "a", 0},    {"a", "ab", 0},      {"a.*.c", "a.x.c", 1}, {"a.*.c", "a.x.d", 0},
        {"", "a", 0},      {"a", "", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = yard_subject_match(yard_str(cases[i].p), yard_str(cases[i].s));
        if (got != cases[i].match) {
            fail_msg("pattern '%s' subject '%s': got %d want %d", cases[i].p, cases[i].s, got,
                     cases[i].match);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
