/* echo's handler, called through the runtime's test API without sockets: whatever body goes
 * in comes back, whatever the op. */
#include "yard/actor.h"
#include "yard/registry.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

static int
s_call(const char *op, const void *body, size_t size, const void **out, size_t *out_size,
       yard_request_t **req_p)
{
    const yard_actor_def_t *def = yard_registry_find("echo");
    assert_non_null(def);
    yard_request_t *req = yard_request_new_test("echo", op, body, size);
    const yard_handler_def_t *h = def->handlers;
    while (h->fn && h->op && (!op || strcmp(h->op, op) != 0)) {
        h++;
    }
    assert_non_null(h->fn);
    assert_int_equal(h->fn(req, NULL), 0);
    *req_p = req;
    return yard_request_outcome_test(req, out, out_size, NULL);
}

static void
test_echo_returns_body(void **state)
{
    (void)state;
    const char body[] = "\x82\xa1"
                        "a\x01\xa1"
                        "b\xc3"; /* {"a": 1, "b": true} */
    const void *out = NULL;
    size_t size = 0;
    yard_request_t *req = NULL;
    assert_int_equal(s_call(NULL, body, sizeof body - 1, &out, &size, &req), 0);
    assert_int_equal(size, sizeof body - 1);
    assert_memory_equal(out, body, size);
    yard_request_destroy_test(&req);
    assert_null(req);
}

static void
test_echo_empty_body_and_any_op(void **state)
{
    (void)state;
    const void *out = NULL;
    size_t size = 1;
    yard_request_t *req = NULL;
    assert_int_equal(s_call("whatever", NULL, 0, &out, &size, &req), 0);
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
        cmocka_unit_test(test_echo_returns_body),
        cmocka_unit_test(test_echo_empty_body_and_any_op),
        cmocka_unit_test(test_echo_is_registered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
