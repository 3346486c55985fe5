/* Handlers tested without sockets: the request test API, reading the body lazily as a msgpack
 * object, exactly-once answers, and deferred tokens completed from another thread. Reads as
 * a usage example of the handler half of yard/actor.h. */
#include "yard/actor.h"
#include "yard/wire.h"
#include "yard/error.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

/* A handler that adds the two numbers of a msgpack array [a, b]. */
static int
s_add(yard_request_t *req, void *state)
{
    (void)state;
    const msgpack_object *o = yard_request_object(req);
    if (!o || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2 ||
        o->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        o->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return yard_request_fail(req, YARD_E_BAD_REQUEST, NULL, "expected [a, b]");
    }
    unsigned char out[2] = {0, 0};
    uint64_t sum = o->via.array.ptr[0].via.u64 + o->via.array.ptr[1].via.u64;
    out[0] = (unsigned char)(sum & 0x7f); /* a positive fixint */
    return yard_request_reply(req, out, 1);
}

static void
test_reply_and_object(void **state)
{
    (void)state;
    yard_request_t *req = yard_request_new_test("calc", "add", "\x92\x02\x03", 3);
    assert_string_equal(yard_request_service(req), "calc");
    assert_string_equal(yard_request_op(req), "add");
    assert_false(yard_request_one_way(req));
    assert_true(yard_request_remaining_ms(req) > 0);
    assert_null(yard_request_header(req, "trace"));
    const void *body;
    size_t size;
    assert_int_equal(yard_request_outcome_test(req, &body, &size, NULL), 1);
    assert_int_equal(s_add(req, NULL), 0);
    assert_int_equal(yard_request_outcome_test(req, &body, &size, NULL), 0);
    assert_int_equal(size, 1);
    assert_int_equal(((const unsigned char *)body)[0], 5);
    /* Exactly once: a second answer is refused and changes nothing. */
    assert_int_equal(yard_request_reply(req, "\x01", 1), YARD_E_INVALID);
    assert_int_equal(yard_request_fail(req, YARD_E_INTERNAL, NULL, NULL), YARD_E_INVALID);
    assert_null(yard_request_defer(req));
    yard_request_destroy_test(&req);
    assert_null(req);
}

static void
test_fail_and_bad_body(void **state)
{
    (void)state;
    yard_request_t *req = yard_request_new_test("calc", NULL, "\xc1", 1); /* never valid */
    assert_string_equal(yard_request_op(req), "");
    assert_null(yard_request_object(req));
    assert_int_equal(s_add(req, NULL), 0);
    const char *app = NULL;
    assert_int_equal(yard_request_outcome_test(req, NULL, NULL, &app), YARD_E_BAD_REQUEST);
    assert_string_equal(app, "");
    yard_request_destroy_test(&req);

    req = yard_request_new_test("calc", NULL, NULL, 0);
    assert_null(yard_request_object(req));
    assert_int_equal(yard_request_fail(req, YARD_E_SERVICE, "overdrawn", "balance too low"), 0);
    assert_int_equal(yard_request_outcome_test(req, NULL, NULL, &app), YARD_E_SERVICE);
    assert_string_equal(app, "overdrawn");
    yard_request_destroy_test(&req);
}

static void *
s_complete_in_thread(void *arg)
{
    yard_deferred_t *d = arg;
    int rc = yard_deferred_reply(&d, "\xa2ok", 3);
    return (void *)(intptr_t)rc;
}

static void
test_deferred(void **state)
{
    (void)state;
    yard_request_t *req = yard_request_new_test("svc", NULL, "\xc0", 1);
    yard_deferred_t *d = yard_request_defer(req);
    assert_non_null(d);
    assert_null(yard_request_defer(req));
    assert_int_equal(yard_request_reply(req, "\x01", 1), YARD_E_INVALID);
    assert_int_equal(yard_request_outcome_test(req, NULL, NULL, NULL), 1);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_complete_in_thread, d), 0);
    void *ret = NULL;
    pthread_join(th, &ret);
    assert_int_equal((int)(intptr_t)ret, 0);
    const void *body;
    size_t size;
    assert_int_equal(yard_request_outcome_test(req, &body, &size, NULL), 0);
    assert_int_equal(size, 3);
    assert_memory_equal(body, "\xa2ok", 3);
    yard_request_destroy_test(&req);

    /* A token that outlives its request completes with TIMEOUT and frees itself. */
    req = yard_request_new_test("svc", NULL, NULL, 0);
    d = yard_request_defer(req);
    yard_request_destroy_test(&req);
    assert_int_equal(yard_deferred_fail(&d, YARD_E_INTERNAL, NULL, "late"), YARD_E_TIMEOUT);
    assert_null(d);
}

/* Answer headers: set, replaced, capped, refused after the answer, carried by a token. */
static void
test_answer_headers(void **state)
{
    (void)state;
    yard_request_t *req = yard_request_new_test("svc", NULL, "\xc0", 1);
    assert_int_equal(yard_request_set_header(req, "http.status", "200"), 0);
    assert_int_equal(yard_request_set_header(req, "http.status", "201"), 0);
    char big[YARD_WIRE_VALUE_MAX + 2];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(yard_request_set_header(req, "big", big), YARD_E_TOO_LARGE);
    assert_int_equal(yard_request_set_header(req, "", "x"), YARD_E_TOO_LARGE);
    assert_int_equal(yard_request_set_header(req, NULL, "x"), YARD_E_INVALID);
    for (int i = 1; i < YARD_WIRE_HEADERS_MAX; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(yard_request_set_header(req, k, "v"), 0);
    }
    assert_int_equal(yard_request_set_header(req, "one-too-many", "v"), YARD_E_TOO_LARGE);
    assert_int_equal(yard_request_reply(req, "\xc0", 1), 0);
    assert_string_equal(yard_request_answer_header_test(req, "http.status"), "201");
    assert_null(yard_request_answer_header_test(req, "big"));
    assert_int_equal(yard_request_set_header(req, "after", "x"), YARD_E_INVALID);
    yard_request_destroy_test(&req);

    req = yard_request_new_test("svc", NULL, "\xc0", 1);
    assert_int_equal(yard_request_set_header(req, "before", "1"), 0);
    yard_deferred_t *d = yard_request_defer(req);
    assert_non_null(d);
    assert_int_equal(yard_deferred_set_header(d, "on-token", "2"), 0);
    assert_int_equal(yard_deferred_fail(&d, YARD_E_SERVICE, "nope", NULL), 0);
    assert_string_equal(yard_request_answer_header_test(req, "before"), "1");
    assert_string_equal(yard_request_answer_header_test(req, "on-token"), "2");
    yard_request_destroy_test(&req);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_and_object),
        cmocka_unit_test(test_fail_and_bad_body),
        cmocka_unit_test(test_deferred),
        cmocka_unit_test(test_answer_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
