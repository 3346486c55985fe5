/* JSON documents for assertions (json_doc.h). */
#include "json_doc.h"

#include "yard/json.h"
#include "yard/mp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct yh_json {
    void *mp; /* the msgpack bytes that root was decoded from */
    msgpack_zone zone;
    msgpack_object root;
};

/* Copies every string of o (map keys included) into zone with a NUL after it. The depth is
 * bounded by the decoder (YARD_MP_MAX_DEPTH). */
static void
s_terminate_strings(msgpack_object *o, msgpack_zone *zone)
{
    if (o->type == MSGPACK_OBJECT_STR) {
        char *s = msgpack_zone_malloc(zone, o->via.str.size + 1);
        if (!s) {
            abort();
        }
        memcpy(s, o->via.str.ptr, o->via.str.size);
        s[o->via.str.size] = '\0';
        o->via.str.ptr = s;
    } else if (o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            s_terminate_strings(&o->via.array.ptr[i], zone);
        }
    } else if (o->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            s_terminate_strings(&o->via.map.ptr[i].key, zone);
            s_terminate_strings(&o->via.map.ptr[i].val, zone);
        }
    }
}

/* Takes ownership of mp (free()d here on failure). */
static yh_json_t *
s_doc(void *mp, size_t size)
{
    yh_json_t *doc = calloc(1, sizeof *doc);
    if (!doc || !msgpack_zone_init(&doc->zone, 4096)) {
        abort();
    }
    doc->mp = mp;
    char err[256] = "";
    if (yard_mp_decode(mp, size, &doc->zone, &doc->root, err, sizeof err) != 0) {
        fprintf(stderr, "yh_json: the converter's msgpack does not decode: %s\n", err);
        yh_json_destroy(&doc);
        return NULL;
    }
    s_terminate_strings(&doc->root, &doc->zone);
    return doc;
}

yh_json_t *
yh_json_parse(const char *text, size_t len)
{
    void *mp = NULL;
    size_t size = 0;
    char err[256] = "";
    if (yard_json_to_msgpack(text, len, &mp, &size, err, sizeof err) != 0) {
        fprintf(stderr, "yh_json_parse: not JSON (%s): %.*s\n", err, (int)len, text);
        return NULL;
    }
    return s_doc(mp, size);
}

yh_json_t *
yh_json_parse_lines(const char *text)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_array(w);
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        if (n > 0) {
            void *mp = NULL;
            size_t size = 0;
            char err[256] = "";
            if (yard_json_to_msgpack(p, n, &mp, &size, err, sizeof err) != 0) {
                fprintf(stderr, "yh_json_parse_lines: a line is not JSON (%s): %.*s\n", err, (int)n,
                        p);
                yard_mpw_destroy(&w);
                return NULL;
            }
            yard_mpw_raw(w, mp, size);
            free(mp);
        }
        p += n + (p[n] == '\n');
    }
    yard_mpw_end(w);
    const void *data = NULL;
    size_t size = 0;
    if (yard_mpw_finish(w, &data, &size) != 0) {
        fprintf(stderr, "yh_json_parse_lines: %s\n", yard_mpw_error(w));
        abort(); /* a bug here, not in the text */
    }
    void *copy = malloc(size);
    if (!copy) {
        abort();
    }
    memcpy(copy, data, size);
    yard_mpw_destroy(&w);
    return s_doc(copy, size);
}

void
yh_json_destroy(yh_json_t **self_p)
{
    yh_json_t *doc = *self_p;
    if (!doc) {
        return;
    }
    msgpack_zone_destroy(&doc->zone);
    free(doc->mp);
    free(doc);
    *self_p = NULL;
}

const msgpack_object *
yh_json_root(const yh_json_t *doc)
{
    return &doc->root;
}

/* One step of a path: the member named seg[0..n) of a map, or the element at that decimal
 * index of an array. */
static const msgpack_object *
s_step(const msgpack_object *o, const char *seg, size_t n)
{
    if (o->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
                memcmp(k->via.str.ptr, seg, n) == 0) {
                return &o->via.map.ptr[i].val;
            }
        }
        return NULL;
    }
    if (o->type != MSGPACK_OBJECT_ARRAY || n == 0 || n > 9 || strspn(seg, "0123456789") < n) {
        return NULL;
    }
    size_t idx = (size_t)strtoul(seg, NULL, 10);
    return idx < o->via.array.size ? &o->via.array.ptr[idx] : NULL;
}

const msgpack_object *
yh_json_at(const msgpack_object *o, const char *path)
{
    while (o && path && *path) {
        size_t n = strcspn(path, ".");
        o = s_step(o, path, n);
        path += n + (path[n] == '.');
    }
    return o;
}

int
yh_json_type(const msgpack_object *o, const char *path)
{
    const msgpack_object *v = yh_json_at(o, path);
    return v ? (int)v->type : -1;
}

const char *
yh_json_str(const msgpack_object *o, const char *path)
{
    const msgpack_object *v = yh_json_at(o, path);
    return v && v->type == MSGPACK_OBJECT_STR ? v->via.str.ptr : NULL;
}

int64_t
yh_json_int(const msgpack_object *o, const char *path)
{
    const msgpack_object *v = yh_json_at(o, path);
    if (v && v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        return v->via.i64;
    }
    if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX) {
        return (int64_t)v->via.u64;
    }
    return INT64_MIN;
}

double
yh_json_num(const msgpack_object *o, const char *path)
{
    const msgpack_object *v = yh_json_at(o, path);
    if (!v) {
        return NAN;
    }
    switch (v->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return (double)v->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return (double)v->via.i64;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return v->via.f64;
    default:
        return NAN;
    }
}

int
yh_json_bool(const msgpack_object *o, const char *path)
{
    const msgpack_object *v = yh_json_at(o, path);
    return v && v->type == MSGPACK_OBJECT_BOOLEAN ? v->via.boolean : -1;
}

long
yh_json_count(const msgpack_object *o, const char *path)
{
    const msgpack_object *v = yh_json_at(o, path);
    if (v && v->type == MSGPACK_OBJECT_ARRAY) {
        return (long)v->via.array.size;
    }
    if (v && v->type == MSGPACK_OBJECT_MAP) {
        return (long)v->via.map.size;
    }
    return -1;
}

bool
yh_json_equal(const msgpack_object *a, const msgpack_object *b)
{
    return a && b && msgpack_object_equal(*a, *b);
}
