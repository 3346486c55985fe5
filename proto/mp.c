/* The bounded msgpack decoder and the typed readers of map fields (contract: yard/mp.h).
 * Request readers are in mp_req.c, the writer in mp_write.c.
 *
 * Invariants: the scan reads no byte past size and allocates nothing (its memory is a fixed
 * array on the stack); msgpack_unpack() sees only bytes the scan accepted, so it allocates
 * O(size). Readers never write *out on failure, and their error texts name the field but never
 * quote its value. */
#include "mp_internal.h"
#include "yard/error.h"
#include "yard/mp.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
yard__mp_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* --- the scan ---------------------------------------------------------------------------- */

/* Reads an n-byte big-endian unsigned integer. */
static uint64_t
s_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* What follows a msgpack type byte: the size of a length or count field, the payload bytes
 * after it, and whether it opens a container (1: array, 2: map, counting its elements). */
typedef struct {
    int lenbytes;
    uint64_t skip;
    int kids;
    uint64_t n;
} s_head_t;

/* Classifies type byte b. Returns false for the one invalid byte, 0xc1. */
static bool
s_head(unsigned char b, s_head_t *h)
{
    *h = (s_head_t){0};
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        return true; /* fixint, nil, bool */
    }
    if (b <= 0x8f) {
        h->kids = 2;
        h->n = b & 0x0f;
    } else if (b <= 0x9f) {
        h->kids = 1;
        h->n = b & 0x0f;
    } else if (b <= 0xbf) {
        h->skip = b & 0x1f;
    } else if (b == 0xc1) {
        return false;
    } else if (b >= 0xc4 && b <= 0xc6) { /* bin 8/16/32 */
        h->lenbytes = 1 << (b - 0xc4);
    } else if (b >= 0xc7 && b <= 0xc9) { /* ext 8/16/32: length, then a type byte */
        h->lenbytes = 1 << (b - 0xc7);
        h->skip = 1;
    } else if (b == 0xca) {
        h->skip = 4;
    } else if (b == 0xcb) {
        h->skip = 8;
    } else if (b >= 0xcc && b <= 0xcf) {
        h->skip = 1u << (b - 0xcc);
    } else if (b >= 0xd0 && b <= 0xd3) {
        h->skip = 1u << (b - 0xd0);
    } else if (b >= 0xd4 && b <= 0xd8) { /* fixext: a type byte and 1..16 bytes */
        h->skip = 1 + (1u << (b - 0xd4));
    } else if (b >= 0xd9 && b <= 0xdb) { /* str 8/16/32 */
        h->lenbytes = 1 << (b - 0xd9);
    } else if (b == 0xdc || b == 0xdd) {
        h->kids = 1;
        h->lenbytes = b == 0xdc ? 2 : 4;
    } else { /* 0xde, 0xdf */
        h->kids = 2;
        h->lenbytes = b == 0xde ? 2 : 4;
    }
    return true;
}

int
yard__mp_scan(const unsigned char *p, size_t size, size_t *end, int *max_depth, char *err,
              size_t errlen)
{
    uint64_t left[YARD_MP_MAX_DEPTH + 1]; /* elements still to read in each open container */
    int depth = 0, deepest = 0;
    size_t pos = 0;
    left[0] = 1;
    while (depth >= 0) {
        if (left[depth] == 0) {
            depth--;
            continue;
        }
        left[depth]--;
        if (pos >= size) {
            yard__mp_errf(err, errlen, "msgpack truncated at byte %zu", pos);
            return -1;
        }
        size_t at = pos;
        s_head_t h;
        if (!s_head(p[pos++], &h)) {
            yard__mp_errf(err, errlen, "invalid msgpack byte 0xc1 at byte %zu", at);
            return -1;
        }
        if (h.lenbytes) {
            if (size - pos < (size_t)h.lenbytes) {
                yard__mp_errf(err, errlen, "msgpack truncated at byte %zu", pos);
                return -1;
            }
            uint64_t v = s_be(p + pos, h.lenbytes);
            pos += (size_t)h.lenbytes;
            if (h.kids) {
                h.n = v;
            } else {
                h.skip += v;
            }
        }
        if (h.skip > size - pos) {
            yard__mp_errf(err, errlen,
                          "msgpack truncated: the value at byte %zu needs %" PRIu64
                          " more bytes, %zu left",
                          at, h.skip, size - pos);
            return -1;
        }
        pos += (size_t)h.skip;
        if (!h.kids) {
            continue;
        }
        if (depth + 1 > YARD_MP_MAX_DEPTH) {
            yard__mp_errf(err, errlen, "nesting deeper than %d levels at byte %zu",
                          YARD_MP_MAX_DEPTH, at);
            return -1;
        }
        /* Every element takes at least one byte. */
        uint64_t elems = h.n * (uint64_t)h.kids;
        if (elems > size - pos) {
            yard__mp_errf(err, errlen,
                          "msgpack truncated: the container at byte %zu claims %" PRIu64
                          " elements, %zu bytes left",
                          at, elems, size - pos);
            return -1;
        }
        left[++depth] = elems;
        deepest = depth > deepest ? depth : deepest;
    }
    *end = pos;
    if (max_depth) {
        *max_depth = deepest;
    }
    return 0;
}

int
yard_mp_check(const void *data, size_t size, char *err, size_t errlen)
{
    if (!data || size == 0) {
        yard__mp_errf(err, errlen, "empty msgpack input");
        return YARD_E_BAD_REQUEST;
    }
    size_t end = 0;
    if (yard__mp_scan(data, size, &end, NULL, err, errlen)) {
        return YARD_E_BAD_REQUEST;
    }
    if (end != size) {
        yard__mp_errf(err, errlen, "trailing bytes after the msgpack value at byte %zu", end);
        return YARD_E_BAD_REQUEST;
    }
    return 0;
}

int
yard_mp_decode(const void *data, size_t size, msgpack_zone *zone, msgpack_object *out, char *err,
               size_t errlen)
{
    out->type = MSGPACK_OBJECT_NIL;
    int rc = yard_mp_check(data, size, err, errlen);
    if (rc) {
        return rc;
    }
    size_t off = 0;
    /* After the scan only an allocation failure could make this fail; say so, never abort. */
    if (msgpack_unpack(data, size, &off, zone, out) != MSGPACK_UNPACK_SUCCESS) {
        out->type = MSGPACK_OBJECT_NIL;
        yard__mp_errf(err, errlen, "msgpack could not be unpacked");
        return YARD_E_BAD_REQUEST;
    }
    return 0;
}

const char *
yard_mp_type_name(const msgpack_object *v)
{
    switch (v->type) {
    case MSGPACK_OBJECT_NIL:
        return "nil";
    case MSGPACK_OBJECT_BOOLEAN:
        return "a boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return "an integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return "a number";
    case MSGPACK_OBJECT_STR:
        return "a string";
    case MSGPACK_OBJECT_BIN:
        return "binary data";
    case MSGPACK_OBJECT_ARRAY:
        return "an array";
    case MSGPACK_OBJECT_MAP:
        return "a map";
    case MSGPACK_OBJECT_EXT:
        return "an extension";
    }
    return "an unknown type";
}

/* --- field readers ----------------------------------------------------------------------- */

void
yard_mp_field_err(char *err, size_t errlen, const char *key, const char *fmt, ...)
{
    if (!err || errlen == 0) {
        return;
    }
    int n = snprintf(err, errlen, "'%s' ", key);
    if (n < 0 || (size_t)n >= errlen) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

const msgpack_object *
yard_mp_find(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP || !key) {
        return NULL;
    }
    size_t kl = strlen(key);
    const msgpack_object_map *m = &map->via.map;
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        /* msgpack-c leaves an empty string's ptr NULL: not for memcmp, even for 0 bytes. */
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl &&
            (kl == 0 || memcmp(k->via.str.ptr, key, kl) == 0)) {
            return &m->ptr[i].val;
        }
    }
    return NULL;
}

int
yard__mp_value(const msgpack_object *map, const char *key, const msgpack_object **v, char *err,
               size_t errlen)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP) {
        yard__mp_errf(err, errlen, "reading '%s': the value is %s, not a map", key,
                      map ? yard_mp_type_name(map) : "missing");
        return YARD_E_BAD_REQUEST;
    }
    *v = yard_mp_find(map, key);
    if (!*v || (*v)->type == MSGPACK_OBJECT_NIL) {
        yard_mp_field_err(err, errlen, key, "is required");
        return YARD_E_NOT_FOUND;
    }
    return 0;
}

int
yard__mp_wrong(const msgpack_object *v, const char *key, const char *want, char *err, size_t errlen)
{
    yard_mp_field_err(err, errlen, key, "must be %s, not %s", want, yard_mp_type_name(v));
    return YARD_E_BAD_REQUEST;
}

int
yard_mp_get_str(const msgpack_object *map, const char *key, yard_str_t *out, char *err,
                size_t errlen)
{
    const msgpack_object *v;
    int rc = yard__mp_value(map, key, &v, err, errlen);
    if (rc) {
        return rc;
    }
    if (v->type != MSGPACK_OBJECT_STR) {
        return yard__mp_wrong(v, key, "a string", err, errlen);
    }
    *out = (yard_str_t){v->via.str.ptr, v->via.str.size};
    return 0;
}

const char *
yard__mp_zone_cstr(msgpack_zone *zone, const char *p, size_t n)
{
    char *s = msgpack_zone_malloc(zone, n + 1);
    if (!s) {
        abort();
    }
    if (n) { /* msgpack-c leaves an empty string's ptr NULL: not for memcpy, even for 0 */
        memcpy(s, p, n);
    }
    s[n] = '\0';
    return s;
}

/* A string value v of field key that C code will see as a C string: no NUL inside. */
static int
s_cstr_ok(const msgpack_object *v, const char *key, char *err, size_t errlen)
{
    if (v->type != MSGPACK_OBJECT_STR) {
        return yard__mp_wrong(v, key, "a string", err, errlen);
    }
    if (v->via.str.size && memchr(v->via.str.ptr, '\0', v->via.str.size)) {
        yard_mp_field_err(err, errlen, key, "must not contain a NUL byte");
        return YARD_E_BAD_REQUEST;
    }
    return 0;
}

int
yard_mp_get_cstr(const msgpack_object *map, const char *key, msgpack_zone *zone, const char **out,
                 char *err, size_t errlen)
{
    const msgpack_object *v;
    int rc = yard__mp_value(map, key, &v, err, errlen);
    if (rc || (rc = s_cstr_ok(v, key, err, errlen))) {
        return rc;
    }
    *out = yard__mp_zone_cstr(zone, v->via.str.ptr, v->via.str.size);
    return 0;
}

int
yard_mp_get_strbuf(const msgpack_object *map, const char *key, char *buf, size_t cap, char *err,
                   size_t errlen)
{
    const msgpack_object *v;
    int rc = yard__mp_value(map, key, &v, err, errlen);
    if (rc || (rc = s_cstr_ok(v, key, err, errlen))) {
        return rc;
    }
    if (cap == 0 || v->via.str.size > cap - 1) {
        yard_mp_field_err(err, errlen, key, "must be at most %zu bytes", cap ? cap - 1 : 0);
        return YARD_E_BAD_REQUEST;
    }
    if (v->via.str.size) {
        memcpy(buf, v->via.str.ptr, v->via.str.size);
    }
    buf[v->via.str.size] = '\0';
    return 0;
}

int
yard_mp_get_int(const msgpack_object *map, const char *key, int64_t *out, char *err, size_t errlen)
{
    const msgpack_object *v;
    int rc = yard__mp_value(map, key, &v, err, errlen);
    if (rc) {
        return rc;
    }
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = v->via.i64;
        return 0;
    }
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return yard__mp_wrong(v, key, "an integer", err, errlen);
    }
    if (v->via.u64 > INT64_MAX) {
        yard_mp_field_err(err, errlen, key, "is too large (at most %" PRId64 ")", INT64_MAX);
        return YARD_E_BAD_REQUEST;
    }
    *out = (int64_t)v->via.u64;
    return 0;
}

int
yard_mp_get_uint(const msgpack_object *map, const char *key, uint64_t *out, char *err,
                 size_t errlen)
{
    const msgpack_object *v;
    int rc = yard__mp_value(map, key, &v, err, errlen);
    if (rc) {
        return rc;
    }
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        yard_mp_field_err(err, errlen, key, "must not be negative");
        return YARD_E_BAD_REQUEST;
    }
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return yard__mp_wrong(v, key, "a non-negative integer", err, errlen);
    }
    *out = v->via.u64;
    return 0;
}

int
yard_mp_get_int_range(const msgpack_object *map, const char *key, int64_t min, int64_t max,
                      int64_t *out, char *err, size_t errlen)
{
    const msgpack_object *v;
    int rc = yard__mp_value(map, key, &v, err, errlen);
    bool huge = rc == 0 && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 > INT64_MAX;
    int64_t n = 0;
    if (rc || (!huge && (rc = yard_mp_get_int(map, key, &n, err, errlen)))) {
        return rc;
    }
    if (huge || n < min || n > max) {
        yard_mp_field_err(err, errlen, key, "must be between %" PRId64 " and %" PRId64, min, max);
        return YARD_E_BAD_REQUEST;
    }
    *out = n;
    return 0;
}

int
yard_mp_get_bool(const msgpack_object *map, const char *key, bool *out, char *err, size_t errlen)
{
    const msgpack_object *v;
    int rc = yard__mp_value(map, key, &v, err, errlen);
    if (rc) {
        return rc;
    }
    if (v->type != MSGPACK_OBJECT_BOOLEAN) {
        return yard__mp_wrong(v, key, "true or false", err, errlen);
    }
    *out = v->via.boolean;
    return 0;
}

int
yard_mp_get_double(const msgpack_object *map, const char *key, double *out, char *err,
                   size_t errlen)
{
    const msgpack_object *v;
    int rc = yard__mp_value(map, key, &v, err, errlen);
    if (rc) {
        return rc;
    }
    switch (v->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        *out = v->via.f64;
        return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *out = (double)v->via.u64;
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *out = (double)v->via.i64;
        return 0;
    default:
        return yard__mp_wrong(v, key, "a number", err, errlen);
    }
}

static int
s_get_kind(const msgpack_object *map, const char *key, msgpack_object_type type, const char *want,
           const msgpack_object **out, char *err, size_t errlen)
{
    const msgpack_object *v;
    int rc = yard__mp_value(map, key, &v, err, errlen);
    if (rc) {
        return rc;
    }
    if (v->type != type) {
        return yard__mp_wrong(v, key, want, err, errlen);
    }
    *out = v;
    return 0;
}

int
yard_mp_get_map(const msgpack_object *map, const char *key, const msgpack_object **out, char *err,
                size_t errlen)
{
    return s_get_kind(map, key, MSGPACK_OBJECT_MAP, "a map", out, err, errlen);
}

int
yard_mp_get_array(const msgpack_object *map, const char *key, const msgpack_object **out, char *err,
                  size_t errlen)
{
    return s_get_kind(map, key, MSGPACK_OBJECT_ARRAY, "an array", out, err, errlen);
}

int
yard_mp_get_strs(const msgpack_object *map, const char *key, msgpack_zone *zone, size_t max,
                 const char *const **out, size_t *n, char *err, size_t errlen)
{
    const msgpack_object *v;
    int rc = s_get_kind(map, key, MSGPACK_OBJECT_ARRAY, "an array of strings", &v, err, errlen);
    if (rc) {
        return rc;
    }
    const msgpack_object_array *a = &v->via.array;
    if (a->size > max) {
        yard_mp_field_err(err, errlen, key, "must have at most %zu items", max);
        return YARD_E_BAD_REQUEST;
    }
    for (uint32_t i = 0; i < a->size; i++) {
        const msgpack_object *s = &a->ptr[i];
        if (s->type != MSGPACK_OBJECT_STR) {
            yard_mp_field_err(err, errlen, key, "must be an array of strings, not of %s",
                              yard_mp_type_name(s));
            return YARD_E_BAD_REQUEST;
        }
        if (s->via.str.size && memchr(s->via.str.ptr, '\0', s->via.str.size)) {
            yard_mp_field_err(err, errlen, key, "must not contain a NUL byte (item %" PRIu32 ")",
                              i + 1);
            return YARD_E_BAD_REQUEST;
        }
    }
    const char **list = msgpack_zone_malloc(zone, (a->size ? a->size : 1) * sizeof *list);
    if (!list) {
        abort();
    }
    for (uint32_t i = 0; i < a->size; i++) {
        list[i] = yard__mp_zone_cstr(zone, a->ptr[i].via.str.ptr, a->ptr[i].via.str.size);
    }
    *out = list;
    *n = a->size;
    return 0;
}
