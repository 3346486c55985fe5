/* yard/prom.h: the HELP/TYPE lines and label values as a scraper reads them. Read as the
 * module's usage example: render into a memory stream, compare the text. */
#include "yard/prom.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

/* The label rendering of the len bytes at value. Caller frees. */
static char *
s_label(const char *value, size_t len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    yard_prom_label(out, value, len);
    assert_int_equal(fclose(out), 0);
    return text;
}

static void
test_family(void **state)
{
    (void)state;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    yard_prom_family(out, "yard_x_total", "counter", "Things.");
    fclose(out);
    assert_string_equal(text, "# HELP yard_x_total Things.\n# TYPE yard_x_total counter\n");
    free(text);
}

static void
test_label_escapes(void **state)
{
    (void)state;
    const char in[] = "a\"b\\c\nd";
    char *text = s_label(in, sizeof in - 1);
    assert_string_equal(text, "a\\\"b\\\\c\\nd");
    free(text);
}

static void
test_label_utf8_kept_bad_bytes_replaced(void **state)
{
    (void)state;
    /* é (2 bytes) stays; a stray continuation byte, a cut sequence and NUL become U+FFFD. */
    const char in[] = "\xC3\xA9x\x80y\0z\xE2\x82";
    char *text = s_label(in, sizeof in - 1);
    assert_string_equal(text, "\xC3\xA9x\xEF\xBF\xBDy\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBD");
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_family),
        cmocka_unit_test(test_label_escapes),
        cmocka_unit_test(test_label_utf8_kept_bad_bytes_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
