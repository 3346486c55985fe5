/* Store checks shared by the backends' tests: see store_checks.h. */
#include "store_checks.h"

#include "harness.h"
#include "yard/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int
yt_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void
yt_members_are(yard_store_t *store, const char *key, const char *const *want, size_t n)
{
    char **members = NULL;
    size_t count = 99;
    assert_int_equal(yard_store_smembers(store, key, &members, &count), 0);
    assert_non_null(members);
    assert_int_equal(count, n);
    assert_null(members[count]); /* NULL-terminated */
    qsort(members, count, sizeof *members, yt_cmp_str);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(members[i], want[i]);
    }
    yard_store_members_free(&members);
    assert_null(members);
}

void
yt_set_checks(yard_store_t *store)
{
    char **members = NULL;
    size_t count = 99;
    char *val = NULL;
    size_t len;
    int64_t n;

    /* an absent set is an empty one: an empty array, not an error */
    yt_members_are(store, "users", NULL, 0);

    /* add, add again, remove, remove again */
    assert_int_equal(yard_store_sadd(store, "users", "carol"), 1);
    assert_int_equal(yard_store_sadd(store, "users", "alice"), 1);
    assert_int_equal(yard_store_sadd(store, "users", "bob"), 1);
    assert_int_equal(yard_store_sadd(store, "users", "alice"), 0);
    assert_int_equal(yard_store_sadd(store, "users", "with space %s"), 1);
    static const char *const four[] = {"alice", "bob", "carol", "with space %s"};
    yt_members_are(store, "users", four, 4);
    assert_int_equal(yard_store_srem(store, "users", "with space %s"), 1);
    assert_int_equal(yard_store_srem(store, "users", "with space %s"), 0);
    assert_int_equal(yard_store_srem(store, "users", "dave"), 0);
    assert_int_equal(yard_store_srem(store, "absent", "dave"), 0);
    static const char *const three[] = {"alice", "bob", "carol"};
    yt_members_are(store, "users", three, 3);
    yt_members_are(store, "other", NULL, 0); /* sets are per key */

    /* NULL or empty arguments are the caller's INVALID, and change nothing */
    assert_int_equal(yard_store_sadd(store, "users", ""), YARD_E_INVALID);
    assert_int_equal(yard_store_sadd(store, "users", NULL), YARD_E_INVALID);
    assert_int_equal(yard_store_sadd(store, NULL, "x"), YARD_E_INVALID);
    assert_int_equal(yard_store_srem(store, "users", ""), YARD_E_INVALID);
    assert_int_equal(yard_store_srem(store, "users", NULL), YARD_E_INVALID);
    assert_int_equal(yard_store_srem(store, NULL, "alice"), YARD_E_INVALID);
    assert_int_equal(yard_store_smembers(store, NULL, &members, &count), YARD_E_INVALID);
    assert_null(members);
    assert_int_equal(count, 0);
    yt_members_are(store, "users", three, 3);

    /* a plain value is not a set: INVALID, and the value is untouched */
    assert_int_equal(yard_store_set(store, "plain", "v", 1, 0), 0);
    assert_int_equal(yard_store_sadd(store, "plain", "x"), YARD_E_INVALID);
    assert_int_equal(yard_store_srem(store, "plain", "x"), YARD_E_INVALID);
    count = 99;
    assert_int_equal(yard_store_smembers(store, "plain", &members, &count), YARD_E_INVALID);
    assert_null(members);
    assert_int_equal(count, 0);
    assert_int_equal(yard_store_get(store, "plain", &val, &len), 0);
    assert_string_equal(val, "v");
    free(val);
    val = NULL;

    /* nor is a set a plain value: reads and read-modify-writes are INVALID (WRONGTYPE) */
    assert_int_equal(yard_store_get(store, "users", &val, &len), YARD_E_INVALID);
    assert_null(val);
    assert_int_equal(yard_store_incr(store, "users", 1, &n), YARD_E_INVALID);
    assert_int_equal(yard_store_del_if(store, "users", "alice", 5), YARD_E_INVALID);
    int allowed;
    uint32_t retry;
    assert_int_equal(yard_store_take_token(store, "users", 1, 1, 0, &allowed, &retry),
                     YARD_E_INVALID);
    assert_int_equal(yard_store_set_nx(store, "users", "v", 1, 0), 0); /* the key exists */
    yt_members_are(store, "users", three, 3);

    /* the last srem removes the key: a plain value can then take it */
    assert_int_equal(yard_store_srem(store, "users", "alice"), 1);
    assert_int_equal(yard_store_srem(store, "users", "bob"), 1);
    assert_int_equal(yard_store_srem(store, "users", "carol"), 1);
    yt_members_are(store, "users", NULL, 0);
    assert_int_equal(yard_store_get(store, "users", &val, &len), YARD_E_NOT_FOUND);
    assert_int_equal(yard_store_set_nx(store, "users", "v", 1, 0), 1);
    assert_int_equal(yard_store_set(store, "users", "w", 1, 0), 0);
    assert_int_equal(yard_store_get(store, "users", &val, &len), 0);
    assert_string_equal(val, "w");
    free(val);
    val = NULL;

    /* SET replaces a set and DEL deletes one, as on Redis */
    assert_int_equal(yard_store_sadd(store, "s2", "m"), 1);
    assert_int_equal(yard_store_set(store, "s2", "plain", 5, 0), 0);
    assert_int_equal(yard_store_get(store, "s2", &val, &len), 0);
    assert_string_equal(val, "plain");
    free(val);
    assert_int_equal(yard_store_del(store, "s2"), 1);
    assert_int_equal(yard_store_sadd(store, "s2", "m"), 1);
    assert_int_equal(yard_store_del(store, "s2"), 1);
    assert_int_equal(yard_store_del(store, "s2"), 0);
    yt_members_are(store, "s2", NULL, 0);

    /* members_free is safe on NULL, twice */
    members = NULL;
    yard_store_members_free(&members);
    yard_store_members_free(NULL);
}

void
yt_mget_checks(yard_store_t *store)
{
    assert_int_equal(yard_store_set(store, "mget:a", "1", 1, 0), 0);
    assert_int_equal(yard_store_set(store, "mget:c", "three", 5, 0), 0);
    assert_int_equal(yard_store_sadd(store, "mget:set", "m"), 1);
    const char *keys[] = {"mget:a", "mget:b", "mget:c", "mget:set", "mget:a"};
    char *vals[5];
    size_t lens[5];
    assert_int_equal(yard_store_mget(store, keys, 5, vals, lens), 0);
    assert_string_equal(vals[0], "1");
    assert_int_equal(lens[0], 1);
    assert_null(vals[1]); /* absent */
    assert_string_equal(vals[2], "three");
    assert_int_equal(lens[2], 5);
    assert_null(vals[3]);              /* a set reads as absent */
    assert_string_equal(vals[4], "1"); /* a key twice: read twice */
    for (int i = 0; i < 5; i++) {
        free(vals[i]);
    }
    assert_int_equal(yard_store_mget(store, keys, 0, NULL, NULL), 0);
    const char *bad[] = {"mget:a", NULL};
    assert_int_equal(yard_store_mget(store, bad, 2, vals, lens), YARD_E_INVALID);
    assert_null(vals[0]);
    assert_int_equal(yard_store_srem(store, "mget:set", "m"), 1);
}

/* A token bucket on a caller's clock: deterministic whatever the machine's speed. */
void
yt_take(yard_store_t *store, const char *key, double rate, uint32_t burst, uint64_t now,
        int want_allowed, uint32_t want_retry_min, uint32_t want_retry_max)
{
    int allowed = -1;
    uint32_t retry = 12345;
    assert_int_equal(yard_store_take_token(store, key, rate, burst, now, &allowed, &retry), 0);
    assert_int_equal(allowed, want_allowed);
    if (retry < want_retry_min || retry > want_retry_max) {
        fail_msg("retry_after_ms %u not in [%u, %u]", retry, want_retry_min, want_retry_max);
    }
}

void
yt_token_bucket_checks(yard_store_t *store)
{
    const uint64_t t = 1000000;
    /* 2 per second, burst 3: a new bucket is full */
    yt_take(store, "tb:a", 2, 3, t, 1, 0, 0);
    yt_take(store, "tb:a", 2, 3, t, 1, 0, 0);
    yt_take(store, "tb:a", 2, 3, t, 1, 0, 0);
    yt_take(store, "tb:a", 2, 3, t, 0, 500, 500);
    yt_take(store, "tb:a", 2, 3, t + 250, 0, 250, 250);
    yt_take(store, "tb:a", 2, 3, t + 1000, 1, 0, 0); /* refilled about 2 tokens */
    /* a long idle time refills only up to the burst */
    yt_take(store, "tb:a", 2, 3, t + 100000, 1, 0, 0);
    yt_take(store, "tb:a", 2, 3, t + 100000, 1, 0, 0);
    yt_take(store, "tb:a", 2, 3, t + 100000, 1, 0, 0);
    yt_take(store, "tb:a", 2, 3, t + 100000, 0, 500, 500);
    /* a clock that goes back neither refills nor drains */
    yt_take(store, "tb:a", 2, 3, t + 50000, 0, 1, 500);
    /* keys are independent */
    yt_take(store, "tb:b", 2, 1, t, 1, 0, 0);
    yt_take(store, "tb:b", 2, 1, t, 0, 500, 500);
    /* fractional rates: one per 1000 s on the store's own clock */
    yt_take(store, "tb:c", 0.001, 2, 0, 1, 0, 0);
    yt_take(store, "tb:c", 0.001, 2, 0, 1, 0, 0);
    yt_take(store, "tb:c", 0.001, 2, 0, 0, 990000, 1000000);

    int allowed;
    uint32_t retry;
    assert_int_equal(yard_store_take_token(store, "tb:x", 0, 1, 0, &allowed, &retry),
                     YARD_E_INVALID);
    assert_int_equal(yard_store_take_token(store, "tb:x", -1, 1, 0, &allowed, &retry),
                     YARD_E_INVALID);
    assert_int_equal(yard_store_take_token(store, "tb:x", 1, 0, 0, &allowed, &retry),
                     YARD_E_INVALID);
    /* a key holding something else is not a bucket */
    assert_int_equal(yard_store_set(store, "tb:str", "hello", 5, 0), 0);
    assert_int_equal(yard_store_take_token(store, "tb:str", 1, 1, 0, &allowed, &retry),
                     YARD_E_INVALID);

    /* weighted takes: 10 per second, burst 25; all or none */
    assert_int_equal(yard_store_take_tokens(store, "tb:w", 10, 25, 20, t, &allowed, &retry), 0);
    assert_int_equal(allowed, 1);
    assert_int_equal(yard_store_take_tokens(store, "tb:w", 10, 25, 10, t, &allowed, &retry), 0);
    assert_int_equal(allowed, 0); /* 5 left: none taken, 5 more come in 500 ms */
    assert_int_equal(retry, 500);
    assert_int_equal(yard_store_take_tokens(store, "tb:w", 10, 25, 5, t, &allowed, &retry), 0);
    assert_int_equal(allowed, 1); /* the refused take left its 5 tokens */
    assert_int_equal(yard_store_take_tokens(store, "tb:w", 10, 25, 26, t, &allowed, &retry),
                     YARD_E_INVALID); /* more than the burst could never be served */
    assert_int_equal(yard_store_take_tokens(store, "tb:w", 10, 25, 0, t, &allowed, &retry),
                     YARD_E_INVALID);
}

bool
yt_wait_gone(yard_store_t *store, const char *key, int timeout_ms)
{
    long long deadline = yh_now_ms() + timeout_ms;
    while (yh_now_ms() < deadline) {
        char *val = NULL;
        size_t len;
        int rc = yard_store_get(store, key, &val, &len);
        free(val);
        if (rc == YARD_E_NOT_FOUND) {
            return true;
        }
        assert_int_equal(rc, 0);
    }
    return false;
}

void
yt_pexpire_if_checks(yard_store_t *store)
{
    static const char tok[] = {'t', 'o', 'k', '\0', 'x'};
    /* absent: nothing to renew */
    assert_int_equal(yard_store_pexpire_if(store, "px:lease", tok, sizeof tok, 1000), 0);

    /* a different value, a prefix of it, or a value with one more byte renews nothing */
    assert_int_equal(yard_store_set(store, "px:lease", tok, sizeof tok, 100), 0);
    assert_int_equal(yard_store_pexpire_if(store, "px:lease", "other", 5, 60000), 0);
    assert_int_equal(yard_store_pexpire_if(store, "px:lease", tok, 3, 60000), 0);
    assert_int_equal(yard_store_pexpire_if(store, "px:lease", "tok\0xy", 6, 60000), 0);

    /* the holder's value renews: the key outlives a probe set with the old TTL */
    assert_int_equal(yard_store_pexpire_if(store, "px:lease", tok, sizeof tok, 60000), 1);
    assert_int_equal(yard_store_set(store, "px:probe", "p", 1, 100), 0);
    assert_true(yt_wait_gone(store, "px:probe", 5000));
    char *val = NULL;
    size_t len = 0;
    assert_int_equal(yard_store_get(store, "px:lease", &val, &len), 0);
    assert_int_equal(len, sizeof tok);
    assert_memory_equal(val, tok, sizeof tok); /* the value is untouched */
    free(val);

    /* a renewal may shorten the TTL too, and the key then lapses */
    assert_int_equal(yard_store_pexpire_if(store, "px:lease", tok, sizeof tok, 50), 1);
    assert_true(yt_wait_gone(store, "px:lease", 5000));
    assert_int_equal(yard_store_pexpire_if(store, "px:lease", tok, sizeof tok, 1000), 0);

    /* a key without a TTL gets one */
    assert_int_equal(yard_store_set(store, "px:forever", "v", 1, 0), 0);
    assert_int_equal(yard_store_pexpire_if(store, "px:forever", "v", 1, 50), 1);
    assert_true(yt_wait_gone(store, "px:forever", 5000));

    /* TTL 0 would make a lease permanent; a set is the wrong kind of key */
    assert_int_equal(yard_store_set(store, "px:lease", "v", 1, 0), 0);
    assert_int_equal(yard_store_pexpire_if(store, "px:lease", "v", 1, 0), YARD_E_INVALID);
    assert_int_equal(yard_store_sadd(store, "px:set", "v"), 1);
    assert_int_equal(yard_store_pexpire_if(store, "px:set", "v", 1, 1000), YARD_E_INVALID);
    assert_int_equal(yard_store_del(store, "px:set"), 1);
    assert_int_equal(yard_store_del(store, "px:lease"), 1);
}
