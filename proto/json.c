/* JSON <-> msgpack (contract and the mapping table: yard/json.h).
 *
 * JSON to msgpack: json-c's strict tokener parses (we never parse JSON by hand), because it keeps
 * every integer of the int64 and uint64 ranges exactly, where jansson stops at INT64_MAX; then
 * yard__json_screen() (json_scan.c) rejects the tokens json-c would accept only by bending them
 * (saturated integers, lone surrogates, "\u0000" cut out of a key, NaN, single quotes), and a
 * recursive walk packs the tree with msgpack-c's packer into an sbuffer the caller takes over.
 * msgpack to JSON: msgpack-c unpacks into a zone, then a recursive walk writes the text into a
 * growable buffer. We emit ourselves rather than through a json-c (or jansson) tree because no
 * library prints every msgpack value exactly: json-c writes doubles as %.17g rather than the
 * shortest text that reads back, escapes '/' and has no form for bin or non-string map keys. So
 * the module uses one JSON library, json-c, for the one thing a library must do: parse.
 *
 * Invariant: on failure nothing is returned to the caller and everything allocated is freed;
 * every walk is bounded by YARD_JSON_MAX_DEPTH, so hostile input cannot exhaust the stack. */
#include "json_internal.h"
#include "yard/json.h"
#include "yard/error.h"

#include <json-c/json.h>
#include <msgpack.h>

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
yard__json_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* --- JSON -> msgpack ------------------------------------------------------------------------ */

/* Packs v (NULL is JSON null in json-c). Returns 0, or -1 with err set (only for nesting too
 * deep, which the tokener's own limit already stops; everything else json-c holds has a msgpack
 * form). */
static int
s_pack(msgpack_packer *pk, json_object *v, int depth, char *err, size_t errlen)
{
    switch (json_object_get_type(v)) {
    case json_type_object: {
        if (depth >= YARD_JSON_MAX_DEPTH) {
            yard__json_errf(err, errlen, "nesting deeper than %d levels", YARD_JSON_MAX_DEPTH);
            return -1;
        }
        msgpack_pack_map(pk, (size_t)json_object_object_length(v));
        /* The table walk, not json_object_iter_next(): jansson, which the gateway, the CLI and
         * tests link beside libyard, exports a function of that name too. */
        for (struct lh_entry *e = lh_table_head(json_object_get_object(v)); e;
             e = lh_entry_next(e)) {
            /* Keys hold no NUL: the screen rejected "\u0000" in keys. */
            const char *key = lh_entry_k(e);
            size_t key_len = strlen(key);
            msgpack_pack_str(pk, key_len);
            msgpack_pack_str_body(pk, key, key_len);
            if (s_pack(pk, (json_object *)lh_entry_v(e), depth + 1, err, errlen)) {
                return -1;
            }
        }
        return 0;
    }
    case json_type_array: {
        if (depth >= YARD_JSON_MAX_DEPTH) {
            yard__json_errf(err, errlen, "nesting deeper than %d levels", YARD_JSON_MAX_DEPTH);
            return -1;
        }
        size_t n = json_object_array_length(v);
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++) {
            if (s_pack(pk, json_object_array_get_idx(v, i), depth + 1, err, errlen)) {
                return -1;
            }
        }
        return 0;
    }
    case json_type_string: {
        size_t n = (size_t)json_object_get_string_len(v);
        msgpack_pack_str(pk, n);
        msgpack_pack_str_body(pk, json_object_get_string(v), n);
        return 0;
    }
    case json_type_int: {
        /* json-c holds a negative integer as int64 and a non-negative one as uint64 (get_int64
         * would clamp those above INT64_MAX); msgpack-c picks the smallest encoding. */
        int64_t i = json_object_get_int64(v);
        if (i < 0) {
            msgpack_pack_int64(pk, i);
        } else {
            msgpack_pack_uint64(pk, json_object_get_uint64(v));
        }
        return 0;
    }
    case json_type_double:
        msgpack_pack_double(pk, json_object_get_double(v));
        return 0;
    case json_type_boolean:
        if (json_object_get_boolean(v)) {
            msgpack_pack_true(pk);
        } else {
            msgpack_pack_false(pk);
        }
        return 0;
    case json_type_null:
        msgpack_pack_nil(pk);
        return 0;
    }
    yard__json_errf(err, errlen, "unknown JSON type");
    return -1;
}

/* Writes "line L, column C: why" for byte offset at of json (both from 1; columns count bytes). */
static void
s_json_error(const char *json, size_t at, const char *why, char *err, size_t errlen)
{
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < at; i++) {
        if (json[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    }
    yard__json_errf(err, errlen, "line %zu, column %zu: %s", line, at - line_start + 1, why);
}

int
yard_json_to_msgpack(const char *json, size_t len, void **out, size_t *out_size, char *err,
                     size_t errlen)
{
    *out = NULL;
    *out_size = 0;
    if (!json) {
        yard__json_errf(err, errlen, "line 1, column 0: no JSON text");
        return YARD_E_BAD_REQUEST;
    }
    if (len >= INT_MAX) { /* json_tokener_parse_ex takes an int length */
        yard__json_errf(err, errlen, "line 1, column 1: JSON text of %zu bytes is too long", len);
        return YARD_E_BAD_REQUEST;
    }
    int rc = YARD_E_BAD_REQUEST;
    const char *why = NULL;
    char depth_why[64];
    json_object *root = NULL;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    /* json-c counts a scalar inside the innermost container as one more level, so 32 nested
     * containers holding a value need a tokener depth of 33; the screen then counts the
     * containers themselves and refuses the 33rd, at its position. */
    json_tokener *tok = json_tokener_new_ex(YARD_JSON_MAX_DEPTH + 1);
    if (!tok) {
        abort();
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    root = json_tokener_parse_ex(tok, json, (int)len);
    size_t at = json_tokener_get_parse_end(tok);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (jerr == json_tokener_continue && at == len) {
        /* A value with no end of its own (a number, or nothing yet) ends at the NUL json-c
         * takes as the end of input. */
        root = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
    }
    if (jerr == json_tokener_error_depth) {
        /* json-c stops one level later than we do: the screen of the text before it finds the
         * bracket that went too deep (or an earlier bad token). */
        snprintf(depth_why, sizeof depth_why, "nesting deeper than %d levels", YARD_JSON_MAX_DEPTH);
        if (yard__json_screen(json, at, &at, &why) == 0) {
            why = depth_why;
        }
    } else if (jerr == json_tokener_continue) {
        why = "NUL byte in JSON text"; /* json-c stops at one */
    } else if (jerr != json_tokener_success) {
        /* json-c's words name the symptom ("01": "unexpected end of data"); a bad token in the
         * text it read says more, unless it is only the string json-c stopped inside. */
        size_t bad = 0;
        const char *tok_why = NULL;
        why = json_tokener_error_desc(jerr);
        if (yard__json_screen(json, at < len ? at : len, &bad, &tok_why) &&
            strcmp(tok_why, "unterminated string") != 0) {
            at = bad;
            why = tok_why;
        }
    } else if (at < len) {
        why = "NUL byte or trailing bytes after the JSON value";
    } else if (yard__json_screen(json, len, &at, &why) == 0) {
        why = NULL;
    }
    if (why) {
        s_json_error(json, at, why, err, errlen);
        goto cleanup;
    }
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    char walk_why[128] = "";
    if (s_pack(&pk, root, 0, walk_why, sizeof walk_why)) {
        /* Unreachable while the tokener's depth limit holds; the walk does not know where. */
        yard__json_errf(err, errlen, "line 1, column 1: %s", walk_why);
        goto cleanup;
    }
    if (sbuf.size == 0 || !sbuf.data) {
        abort(); /* every JSON value packs to at least one byte */
    }
    *out_size = sbuf.size;
    *out = msgpack_sbuffer_release(&sbuf);
    rc = 0;
cleanup:
    msgpack_sbuffer_destroy(&sbuf);
    json_object_put(root);
    json_tokener_free(tok);
    return rc;
}

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
    char *p = realloc(o->buf, cap);
    if (!p) {
        abort();
    }
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
            size_t k = yard__json_utf8_len(p + i, n - i);
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
    if (!data || size == 0) {
        yard__json_errf(err, errlen, "empty msgpack input");
        return YARD_E_BAD_REQUEST;
    }
    size_t end = 0;
    if (yard__json_scan(data, size, &end, err, errlen)) {
        return YARD_E_BAD_REQUEST;
    }
    if (end != size) {
        yard__json_errf(err, errlen, "trailing bytes after the msgpack value at byte %zu", end);
        return YARD_E_BAD_REQUEST;
    }
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 4096)) {
        abort();
    }
    msgpack_object obj;
    size_t off = 0;
    int rc = YARD_E_BAD_REQUEST;
    s_out_t o = {0};
    /* After the scan, only an allocation failure can make this fail: allocation is O(size). */
    if (msgpack_unpack(data, size, &off, &zone, &obj) != MSGPACK_UNPACK_SUCCESS) {
        abort();
    }
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
