/* The broker's internal containers: the open-addressing map (insert, find, delete by
 * backward shift under heavy collision) and the request pool (ids that detect stale use,
 * the deadline heap's order under removal, the intrusive lists). */
#include "broker_priv.h"
#include "yard/options.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

typedef struct {
    char key[16];
    uint32_t len;
} s_item_t;

static yard_str_t
s_key_of(const void *val)
{
    const s_item_t *it = val;
    return (yard_str_t){it->key, it->len};
}

static void
test_map_put_get_delete(void **state)
{
    (void)state;
    enum { N = 2000 };
    static s_item_t items[N];
    yard__map_t m;
    yard__map_init(&m, s_key_of);
    for (int i = 0; i < N; i++) {
        items[i].len = (uint32_t)snprintf(items[i].key, sizeof items[i].key, "k%d", i);
        /* every third item collides on purpose: same hash, different key */
        uint32_t h = i % 3 ? yard__hash(items[i].key, items[i].len) : 7u;
        yard__map_put(&m, &items[i], h);
    }
    for (int i = 0; i < N; i += 2) {
        uint32_t h = i % 3 ? yard__hash(items[i].key, items[i].len) : 7u;
        yard__map_del(&m, &items[i], h);
    }
    assert_int_equal(m.count, N / 2);
    for (int i = 0; i < N; i++) {
        uint32_t h = i % 3 ? yard__hash(items[i].key, items[i].len) : 7u;
        void *found = yard__map_get(&m, items[i].key, items[i].len, h);
        assert_ptr_equal(found, i % 2 ? &items[i] : NULL);
    }
    yard__map_fini(&m);
}

/* A map a flood grew shrinks back as its items leave, and stays whole on the way. */
static void
test_map_shrinks_after_a_flood(void **state)
{
    (void)state;
    enum { N = 5000 };
    static s_item_t items[N];
    yard__map_t m;
    yard__map_init(&m, s_key_of);
    uint32_t min_cap = m.cap;
    for (int i = 0; i < N; i++) {
        items[i].len = (uint32_t)snprintf(items[i].key, sizeof items[i].key, "p%d", i);
        yard__map_put(&m, &items[i], yard__hash(items[i].key, items[i].len));
    }
    assert_true(m.cap >= 2 * N);
    for (int i = 0; i < N - 3; i++) {
        yard__map_del(&m, &items[i], yard__hash(items[i].key, items[i].len));
        if (i % 500 == 0) { /* the rest are still found after each resize */
            for (int j = i + 1; j < N; j += 97) {
                assert_ptr_equal(yard__map_get(&m, items[j].key, items[j].len,
                                               yard__hash(items[j].key, items[j].len)),
                                 &items[j]);
            }
        }
    }
    assert_int_equal(m.count, 3);
    assert_int_equal(m.cap, min_cap);
    for (int i = N - 3; i < N; i++) {
        assert_ptr_equal(
            yard__map_get(&m, items[i].key, items[i].len, yard__hash(items[i].key, items[i].len)),
            &items[i]);
    }
    yard__map_fini(&m);
}

static void
test_pool_ids_and_deadline_heap(void **state)
{
    (void)state;
    yard__pool_t p;
    yard__pool_init(&p, 5000);
    yard__req_t *r[5000];
    for (int i = 0; i < 5000; i++) {
        r[i] = yard__req_alloc(&p);
        assert_non_null(r[i]);
        r[i]->state = YARD__REQ_QUEUED;
        r[i]->deadline = (uint64_t)((i * 7919) % 5000);
        yard__heap_push(&p, r[i]);
    }
    assert_null(yard__req_alloc(&p)); /* at max */
    uint64_t stale = yard__req_id(r[10]);
    for (int i = 0; i < 5000; i += 2) {
        yard__req_free(&p, r[i]); /* leaves the heap too */
    }
    assert_null(yard__req_by_id(&p, stale));
    assert_ptr_equal(yard__req_by_id(&p, yard__req_id(r[11])), r[11]);
    uint64_t last = 0;
    int popped = 0;
    yard__req_t *top;
    while ((top = yard__heap_top(&p))) {
        assert_true(top->deadline >= last);
        last = top->deadline;
        yard__heap_remove(&p, top);
        popped++;
    }
    assert_int_equal(popped, 2500);
    yard__pool_fini(&p);
}

static void
test_lists_keep_order(void **state)
{
    (void)state;
    yard__pool_t p;
    yard__pool_init(&p, 16);
    yard__list_t l;
    yard__list_init(&l);
    yard__req_t *a = yard__req_alloc(&p), *b = yard__req_alloc(&p), *c = yard__req_alloc(&p);
    yard__list_push_back(&p, &l, b);
    yard__list_push_back(&p, &l, c);
    yard__list_push_front(&p, &l, a);
    yard__list_remove(&p, &l, b);
    assert_ptr_equal(yard__list_head(&p, &l), a);
    yard__list_remove(&p, &l, a);
    assert_ptr_equal(yard__list_head(&p, &l), c);
    assert_int_equal(l.count, 1);
    yard__list_remove(&p, &l, c);
    assert_null(yard__list_head(&p, &l));
    yard__pool_fini(&p);
}

/* Every broker setting is a top-level key of the shared config file, so each must be on the
 * project's list of top-level keys or a file setting it would be refused. */
static void
test_options_are_known_keys(void **state)
{
    (void)state;
    for (const yard_option_t *o = yard_broker_options; o->key; o++) {
        if (!yard_config_known_key(o->key)) {
            fail_msg("broker option '%s' is not a known top-level key", o->key);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_put_get_delete),
        cmocka_unit_test(test_map_shrinks_after_a_flood),
        cmocka_unit_test(test_pool_ids_and_deadline_heap),
        cmocka_unit_test(test_lists_keep_order),
        cmocka_unit_test(test_options_are_known_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
