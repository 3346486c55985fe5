/* Checks every store backend must pass the same way, shared by the memory and the Redis
 * store tests (cmocka assertions). */
#ifndef YARD_TEST_STORE_CHECKS_H
#define YARD_TEST_STORE_CHECKS_H

#include "yard/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* strcmp for qsort/bsearch over an array of char *. */
int yt_cmp_str(const void *a, const void *b);
/* Asserts that the set at key holds exactly want[0..n) (in any order). */
void yt_members_are(yard_store_t *store, const char *key, const char *const *want, size_t n);
/* The set operations' contract (uses keys "users", "other", "absent", "plain"). */
void yt_set_checks(yard_store_t *store);
/* Takes one token from key on the caller's clock now and asserts the outcome (allowed, and
 * retry_after_ms within [want_retry_min, want_retry_max]). */
void yt_take(yard_store_t *store, const char *key, double rate, uint32_t burst, uint64_t now,
             int want_allowed, uint32_t want_retry_min, uint32_t want_retry_max);
/* yard_store_take_token's contract on a caller's clock (uses keys under "tb:"). */
void yt_token_bucket_checks(yard_store_t *store);
/* yard_store_mget's contract (uses keys under "mget:"). */
void yt_mget_checks(yard_store_t *store);
/* Polls until key is gone (get answers NOT_FOUND), up to timeout_ms; returns whether it
 * went. Any other error from get fails the test. */
bool yt_wait_gone(yard_store_t *store, const char *key, int timeout_ms);
/* yard_store_pexpire_if's contract, the lease renewal (uses keys under "px:"). */
void yt_pexpire_if_checks(yard_store_t *store);

#endif
