/* The store's backend interface, shared by store.c (which parses the URL and dispatches) and
 * the backends (store_memory.c, store_redis.c). Not public. Each backend's functions have the
 * contracts of the matching yard_store_* function in yard/store.h. */
#ifndef YARD_STORE_INTERNAL_H
#define YARD_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;
    bool shared; /* other processes see the same data */
    void (*destroy)(void *impl);
    int (*get)(void *impl, const char *key, char **val, size_t *len);
    int (*set)(void *impl, const char *key, const void *val, size_t len, uint32_t ttl_ms);
    int (*set_nx)(void *impl, const char *key, const void *val, size_t len, uint32_t ttl_ms);
    int (*del)(void *impl, const char *key);
    int (*del_if)(void *impl, const char *key, const void *val, size_t len);
    /* The front has checked ttl_ms > 0. */
    int (*pexpire_if)(void *impl, const char *key, const void *val, size_t len, uint32_t ttl_ms);
    int (*incr)(void *impl, const char *key, int64_t by, int64_t *out);
    int (*take_token)(void *impl, const char *key, double rate_per_s, uint32_t burst, uint32_t n,
                      uint64_t now_ms, int *allowed, uint32_t *retry_after_ms);
    /* The front has set every vals[i] to NULL and checked keys. */
    int (*mget)(void *impl, const char *const *keys, size_t n, char **vals, size_t *lens);
    /* Sets. The front has checked key and member (non-NULL, member non-empty). */
    int (*sadd)(void *impl, const char *key, const char *member);
    int (*srem)(void *impl, const char *key, const char *member);
    int (*smembers)(void *impl, const char *key, char ***members, size_t *count);
} yard__store_ops_t;

/* The token bucket arithmetic both backends share (Redis runs the same steps in Lua):
 * refills *tokens for the time from *ts_ms to now_ms (never backwards), then takes n (all or
 * none). Sets *allowed and *retry_after_ms as yard_store_take_tokens() does. */
void yard__store_bucket_take(double *tokens, int64_t *ts_ms, int64_t now_ms, double rate_per_s,
                             uint32_t burst, uint32_t n, int *allowed, uint32_t *retry_after_ms);

/* How long a bucket lives after its last take: until it would be full again, plus a second. */
uint32_t yard__store_bucket_ttl_ms(double rate_per_s, uint32_t burst);

/* Opens the in-process backend. Returns 0 and sets *impl. */
int yard__store_memory_open(const yard__store_ops_t **ops, void **impl);

/* Opens the Redis backend on host:port and selects db. Returns 0 and sets *impl, or
 * YARD_E_UNREACHABLE when Redis does not answer. */
int yard__store_redis_open(const char *host, int port, int db, const yard__store_ops_t **ops,
                           void **impl);

/* Copies len bytes of val into a new NUL-terminated buffer. Caller owns the result; free(). */
char *yard__store_dup(const void *val, size_t len);

/* Fills out with 2 * bytes lower-case hex digits of kernel randomness and a NUL (out holds
 * 2 * bytes + 1). Aborts when the kernel has none to give: an identity or a lease token that
 * is not random is not safe to hand out. */
void yard__store_random_hex(char *out, size_t bytes);

/* A zeroed members array with room for count members and the terminating NULL, for
 * smembers. Caller owns the result; free with yard_store_members_free(). */
char **yard__store_members_new(size_t count);

#endif
