/* Rate limits: one token bucket per (kind, key), kinds being the client's IP and its bearer
 * token, each with its configured rate and burst. With a shared store (Redis) the buckets live
 * there and the store's atomic take makes several gateway replicas share them; otherwise they
 * live here, in a bounded hash table with a least-recently-used list.
 *
 * Invariants: the local table never holds more than max_keys buckets (the least recently used
 * one is evicted to make room), and every bucket is reached both from its hash chain and from
 * the LRU list; both are changed only under the mutex. Times are monotonic. */
#include "ratelimit.h"

#include "yard/error.h"
#include "yard/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_MAX_KEYS_DEFAULT 100000
#define S_MAX_KEYS_LIMIT   10000000
#define S_KEY_MAX          200 /* longer keys (tokens) are kept as a prefix and a hash */
#define S_RATE_MAX         1e6

typedef struct {
    bool on;
    double rate; /* tokens per second */
    uint32_t burst;
} s_limit_t;

typedef struct s_bucket {
    struct s_bucket *chain;         /* hash chain */
    struct s_bucket *newer, *older; /* LRU list */
    char *key;                      /* "<kind>:<key>" */
    double tokens;
    uint64_t ts_ms;
} s_bucket_t;

struct yard_gw_ratelimit {
    s_limit_t limits[2]; /* by yard_gw_rl_kind_t */
    yard_store_t *store; /* borrowed; NULL: in-process buckets */
    pthread_mutex_t mu;
    s_bucket_t **table;
    size_t nslots; /* a power of two >= max_keys */
    size_t count, max_keys;
    s_bucket_t *newest, *oldest;
    uint64_t (*now_ms)(void *arg);
    void *now_arg;
};

static const char *const s_kind_names[] = {"per_ip", "per_token"};

static uint64_t
s_monotonic_ms(void *arg)
{
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t
s_hash(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* "<kind>:<key>", a long key shortened to a prefix and its hash so memory per bucket is
 * bounded whatever a client sends. */
static void
s_bucket_key(yard_gw_rl_kind_t kind, const char *key, char *buf, size_t len)
{
    size_t klen = strlen(key);
    if (klen <= S_KEY_MAX) {
        snprintf(buf, len, "%s:%s", s_kind_names[kind], key);
    } else {
        snprintf(buf, len, "%s:%.*s#%016llx", s_kind_names[kind], S_KEY_MAX - 20, key,
                 (unsigned long long)s_hash(key, klen));
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Config */

static int s_err(char *errbuf, size_t errlen, yard_config_node_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
s_err(char *errbuf, size_t errlen, yard_config_node_t at, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (errbuf != NULL && errlen > 0) {
        snprintf(errbuf, errlen, "%s:%d: gateway.rate_limit.%s", yard_config_path(at.cfg),
                 yard_config_node_line(at), why);
    }
    return YARD_E_CONFIG;
}

/* Refuses keys of map not in names, naming the key's line. */
static int
s_only_keys(yard_config_node_t map, const char *where, const char *const *names, char *errbuf,
            size_t errlen)
{
    for (size_t i = 0; i < yard_config_node_len(map); i++) {
        int line = 0;
        const char *key = yard_config_node_key(map, i, NULL, &line);
        bool known = false;
        for (size_t k = 0; key != NULL && names[k] != NULL; k++) {
            known = known || strcmp(key, names[k]) == 0;
        }
        if (!known) {
            snprintf(errbuf, errlen, "%s:%d: gateway.rate_limit%s: unknown key '%s'",
                     yard_config_path(map.cfg), line, where, key != NULL ? key : "?");
            return YARD_E_CONFIG;
        }
    }
    return 0;
}

static int
s_read_rate(yard_config_node_t node, const char *kind, double *out, char *errbuf, size_t errlen)
{
    const char *text = yard_config_node_text(node);
    if (yard_config_node_kind(node) != YARD_CONFIG_SCALAR || text == NULL) {
        return s_err(errbuf, errlen, node, "%s.rate: expected requests per second", kind);
    }
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(v > 0 && v <= S_RATE_MAX)) {
        return s_err(errbuf, errlen, node,
                     "%s.rate: '%s' is not a number of requests per second in (0, 1000000]", kind,
                     text);
    }
    *out = v;
    return 0;
}

static int
s_read_limit(s_limit_t *l, yard_config_node_t map, const char *kind, char *errbuf, size_t errlen)
{
    static const char *const keys[] = {"rate", "burst", NULL};
    char where[32];
    snprintf(where, sizeof where, ".%s", kind);
    if (yard_config_node_kind(map) != YARD_CONFIG_MAP) {
        return s_err(errbuf, errlen, map, "%s: expected a map {rate, burst}", kind);
    }
    int rc = s_only_keys(map, where, keys, errbuf, errlen);
    yard_config_node_t rate = yard_config_node_get(map, "rate");
    if (rc == 0 && yard_config_node_kind(rate) == YARD_CONFIG_ABSENT) {
        return s_err(errbuf, errlen, map, "%s.rate: missing", kind);
    }
    rc = rc != 0 ? rc : s_read_rate(rate, kind, &l->rate, errbuf, errlen);
    /* The default burst is one second's worth. */
    int64_t burst = l->rate < 1 ? 1 : (int64_t)l->rate;
    yard_config_node_t node = yard_config_node_get(map, "burst");
    if (rc == 0 && yard_config_node_kind(node) != YARD_CONFIG_ABSENT) {
        char why[200];
        const char *text = yard_config_node_text(node);
        if (text == NULL || yard_option_parse(YARD_OPT_INT, text, &burst, why, sizeof why) != 0) {
            return s_err(errbuf, errlen, node, "%s.burst: %s", kind,
                         text == NULL ? "expected a single value" : why);
        }
        if (burst < 1 || burst > 10000000) {
            return s_err(errbuf, errlen, node, "%s.burst: %lld is out of range [1, 10000000]", kind,
                         (long long)burst);
        }
    }
    l->burst = (uint32_t)burst;
    l->on = rc == 0;
    return rc;
}

static int
s_read(yard_gw_ratelimit_t *self, yard_config_node_t map, char *errbuf, size_t errlen)
{
    static const char *const keys[] = {"per_ip", "per_token", "max_keys", NULL};
    int rc = s_only_keys(map, "", keys, errbuf, errlen);
    for (int k = 0; rc == 0 && k < 2; k++) {
        yard_config_node_t node = yard_config_node_get(map, s_kind_names[k]);
        yard_config_kind_t kind = yard_config_node_kind(node);
        if (kind != YARD_CONFIG_ABSENT && kind != YARD_CONFIG_NULL) {
            rc = s_read_limit(&self->limits[k], node, s_kind_names[k], errbuf, errlen);
        }
    }
    int64_t max_keys = S_MAX_KEYS_DEFAULT;
    yard_config_node_t node = yard_config_node_get(map, "max_keys");
    if (rc == 0 && yard_config_node_kind(node) != YARD_CONFIG_ABSENT) {
        char why[200];
        const char *text = yard_config_node_text(node);
        if (text == NULL ||
            yard_option_parse(YARD_OPT_INT, text, &max_keys, why, sizeof why) != 0 ||
            max_keys < 1 || max_keys > S_MAX_KEYS_LIMIT) {
            return s_err(errbuf, errlen, node, "max_keys: expected an integer in [1, %d]",
                         S_MAX_KEYS_LIMIT);
        }
    }
    self->max_keys = (size_t)max_keys;
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Life cycle */

int
yard_gw_ratelimit_new(const yard_config_t *cfg, yard_store_t *store, yard_gw_ratelimit_t **out,
                      char *errbuf, size_t errlen)
{
    *out = NULL;
    yard_config_node_t map = yard_config_node(cfg, "gateway.rate_limit");
    yard_config_kind_t kind = yard_config_node_kind(map);
    if (kind == YARD_CONFIG_ABSENT || kind == YARD_CONFIG_NULL) {
        return 0;
    }
    if (kind != YARD_CONFIG_MAP) {
        return s_err(errbuf, errlen, map, "%s", "rate_limit: expected a map {per_ip, per_token}");
    }
    yard_gw_ratelimit_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        abort();
    }
    pthread_mutex_init(&self->mu, NULL);
    self->now_ms = s_monotonic_ms;
    int rc = s_read(self, map, errbuf, errlen);
    if (rc != 0 || (!self->limits[0].on && !self->limits[1].on)) {
        yard_gw_ratelimit_destroy(&self);
        return rc;
    }
    self->store = store != NULL && yard_store_shared(store) ? store : NULL;
    self->nslots = 64;
    while (self->nslots < self->max_keys) {
        self->nslots *= 2;
    }
    self->table = calloc(self->nslots, sizeof *self->table);
    if (self->table == NULL) {
        abort();
    }
    *out = self;
    return 0;
}

void
yard_gw_ratelimit_destroy(yard_gw_ratelimit_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    yard_gw_ratelimit_t *self = *self_p;
    s_bucket_t *b = self->newest;
    while (b != NULL) {
        s_bucket_t *next = b->older;
        free(b->key);
        free(b);
        b = next;
    }
    free(self->table);
    pthread_mutex_destroy(&self->mu);
    free(self);
    *self_p = NULL;
}

void
yard_gw_ratelimit_set_clock(yard_gw_ratelimit_t *self, uint64_t (*now_ms)(void *arg), void *arg)
{
    pthread_mutex_lock(&self->mu);
    self->now_ms = now_ms != NULL ? now_ms : s_monotonic_ms;
    self->now_arg = arg;
    pthread_mutex_unlock(&self->mu);
}

/* ---------------------------------------------------------------------------------------- */
/* The local table. Caller holds the mutex. */

static void
s_lru_unlink(yard_gw_ratelimit_t *self, s_bucket_t *b)
{
    if (b->newer != NULL) {
        b->newer->older = b->older;
    } else {
        self->newest = b->older;
    }
    if (b->older != NULL) {
        b->older->newer = b->newer;
    } else {
        self->oldest = b->newer;
    }
    b->newer = b->older = NULL;
}

static void
s_lru_push(yard_gw_ratelimit_t *self, s_bucket_t *b)
{
    b->older = self->newest;
    b->newer = NULL;
    if (self->newest != NULL) {
        self->newest->newer = b;
    }
    self->newest = b;
    if (self->oldest == NULL) {
        self->oldest = b;
    }
}

static s_bucket_t **
s_slot(yard_gw_ratelimit_t *self, const char *key)
{
    return &self->table[s_hash(key, strlen(key)) & (self->nslots - 1)];
}

/* Removes the least recently used bucket to make room. */
static void
s_evict(yard_gw_ratelimit_t *self)
{
    s_bucket_t *victim = self->oldest;
    for (s_bucket_t **pp = s_slot(self, victim->key); *pp != NULL; pp = &(*pp)->chain) {
        if (*pp == victim) {
            *pp = victim->chain;
            break;
        }
    }
    s_lru_unlink(self, victim);
    free(victim->key);
    free(victim);
    self->count--;
}

/* key's bucket, created full when absent; moved to the front of the LRU list. */
static s_bucket_t *
s_bucket(yard_gw_ratelimit_t *self, const char *key, const s_limit_t *l, uint64_t now)
{
    s_bucket_t **slot = s_slot(self, key);
    for (s_bucket_t *b = *slot; b != NULL; b = b->chain) {
        if (strcmp(b->key, key) == 0) {
            s_lru_unlink(self, b);
            s_lru_push(self, b);
            return b;
        }
    }
    if (self->count >= self->max_keys) {
        s_evict(self);
        slot = s_slot(self, key);
    }
    s_bucket_t *b = calloc(1, sizeof *b);
    if (b == NULL || (b->key = strdup(key)) == NULL) {
        abort();
    }
    b->tokens = l->burst;
    b->ts_ms = now;
    b->chain = *slot;
    *slot = b;
    s_lru_push(self, b);
    self->count++;
    return b;
}

/* The same arithmetic as the store's: refill since ts (never backwards), take one. */
static bool
s_take_local(yard_gw_ratelimit_t *self, const char *key, const s_limit_t *l, uint32_t *retry_ms)
{
    pthread_mutex_lock(&self->mu);
    uint64_t now = self->now_ms(self->now_arg);
    s_bucket_t *b = s_bucket(self, key, l, now);
    if (now > b->ts_ms) {
        b->tokens += (double)(now - b->ts_ms) * l->rate / 1000.0;
        if (b->tokens > l->burst) {
            b->tokens = l->burst;
        }
        b->ts_ms = now;
    }
    bool allowed = b->tokens >= 1.0;
    if (allowed) {
        b->tokens -= 1.0;
        *retry_ms = 0;
    } else {
        double wait = (1.0 - b->tokens) * 1000.0 / l->rate;
        uint32_t ms = wait >= 4e9 ? 4000000000u : (uint32_t)wait;
        *retry_ms = ms < wait ? ms + 1 : ms == 0 ? 1 : ms; /* ceil, at least 1 */
    }
    pthread_mutex_unlock(&self->mu);
    return allowed;
}

/* ---------------------------------------------------------------------------------------- */
/* Taking */

int
yard_gw_ratelimit_take(yard_gw_ratelimit_t *self, yard_gw_rl_kind_t kind, const char *key,
                       uint32_t *retry_after_s)
{
    *retry_after_s = 0;
    if (self == NULL || key == NULL || (kind != YARD_GW_RL_IP && kind != YARD_GW_RL_TOKEN) ||
        !self->limits[kind].on) {
        return 0;
    }
    const s_limit_t *l = &self->limits[kind];
    char bkey[S_KEY_MAX + 64];
    s_bucket_key(kind, key, bkey, sizeof bkey);
    uint32_t retry_ms = 0;
    bool allowed;
    if (self->store != NULL) {
        char skey[sizeof bkey + 16];
        snprintf(skey, sizeof skey, "yard:rl:%s", bkey);
        int ok = 1;
        int rc = yard_store_take_token(self->store, skey, l->rate, l->burst, 0, &ok, &retry_ms);
        if (rc != 0) {
            /* Fail open: a store outage must not take the whole API down with it. */
            yard_log(YARD_LOG_WARN, "rate limit: store did not answer; request let through",
                     YF_STR("error", yard_err_name(rc)));
            return 0;
        }
        allowed = ok == 1;
    } else {
        allowed = s_take_local(self, bkey, l, &retry_ms);
    }
    if (allowed) {
        return 0;
    }
    uint64_t seconds = ((uint64_t)retry_ms + 999) / 1000;
    *retry_after_s = seconds == 0 ? 1 : (uint32_t)seconds;
    return YARD_E_OVERLOADED;
}
