/* Records: one Elasticsearch bulk item per line (or multiline event), as an action line and a
 * document line:
 *   {"create":{"_index":"yard-logs-2026.12.04","_id":"<32 hex>"}}
 *   {"@timestamp":"...","message":"...","log":{"file":{"path":"..."},"offset":N},
 *    "host":{"name":"..."},"service":{"name":"..."},"agent":{"type":"logship","version":"..."}}
 * `create` with an _id derived from the source and offset makes a resend a 409, which counts as
 * done: that is how at-least-once delivery stays free of duplicates in the index.
 *
 * A line that is a JSON object is decoded: its members become the document's fields (a
 * Switchyard log line's ts, msg, level and component map to @timestamp, message, log.level
 * and service.name); members that would collide with the fields set here (log, host, service,
 * agent) are kept under "json". Plain lines are escaped here directly, the fast path. */
#include "ls.h"

#include "yard/json.h"
#include "yard/mp.h"
#include "yard/utf8.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef YARD_VERSION
#error "YARD_VERSION must come from the build"
#endif

void
ls_buf_add(ls_buf_t *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            abort(); /* allocation failure aborts, as everywhere in libyard */
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void
ls_buf_free(ls_buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static uint64_t
s_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t
ls_hash(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = s_mix(seed ^ (n * 0x9e3779b97f4a7c15ull));
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = s_mix(h ^ w) + 0x9e3779b97f4a7c15ull;
    }
    uint64_t tail = 0;
    memcpy(&tail, p + i, n - i);
    return s_mix(h ^ tail ^ ((uint64_t)(n - i) << 56));
}

/* Appends s as a quoted JSON string; bytes that are not UTF-8 become U+FFFD. */
static void
s_json_str(ls_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    ls_buf_add(b, "\"", 1);
    size_t run = 0; /* bytes copied as they are, flushed in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7f) {
            run++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = yard_utf8_len(s + i, n - i);
            if (k > 0) {
                run += k;
                i += k - 1;
                continue;
            }
        }
        ls_buf_add(b, s + i - run, run);
        run = 0;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            ls_buf_add(b, esc, 2);
        } else if (c == '\n') {
            ls_buf_add(b, "\\n", 2);
        } else if (c == '\t') {
            ls_buf_add(b, "\\t", 2);
        } else if (c >= 0x80) {
            ls_buf_add(b, "\\ufffd", 6);
        } else {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            ls_buf_add(b, esc, 6);
        }
    }
    ls_buf_add(b, s + n - run, run);
    ls_buf_add(b, "\"", 1);
}

static void
s_timestamp(int64_t wall_ms, char *out, size_t cap)
{
    time_t sec = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    /* strftime bounds the date by cap; snprintf's int fields made an optimising build warn
     * that a year of 11 digits would not fit. */
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03dZ", (int)(wall_ms % 1000));
}

static void
s_action(ls_batch_t *b, const ls_line_t *l, const char *index)
{
    char act[512];
    int n = snprintf(act, sizeof act, "{\"create\":{\"_index\":");
    ls_buf_add(&b->body, act, (size_t)n);
    s_json_str(&b->body, index, strlen(index));
    n = snprintf(act, sizeof act, ",\"_id\":\"%016llx%016llx\"}}\n", (unsigned long long)l->id_hi,
                 (unsigned long long)l->id_lo);
    ls_buf_add(&b->body, act, (size_t)n);
}

/* "log":{...} without the closing brace's comma handling: fields common to both forms. */
static void
s_fields(ls_buf_t *d, const ls_line_t *l, const char *host, const char *level)
{
    char num[64];
    ls_buf_add(d, ",\"log\":{", 8);
    if (l->path) {
        ls_buf_add(d, "\"file\":{\"path\":", 15);
        s_json_str(d, l->path, strlen(l->path));
        ls_buf_add(d, "},", 2);
    } else {
        ls_buf_add(d, "\"subject\":", 10);
        s_json_str(d, l->subject, strlen(l->subject));
        ls_buf_add(d, ",", 1);
    }
    if (level) {
        ls_buf_add(d, "\"level\":", 8);
        s_json_str(d, level, strlen(level));
        ls_buf_add(d, ",", 1);
    }
    if (l->truncated || l->multiline) {
        const char *f = l->truncated && l->multiline ? "[\"truncated\",\"multiline\"]"
                        : l->truncated               ? "[\"truncated\"]"
                                                     : "[\"multiline\"]";
        ls_buf_add(d, "\"flags\":", 8);
        ls_buf_add(d, f, strlen(f));
        ls_buf_add(d, ",", 1);
    }
    int n = snprintf(num, sizeof num,
                     "\"offset\":%llu},\"host\":{\"name\":", (unsigned long long)l->offset);
    ls_buf_add(d, num, (size_t)n);
    s_json_str(d, host, strlen(host));
    static const char agent[] =
        "},\"agent\":{\"type\":\"logship\",\"version\":\"" YARD_VERSION "\"}";
    ls_buf_add(d, agent, sizeof agent - 1);
}

static void
s_plain(ls_buf_t *d, const ls_line_t *l, const char *host)
{
    char ts[40];
    s_timestamp(l->wall_ms, ts, sizeof ts);
    ls_buf_add(d, "{\"@timestamp\":\"", 15);
    ls_buf_add(d, ts, strlen(ts));
    ls_buf_add(d, "\",\"message\":", 12);
    s_json_str(d, l->line, l->len);
    ls_buf_add(d, ",\"service\":{\"name\":", 19);
    s_json_str(d, l->service, strlen(l->service));
    ls_buf_add(d, "}", 1);
    s_fields(d, l, host, NULL);
    ls_buf_add(d, "}\n", 2);
}

static bool
s_key_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, name, n) == 0;
}

/* A decoded JSON object's text as a string member copied into out, or NULL (absent, not a
 * string, or too long for out). */
static const char *
s_str_member(const msgpack_object *map, const char *name, char *out, size_t cap)
{
    return yard_mp_get_strbuf(map, name, out, cap, NULL, 0) == 0 ? out : NULL;
}

/* Writes the members of map m whose key clashes (or not) with the fields set here. */
static void
s_members(yard_mpw_t *w, const msgpack_object *m, bool clashing)
{
    static const char *const skip[] = {"@timestamp", "ts", "message", "msg", NULL};
    static const char *const clash[] = {"log", "host", "service", "agent", "json", NULL};
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        bool skipped = k->type != MSGPACK_OBJECT_STR || k->via.str.size >= 256;
        bool clashes = false;
        for (const char *const *s = skip; *s && !skipped; s++) {
            skipped = s_key_is(k, *s);
        }
        for (const char *const *s = clash; *s && !clashes && !skipped; s++) {
            clashes = s_key_is(k, *s);
        }
        if (skipped || clashes != clashing) {
            continue;
        }
        char key[256];
        memcpy(key, k->via.str.ptr, k->via.str.size);
        key[k->via.str.size] = '\0';
        yard_mpw_key(w, key);
        yard_mpw_object(w, &m->via.map.ptr[i].val);
    }
}

static bool
s_has_clash(const msgpack_object *m)
{
    return yard_mp_find(m, "log") || yard_mp_find(m, "host") || yard_mp_find(m, "service") ||
           yard_mp_find(m, "agent") || yard_mp_find(m, "json");
}

/* The document of a decoded JSON object m, as JSON text without its closing brace. */
static char *
s_json_doc(const msgpack_object *m, const ls_line_t *l, size_t *len)
{
    char ts[64], svc[256];
    const char *t = s_str_member(m, "@timestamp", ts, sizeof ts);
    t = t ? t : s_str_member(m, "ts", ts, sizeof ts);
    if (t == NULL) {
        s_timestamp(l->wall_ms, ts, sizeof ts);
    }
    const char *service = s_str_member(m, "component", svc, sizeof svc);
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "@timestamp", ts);
    const msgpack_object *msg = yard_mp_find(m, "message");
    msg = msg ? msg : yard_mp_find(m, "msg");
    if (msg) {
        yard_mpw_key(w, "message");
        yard_mpw_object(w, msg);
    }
    yard_mpw_key(w, "service");
    yard_mpw_map(w);
    yard_mpw_kstr(w, "name", service ? service : l->service);
    yard_mpw_end(w);
    s_members(w, m, false);
    if (s_has_clash(m)) {
        yard_mpw_key(w, "json");
        yard_mpw_map(w);
        s_members(w, m, true);
        yard_mpw_end(w);
    }
    yard_mpw_end(w);
    const void *data;
    size_t size;
    char *text = NULL;
    if (yard_mpw_finish(w, &data, &size) != 0 ||
        yard_json_from_msgpack(data, size, &text, len, NULL, 0) != 0) {
        free(text);
        text = NULL;
    }
    yard_mpw_destroy(&w);
    return text;
}

/* Appends the document for a JSON-object line; false (nothing written) when the line is not
 * one. */
static bool
s_json_line(ls_buf_t *d, const ls_line_t *l, const char *host)
{
    void *mp = NULL;
    size_t size = 0, len = 0;
    if (l->len < 2 || l->line[0] != '{' ||
        yard_json_to_msgpack(l->line, l->len, &mp, &size, NULL, 0) != 0) {
        return false;
    }
    msgpack_zone zone;
    msgpack_zone_init(&zone, 4096);
    msgpack_object m;
    char *text = NULL;
    if (yard_mp_decode(mp, size, &zone, &m, NULL, 0) == 0 && m.type == MSGPACK_OBJECT_MAP) {
        text = s_json_doc(&m, l, &len);
    }
    if (text != NULL && len >= 2) {
        char level[64];
        const char *lv = s_str_member(&m, "level", level, sizeof level);
        ls_buf_add(d, text, len - 1); /* without its closing brace */
        s_fields(d, l, host, lv);
        ls_buf_add(d, "}\n", 2);
    }
    msgpack_zone_destroy(&zone);
    free(mp);
    bool ok = text != NULL && len >= 2;
    free(text);
    return ok;
}

void
ls_record_add(ls_batch_t *b, const ls_line_t *l, const char *index_pattern, const char *host,
              char *index_cache, int64_t *index_day)
{
    int64_t day = l->wall_ms / 86400000;
    if (day != *index_day) {
        time_t sec = (time_t)(l->wall_ms / 1000);
        struct tm tm;
        gmtime_r(&sec, &tm);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral" /* the operator's index pattern */
        size_t n = strftime(index_cache, 256, index_pattern, &tm);
#pragma GCC diagnostic pop
        if (n == 0) {
            snprintf(index_cache, 256, "yard-logs");
        }
        *index_day = day;
    }
    if (b->nitems == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->items = realloc(b->items, b->cap * sizeof *b->items);
        if (b->items == NULL) {
            abort();
        }
    }
    b->items[b->nitems++] = (uint32_t)b->body.len;
    s_action(b, l, index_cache);
    if (!s_json_line(&b->body, l, host)) {
        s_plain(&b->body, l, host);
    }
}
