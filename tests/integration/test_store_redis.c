/* The Redis store against a real redis-server started by the harness: every operation
 * (sets included, with the same checks as the memory store's test), database selection, two handles
 * sharing data, and a server killed and restarted on the same port, after which the same handles
 * work again without being reopened. Skipped when redis-server is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "yard/error.h"
#include "yard/store.h"
#include "store_checks.h"

typedef struct {
    pid_t pid;
    int port;
    char *dir;
    char url[64];
} redis_t;

static int
setup(void **state)
{
    redis_t *r = calloc(1, sizeof *r);
    r->pid = yh_redis_start(&r->port, &r->dir);
    if (r->pid < 0) {
        free(r);
        *state = NULL;
        return 0;
    }
    snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d", r->port);
    *state = r;
    return 0;
}

static int
teardown(void **state)
{
    redis_t *r = *state;
    if (r != NULL) {
        yh_redis_stop(r->pid, r->dir); /* frees dir */
        free(r);
    }
    return 0;
}

static redis_t *
s_redis(void **state)
{
    if (*state == NULL) {
        skip(); /* redis-server is not installed */
    }
    return *state;
}

static yard_store_t *
s_open(const char *url)
{
    yard_store_t *store = NULL;
    assert_int_equal(yard_store_open(url, &store), 0);
    assert_true(yard_store_shared(store));
    return store;
}

static void
test_ops(void **state)
{
    redis_t *r = s_redis(state);
    yard_store_t *store = s_open(r->url);
    char *val = NULL;
    size_t len;
    int64_t n;

    assert_int_equal(yard_store_get(store, "k", &val, &len), YARD_E_NOT_FOUND);
    static const char bin[] = {'a', '\0', ' ', 'b', '\xff', '%', 's'};
    assert_int_equal(yard_store_set(store, "k with space", bin, sizeof bin, 0), 0);
    assert_int_equal(yard_store_get(store, "k with space", &val, &len), 0);
    assert_int_equal(len, sizeof bin);
    assert_memory_equal(val, bin, sizeof bin);
    assert_int_equal(val[len], '\0');
    free(val);
    assert_int_equal(yard_store_set(store, "empty", "", 0, 0), 0);
    assert_int_equal(yard_store_get(store, "empty", &val, &len), 0);
    assert_int_equal(len, 0);
    free(val);

    assert_int_equal(yard_store_del(store, "k with space"), 1);
    assert_int_equal(yard_store_del(store, "k with space"), 0);

    /* set_nx: the claim primitive */
    assert_int_equal(yard_store_set_nx(store, "lease", "a", 1, 0), 1);
    assert_int_equal(yard_store_set_nx(store, "lease", "b", 1, 0), 0);
    assert_int_equal(yard_store_get(store, "lease", &val, &len), 0);
    assert_string_equal(val, "a");
    free(val);

    /* del_if: compare-and-delete, binary values */
    assert_int_equal(yard_store_del_if(store, "lease", "b", 1), 0);
    assert_int_equal(yard_store_del_if(store, "lease", "a\0", 2), 0);
    assert_int_equal(yard_store_del_if(store, "lease", "a", 1), 1);
    assert_int_equal(yard_store_del_if(store, "lease", "a", 1), 0);
    assert_int_equal(yard_store_set(store, "bin", bin, sizeof bin, 0), 0);
    assert_int_equal(yard_store_del_if(store, "bin", bin, sizeof bin), 1);

    /* incr */
    assert_int_equal(yard_store_incr(store, "n", 5, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(yard_store_incr(store, "n", -8, &n), 0);
    assert_int_equal(n, -3);
    assert_int_equal(yard_store_set(store, "s", "abc", 3, 0), 0);
    assert_int_equal(yard_store_incr(store, "s", 1, &n), YARD_E_INVALID);
    assert_int_equal(yard_store_set(store, "big", "9223372036854775807", 19, 0), 0);
    assert_int_equal(yard_store_incr(store, "big", 1, &n), YARD_E_INVALID);

    yard_store_destroy(&store);
}

static void
test_ttl(void **state)
{
    redis_t *r = s_redis(state);
    yard_store_t *store = s_open(r->url);
    assert_int_equal(yard_store_set(store, "short", "x", 1, 50), 0);
    assert_int_equal(yard_store_set_nx(store, "lease", "a", 1, 50), 1);
    assert_int_equal(yard_store_set(store, "long", "x", 1, 60000), 0);
    assert_true(yt_wait_gone(store, "short", 3000));
    assert_true(yt_wait_gone(store, "lease", 3000));
    assert_int_equal(yard_store_set_nx(store, "lease", "b", 1, 0), 1);
    char *val;
    size_t len;
    assert_int_equal(yard_store_get(store, "long", &val, &len), 0);
    free(val);
    yard_store_destroy(&store);
}

static void
test_db_and_sharing(void **state)
{
    redis_t *r = s_redis(state);
    char url2[80];
    snprintf(url2, sizeof url2, "%s/2", r->url);
    yard_store_t *a = s_open(r->url);
    yard_store_t *b = s_open(r->url);
    yard_store_t *other_db = s_open(url2);
    char *val;
    size_t len;
    int64_t n;

    /* two handles on one server see each other's writes */
    assert_int_equal(yard_store_set(a, "shared", "from-a", 6, 0), 0);
    assert_int_equal(yard_store_get(b, "shared", &val, &len), 0);
    assert_string_equal(val, "from-a");
    free(val);
    assert_int_equal(yard_store_set_nx(b, "shared", "from-b", 6, 0), 0);
    assert_int_equal(yard_store_incr(a, "count", 1, &n), 0);
    assert_int_equal(yard_store_incr(b, "count", 1, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(yard_store_del_if(b, "shared", "from-a", 6), 1);
    assert_int_equal(yard_store_get(a, "shared", &val, &len), YARD_E_NOT_FOUND);

    /* a different db does not */
    assert_int_equal(yard_store_get(other_db, "count", &val, &len), YARD_E_NOT_FOUND);
    assert_int_equal(yard_store_set(other_db, "count", "x", 1, 0), 0);
    assert_int_equal(yard_store_incr(a, "count", 0, &n), 0);
    assert_int_equal(n, 2);

    yard_store_destroy(&a);
    yard_store_destroy(&b);
    yard_store_destroy(&other_db);
}

/* Sorts a members array so it can be compared with an expected list in any order. */

/* Asserts that the set at key holds exactly want (sorted, n entries), in whatever order. */

static void
test_sets(void **state)
{
    redis_t *r = s_redis(state);
    yard_store_t *store = s_open(r->url);
    yt_set_checks(store);
    yt_mget_checks(store);

    /* a second handle (another process) sees the same set */
    yard_store_t *other = s_open(r->url);
    assert_int_equal(yard_store_sadd(store, "index", "a"), 1);
    assert_int_equal(yard_store_sadd(other, "index", "a"), 0);
    assert_int_equal(yard_store_sadd(other, "index", "b"), 1);
    static const char *const both[] = {"a", "b"};
    yt_members_are(store, "index", both, 2);
    yard_store_destroy(&other);

    /* a hash (a token bucket) is not a set either */
    int allowed;
    uint32_t retry;
    assert_int_equal(yard_store_take_token(store, "tb:set", 1, 1, 0, &allowed, &retry), 0);
    assert_int_equal(yard_store_sadd(store, "tb:set", "x"), YARD_E_INVALID);
    yard_store_destroy(&store);
}

static pid_t
s_restart(redis_t *r)
{
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", r->port);
    char logfile[4096];
    snprintf(logfile, sizeof logfile, "%s/redis.log", r->dir);
    char *argv[] = {"redis-server", "--save", "",     "--appendonly", "no",        "--port",
                    port_s,         "--dir",  r->dir, "--bind",       "127.0.0.1", "--logfile",
                    logfile,        NULL};
    return yh_spawn("redis-server", argv, NULL, r->dir);
}

static void
test_reconnect(void **state)
{
    redis_t *r = s_redis(state);
    yard_store_t *busy = s_open(r->url);
    yard_store_t *idle = s_open(r->url);
    int64_t n;
    assert_int_equal(yard_store_incr(busy, "n", 1, &n), 0);
    assert_int_equal(yard_store_incr(idle, "n", 1, &n), 0);

    /* the server dies: calls answer UNREACHABLE promptly, and opening fails */
    assert_true(yh_stop(r->pid, SIGKILL, 5000) != -1);
    r->pid = -1;
    long long t0 = yh_now_ms();
    assert_int_equal(yard_store_incr(busy, "n", 1, &n), YARD_E_UNREACHABLE);
    char *val = NULL;
    size_t len;
    assert_int_equal(yard_store_get(busy, "n", &val, &len), YARD_E_UNREACHABLE);
    assert_int_equal(yard_store_sadd(busy, "set", "m"), YARD_E_UNREACHABLE);
    char **members = NULL;
    size_t count = 99;
    assert_int_equal(yard_store_smembers(busy, "set", &members, &count), YARD_E_UNREACHABLE);
    assert_null(members);
    assert_int_equal(count, 0);
    assert_true(yh_now_ms() - t0 < 5000);
    yard_store_t *none = NULL;
    assert_int_equal(yard_store_open(r->url, &none), YARD_E_UNREACHABLE);
    assert_null(none);

    /* it comes back on the same port (empty: no persistence) */
    r->pid = s_restart(r);
    assert_true(r->pid > 0);
    assert_true(yh_wait_port(r->port, 10000));
    long long deadline = yh_now_ms() + 10000;
    int rc;
    while ((rc = yard_store_set(busy, "alive", "1", 1, 0)) != 0 && yh_now_ms() < deadline) {
        assert_int_equal(rc, YARD_E_UNREACHABLE);
    }
    assert_int_equal(rc, 0);

    /* the idle handle's connection broke while it was idle: its first call reconnects and
     * succeeds without the caller seeing an error */
    assert_int_equal(yard_store_get(idle, "alive", &val, &len), 0);
    assert_string_equal(val, "1");
    free(val);
    assert_int_equal(yard_store_incr(idle, "n", 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(yard_store_incr(busy, "n", 1, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(yard_store_sadd(idle, "set", "m"), 1);
    assert_int_equal(yard_store_srem(busy, "set", "m"), 1);

    yard_store_destroy(&busy);
    yard_store_destroy(&idle);
}

static void
test_pexpire_if(void **state)
{
    redis_t *r = s_redis(state);
    yard_store_t *store = s_open(r->url);
    yt_pexpire_if_checks(store);
    /* renewed by one handle, seen by another: the TTL lives on the server */
    yard_store_t *other = s_open(r->url);
    assert_int_equal(yard_store_set(store, "px:shared", "me", 2, 60000), 0);
    assert_int_equal(yard_store_pexpire_if(other, "px:shared", "you", 3, 50), 0);
    assert_int_equal(yard_store_pexpire_if(other, "px:shared", "me", 2, 50), 1);
    assert_true(yt_wait_gone(store, "px:shared", 3000));
    yard_store_destroy(&other);
    yard_store_destroy(&store);
}

/* The identity names the server and db the URL reaches, spelled one way, and no password. */
static void
test_identity(void **state)
{
    redis_t *r = s_redis(state);
    char url[96], want[96];
    yard_store_t *store = s_open(r->url);
    snprintf(want, sizeof want, "redis://127.0.0.1:%d/0", r->port);
    assert_string_equal(yard_store_identity(store), want);
    yard_store_destroy(&store);
    snprintf(url, sizeof url, "redis://LocalHost:%d/3", r->port);
    store = s_open(url);
    snprintf(want, sizeof want, "redis://localhost:%d/3", r->port);
    assert_string_equal(yard_store_identity(store), want);
    yard_store_destroy(&store);
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/", r->port);
    store = s_open(url);
    snprintf(want, sizeof want, "redis://127.0.0.1:%d/0", r->port);
    assert_string_equal(yard_store_identity(store), want);
    yard_store_destroy(&store);
}

static void
test_unreachable_at_open(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", yh_free_port());
    yard_store_t *store = NULL;
    assert_int_equal(yard_store_open(url, &store), YARD_E_UNREACHABLE);
    assert_null(store);
}

static void
test_take_token(void **state)
{
    redis_t *r = s_redis(state);
    yard_store_t *store = s_open(r->url);
    yt_token_bucket_checks(store);
    /* two handles (two gateway replicas) share one bucket */
    yard_store_t *other = s_open(r->url);
    yt_take(store, "tb:shared", 1, 2, 5000, 1, 0, 0);
    yt_take(other, "tb:shared", 1, 2, 5000, 1, 0, 0);
    yt_take(store, "tb:shared", 1, 2, 5000, 0, 1000, 1000);
    yt_take(other, "tb:shared", 1, 2, 5000, 0, 1000, 1000);
    /* the bucket expires once it would be full again: TTL about burst / rate + 1 s */
    char *val = NULL;
    assert_int_equal(yard_store_get(store, "tb:shared", &val, NULL), YARD_E_INVALID); /* a hash */
    yard_store_destroy(&other);
    yard_store_destroy(&store);
}

int
main(void)
{
    signal(SIGPIPE, SIG_DFL); /* the store must cope without the programs' SIG_IGN */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_and_sharing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_take_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pexpire_if, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
        cmocka_unit_test(test_unreachable_at_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
