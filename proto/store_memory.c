/* The in-process store: a chained hash table behind one mutex. Expiry is lazy (an expired
 * entry is dropped when an operation finds it) plus an occasional sweep on writes, so keys
 * that are set with a TTL and never read again do not accumulate. Times are monotonic.
 *
 * An entry holds either a plain value or a set (a chained hash of member strings, under the
 * same mutex), never both; a set has no TTL and its entry is removed with its last member, so
 * no empty set is ever stored. The plain-value operations treat a set as Redis treats a key
 * of the wrong type, so code behaves the same on both backends:
 *   get, del_if, pexpire_if, incr,  YARD_E_INVALID (Redis answers WRONGTYPE), key unchanged
 *   take_token
 *   set                             replaces the set with the value (as SET does)
 *   set_nx                          0: the key exists
 *   del                             deletes the set, 1
 * and sadd, srem, smembers on a plain value answer YARD_E_INVALID. */
#include "alloc_internal.h"
#include "store_internal.h"
#include "yard/error.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Writes between sweeps of expired entries. */
#define S_SWEEP_EVERY 1024

/* A set: member strings in a chained hash table of its own. */
typedef struct s_member {
    struct s_member *next;
    char *name;
} s_member_t;

typedef struct {
    s_member_t **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;    /* >= 1 while stored: an emptied set is removed */
} s_set_t;

typedef struct s_entry {
    struct s_entry *next;
    char *key;
    char *val; /* NUL-terminated copy; len excludes the NUL; NULL when set is not */
    size_t len;
    s_set_t *set;       /* the key holds a set; NULL for a plain value */
    int64_t expires_ms; /* monotonic; 0: never (always for a set) */
} s_entry_t;

typedef struct {
    pthread_mutex_t mu;
    s_entry_t **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    unsigned writes;
} s_memory_t;

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
s_hash(const char *key)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

static void
s_set_free(s_set_t *set)
{
    if (set == NULL) {
        return;
    }
    for (size_t i = 0; i < set->nbuckets; i++) {
        s_member_t *m = set->buckets[i];
        while (m != NULL) {
            s_member_t *next = m->next;
            free(m->name);
            free(m);
            m = next;
        }
    }
    free(set->buckets);
    free(set);
}

static void
s_entry_free(s_entry_t *e)
{
    free(e->key);
    free(e->val);
    s_set_free(e->set);
    free(e);
}

static bool
s_expired(const s_entry_t *e, int64_t now)
{
    return e->expires_ms != 0 && e->expires_ms <= now;
}

static int64_t
s_deadline(uint32_t ttl_ms, int64_t now)
{
    return ttl_ms == 0 ? 0 : now + ttl_ms;
}

/* Finds key's live entry, dropping it first when expired. Sets *link to the pointer that
 * points at the entry (for unlinking). Caller holds the mutex. */
static s_entry_t *
s_find(s_memory_t *self, const char *key, int64_t now, s_entry_t ***link)
{
    s_entry_t **pp = &self->buckets[s_hash(key) & (self->nbuckets - 1)];
    for (; *pp != NULL; pp = &(*pp)->next) {
        s_entry_t *e = *pp;
        if (strcmp(e->key, key) != 0) {
            continue;
        }
        if (s_expired(e, now)) {
            *pp = e->next;
            s_entry_free(e);
            self->count--;
            return NULL;
        }
        if (link != NULL) {
            *link = pp;
        }
        return e;
    }
    return NULL;
}

static void
s_sweep(s_memory_t *self, int64_t now)
{
    for (size_t i = 0; i < self->nbuckets; i++) {
        s_entry_t **pp = &self->buckets[i];
        while (*pp != NULL) {
            s_entry_t *e = *pp;
            if (s_expired(e, now)) {
                *pp = e->next;
                s_entry_free(e);
                self->count--;
            } else {
                pp = &e->next;
            }
        }
    }
}

static void
s_grow(s_memory_t *self)
{
    size_t n = self->nbuckets * 2;
    s_entry_t **buckets = yard__xcalloc(n, sizeof *buckets);
    for (size_t i = 0; i < self->nbuckets; i++) {
        s_entry_t *e = self->buckets[i];
        while (e != NULL) {
            s_entry_t *next = e->next;
            size_t b = s_hash(e->key) & (n - 1);
            e->next = buckets[b];
            buckets[b] = e;
            e = next;
        }
    }
    free(self->buckets);
    self->buckets = buckets;
    self->nbuckets = n;
}

/* Adds a new entry (key must be absent) and returns it. Caller holds the mutex. */
static s_entry_t *
s_insert(s_memory_t *self, const char *key, char *val, size_t len, int64_t expires_ms, int64_t now)
{
    if (++self->writes % S_SWEEP_EVERY == 0) {
        s_sweep(self, now);
    }
    if (self->count >= self->nbuckets) {
        s_grow(self);
    }
    s_entry_t *e = yard__xcalloc(1, sizeof *e);
    e->key = yard__store_dup(key, strlen(key));
    e->val = val;
    e->len = len;
    e->expires_ms = expires_ms;
    size_t b = s_hash(key) & (self->nbuckets - 1);
    e->next = self->buckets[b];
    self->buckets[b] = e;
    self->count++;
    return e;
}

static void
s_destroy(void *impl)
{
    s_memory_t *self = impl;
    for (size_t i = 0; i < self->nbuckets; i++) {
        s_entry_t *e = self->buckets[i];
        while (e != NULL) {
            s_entry_t *next = e->next;
            s_entry_free(e);
            e = next;
        }
    }
    free(self->buckets);
    pthread_mutex_destroy(&self->mu);
    free(self);
}

static int
s_get(void *impl, const char *key, char **val, size_t *len)
{
    s_memory_t *self = impl;
    pthread_mutex_lock(&self->mu);
    s_entry_t *e = s_find(self, key, s_now_ms(), NULL);
    int rc = YARD_E_NOT_FOUND;
    if (e != NULL && e->set != NULL) {
        rc = YARD_E_INVALID;
    } else if (e != NULL) {
        *val = yard__store_dup(e->val, e->len);
        *len = e->len;
        rc = 0;
    }
    pthread_mutex_unlock(&self->mu);
    return rc;
}

static int
s_mget(void *impl, const char *const *keys, size_t n, char **vals, size_t *lens)
{
    s_memory_t *self = impl;
    pthread_mutex_lock(&self->mu);
    int64_t now = s_now_ms();
    for (size_t i = 0; i < n; i++) {
        s_entry_t *e = s_find(self, keys[i], now, NULL);
        if (e != NULL && e->set == NULL) { /* a set reads as absent, as MGET has it */
            vals[i] = yard__store_dup(e->val, e->len);
            lens[i] = e->len;
        }
    }
    pthread_mutex_unlock(&self->mu);
    return 0;
}

static int
s_set(void *impl, const char *key, const void *val, size_t len, uint32_t ttl_ms)
{
    s_memory_t *self = impl;
    char *copy = yard__store_dup(val, len);
    pthread_mutex_lock(&self->mu);
    int64_t now = s_now_ms();
    s_entry_t *e = s_find(self, key, now, NULL);
    if (e != NULL) {
        free(e->val);
        s_set_free(e->set); /* a plain value replaces a set, as SET does */
        e->set = NULL;
        e->val = copy;
        e->len = len;
        e->expires_ms = s_deadline(ttl_ms, now);
    } else {
        s_insert(self, key, copy, len, s_deadline(ttl_ms, now), now);
    }
    pthread_mutex_unlock(&self->mu);
    return 0;
}

static int
s_set_nx(void *impl, const char *key, const void *val, size_t len, uint32_t ttl_ms)
{
    s_memory_t *self = impl;
    pthread_mutex_lock(&self->mu);
    int64_t now = s_now_ms();
    int rc = 0;
    if (s_find(self, key, now, NULL) == NULL) {
        s_insert(self, key, yard__store_dup(val, len), len, s_deadline(ttl_ms, now), now);
        rc = 1;
    }
    pthread_mutex_unlock(&self->mu);
    return rc;
}

/* Unlinks and frees key's entry, when compare is set only if its value equals val; returns
 * 1 when it did. Comparing with a set is INVALID (the Lua GET on Redis fails WRONGTYPE). */
static int
s_remove(s_memory_t *self, const char *key, const void *val, size_t len, bool compare)
{
    pthread_mutex_lock(&self->mu);
    s_entry_t **link = NULL;
    s_entry_t *e = s_find(self, key, s_now_ms(), &link);
    int rc = 0;
    if (e != NULL && compare && e->set != NULL) {
        rc = YARD_E_INVALID;
    } else if (e != NULL && (!compare || (e->len == len && memcmp(e->val, val, len) == 0))) {
        *link = e->next;
        s_entry_free(e);
        self->count--;
        rc = 1;
    }
    pthread_mutex_unlock(&self->mu);
    return rc;
}

static int
s_del(void *impl, const char *key)
{
    return s_remove(impl, key, NULL, 0, false);
}

static int
s_del_if(void *impl, const char *key, const void *val, size_t len)
{
    return s_remove(impl, key, val, len, true);
}

/* Moves key's expiry to now + ttl_ms when its value equals val (the lease renewal). */
static int
s_pexpire_if(void *impl, const char *key, const void *val, size_t len, uint32_t ttl_ms)
{
    s_memory_t *self = impl;
    pthread_mutex_lock(&self->mu);
    int64_t now = s_now_ms();
    s_entry_t *e = s_find(self, key, now, NULL);
    int rc = 0;
    if (e != NULL && e->set != NULL) {
        rc = YARD_E_INVALID;
    } else if (e != NULL && e->len == len && memcmp(e->val, val, len) == 0) {
        e->expires_ms = s_deadline(ttl_ms, now);
        rc = 1;
    }
    pthread_mutex_unlock(&self->mu);
    return rc;
}

/* Parses a value as Redis does for INCRBY: an optional '-' and decimal digits, nothing else,
 * within int64_t. */
static bool
s_parse_int(const char *text, size_t len, int64_t *out)
{
    if (len == 0 || len > 20 || strlen(text) != len) {
        return false;
    }
    if (text[0] == '+' || text[0] == ' ' || (text[0] == '0' && len > 1) ||
        (text[0] == '-' && (len == 1 || text[1] == '0'))) {
        return false;
    }
    errno = 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *out = (int64_t)v;
    return true;
}

static int
s_incr(void *impl, const char *key, int64_t by, int64_t *out)
{
    s_memory_t *self = impl;
    pthread_mutex_lock(&self->mu);
    int64_t now = s_now_ms();
    s_entry_t *e = s_find(self, key, now, NULL);
    int64_t cur = 0;
    int rc = 0;
    if (e != NULL && (e->set != NULL || !s_parse_int(e->val, e->len, &cur))) {
        rc = YARD_E_INVALID;
        goto done;
    }
    if ((by > 0 && cur > INT64_MAX - by) || (by < 0 && cur < INT64_MIN - by)) {
        rc = YARD_E_INVALID; /* overflow, as Redis refuses it */
        goto done;
    }
    cur += by;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%" PRId64, cur);
    char *copy = yard__store_dup(buf, (size_t)n);
    if (e != NULL) {
        free(e->val); /* the TTL stays, as with INCRBY */
        e->val = copy;
        e->len = (size_t)n;
    } else {
        s_insert(self, key, copy, (size_t)n, 0, now);
    }
    *out = cur;
done:
    pthread_mutex_unlock(&self->mu);
    return rc;
}

/* The bucket is an ordinary entry whose value is "<tokens> <ts_ms>", so it expires like any
 * other key; a value that is not a bucket is the caller's INVALID, as WRONGTYPE on Redis. */
static int
s_take_token(void *impl, const char *key, double rate_per_s, uint32_t burst, uint32_t n,
             uint64_t now_ms, int *allowed, uint32_t *retry_after_ms)
{
    s_memory_t *self = impl;
    pthread_mutex_lock(&self->mu);
    int64_t clock = s_now_ms();
    int64_t now = now_ms != 0 ? (int64_t)now_ms : clock;
    s_entry_t *e = s_find(self, key, clock, NULL);
    double tokens = burst;
    long long ts = now;
    int rc = 0;
    if (e != NULL && (e->set != NULL || sscanf(e->val, "%lf %lld", &tokens, &ts) != 2)) {
        rc = YARD_E_INVALID;
        goto done;
    }
    int64_t ts_ms = ts;
    yard__store_bucket_take(&tokens, &ts_ms, now, rate_per_s, burst, n, allowed, retry_after_ms);
    char buf[64];
    int len = snprintf(buf, sizeof buf, "%.17g %lld", tokens, (long long)ts_ms);
    char *copy = yard__store_dup(buf, (size_t)len);
    int64_t expires = s_deadline(yard__store_bucket_ttl_ms(rate_per_s, burst), clock);
    if (e != NULL) {
        free(e->val);
        e->val = copy;
        e->len = (size_t)len;
        e->expires_ms = expires;
    } else {
        s_insert(self, key, copy, (size_t)len, expires, clock);
    }
done:
    pthread_mutex_unlock(&self->mu);
    return rc;
}

/* Finds member's link in set: the pointer that points at it, or at the NULL ending its chain
 * when absent. */
static s_member_t **
s_member_link(s_set_t *set, const char *member)
{
    s_member_t **pp = &set->buckets[s_hash(member) & (set->nbuckets - 1)];
    while (*pp != NULL && strcmp((*pp)->name, member) != 0) {
        pp = &(*pp)->next;
    }
    return pp;
}

static void
s_set_grow(s_set_t *set)
{
    size_t n = set->nbuckets * 2;
    s_member_t **buckets = yard__xcalloc(n, sizeof *buckets);
    for (size_t i = 0; i < set->nbuckets; i++) {
        s_member_t *m = set->buckets[i];
        while (m != NULL) {
            s_member_t *next = m->next;
            size_t b = s_hash(m->name) & (n - 1);
            m->next = buckets[b];
            buckets[b] = m;
            m = next;
        }
    }
    free(set->buckets);
    set->buckets = buckets;
    set->nbuckets = n;
}

static s_set_t *
s_set_new(void)
{
    s_set_t *set = yard__xcalloc(1, sizeof *set);
    set->nbuckets = 8;
    set->buckets = yard__xcalloc(set->nbuckets, sizeof *set->buckets);
    return set;
}

static int
s_sadd(void *impl, const char *key, const char *member)
{
    s_memory_t *self = impl;
    pthread_mutex_lock(&self->mu);
    int64_t now = s_now_ms();
    s_entry_t *e = s_find(self, key, now, NULL);
    int rc = 0;
    if (e != NULL && e->set == NULL) {
        rc = YARD_E_INVALID;
        goto done;
    }
    if (e == NULL) {
        e = s_insert(self, key, NULL, 0, 0, now);
        e->set = s_set_new();
    }
    s_set_t *set = e->set;
    s_member_t **link = s_member_link(set, member);
    if (*link == NULL) {
        s_member_t *m = yard__xcalloc(1, sizeof *m);
        m->name = yard__store_dup(member, strlen(member));
        *link = m;
        set->count++;
        rc = 1;
        if (set->count > set->nbuckets) {
            s_set_grow(set);
        }
    }
done:
    pthread_mutex_unlock(&self->mu);
    return rc;
}

static int
s_srem(void *impl, const char *key, const char *member)
{
    s_memory_t *self = impl;
    pthread_mutex_lock(&self->mu);
    s_entry_t **entry_link = NULL;
    s_entry_t *e = s_find(self, key, s_now_ms(), &entry_link);
    int rc = 0;
    if (e != NULL && e->set == NULL) {
        rc = YARD_E_INVALID;
    } else if (e != NULL) {
        s_member_t **link = s_member_link(e->set, member);
        s_member_t *m = *link;
        if (m != NULL) {
            *link = m->next;
            free(m->name);
            free(m);
            rc = 1;
            if (--e->set->count == 0) { /* an emptied set disappears, as on Redis */
                *entry_link = e->next;
                s_entry_free(e);
                self->count--;
            }
        }
    }
    pthread_mutex_unlock(&self->mu);
    return rc;
}

static int
s_smembers(void *impl, const char *key, char ***members, size_t *count)
{
    s_memory_t *self = impl;
    pthread_mutex_lock(&self->mu);
    s_entry_t *e = s_find(self, key, s_now_ms(), NULL);
    int rc = 0;
    if (e != NULL && e->set == NULL) {
        rc = YARD_E_INVALID;
    } else if (e == NULL) {
        *members = yard__store_members_new(0);
        *count = 0;
    } else {
        char **out = yard__store_members_new(e->set->count);
        size_t n = 0;
        for (size_t i = 0; i < e->set->nbuckets; i++) {
            for (const s_member_t *m = e->set->buckets[i]; m != NULL; m = m->next) {
                out[n++] = yard__store_dup(m->name, strlen(m->name));
            }
        }
        *members = out;
        *count = n;
    }
    pthread_mutex_unlock(&self->mu);
    return rc;
}

static const yard__store_ops_t s_ops = {
    .name = "memory",
    .shared = false,
    .destroy = s_destroy,
    .get = s_get,
    .set = s_set,
    .set_nx = s_set_nx,
    .del = s_del,
    .del_if = s_del_if,
    .pexpire_if = s_pexpire_if,
    .incr = s_incr,
    .take_token = s_take_token,
    .mget = s_mget,
    .sadd = s_sadd,
    .srem = s_srem,
    .smembers = s_smembers,
};

int
yard__store_memory_open(const yard__store_ops_t **ops, void **impl)
{
    s_memory_t *self = yard__xcalloc(1, sizeof *self);
    pthread_mutex_init(&self->mu, NULL);
    self->nbuckets = 64;
    self->buckets = yard__xcalloc(self->nbuckets, sizeof *self->buckets);
    *ops = &s_ops;
    *impl = self;
    return 0;
}
