/* The state store's front: parses the URL, opens the matching backend and dispatches every
 * call through the backend's table. The front holds no state of its own besides the table and
 * the backend's handle, so thread safety is entirely the backend's (each guards itself). */
#include "alloc_internal.h"
#include "yard/store.h"

#include "store_internal.h"
#include "yard/assert.h"
#include "yard/error.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* The longest identity: "redis://" + a bracketed host of at most 255 bytes (the URL parser
 * takes any length; longer names are cut, which only makes two long names compare equal
 * when their first 255 bytes do) + ":65535/1000000". */
#define S_IDENTITY_MAX 300
#define S_HOST_MAX     255

struct yard_store {
    const yard__store_ops_t *ops;
    void *impl;
    char identity[S_IDENTITY_MAX];
};

char *
yard__store_dup(const void *val, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        abort();
    }
    if (len > 0) {
        memcpy(copy, val, len);
    }
    copy[len] = '\0';
    return copy;
}

char **
yard__store_members_new(size_t count)
{
    char **members = yard__xcalloc(count + 1, sizeof *members);
    return members;
}

void
yard__store_random_hex(char *out, size_t bytes)
{
    unsigned char raw[64];
    YARD_ASSERT(bytes <= sizeof raw);
    size_t got = 0;
    while (got < bytes) {
        ssize_t n = getrandom(raw + got, bytes - got, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            abort(); /* no kernel randomness: nothing safe to hand out */
        }
        got += (size_t)n;
    }
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < bytes; i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[2 * bytes] = '\0';
}

/* "memory:<hostname>:<pid>:<random>": the random part tells apart two stores of one process
 * and two processes that got the same pid (containers all start at pid 1). */
static void
s_memory_identity(char *out, size_t cap)
{
    char host[S_HOST_MAX + 1] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0) {
        snprintf(host, sizeof host, "localhost");
    }
    char rnd[2 * 8 + 1];
    yard__store_random_hex(rnd, 8);
    snprintf(out, cap, "memory:%s:%ld:%s", host, (long)getpid(), rnd);
}

/* "redis://host:port/db": lower-cased host, IPv6 bracketed, port and db always written. */
static void
s_redis_identity(char *out, size_t cap, const char *host, int port, int db)
{
    char lower[S_HOST_MAX + 1];
    size_t n = 0;
    for (; host[n] != '\0' && n < S_HOST_MAX; n++) {
        lower[n] = (char)tolower((unsigned char)host[n]);
    }
    lower[n] = '\0';
    bool v6 = strchr(lower, ':') != NULL;
    snprintf(out, cap, "redis://%s%s%s:%d/%d", v6 ? "[" : "", lower, v6 ? "]" : "", port, db);
}

/* Parses a decimal number of at most max from [s, end). */
static bool
s_number(const char *s, const char *end, long max, long *out)
{
    if (s == end || end - s > 10) {
        return false;
    }
    long v = 0;
    for (const char *p = s; p < end; p++) {
        if (!isdigit((unsigned char)*p)) {
            return false;
        }
        v = v * 10 + (*p - '0');
    }
    if (v > max) {
        return false;
    }
    *out = v;
    return true;
}

/* "redis://host[:port][/db]"; host may be "[v6addr]". Port defaults to 6379, db to 0. */
static int
s_parse_redis(const char *rest, char **host, int *port, int *db)
{
    const char *slash = strchr(rest, '/');
    const char *hp_end = slash != NULL ? slash : rest + strlen(rest);
    const char *host_start = rest, *host_end, *colon;
    if (*rest == '[') {
        host_start = rest + 1;
        host_end = memchr(host_start, ']', (size_t)(hp_end - host_start));
        if (host_end == NULL) {
            return YARD_E_CONFIG;
        }
        colon = host_end + 1 < hp_end && host_end[1] == ':' ? host_end + 1 : NULL;
        if (colon == NULL && host_end + 1 != hp_end) {
            return YARD_E_CONFIG;
        }
    } else {
        colon = memchr(rest, ':', (size_t)(hp_end - rest));
        host_end = colon != NULL ? colon : hp_end;
    }
    if (host_end == host_start) {
        return YARD_E_CONFIG;
    }
    long p = 6379, d = 0;
    if (colon != NULL && (!s_number(colon + 1, hp_end, 65535, &p) || p == 0)) {
        return YARD_E_CONFIG;
    }
    if (slash != NULL && slash[1] != '\0' &&
        !s_number(slash + 1, slash + strlen(slash), 1000000, &d)) {
        return YARD_E_CONFIG;
    }
    *host = yard__store_dup(host_start, (size_t)(host_end - host_start));
    *port = (int)p;
    *db = (int)d;
    return 0;
}

int
yard_store_open(const char *url, yard_store_t **out)
{
    *out = NULL;
    if (url == NULL) {
        return YARD_E_CONFIG;
    }
    const yard__store_ops_t *ops = NULL;
    void *impl = NULL;
    char identity[S_IDENTITY_MAX];
    int rc;
    static const char redis[] = "redis://";
    if (strcmp(url, "memory") == 0 || strcmp(url, "memory://") == 0) {
        rc = yard__store_memory_open(&ops, &impl);
        s_memory_identity(identity, sizeof identity);
    } else if (strncmp(url, redis, sizeof redis - 1) == 0) {
        char *host = NULL;
        int port = 0, db = 0;
        rc = s_parse_redis(url + sizeof redis - 1, &host, &port, &db);
        if (rc == 0) {
            s_redis_identity(identity, sizeof identity, host, port, db);
            rc = yard__store_redis_open(host, port, db, &ops, &impl);
        }
        free(host);
    } else {
        rc = YARD_E_CONFIG;
    }
    if (rc != 0) {
        return rc;
    }
    yard_store_t *self = yard__xcalloc(1, sizeof *self);
    self->ops = ops;
    self->impl = impl;
    memcpy(self->identity, identity, sizeof identity);
    *out = self;
    return 0;
}

void
yard_store_destroy(yard_store_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    yard_store_t *self = *self_p;
    self->ops->destroy(self->impl);
    free(self);
    *self_p = NULL;
}

bool
yard_store_shared(const yard_store_t *self)
{
    return self->ops->shared;
}

const char *
yard_store_identity(const yard_store_t *self)
{
    return self->identity;
}

int
yard_store_get(yard_store_t *self, const char *key, char **val, size_t *len)
{
    YARD_ASSERT(self != NULL && key != NULL && val != NULL);
    size_t ignored;
    *val = NULL;
    return self->ops->get(self->impl, key, val, len != NULL ? len : &ignored);
}

int
yard_store_mget(yard_store_t *self, const char *const *keys, size_t n, char **vals, size_t *lens)
{
    if (self == NULL || (n > 0 && (keys == NULL || vals == NULL || lens == NULL))) {
        return YARD_E_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        vals[i] = NULL;
        lens[i] = 0;
        if (keys[i] == NULL) {
            return YARD_E_INVALID;
        }
    }
    if (n == 0) {
        return 0;
    }
    int rc = self->ops->mget(self->impl, keys, n, vals, lens);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) {
            free(vals[i]);
            vals[i] = NULL;
        }
    }
    return rc;
}

int
yard_store_set(yard_store_t *self, const char *key, const void *val, size_t len, uint32_t ttl_ms)
{
    YARD_ASSERT(self != NULL && key != NULL && (val != NULL || len == 0));
    return self->ops->set(self->impl, key, val != NULL ? val : "", len, ttl_ms);
}

int
yard_store_set_nx(yard_store_t *self, const char *key, const void *val, size_t len, uint32_t ttl_ms)
{
    YARD_ASSERT(self != NULL && key != NULL && (val != NULL || len == 0));
    return self->ops->set_nx(self->impl, key, val != NULL ? val : "", len, ttl_ms);
}

int
yard_store_del(yard_store_t *self, const char *key)
{
    YARD_ASSERT(self != NULL && key != NULL);
    return self->ops->del(self->impl, key);
}

int
yard_store_del_if(yard_store_t *self, const char *key, const void *val, size_t len)
{
    YARD_ASSERT(self != NULL && key != NULL && (val != NULL || len == 0));
    return self->ops->del_if(self->impl, key, val != NULL ? val : "", len);
}

int
yard_store_pexpire_if(yard_store_t *self, const char *key, const void *val, size_t len,
                      uint32_t ttl_ms)
{
    YARD_ASSERT(self != NULL && key != NULL && (val != NULL || len == 0));
    if (ttl_ms == 0) {
        return YARD_E_INVALID; /* a renewal that removed the expiry would hold a key for good */
    }
    return self->ops->pexpire_if(self->impl, key, val != NULL ? val : "", len, ttl_ms);
}

int
yard_store_incr(yard_store_t *self, const char *key, int64_t by, int64_t *out)
{
    YARD_ASSERT(self != NULL && key != NULL);
    int64_t ignored;
    return self->ops->incr(self->impl, key, by, out != NULL ? out : &ignored);
}

/* ceil() for the non-negative, bounded values here, without linking libm. */
static double
s_ceil(double x)
{
    if (x >= 9e18) {
        return x;
    }
    double whole = (double)(int64_t)x;
    return whole < x ? whole + 1.0 : whole;
}

void
yard__store_bucket_take(double *tokens, int64_t *ts_ms, int64_t now_ms, double rate_per_s,
                        uint32_t burst, uint32_t n, int *allowed, uint32_t *retry_after_ms)
{
    if (now_ms > *ts_ms) {
        *tokens += (double)(now_ms - *ts_ms) * rate_per_s / 1000.0;
        if (*tokens > (double)burst) {
            *tokens = (double)burst;
        }
        *ts_ms = now_ms;
    }
    if (*tokens >= (double)n) {
        *tokens -= (double)n;
        *allowed = 1;
        *retry_after_ms = 0;
        return;
    }
    double wait = s_ceil(((double)n - *tokens) * 1000.0 / rate_per_s);
    *allowed = 0;
    *retry_after_ms = wait < 1.0 ? 1 : wait > (double)UINT32_MAX ? UINT32_MAX : (uint32_t)wait;
}

uint32_t
yard__store_bucket_ttl_ms(double rate_per_s, uint32_t burst)
{
    double ms = s_ceil((double)burst * 1000.0 / rate_per_s) + 1000.0;
    return ms > (double)UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

int
yard_store_take_token(yard_store_t *self, const char *key, double rate_per_s, uint32_t burst,
                      uint64_t now_ms, int *allowed, uint32_t *retry_after_ms)
{
    return yard_store_take_tokens(self, key, rate_per_s, burst, 1, now_ms, allowed, retry_after_ms);
}

int
yard_store_take_tokens(yard_store_t *self, const char *key, double rate_per_s, uint32_t burst,
                       uint32_t n, uint64_t now_ms, int *allowed, uint32_t *retry_after_ms)
{
    YARD_ASSERT(self != NULL && key != NULL && allowed != NULL && retry_after_ms != NULL);
    *allowed = 0;
    *retry_after_ms = 0;
    if (!(rate_per_s > 0.0 && rate_per_s <= 1e9) || burst == 0 || n == 0 || n > burst ||
        now_ms > (uint64_t)INT64_MAX) {
        return YARD_E_INVALID;
    }
    return self->ops->take_token(self->impl, key, rate_per_s, burst, n, now_ms, allowed,
                                 retry_after_ms);
}

/* A member is a non-empty C string: NULL or "" is the caller's INVALID, not an assert, since
 * members often come from requests (a user name, an id). */
static bool
s_member_ok(const char *key, const char *member)
{
    return key != NULL && member != NULL && member[0] != '\0';
}

int
yard_store_sadd(yard_store_t *self, const char *key, const char *member)
{
    YARD_ASSERT(self != NULL);
    if (!s_member_ok(key, member)) {
        return YARD_E_INVALID;
    }
    return self->ops->sadd(self->impl, key, member);
}

int
yard_store_srem(yard_store_t *self, const char *key, const char *member)
{
    YARD_ASSERT(self != NULL);
    if (!s_member_ok(key, member)) {
        return YARD_E_INVALID;
    }
    return self->ops->srem(self->impl, key, member);
}

int
yard_store_smembers(yard_store_t *self, const char *key, char ***members, size_t *count)
{
    YARD_ASSERT(self != NULL && members != NULL);
    size_t ignored;
    if (count == NULL) {
        count = &ignored;
    }
    *members = NULL;
    *count = 0;
    if (key == NULL) {
        return YARD_E_INVALID;
    }
    /* a backend sets *members and *count only when it answers 0 */
    return self->ops->smembers(self->impl, key, members, count);
}

void
yard_store_members_free(char ***members_p)
{
    if (members_p == NULL || *members_p == NULL) {
        return;
    }
    for (char **m = *members_p; *m != NULL; m++) {
        free(*m);
    }
    free(*members_p);
    *members_p = NULL;
}
