/* echo's handler, called through the actor test harness (the runtime's own option, state and
 * handler-lookup code, without sockets): whatever body goes in comes back, whatever the op. */
#include "yard/actor.h"
#include "yard/actor_test.h"
#include "yard/registry.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

static int
s_setup(void **state)
{
    yard_actor_test_t *t = NULL;
    int rc = yard_actor_test_new(yard_registry_find("echo"), NULL, &t);
    *state = t;
    return rc;
}

static int
s_teardown(void **state)
{
    yard_actor_test_t *t = *state;
    yard_actor_test_destroy(&t);
    return 0;
}

static void
test_echo_returns_body(void **state)
{
    const char body[] = "\x82\xa1"
                        "a\x01\xa1"
                        "b\xc3"; /* {"a": 1, "b": true} */
    yard_request_t *req = yard_actor_test_call(*state, NULL, body, sizeof body - 1);
    const void *out = NULL;
    size_t size = 0;
    assert_int_equal(yard_request_outcome_test(req, &out, &size, NULL), 0);
    assert_int_equal(size, sizeof body - 1);
    assert_memory_equal(out, body, size);
    yard_request_destroy_test(&req);
    assert_null(req);
}

static void
test_echo_empty_body_and_any_op(void **state)
{
    yard_request_t *req = yard_actor_test_call(*state, "whatever", NULL, 0);
    const void *out = NULL;
    size_t size = 1;
    assert_int_equal(yard_request_outcome_test(req, &out, &size, NULL), 0);
    assert_int_equal(size, 0);
    yard_request_destroy_test(&req);
}

static void
test_echo_is_registered(void **state)
{
    (void)state;
    const yard_actor_def_t *const *all = yard_registry_all();
    assert_ptr_equal(yard_registry_find("echo"), &yard_actor_echo);
    for (size_t i = 1; all[0] && all[i]; i++) {
        assert_true(strcmp(all[i - 1]->name, all[i]->name) < 0); /* name order */
    }
    assert_null(yard_registry_find("no-such-actor"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo_returns_body, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_echo_empty_body_and_any_op, s_setup, s_teardown),
        cmocka_unit_test(test_echo_is_registered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
