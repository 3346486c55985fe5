/* The msgpack writer (contract: yard/mp.h). Scalars are packed by msgpack-c's packer into our
 * own buffer; containers are tracked on a fixed stack: each opens with a 5-byte placeholder
 * header that yard_mpw_end() shrinks to the smallest encoding of the count it has seen.
 *
 * Invariant: what the buffer holds is always a prefix of one valid msgpack value whose strings
 * are UTF-8 and whose nesting is at most YARD_MP_MAX_DEPTH; the first misuse freezes it (the
 * sticky error) so that nothing invalid can follow. */
#include "alloc_internal.h"
#include "json_internal.h"
#include "mp_internal.h"
#include "yard/error.h"
#include "yard/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HEAD 5 /* the placeholder: 0xdd/0xdf and a 32-bit count */

typedef struct {
    size_t start;   /* offset of the placeholder header */
    uint64_t count; /* elements (arrays) or pairs (maps) so far */
    bool map;
    bool want_value; /* a map after a key */
} s_open_t;

struct yard_mpw {
    char *buf;
    size_t len, cap;
    msgpack_packer pk;
    s_open_t open[YARD_MP_MAX_DEPTH];
    int depth;
    int top; /* values written at the top level */
    char error[160];
};

static int
s_append(void *data, const char *p, size_t n)
{
    yard_mpw_t *w = data;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n) {
            cap *= 2;
        }
        char *b = yard__xrealloc(w->buf, cap);
        w->buf = b;
        w->cap = cap;
    }
    if (n) {
        memcpy(w->buf + w->len, p, n);
    }
    w->len += n;
    return 0;
}

yard_mpw_t *
yard_mpw_new(void)
{
    yard_mpw_t *w = yard__xcalloc(1, sizeof *w);
    msgpack_packer_init(&w->pk, w, s_append);
    return w;
}

void
yard_mpw_destroy(yard_mpw_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    free((*self_p)->buf);
    free(*self_p);
    *self_p = NULL;
}

static void s_misuse(yard_mpw_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_misuse(yard_mpw_t *w, const char *fmt, ...)
{
    if (w->error[0]) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof w->error, fmt, ap);
    va_end(ap);
}

const char *
yard_mpw_error(const yard_mpw_t *w)
{
    return w->error[0] ? w->error : NULL;
}

/* Accounts for one value about to be written, of nesting depth `deep` (0 for a scalar).
 * Returns false (with the sticky error) when a value may not go here. */
static bool
s_value(yard_mpw_t *w, int deep)
{
    if (!w || w->error[0]) {
        return false;
    }
    if (w->depth + deep > YARD_MP_MAX_DEPTH) {
        s_misuse(w, "nesting deeper than %d levels", YARD_MP_MAX_DEPTH);
        return false;
    }
    if (w->depth == 0) {
        if (w->top++) {
            s_misuse(w, "a second value at the top level (wrap them in an array or a map)");
            return false;
        }
        return true;
    }
    s_open_t *c = &w->open[w->depth - 1];
    if (c->map && !c->want_value) {
        s_misuse(w, "a map needs a key before a value");
        return false;
    }
    if (c->count == UINT32_MAX) {
        s_misuse(w, "more than %u items in a map or array", UINT32_MAX);
        return false;
    }
    c->want_value = false;
    c->count++;
    return true;
}

static bool
s_utf8(yard_mpw_t *w, const char *s, size_t n, const char *what)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = yard_utf8_len(p + i, n - i);
        if (k == 0) {
            s_misuse(w, "%s is not valid UTF-8 at byte %zu", what, i);
            return false;
        }
        i += k;
    }
    return true;
}

static void
s_open(yard_mpw_t *w, bool map)
{
    if (!s_value(w, 1)) {
        return;
    }
    w->open[w->depth++] = (s_open_t){.start = w->len, .map = map};
    s_append(w, "\xdd\0\0\0\0", S_HEAD);
}

void
yard_mpw_map(yard_mpw_t *w)
{
    s_open(w, true);
}

void
yard_mpw_array(yard_mpw_t *w)
{
    s_open(w, false);
}

void
yard_mpw_end(yard_mpw_t *w)
{
    if (!w || w->error[0]) {
        return;
    }
    if (w->depth == 0) {
        s_misuse(w, "end without an open map or array");
        return;
    }
    s_open_t *c = &w->open[w->depth - 1];
    if (c->map && c->want_value) {
        s_misuse(w, "a map key without a value");
        return;
    }
    unsigned char head[S_HEAD];
    size_t h;
    uint32_t n = (uint32_t)c->count;
    if (n < 16) {
        head[0] = (unsigned char)((c->map ? 0x80 : 0x90) | n);
        h = 1;
    } else if (n <= 0xffff) {
        head[0] = c->map ? 0xde : 0xdc;
        head[1] = (unsigned char)(n >> 8);
        head[2] = (unsigned char)n;
        h = 3;
    } else {
        head[0] = c->map ? 0xdf : 0xdd;
        for (int i = 0; i < 4; i++) {
            head[1 + i] = (unsigned char)(n >> (24 - 8 * i));
        }
        h = 5;
    }
    char *at = w->buf + c->start;
    memmove(at + h, at + S_HEAD, w->len - c->start - S_HEAD);
    memcpy(at, head, h);
    w->len -= S_HEAD - h;
    w->depth--;
}

void
yard_mpw_key(yard_mpw_t *w, const char *k)
{
    if (!w || w->error[0]) {
        return;
    }
    if (w->depth == 0 || !w->open[w->depth - 1].map) {
        s_misuse(w, "a key outside a map");
        return;
    }
    s_open_t *c = &w->open[w->depth - 1];
    if (c->want_value) {
        s_misuse(w, "two keys in a row (a map key without a value)");
        return;
    }
    if (!k) {
        s_misuse(w, "a NULL map key");
        return;
    }
    size_t n = strlen(k);
    if (!s_utf8(w, k, n, "a map key")) {
        return;
    }
    c->want_value = true;
    msgpack_pack_str_with_body(&w->pk, k, n);
}

void
yard_mpw_strn(yard_mpw_t *w, const char *s, size_t n)
{
    if (!s) {
        yard_mpw_nil(w);
        return;
    }
    if (!w || w->error[0] || !s_utf8(w, s, n, "a string") || !s_value(w, 0)) {
        return;
    }
    if (n > UINT32_MAX) {
        s_misuse(w, "a string over 4 GiB");
        return;
    }
    msgpack_pack_str_with_body(&w->pk, s, n);
}

void
yard_mpw_str(yard_mpw_t *w, const char *s)
{
    yard_mpw_strn(w, s, s ? strlen(s) : 0);
}

void
yard_mpw_int(yard_mpw_t *w, int64_t v)
{
    if (s_value(w, 0)) {
        msgpack_pack_int64(&w->pk, v);
    }
}

void
yard_mpw_uint(yard_mpw_t *w, uint64_t v)
{
    if (s_value(w, 0)) {
        msgpack_pack_uint64(&w->pk, v);
    }
}

void
yard_mpw_bool(yard_mpw_t *w, bool v)
{
    if (s_value(w, 0)) {
        if (v) {
            msgpack_pack_true(&w->pk);
        } else {
            msgpack_pack_false(&w->pk);
        }
    }
}

void
yard_mpw_nil(yard_mpw_t *w)
{
    if (s_value(w, 0)) {
        msgpack_pack_nil(&w->pk);
    }
}

void
yard_mpw_double(yard_mpw_t *w, double v)
{
    if (s_value(w, 0)) {
        msgpack_pack_double(&w->pk, v);
    }
}

void
yard_mpw_bin(yard_mpw_t *w, const void *p, size_t n)
{
    if (!w || w->error[0]) {
        return;
    }
    if (n && !p) {
        s_misuse(w, "binary data without bytes");
        return;
    }
    if (n > UINT32_MAX) {
        s_misuse(w, "binary data over 4 GiB");
        return;
    }
    if (s_value(w, 0)) {
        msgpack_pack_bin_with_body(&w->pk, p, n);
    }
}

void
yard_mpw_raw(yard_mpw_t *w, const void *p, size_t n)
{
    if (!w || w->error[0]) {
        return;
    }
    char why[96] = "empty msgpack input";
    size_t end = 0;
    int deep = 0;
    if (!p || n == 0 || yard__mp_scan(p, n, &end, &deep, why, sizeof why) || end != n) {
        if (end && end != n) {
            snprintf(why, sizeof why, "trailing bytes after the msgpack value at byte %zu", end);
        }
        s_misuse(w, "raw msgpack is invalid: %s", why);
        return;
    }
    if (s_value(w, deep)) {
        s_append(w, p, n);
    }
}

/* The nesting of a decoded object, counted up to limit. */
static int
s_depth(const msgpack_object *o, int limit)
{
    if (limit <= 0 || (o->type != MSGPACK_OBJECT_ARRAY && o->type != MSGPACK_OBJECT_MAP)) {
        return 0;
    }
    int deepest = 0;
    bool map = o->type == MSGPACK_OBJECT_MAP;
    uint32_t n = map ? o->via.map.size : o->via.array.size;
    for (uint32_t i = 0; i < n && deepest < limit; i++) {
        int d = map ? s_depth(&o->via.map.ptr[i].val, limit - 1)
                    : s_depth(&o->via.array.ptr[i], limit - 1);
        if (map) {
            int dk = s_depth(&o->via.map.ptr[i].key, limit - 1);
            d = dk > d ? dk : d;
        }
        deepest = d > deepest ? d : deepest;
    }
    return 1 + deepest;
}

void
yard_mpw_object(yard_mpw_t *w, const msgpack_object *o)
{
    if (!w || w->error[0]) {
        return;
    }
    if (!o) {
        s_misuse(w, "a NULL object");
        return;
    }
    if (s_value(w, s_depth(o, YARD_MP_MAX_DEPTH + 1))) {
        msgpack_pack_object(&w->pk, *o);
    }
}

void
yard_mpw_kstr(yard_mpw_t *w, const char *k, const char *v)
{
    yard_mpw_key(w, k);
    yard_mpw_str(w, v);
}

void
yard_mpw_kint(yard_mpw_t *w, const char *k, int64_t v)
{
    yard_mpw_key(w, k);
    yard_mpw_int(w, v);
}

void
yard_mpw_kuint(yard_mpw_t *w, const char *k, uint64_t v)
{
    yard_mpw_key(w, k);
    yard_mpw_uint(w, v);
}

void
yard_mpw_kbool(yard_mpw_t *w, const char *k, bool v)
{
    yard_mpw_key(w, k);
    yard_mpw_bool(w, v);
}

void
yard_mpw_strs(yard_mpw_t *w, const char *const *s, size_t n)
{
    yard_mpw_array(w);
    for (size_t i = 0; i < n; i++) {
        yard_mpw_str(w, s[i]);
    }
    yard_mpw_end(w);
}

int
yard_mpw_finish(yard_mpw_t *w, const void **data, size_t *size)
{
    if (!w) {
        return YARD_E_INTERNAL;
    }
    if (w->depth > 0) {
        s_misuse(w, "%d map(s) or array(s) still open", w->depth);
    } else if (w->top == 0) {
        s_misuse(w, "nothing was written");
    }
    if (w->error[0]) {
        return YARD_E_INTERNAL;
    }
    *data = w->buf;
    *size = w->len;
    return 0;
}

/* --- replies ----------------------------------------------------------------------------- */

/* Finishes *w_p (taking it); logs and returns YARD_E_INTERNAL for a writer that does not. */
static int
s_take(yard_mpw_t **w_p, yard_mpw_t **w, const void **data, size_t *size)
{
    *w = w_p ? *w_p : NULL;
    if (w_p) {
        *w_p = NULL;
    }
    int rc = yard_mpw_finish(*w, data, size);
    if (rc) {
        yard_log(YARD_LOG_ERROR, "a reply was built wrongly",
                 YF_STR("error", *w ? yard_mpw_error(*w) : "no writer"));
    }
    return rc;
}

int
yard_request_reply_mpw(yard_request_t *req, yard_mpw_t **w_p)
{
    yard_mpw_t *w;
    const void *data = NULL;
    size_t size = 0;
    int rc = s_take(w_p, &w, &data, &size);
    if (rc) {
        yard_request_fail(req, YARD_E_INTERNAL, NULL, "the reply could not be built");
    } else {
        rc = yard_request_reply(req, data, size);
    }
    yard_mpw_destroy(&w);
    return rc;
}

int
yard_deferred_reply_mpw(yard_deferred_t **d_p, yard_mpw_t **w_p)
{
    yard_mpw_t *w;
    const void *data = NULL;
    size_t size = 0;
    int rc = s_take(w_p, &w, &data, &size);
    if (rc) {
        yard_deferred_fail(d_p, YARD_E_INTERNAL, NULL, "the reply could not be built");
    } else {
        rc = yard_deferred_reply(d_p, data, size);
    }
    yard_mpw_destroy(&w);
    return rc;
}
