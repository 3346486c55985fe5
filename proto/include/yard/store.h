/* The state store: a small key/value interface with two backends.
 *   "memory"                    in-process (the embedded default); shared by the threads of
 *                               one process, lost at exit
 *   "redis://host:port[/db]"    Redis through hiredis; shared by every process and host that
 *                               points at it; reconnects by itself
 * Stateful actors that run more than one replica in more than one process need a shared store
 * (yard_store_shared()); the runtime refuses to start them on "memory" with more than one
 * process and says so.
 *
 * Every function is thread-safe. Keys and values are binary-safe byte strings. */
#ifndef YARD_STORE_H
#define YARD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct yard_store yard_store_t;

/* Opens a store by URL (see above). Returns 0 and sets *out (caller owns it; free with
 * yard_store_destroy()), or YARD_E_CONFIG for a bad URL, YARD_E_UNREACHABLE when Redis does
 * not answer at open. */
int yard_store_open(const char *url, yard_store_t **out);
void yard_store_destroy(yard_store_t **self_p);

/* True when other processes see the same data (Redis). */
bool yard_store_shared(const yard_store_t *self);

/* Names the data this store reaches, so that replicas can tell whether they share it (the
 * runtime sends it in READY for stateful actors; the broker refuses a replica whose store
 * differs from its service's other replicas'):
 *   memory   "memory:<hostname>:<pid>:<16 hex digits drawn at open>": every memory store is its
 *            own data, so no two opens anywhere share an identity
 *   Redis    "redis://<host>:<port>/<db>", the host lower-cased and IPv6 in brackets, port and
 *            db always written; never a password. Two URLs that reach one server by different
 *            names (localhost, 127.0.0.1) read as different stores: write the same URL everywhere.
 * Borrowed; valid until the store is destroyed. */
const char *yard_store_identity(const yard_store_t *self);

/* Gets key. Returns 0 and sets *val (caller frees with free(); NUL-terminated for
 * convenience, *len excludes it), YARD_E_NOT_FOUND, or YARD_E_UNREACHABLE. */
int yard_store_get(yard_store_t *self, const char *key, char **val, size_t *len);

/* Gets n keys in one round trip (Redis MGET). Returns 0 with vals[i] (caller frees each with
 * free(); NUL-terminated) and lens[i] for each key that holds a plain value, NULL for one
 * that is absent or holds a set; YARD_E_INVALID for NULL arguments; or YARD_E_UNREACHABLE
 * (then every vals[i] is NULL). */
int yard_store_mget(yard_store_t *self, const char *const *keys, size_t n, char **vals,
                    size_t *lens);
/* Sets key to val; ttl_ms 0 means no expiry. Returns 0 or YARD_E_UNREACHABLE. */
int yard_store_set(yard_store_t *self, const char *key, const void *val, size_t len,
                   uint32_t ttl_ms);

/* Sets key only if it does not exist (Redis SET NX PX). Returns 1 when set, 0 when the key
 * existed, or YARD_E_UNREACHABLE. This is the claim primitive for leases. */
int yard_store_set_nx(yard_store_t *self, const char *key, const void *val, size_t len,
                      uint32_t ttl_ms);

/* Deletes key. Returns 1 when it existed, 0 when not, or YARD_E_UNREACHABLE. */
int yard_store_del(yard_store_t *self, const char *key);

/* Deletes key only if its value equals val (compare-and-delete, atomic: a Lua script on
 * Redis). Returns 1 when deleted, 0 when absent or different, or YARD_E_UNREACHABLE. */
int yard_store_del_if(yard_store_t *self, const char *key, const void *val, size_t len);

/* Sets key's time to live to ttl_ms only if its value equals val (compare-and-pexpire,
 * atomic: a Lua script on Redis). This is the renew primitive for leases: only the holder
 * whose token is stored extends it. Returns 1 when renewed, 0 when absent or different,
 * YARD_E_INVALID for ttl_ms 0 or a key that holds a set, or YARD_E_UNREACHABLE. */
int yard_store_pexpire_if(yard_store_t *self, const char *key, const void *val, size_t len,
                          uint32_t ttl_ms);

/* Adds by to the integer at key (absent counts as 0) and sets *out to the new value.
 * Returns 0, YARD_E_INVALID when the value is not an integer, or YARD_E_UNREACHABLE. */
int yard_store_incr(yard_store_t *self, const char *key, int64_t by, int64_t *out);

/* Takes one token from the token bucket at key, atomically (a Lua script on Redis, so
 * several processes share one bucket). The bucket holds at most burst tokens and refills at
 * rate_per_s tokens per second; a new bucket starts full. Sets *allowed to 1 when a token was
 * taken, else 0 with *retry_after_ms (>= 1) the time until one will be there; 0 when allowed.
 * The bucket expires once it would be full again (burst / rate), so idle keys cost nothing.
 *
 * now_ms 0 uses the store's clock: the monotonic clock in memory, the server's TIME on Redis,
 * so replicas on hosts with skewed clocks still agree. A non-zero now_ms is the caller's
 * clock in milliseconds (tests; every caller sharing a key must then share that clock); a
 * clock that goes back never refills nor drains.
 *
 * Returns 0, YARD_E_INVALID (rate_per_s not > 0 and <= 1e9, burst 0, or key holds another
 * kind of value), or YARD_E_UNREACHABLE. */
int yard_store_take_token(yard_store_t *self, const char *key, double rate_per_s, uint32_t burst,
                          uint64_t now_ms, int *allowed, uint32_t *retry_after_ms);

/* Takes n tokens (1 <= n <= burst) at once, all or none, from the bucket at key, as
 * yard_store_take_token() takes one: for a call that costs several units of a provider's
 * quota (a Gmail messages.get is 5). *retry_after_ms, when not allowed, is the time until n
 * tokens will be there. Returns 0, YARD_E_INVALID (also for n 0 or over burst, which could
 * never be served), or YARD_E_UNREACHABLE. */
int yard_store_take_tokens(yard_store_t *self, const char *key, double rate_per_s, uint32_t burst,
                           uint32_t n, uint64_t now_ms, int *allowed, uint32_t *retry_after_ms);

/* Sets: unordered collections of distinct members (C strings without NULs), for indexes
 * such as "every user". A key holds either a plain value or a set.
 *
 * sadd: adds member; 1 when added, 0 when it was there. srem: removes it; 1 when removed, 0
 * when it was not there (an emptied set disappears). Both: YARD_E_INVALID when key holds a
 * plain value, YARD_E_UNREACHABLE. */
int yard_store_sadd(yard_store_t *self, const char *key, const char *member);
int yard_store_srem(yard_store_t *self, const char *key, const char *member);
/* The members of the set at key, in no particular order (none when absent). Returns 0 and
 * sets *members (a NULL-terminated array; caller frees it with yard_store_members_free()) and
 * *count, YARD_E_INVALID when key holds a plain value, or YARD_E_UNREACHABLE. */
int yard_store_smembers(yard_store_t *self, const char *key, char ***members, size_t *count);
void yard_store_members_free(char ***members_p);
#endif
