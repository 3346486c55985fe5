/* The in-process store: every operation, TTL expiry, the set_nx claim, compare-and-delete,
 * integer counters, sets and many threads at once. Read as the usage example of yard/store.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "yard/error.h"
#include "yard/store.h"
#include "store_checks.h"

static int
setup(void **state)
{
    yard_store_t *store = NULL;
    assert_int_equal(yard_store_open("memory", &store), 0);
    *state = store;
    return 0;
}

static int
teardown(void **state)
{
    yard_store_t *store = *state;
    yard_store_destroy(&store);
    assert_null(store);
    return 0;
}

static void
test_open_urls(void **state)
{
    (void)state;
    yard_store_t *store = NULL;
    static const char *const bad[] = {"",
                                      "mem",
                                      "redis://",
                                      "redis://:6379",
                                      "redis://host:port",
                                      "redis://host:0",
                                      "redis://host:70000",
                                      "redis://host:6379/db",
                                      "redis://[::1",
                                      "http://localhost:6379",
                                      "memory:extra"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(yard_store_open(bad[i], &store), YARD_E_CONFIG);
        assert_null(store);
    }
    assert_int_equal(yard_store_open(NULL, &store), YARD_E_CONFIG);
    assert_int_equal(yard_store_open("memory", &store), 0);
    assert_false(yard_store_shared(store));
    yard_store_destroy(&store);
    yard_store_destroy(&store); /* a NULL handle is a no-op */
}

/* Every memory store is its own data, so each names itself apart from every other, with the
 * host and pid for the reader of an error message. */
static void
test_identity(void **state)
{
    (void)state;
    yard_store_t *a = NULL, *b = NULL;
    assert_int_equal(yard_store_open("memory", &a), 0);
    assert_int_equal(yard_store_open("memory://", &b), 0);
    const char *ia = yard_store_identity(a), *ib = yard_store_identity(b);
    assert_string_not_equal(ia, ib);
    char prefix[300], host[256] = "";
    gethostname(host, sizeof host - 1);
    snprintf(prefix, sizeof prefix, "memory:%s:%ld:", host, (long)getpid());
    assert_int_equal(strncmp(ia, prefix, strlen(prefix)), 0);
    assert_int_equal(strlen(ia), strlen(prefix) + 16); /* 64 random bits in hex */
    assert_string_equal(yard_store_identity(a), ia);   /* stable for the store's life */
    yard_store_destroy(&a);
    yard_store_destroy(&b);
}

static void
test_get_set_del(void **state)
{
    yard_store_t *store = *state;
    char *val = NULL;
    size_t len = 0;
    assert_int_equal(yard_store_get(store, "k", &val, &len), YARD_E_NOT_FOUND);
    assert_null(val);

    /* binary-safe: an embedded NUL survives, and the copy is NUL-terminated */
    static const char bin[] = {'a', '\0', 'b', '\xff'};
    assert_int_equal(yard_store_set(store, "k", bin, sizeof bin, 0), 0);
    assert_int_equal(yard_store_get(store, "k", &val, &len), 0);
    assert_int_equal(len, sizeof bin);
    assert_memory_equal(val, bin, sizeof bin);
    assert_int_equal(val[len], '\0');
    free(val);

    /* overwrite, and an empty value is a value */
    assert_int_equal(yard_store_set(store, "k", "v2", 2, 0), 0);
    assert_int_equal(yard_store_get(store, "k", &val, &len), 0);
    assert_string_equal(val, "v2");
    free(val);
    assert_int_equal(yard_store_set(store, "empty", "", 0, 0), 0);
    assert_int_equal(yard_store_get(store, "empty", &val, &len), 0);
    assert_int_equal(len, 0);
    free(val);

    assert_int_equal(yard_store_del(store, "k"), 1);
    assert_int_equal(yard_store_del(store, "k"), 0);
    assert_int_equal(yard_store_get(store, "k", &val, &len), YARD_E_NOT_FOUND);
}

static void
test_many_keys(void **state)
{
    yard_store_t *store = *state;
    char key[32], want[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "key:%d", i);
        snprintf(want, sizeof want, "value:%d", i);
        assert_int_equal(yard_store_set(store, key, want, strlen(want), 0), 0);
    }
    for (int i = 0; i < 20000; i += 7) {
        snprintf(key, sizeof key, "key:%d", i);
        snprintf(want, sizeof want, "value:%d", i);
        char *val;
        size_t len;
        assert_int_equal(yard_store_get(store, key, &val, &len), 0);
        assert_string_equal(val, want);
        free(val);
    }
}

static void
test_ttl(void **state)
{
    yard_store_t *store = *state;
    char *val;
    size_t len;
    long long start = yh_now_ms();
    assert_int_equal(yard_store_set(store, "short", "x", 1, 50), 0);
    assert_int_equal(yard_store_set(store, "long", "x", 1, 60000), 0);
    assert_int_equal(yard_store_set(store, "cleared", "x", 1, 50), 0);
    assert_int_equal(yard_store_set(store, "cleared", "y", 1, 0), 0); /* SET drops the TTL */
    assert_int_equal(yard_store_incr(store, "counter", 1, NULL), 0);
    assert_int_equal(yard_store_get(store, "short", &val, &len), 0);
    free(val);

    assert_true(yt_wait_gone(store, "short", 2000));
    assert_true(yh_now_ms() - start >= 50);
    /* expired: del finds nothing, set_nx can claim it again */
    assert_int_equal(yard_store_del(store, "short"), 0);
    assert_int_equal(yard_store_get(store, "long", &val, &len), 0);
    free(val);
    assert_int_equal(yard_store_get(store, "cleared", &val, &len), 0);
    assert_string_equal(val, "y");
    free(val);
}

static void
test_set_nx(void **state)
{
    yard_store_t *store = *state;
    char *val;
    size_t len;
    assert_int_equal(yard_store_set_nx(store, "lease", "owner-a", 7, 50), 1);
    assert_int_equal(yard_store_set_nx(store, "lease", "owner-b", 7, 50), 0);
    assert_int_equal(yard_store_get(store, "lease", &val, &len), 0);
    assert_string_equal(val, "owner-a"); /* the loser changed nothing */
    free(val);
    /* the lease lapses: someone else can claim it */
    assert_true(yt_wait_gone(store, "lease", 2000));
    assert_int_equal(yard_store_set_nx(store, "lease", "owner-b", 7, 0), 1);
    /* no TTL: held until deleted */
    assert_int_equal(yard_store_set_nx(store, "lease", "owner-c", 7, 0), 0);
    assert_int_equal(yard_store_del(store, "lease"), 1);
    assert_int_equal(yard_store_set_nx(store, "lease", "owner-c", 7, 0), 1);
}

static void
test_del_if(void **state)
{
    yard_store_t *store = *state;
    char *val;
    size_t len;
    assert_int_equal(yard_store_del_if(store, "lease", "me", 2), 0); /* absent */
    assert_int_equal(yard_store_set(store, "lease", "me", 2, 0), 0);
    assert_int_equal(yard_store_del_if(store, "lease", "you", 3), 0); /* different */
    assert_int_equal(yard_store_del_if(store, "lease", "m", 1), 0);   /* a prefix */
    assert_int_equal(yard_store_del_if(store, "lease", "me\0", 3), 0);
    assert_int_equal(yard_store_get(store, "lease", &val, &len), 0);
    free(val);
    assert_int_equal(yard_store_del_if(store, "lease", "me", 2), 1);
    assert_int_equal(yard_store_get(store, "lease", &val, &len), YARD_E_NOT_FOUND);
}

static void
test_pexpire_if(void **state)
{
    yt_pexpire_if_checks(*state);
}

static void
test_incr(void **state)
{
    yard_store_t *store = *state;
    int64_t n = 0;
    char *val;
    size_t len;
    assert_int_equal(yard_store_incr(store, "n", 5, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(yard_store_incr(store, "n", -7, &n), 0);
    assert_int_equal(n, -2);
    assert_int_equal(yard_store_get(store, "n", &val, &len), 0);
    assert_string_equal(val, "-2"); /* stored as decimal text, as Redis does */
    free(val);

    assert_int_equal(yard_store_set(store, "n", "41", 2, 0), 0);
    assert_int_equal(yard_store_incr(store, "n", 1, &n), 0);
    assert_int_equal(n, 42);

    static const char *const bad[] = {"abc", "1.5", " 1", "1 ", "", "+1", "01", "-0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(yard_store_set(store, "s", bad[i], strlen(bad[i]), 0), 0);
        n = 99;
        assert_int_equal(yard_store_incr(store, "s", 1, &n), YARD_E_INVALID);
        assert_int_equal(n, 99);
    }
    assert_int_equal(yard_store_set(store, "s", "1\0002", 3, 0), 0);
    assert_int_equal(yard_store_incr(store, "s", 1, &n), YARD_E_INVALID);

    assert_int_equal(yard_store_set(store, "big", "9223372036854775807", 19, 0), 0);
    assert_int_equal(yard_store_incr(store, "big", 1, &n), YARD_E_INVALID);
    assert_int_equal(yard_store_incr(store, "big", -1, &n), 0);
    assert_int_equal(n, INT64_MAX - 1);
}

/* Sorts a members array so it can be compared with an expected list in any order. */

/* Asserts that the set at key holds exactly want (sorted, n entries), in whatever order. */

static void
test_sets(void **state)
{
    yard_store_t *store = *state;
    yt_set_checks(store);
    yt_mget_checks(store);

    /* a large set (its table grows), emptied member by member */
    char member[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(member, sizeof member, "user-%d", i);
        assert_int_equal(yard_store_sadd(store, "big", member), 1);
    }
    for (int i = 0; i < 5000; i += 3) {
        snprintf(member, sizeof member, "user-%d", i);
        assert_int_equal(yard_store_sadd(store, "big", member), 0);
    }
    char **members = NULL;
    size_t count = 0;
    assert_int_equal(yard_store_smembers(store, "big", &members, &count), 0);
    assert_int_equal(count, 5000);
    yard_store_members_free(&members);
    for (int i = 0; i < 5000; i++) {
        snprintf(member, sizeof member, "user-%d", i);
        assert_int_equal(yard_store_srem(store, "big", member), 1);
    }
    assert_int_equal(yard_store_smembers(store, "big", &members, NULL), 0); /* count optional */
    assert_null(members[0]);
    yard_store_members_free(&members);
    assert_int_equal(yard_store_del(store, "big"), 0);

    /* a set has no TTL: a key that expired as a value is a fresh set */
    assert_int_equal(yard_store_set(store, "was-value", "v", 1, 1), 0);
    long long deadline = yh_now_ms() + 2000;
    int rc;
    while ((rc = yard_store_sadd(store, "was-value", "m")) == YARD_E_INVALID &&
           yh_now_ms() < deadline) {
    }
    assert_int_equal(rc, 1);
    yt_members_are(store, "was-value", (const char *const[]){"m"}, 1);
}

#define S_SET_THREADS 4
#define S_SET_MEMBERS 500

typedef struct {
    yard_store_t *store;
    int id;
    int added_common; /* how often sadd of the one shared member answered 1 */
} set_worker_t;

static void *
s_set_worker(void *arg)
{
    set_worker_t *w = arg;
    for (int i = 0; i < S_SET_MEMBERS; i++) {
        char member[32];
        snprintf(member, sizeof member, "t%d-m%d", w->id, i);
        if (yard_store_sadd(w->store, "index", member) != 1) {
            return NULL;
        }
        int rc = yard_store_sadd(w->store, "common", "everyone");
        if (rc < 0) {
            return NULL;
        }
        w->added_common += rc;
        char **members = NULL;
        if (i % 100 == 0 && yard_store_smembers(w->store, "index", &members, NULL) != 0) {
            return NULL;
        }
        yard_store_members_free(&members);
    }
    return w;
}

static void
test_set_threads(void **state)
{
    yard_store_t *store = *state;
    pthread_t threads[S_SET_THREADS];
    set_worker_t workers[S_SET_THREADS];
    for (int i = 0; i < S_SET_THREADS; i++) {
        workers[i] = (set_worker_t){.store = store, .id = i};
        assert_int_equal(pthread_create(&threads[i], NULL, s_set_worker, &workers[i]), 0);
    }
    int added_common = 0;
    for (int i = 0; i < S_SET_THREADS; i++) {
        void *ret;
        pthread_join(threads[i], &ret);
        assert_ptr_equal(ret, &workers[i]);
        added_common += workers[i].added_common;
    }
    assert_int_equal(added_common, 1); /* sadd is atomic: exactly one thread added it */

    char **members = NULL;
    size_t count = 0;
    assert_int_equal(yard_store_smembers(store, "index", &members, &count), 0);
    assert_int_equal(count, S_SET_THREADS * S_SET_MEMBERS);
    /* every member exactly once */
    qsort(members, count, sizeof *members, yt_cmp_str);
    for (size_t i = 1; i < count; i++) {
        assert_true(strcmp(members[i - 1], members[i]) < 0);
    }
    for (int t = 0; t < S_SET_THREADS; t++) {
        for (int i = 0; i < S_SET_MEMBERS; i++) {
            char member[32];
            snprintf(member, sizeof member, "t%d-m%d", t, i);
            const char *key = member;
            assert_non_null(bsearch(&key, members, count, sizeof *members, yt_cmp_str));
        }
    }
    yard_store_members_free(&members);
}

#define S_THREADS    8
#define S_INCREMENTS 2000

typedef struct {
    yard_store_t *store;
    int id;
    int claimed;
} worker_t;

static void *
s_worker(void *arg)
{
    worker_t *w = arg;
    char mine[16];
    snprintf(mine, sizeof mine, "worker-%d", w->id);
    for (int i = 0; i < S_INCREMENTS; i++) {
        int64_t n;
        if (yard_store_incr(w->store, "shared-counter", 1, &n) != 0) {
            return NULL;
        }
        char key[32];
        snprintf(key, sizeof key, "claim:%d", i);
        int rc = yard_store_set_nx(w->store, key, mine, strlen(mine), 0);
        if (rc == 1) {
            w->claimed++;
            /* only the owner can release: everyone tries, one succeeds at most */
            if (i % 2 == 0 && yard_store_del_if(w->store, key, mine, strlen(mine)) != 1) {
                return NULL;
            }
        }
        snprintf(key, sizeof key, "own:%d:%d", w->id, i);
        yard_store_set(w->store, key, mine, strlen(mine), (uint32_t)(i % 3));
    }
    return w;
}

static void
test_threads(void **state)
{
    yard_store_t *store = *state;
    pthread_t threads[S_THREADS];
    worker_t workers[S_THREADS];
    for (int i = 0; i < S_THREADS; i++) {
        workers[i] = (worker_t){.store = store, .id = i};
        assert_int_equal(pthread_create(&threads[i], NULL, s_worker, &workers[i]), 0);
    }
    int claimed = 0;
    for (int i = 0; i < S_THREADS; i++) {
        void *ret;
        pthread_join(threads[i], &ret);
        assert_ptr_equal(ret, &workers[i]);
        claimed += workers[i].claimed;
    }
    int64_t n;
    assert_int_equal(yard_store_incr(store, "shared-counter", 0, &n), 0);
    assert_int_equal(n, S_THREADS * S_INCREMENTS);
    /* every odd claim was won exactly once and held; even ones were released and may have
     * been won again by a later thread */
    assert_true(claimed >= S_INCREMENTS);
    for (int i = 1; i < S_INCREMENTS; i += 2) {
        char key[32];
        snprintf(key, sizeof key, "claim:%d", i);
        char *val;
        size_t len;
        assert_int_equal(yard_store_get(store, key, &val, &len), 0);
        assert_memory_equal(val, "worker-", 7);
        free(val);
    }
}

static void
test_take_token(void **state)
{
    yard_store_t *store = *state;
    yt_token_bucket_checks(store);
    /* the bucket is an ordinary key with a TTL: it can be deleted like any other */
    assert_int_equal(yard_store_del(store, "tb:a"), 1);
    yt_take(store, "tb:a", 2, 3, 1000000, 1, 0, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_urls),
        cmocka_unit_test(test_identity),
        cmocka_unit_test_setup_teardown(test_pexpire_if, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_set_del, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_nx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_del_if, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_take_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
