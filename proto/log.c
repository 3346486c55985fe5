/* The JSON-lines logger. Each line is formatted into a per-call stack buffer and written with
 * one write(2), so lines from different threads never interleave. Rate limiting keeps a small
 * table of recent (level, message) pairs: more than S_BURST lines of one pair in a second are
 * dropped and counted, and the next line of that pair that gets through reports the count.
 *
 * Secrets registered with yard_log_add_secret() are replaced by <secret> in every string the
 * line carries, before escaping. The list only grows: an entry is written in full before the
 * count that publishes it (release/acquire), so readers need no lock. */
#include "alloc_internal.h"
#include "yard/log.h"
#include "yard/error.h"
#include "yard/utf8.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_LINE_MAX 4096
#define S_SLOTS    64
#define S_BURST    5

#define S_SECRETS_MAX    64
#define S_SECRET_MIN     4
#define S_SECRET_LEN_MAX (64 * 1024)

static atomic_int s_level = YARD_LOG_INFO;
static _Thread_local const char *s_component = NULL;
static _Thread_local int s_replica = -1;

typedef struct {
    const char *msg; /* the format pointer identifies the call site's message */
    int level;
    time_t second;
    unsigned count;
    unsigned suppressed;
} s_slot_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static s_slot_t s_slots[S_SLOTS];

typedef struct {
    char *value;
    size_t len;
} s_secret_t;

static s_secret_t s_secrets[S_SECRETS_MAX];
static bool s_secret_first[256]; /* the first bytes of the secrets: most bytes start none */
static atomic_size_t s_nsecrets = 0;

static const char *const s_level_names[] = {"debug", "info", "warn", "error", "off"};

/* The line sink: read under a read lock by every line, changed under the write lock, so
 * that yard_log_set_sink() returns only once no call of the old sink is running. */
static pthread_rwlock_t s_sink_lock = PTHREAD_RWLOCK_INITIALIZER;
static yard_log_sink_fn *s_sink_fn = NULL;
static void *s_sink_arg = NULL;
static atomic_bool s_sink_on = false; /* lines skip the lock while no sink is set */

void
yard_log_set_sink(yard_log_sink_fn *fn, void *arg)
{
    pthread_rwlock_wrlock(&s_sink_lock);
    s_sink_fn = fn;
    s_sink_arg = arg;
    atomic_store(&s_sink_on, fn != NULL);
    pthread_rwlock_unlock(&s_sink_lock);
}

static void
s_sink(const char *line, size_t len)
{
    if (!atomic_load_explicit(&s_sink_on, memory_order_relaxed)) {
        return;
    }
    pthread_rwlock_rdlock(&s_sink_lock);
    if (s_sink_fn != NULL) {
        s_sink_fn(s_component ? s_component : "main", line, len, s_sink_arg);
    }
    pthread_rwlock_unlock(&s_sink_lock);
}

void
yard_log_set_level(yard_log_level_t level)
{
    atomic_store(&s_level, (int)level);
}

bool
yard_log_enabled(yard_log_level_t level)
{
    return (int)level >= atomic_load(&s_level) && level < YARD_LOG_OFF;
}

int
yard_log_level_parse(const char *text, yard_log_level_t *out)
{
    for (int i = 0; text && i <= YARD_LOG_OFF; i++) {
        if (strcmp(text, s_level_names[i]) == 0) {
            *out = (yard_log_level_t)i;
            return 0;
        }
    }
    return YARD_E_INVALID;
}

void
yard_log_add_secret(const char *value)
{
    size_t len = value != NULL ? strlen(value) : 0;
    if (len < S_SECRET_MIN || len > S_SECRET_LEN_MAX) {
        return;
    }
    pthread_mutex_lock(&s_lock);
    size_t n = atomic_load_explicit(&s_nsecrets, memory_order_relaxed);
    bool known = false;
    for (size_t i = 0; i < n && !known; i++) {
        known = s_secrets[i].len == len && memcmp(s_secrets[i].value, value, len) == 0;
    }
    if (!known && n < S_SECRETS_MAX) {
        s_secrets[n].value = yard__xstrdup(value);
        s_secrets[n].len = len;
        s_secret_first[(unsigned char)value[0]] = true;
        atomic_store_explicit(&s_nsecrets, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&s_lock);
}

/* The length of the registered secret that starts at s (avail bytes left), or 0. */
static size_t
s_secret_at(const char *s, size_t avail, size_t nsecrets)
{
    if (!s_secret_first[(unsigned char)s[0]]) {
        return 0;
    }
    for (size_t k = 0; k < nsecrets; k++) {
        const s_secret_t *sec = &s_secrets[k];
        if (sec->len <= avail && sec->value[0] == s[0] && memcmp(sec->value, s, sec->len) == 0) {
            return sec->len;
        }
    }
    return 0;
}

void
yard_log_redact(const char *text, char *out, size_t cap)
{
    if (cap == 0) {
        return;
    }
    size_t nsecrets = atomic_load_explicit(&s_nsecrets, memory_order_acquire);
    size_t len = text != NULL ? strlen(text) : 0, o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        size_t secret = nsecrets > 0 ? s_secret_at(text + i, len - i, nsecrets) : 0;
        if (secret == 0) {
            out[o++] = text[i];
            continue;
        }
        int n = snprintf(out + o, cap - o, "<secret>");
        o += n > 0 && (size_t)n < cap - o ? (size_t)n : cap - o - 1;
        i += secret - 1;
    }
    out[o] = '\0';
}

void
yard_log_set_context(const char *component, int replica)
{
    s_component = component;
    s_replica = replica;
}

/* Returns how many earlier lines of this message were suppressed, or -1 to drop this one. */
static long
s_rate_check(yard_log_level_t level, const char *msg, time_t now)
{
    size_t h = ((uintptr_t)msg >> 3) ^ (size_t)level;
    s_slot_t *slot = &s_slots[h % S_SLOTS];
    long result = 0;
    pthread_mutex_lock(&s_lock);
    if (slot->msg != msg || slot->level != (int)level || slot->second != now) {
        result = slot->msg == msg && slot->level == (int)level ? (long)slot->suppressed : 0;
        slot->msg = msg;
        slot->level = (int)level;
        slot->second = now;
        slot->count = 0;
        slot->suppressed = 0;
    }
    if (++slot->count > S_BURST) {
        slot->suppressed++;
        result = -1;
    }
    pthread_mutex_unlock(&s_lock);
    return result;
}

typedef struct {
    char *buf;
    size_t len;
    size_t cap;
} s_out_t;

static void
s_put(s_out_t *o, const char *fmt, ...)
{
    if (o->len >= o->cap) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        o->len += (size_t)n < o->cap - o->len ? (size_t)n : o->cap - o->len - 1;
    }
}

/* Appends s as a JSON string (quoted, escaped). n < 0: s is NUL-terminated. */
static void
s_put_json_str(s_out_t *o, const char *s, int n)
{
    if (!s) {
        s_put(o, "null");
        return;
    }
    size_t len = n < 0 ? strlen(s) : (size_t)n;
    size_t nsecrets = atomic_load_explicit(&s_nsecrets, memory_order_acquire);
    s_put(o, "\"");
    for (size_t i = 0; i < len && o->len + 8 < o->cap; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t secret = nsecrets > 0 ? s_secret_at(s + i, len - i, nsecrets) : 0;
        if (secret > 0) {
            s_put(o, "<secret>");
            i += secret - 1;
        } else if (c >= 0x80) {
            /* Client-controlled bytes must not break the line's JSON: copy a well-formed
             * UTF-8 sequence whole, replace anything else with U+FFFD. */
            size_t k = yard_utf8_len(s + i, len - i);
            if (k == 0) {
                s_put(o, "\\ufffd");
                continue;
            }
            memcpy(o->buf + o->len, s + i, k);
            o->len += k;
            o->buf[o->len] = '\0';
            i += k - 1;
        } else if (c == '"' || c == '\\') {
            s_put(o, "\\%c", c);
        } else if (c == '\n') {
            s_put(o, "\\n");
        } else if (c < 0x20 || c == 0x7f) {
            s_put(o, "\\u%04x", c);
        } else {
            o->buf[o->len++] = (char)c;
            o->buf[o->len] = '\0';
        }
    }
    s_put(o, "\"");
}

static void
s_put_fields(s_out_t *o, va_list ap)
{
    const char *key;
    while ((key = va_arg(ap, const char *)) != NULL) {
        int type = va_arg(ap, int);
        s_put(o, ",");
        s_put_json_str(o, key, -1);
        s_put(o, ":");
        if (type == YARD_LOG_T_STR) {
            s_put_json_str(o, va_arg(ap, const char *), -1);
        } else if (type == YARD_LOG_T_STRN) {
            const char *s = va_arg(ap, const char *);
            s_put_json_str(o, s, va_arg(ap, int));
        } else if (type == YARD_LOG_T_INT) {
            s_put(o, "%lld", va_arg(ap, long long));
        } else if (type == YARD_LOG_T_UINT) {
            s_put(o, "%llu", va_arg(ap, unsigned long long));
        } else if (type == YARD_LOG_T_DBL) {
            s_put(o, "%.6g", va_arg(ap, double));
        } else {
            s_put(o, "%s", va_arg(ap, int) ? "true" : "false");
        }
    }
}

static void
s_emit(yard_log_level_t level, const char *msg, long suppressed, va_list ap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char buf[S_LINE_MAX];
    s_out_t o = {buf, 0, sizeof buf - 2};
    buf[0] = '\0';
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    s_put(&o, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\"",
          tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
          ts.tv_nsec / 1000000, s_level_names[level]);
    s_put(&o, ",\"component\":");
    s_put_json_str(&o, s_component ? s_component : "main", -1);
    if (s_replica >= 0) {
        s_put(&o, ",\"replica\":%d", s_replica);
    }
    s_put(&o, ",\"msg\":");
    s_put_json_str(&o, msg, -1);
    s_put_fields(&o, ap);
    if (suppressed > 0) {
        s_put(&o, ",\"suppressed\":%ld", suppressed);
    }
    buf[o.len++] = '}';
    buf[o.len++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, o.len);
    (void)w; /* nowhere to report a failed log write */
    s_sink(buf, o.len - 1);
}

void
yard_log_emit(yard_log_level_t level, const char *msg, ...)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long suppressed = s_rate_check(level, msg, ts.tv_sec);
    if (suppressed < 0) {
        return;
    }
    va_list ap;
    va_start(ap, msg);
    s_emit(level, msg, suppressed, ap);
    va_end(ap);
}

void
yard_log_emit_record(yard_log_level_t level, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    s_emit(level, msg, 0, ap);
    va_end(ap);
}
