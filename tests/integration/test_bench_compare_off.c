/* `yard bench compare` in a build without NATS (YARD_WITH_NATS=OFF, or no libnats found): the
 * command must say it was built without NATS, name the package and the flag that bring it,
 * and exit 1 with nothing on stdout; its --help says the same and exits 0. This test takes
 * test_bench_compare's place in such a build, so the command is tested in every build. */
#include "run.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void
test_bench_compare_says_built_without_nats(void **state)
{
    (void)state;
    yh_run_t *r = yh_runl("yard", NULL, 10000, "bench", "compare", "--duration", "1", NULL);
    if (r->status != 1) {
        fail_msg("exit %d, want 1\nstderr: %s", r->status, r->err);
    }
    assert_non_null(strstr(r->err, "built without NATS"));
    assert_non_null(strstr(r->err, "libnats-dev"));
    assert_non_null(strstr(r->err, "YARD_WITH_NATS=ON"));
    assert_string_equal(r->out, "");
    yh_run_destroy(&r);

    r = yh_runl("yard", NULL, 10000, "bench", "compare", "--help", NULL);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "built without NATS"));
    yh_run_destroy(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_compare_says_built_without_nats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
