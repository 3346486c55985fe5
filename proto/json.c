/* msgpack bytes -> JSON text (contract and mapping: yard/json.h; the other direction is
 * json_parse.c). The bounded decoder (yard_mp_decode(), yard/mp.h) unpacks into a zone, then a
 * recursive walk writes the text into a growable buffer. We emit ourselves rather than through a
 * library because none prints every msgpack value exactly (shortest round-trip reals, bin,
 * non-string map keys).
 *
 * Invariant: on failure nothing is returned to the caller and everything allocated is freed;
 * the walk stops at YARD_JSON_MAX_DEPTH, so hostile input cannot exhaust the stack. */
#include "alloc_internal.h"
#include "json_internal.h"
#include "yard/json.h"
#include "yard/error.h"
#include "yard/mp.h"

#include <msgpack.h>

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- msgpack -> JSON ------------------------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t len;
    size_t cap;
} s_out_t;

static void
s_reserve(s_out_t *o, size_t more)
{
    if (o->len + more + 1 <= o->cap) {
        return;
    }
    size_t cap = o->cap ? o->cap : 256;
    while (cap < o->len + more + 1) {
        cap *= 2;
    }
    char *p = yard__xrealloc(o->buf, cap);
    o->buf = p;
    o->cap = cap;
}

static void
s_put(s_out_t *o, const char *s, size_t n)
{
    s_reserve(o, n);
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void
s_putc(s_out_t *o, char c)
{
    s_put(o, &c, 1);
}

/* Writes s as a JSON string. Returns 0, or -1 when s is not valid UTF-8 (*bad: the offset). */
static int
s_put_string(s_out_t *o, const char *s, size_t n, size_t *bad)
{
    const unsigned char *p = (const unsigned char *)s;
    s_reserve(o, n + 2);
    s_putc(o, '"');
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t k = yard_utf8_len(p + i, n - i);
            if (k == 0) {
                *bad = i;
                return -1;
            }
            s_put(o, s + i, k);
            i += k;
            continue;
        }
        switch (c) {
        case '"':
            s_put(o, "\\\"", 2);
            break;
        case '\\':
            s_put(o, "\\\\", 2);
            break;
        case '\n':
            s_put(o, "\\n", 2);
            break;
        case '\r':
            s_put(o, "\\r", 2);
            break;
        case '\t':
            s_put(o, "\\t", 2);
            break;
        case '\b':
            s_put(o, "\\b", 2);
            break;
        case '\f':
            s_put(o, "\\f", 2);
            break;
        default:
            if (c < 0x20 || c == 0x7F) {
                char esc[8];
                snprintf(esc, sizeof esc, "\\u%04x", c);
                s_put(o, esc, 6);
            } else {
                s_putc(o, (char)c);
            }
        }
        i++;
    }
    s_putc(o, '"');
    return 0;
}

static void
s_put_base64(s_out_t *o, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    s_reserve(o, (n + 2) / 3 * 4 + 2);
    s_putc(o, '"');
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63], tab[v & 63]};
        s_put(o, q, 4);
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], '=', '='};
        s_put(o, q, 4);
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63], '='};
        s_put(o, q, 4);
    }
    s_putc(o, '"');
}

/* The shortest %.*g text (trying 1 to 17 digits) that reads back as the same value (as a float when
 * single), with
 * ".0" appended when it would otherwise read back as a JSON integer. Returns -1 for NaN and
 * infinities, which JSON cannot hold. */
static int
s_put_real(s_out_t *o, double d, bool single)
{
    if (!isfinite(d)) {
        return -1;
    }
    char text[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(text, sizeof text, "%.*g", prec, d);
        if (single ? (strtof(text, NULL) == (float)d) : (strtod(text, NULL) == d)) {
            break;
        }
    }
    /* %g switches to an exponent once it is at least the precision: 100 at one digit is
     * "1e+02". Up to 17 integer digits read better in full, and more digits still round-trip. */
    const char *e = strchr(text, 'e');
    int exp10 = e ? atoi(e + 1) : -1;
    if (exp10 >= 0 && exp10 < 17) {
        snprintf(text, sizeof text, "%.*g", exp10 + 1, d);
    }
    s_put(o, text, strlen(text));
    if (!strpbrk(text, ".eE")) {
        s_put(o, ".0", 2);
    }
    return 0;
}

static int s_emit(s_out_t *o, const msgpack_object *v, int depth, char *err, size_t errlen);

/* A map key: strings as they are; scalars as their JSON text, quoted. */
static int
s_emit_key(s_out_t *o, const msgpack_object *k, char *err, size_t errlen)
{
    size_t bad = 0;
    switch (k->type) {
    case MSGPACK_OBJECT_STR:
        if (s_put_string(o, k->via.str.ptr, k->via.str.size, &bad)) {
            yard__json_errf(err, errlen, "map key is not valid UTF-8 at byte %zu of the key", bad);
            return -1;
        }
        return 0;
    case MSGPACK_OBJECT_NIL:
    case MSGPACK_OBJECT_BOOLEAN:
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: {
        /* Scalars print as plain ASCII with nothing to escape: emit then wrap in quotes. */
        s_putc(o, '"');
        if (s_emit(o, k, YARD_JSON_MAX_DEPTH, err, errlen)) {
            return -1;
        }
        s_putc(o, '"');
        return 0;
    }
    default:
        yard__json_errf(err, errlen, "map key is not a string or a scalar (msgpack type %d)",
                        (int)k->type);
        return -1;
    }
}

static int
s_emit(s_out_t *o, const msgpack_object *v, int depth, char *err, size_t errlen)
{
    char num[32];
    size_t bad = 0;
    switch (v->type) {
    case MSGPACK_OBJECT_NIL:
        s_put(o, "null", 4);
        return 0;
    case MSGPACK_OBJECT_BOOLEAN:
        if (v->via.boolean) {
            s_put(o, "true", 4);
        } else {
            s_put(o, "false", 5);
        }
        return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(num, sizeof num, "%" PRIu64, v->via.u64);
        s_put(o, num, strlen(num));
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(num, sizeof num, "%" PRId64, v->via.i64);
        s_put(o, num, strlen(num));
        return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (s_put_real(o, v->via.f64, v->type == MSGPACK_OBJECT_FLOAT32)) {
            yard__json_errf(err, errlen, "NaN or infinity has no JSON form");
            return -1;
        }
        return 0;
    case MSGPACK_OBJECT_STR:
        if (s_put_string(o, v->via.str.ptr, v->via.str.size, &bad)) {
            yard__json_errf(err, errlen, "string is not valid UTF-8 at byte %zu of the string",
                            bad);
            return -1;
        }
        return 0;
    case MSGPACK_OBJECT_BIN:
        s_put_base64(o, (const unsigned char *)v->via.bin.ptr, v->via.bin.size);
        return 0;
    case MSGPACK_OBJECT_ARRAY:
        if (depth >= YARD_JSON_MAX_DEPTH) {
            yard__json_errf(err, errlen, "nesting deeper than %d levels", YARD_JSON_MAX_DEPTH);
            return -1;
        }
        s_putc(o, '[');
        for (uint32_t i = 0; i < v->via.array.size; i++) {
            if (i) {
                s_putc(o, ',');
            }
            if (s_emit(o, &v->via.array.ptr[i], depth + 1, err, errlen)) {
                return -1;
            }
        }
        s_putc(o, ']');
        return 0;
    case MSGPACK_OBJECT_MAP:
        if (depth >= YARD_JSON_MAX_DEPTH) {
            yard__json_errf(err, errlen, "nesting deeper than %d levels", YARD_JSON_MAX_DEPTH);
            return -1;
        }
        s_putc(o, '{');
        for (uint32_t i = 0; i < v->via.map.size; i++) {
            if (i) {
                s_putc(o, ',');
            }
            if (s_emit_key(o, &v->via.map.ptr[i].key, err, errlen)) {
                return -1;
            }
            s_putc(o, ':');
            if (s_emit(o, &v->via.map.ptr[i].val, depth + 1, err, errlen)) {
                return -1;
            }
        }
        s_putc(o, '}');
        return 0;
    case MSGPACK_OBJECT_EXT:
        yard__json_errf(err, errlen, "msgpack ext type %d has no JSON form", (int)v->via.ext.type);
        return -1;
    }
    yard__json_errf(err, errlen, "unknown msgpack type %d", (int)v->type);
    return -1;
}

int
yard_json_from_msgpack(const void *data, size_t size, char **out, size_t *out_len, char *err,
                       size_t errlen)
{
    *out = NULL;
    if (out_len) {
        *out_len = 0;
    }
    /* The zone grows by chunks as it needs; a first chunk sized to the input keeps small
     * replies (most of them) off malloc's large-chunk path. */
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, size < 64 ? 512 : 4096)) {
        abort();
    }
    msgpack_object obj;
    s_out_t o = {0};
    int rc = yard_mp_decode(data, size, &zone, &obj, err, errlen);
    if (rc) {
        goto cleanup;
    }
    rc = YARD_E_BAD_REQUEST;
    s_reserve(&o, 64);
    if (s_emit(&o, &obj, 0, err, errlen)) {
        goto cleanup;
    }
    *out = o.buf;
    o.buf = NULL;
    if (out_len) {
        *out_len = o.len;
    }
    rc = 0;
cleanup:
    free(o.buf);
    msgpack_zone_destroy(&zone);
    return rc;
}
