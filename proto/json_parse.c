/* JSON text -> msgpack bytes (contract and mapping: yard/json.h).
 *
 * yajl parses (we never parse JSON by hand): its defaults are RFC 8259's strict grammar, and
 * with a number callback it hands every number over as its checked text, so integers convert
 * exactly over the whole int64 and uint64 ranges (strtoll/strtoull: an integer outside both is
 * an error, never clamped) and reals through strtod. Its callbacks append to a flat parse tree,
 * because msgpack writes a container's count before its elements; msgpack-c's packer then
 * writes the tree into an sbuffer the caller takes over. yajl 2.1 bends some strings (a lone
 * surrogate escape becomes '?' or a wrong pair; overlong UTF-8 passes), so each string's raw
 * text also passes yard__json_check_string() (json_scan.c).
 *
 * Strict parsing (yard_json_to_msgpack_strict) refuses an object that repeats a key: when a map
 * closes its keys are sorted, as the lenient parse's de-duplication sorts them, and the first
 * repeat in text order is the error.
 *
 * Invariant: on failure nothing is returned to the caller and everything allocated is freed;
 * every tree is at most YARD_JSON_MAX_DEPTH containers deep. */
#include "alloc_internal.h"
#include "json_internal.h"
#include "yard/json.h"
#include "yard/assert.h"
#include "yard/error.h"

#include <msgpack.h>
#include <yajl/yajl_parse.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_QUOTE_(x) #x
#define S_QUOTE(x)  S_QUOTE_(x)

/* --- JSON -> msgpack ------------------------------------------------------------------------ */

/* The parse tree: yajl hands values over in text order, and msgpack needs a container's element
 * count before its elements, so callbacks append nodes to one array (indices stay valid when it
 * grows) and s_pack() walks it at the end. Node 0 is the root, so 0 also means "none". */
enum { S_NIL, S_TRUE, S_FALSE, S_INT, S_UINT, S_REAL, S_STR, S_KEY, S_DROPPED, S_ARRAY, S_MAP };

typedef struct {
    int type;
    size_t next; /* next element of the same container */
    union {
        int64_t i;
        uint64_t u;
        double d;
        struct {
            bool in_text; /* bytes are json[off..], else strs[off..] (the decoded copy) */
            size_t off, len;
            size_t at;  /* offset of the opening quote in json, for errors */
            size_t val; /* S_KEY: its value */
        } s;
        struct {
            size_t first, last, count;
        } c;
    } v;
} s_node_t;

typedef struct {
    const char *json;
    size_t len;
    yajl_handle h;
    bool final;  /* inside yajl_complete_parse(): yajl's offsets are no longer into json */
    bool strict; /* a key repeated in one object is an error */
    size_t mark; /* offset just past the last token a callback saw */
    char sep;    /* the separator that may follow it: ',' after an element, ':' after a key */
    s_node_t *nodes;
    size_t n_nodes, cap_nodes;
    char *strs; /* decoded strings that differ from their text (they had escapes) */
    size_t n_strs, cap_strs;
    size_t open[YARD_JSON_MAX_DEPTH]; /* the open containers, outermost first */
    int depth;
    size_t err_at; /* our own error, when a callback stops the parse */
    const char *err_why;
} s_parse_t;

static void *
s_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) {
        return p;
    }
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need) {
        cap2 *= 2;
    }
    p = yard__xrealloc(p, cap2 * elem);
    *cap = cap2;
    return p;
}

/* Where the token yajl is on starts: past the last token a callback saw, white space and the one
 * separator the grammar allows there. */
static size_t
s_token_start(const s_parse_t *ps)
{
    size_t i = ps->mark;
    bool sep = ps->sep != 0;
    while (i < ps->len) {
        char c = ps->json[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            i++;
        } else if (sep && c == ps->sep) {
            sep = false;
            i++;
        } else {
            break;
        }
    }
    return i;
}

/* Offset just past the token yajl has just handed over. */
static size_t
s_token_end(const s_parse_t *ps)
{
    return ps->final ? ps->len : yajl_get_bytes_consumed(ps->h);
}

static int
s_fail(s_parse_t *ps, size_t at, const char *why)
{
    ps->err_at = at;
    ps->err_why = why;
    return 0; /* yajl: stop */
}

/* Appends a node and hangs it where the parse stands: the root, an array's next element, or the
 * value of the key a map just received. Returns its index. */
static size_t
s_add(s_parse_t *ps, int type)
{
    ps->nodes = s_grow(ps->nodes, &ps->cap_nodes, ps->n_nodes + 1, sizeof *ps->nodes);
    size_t idx = ps->n_nodes++;
    memset(&ps->nodes[idx], 0, sizeof ps->nodes[idx]);
    ps->nodes[idx].type = type;
    if (ps->depth > 0) {
        s_node_t *top = &ps->nodes[ps->open[ps->depth - 1]];
        if (top->type == S_MAP && type != S_KEY) {
            ps->nodes[top->v.c.last].v.s.val = idx;
        } else {
            if (top->v.c.first == 0) {
                top->v.c.first = idx;
            } else {
                ps->nodes[top->v.c.last].next = idx;
            }
            top->v.c.last = idx;
            top->v.c.count++;
        }
    }
    ps->sep = ps->depth > 0 ? ',' : 0;
    return idx;
}

/* A scalar value has been added: the next token starts after it. */
static int
s_scalar_done(s_parse_t *ps)
{
    ps->mark = s_token_end(ps);
    return 1;
}

static int
s_on_null(void *ctx)
{
    s_add(ctx, S_NIL);
    return s_scalar_done(ctx);
}

static int
s_on_boolean(void *ctx, int b)
{
    s_add(ctx, b ? S_TRUE : S_FALSE);
    return s_scalar_done(ctx);
}

/* yajl has checked the number's grammar (RFC 8259) and hands over its text: integers convert
 * exactly or fail, never clamped; reals must stay finite. */
static int
s_on_number(void *ctx, const char *s, size_t n)
{
    s_parse_t *ps = ctx;
    size_t end = s_token_end(ps);
    size_t at = end - n;
    /* yajl ends a number after a leading "0" and would read "01" as 0 then garbage. */
    if (!ps->final && end < ps->len && ps->json[end] >= '0' && ps->json[end] <= '9') {
        return s_fail(ps, at, "invalid number: leading zero");
    }
    char small[64];
    char *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf) {
        abort();
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    bool real = memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n);
    int ok = 1;
    errno = 0;
    if (real) {
        double d = strtod(buf, NULL);
        if (isinf(d)) {
            ok = s_fail(ps, at, "number too large for a double");
        } else {
            size_t idx = s_add(ps, S_REAL); /* s_add may move nodes */
            ps->nodes[idx].v.d = d;
        }
    } else if (buf[0] == '-') {
        long long i = strtoll(buf, NULL, 10);
        if (errno != ERANGE) {
            size_t idx = s_add(ps, S_INT); /* s_add may move nodes */
            ps->nodes[idx].v.i = i;
        }
    } else {
        unsigned long long u = strtoull(buf, NULL, 10);
        if (errno != ERANGE) {
            size_t idx = s_add(ps, S_UINT); /* s_add may move nodes */
            ps->nodes[idx].v.u = u;
        }
    }
    if (!real && errno == ERANGE) {
        ok = s_fail(ps, at,
                    "integer outside the int64 and uint64 ranges (a real needs a '.' or an "
                    "exponent)");
    }
    if (buf != small) {
        free(buf);
    }
    return ok ? s_scalar_done(ps) : 0;
}

/* A string or key: its raw text must pass yard__json_check_string() (yajl bends lone
 * surrogates and takes overlong UTF-8), then its decoded bytes are kept. */
static int
s_on_text(s_parse_t *ps, int type, const unsigned char *s, size_t n)
{
    size_t end = s_token_end(ps); /* a string always ends inside json: at its closing quote */
    size_t open = s_token_start(ps), at = 0;
    const char *why = NULL;
    YARD_ASSERT(open < end && ps->json[open] == '"' && ps->json[end - 1] == '"');
    if (yard__json_check_string(ps->json, ps->len, open, &at, &why)) {
        return s_fail(ps, at, why);
    }
    if (type == S_KEY && memchr(s, '\0', n)) {
        /* Keys are names that C code compares as strings: "k\u0000ey" would read as "k". */
        return s_fail(ps, end - 1, "NUL byte in object key");
    }
    size_t idx = s_add(ps, type);
    s_node_t *v = &ps->nodes[idx];
    v->v.s.len = n;
    v->v.s.at = open;
    if (n == end - open - 2) { /* no escape, since every escape is longer than its value */
        v->v.s.in_text = true;
        v->v.s.off = open + 1;
    } else {
        ps->strs = s_grow(ps->strs, &ps->cap_strs, ps->n_strs + n, 1);
        memcpy(ps->strs + ps->n_strs, s, n);
        v->v.s.off = ps->n_strs;
        ps->n_strs += n;
    }
    ps->mark = end;
    if (type == S_KEY) {
        ps->sep = ':';
    }
    return 1;
}

static int
s_on_string(void *ctx, const unsigned char *s, size_t n)
{
    return s_on_text(ctx, S_STR, s, n);
}

static int
s_on_key(void *ctx, const unsigned char *s, size_t n)
{
    return s_on_text(ctx, S_KEY, s, n);
}

static int
s_on_open(s_parse_t *ps, int type)
{
    size_t end = s_token_end(ps);
    if (ps->depth == YARD_JSON_MAX_DEPTH) {
        return s_fail(ps, end - 1, "nesting deeper than " S_QUOTE(YARD_JSON_MAX_DEPTH) " levels");
    }
    ps->open[ps->depth] = s_add(ps, type);
    ps->depth++;
    ps->mark = end;
    ps->sep = 0;
    return 1;
}

static const char *
s_bytes(const s_parse_t *ps, const s_node_t *v)
{
    return (v->v.s.in_text ? ps->json : ps->strs) + v->v.s.off;
}

typedef struct {
    const char *key;
    size_t len;
    size_t idx;
} s_entry_t;

static int
s_entry_cmp(const void *a, const void *b)
{
    const s_entry_t *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    if (c == 0 && x->len != y->len) {
        c = x->len < y->len ? -1 : 1;
    }
    if (c == 0) {
        c = x->idx < y->idx ? -1 : 1; /* text order; a key never compares with itself */
    }
    return c;
}

/* The keys of map (at least two), sorted by bytes and then text order, so that repeats sit
 * next to each other: hostile maps with many keys stay O(n log n). Caller frees. */
static s_entry_t *
s_sorted_keys(const s_parse_t *ps, const s_node_t *map)
{
    size_t n = map->v.c.count;
    s_entry_t *e = malloc(n * sizeof *e);
    if (!e) {
        abort();
    }
    size_t k = 0;
    for (size_t i = map->v.c.first; i; i = ps->nodes[i].next) {
        e[k++] = (s_entry_t){s_bytes(ps, &ps->nodes[i]), ps->nodes[i].v.s.len, i};
    }
    qsort(e, n, sizeof *e, s_entry_cmp);
    return e;
}

static bool
s_same_key(const s_entry_t *a, const s_entry_t *b)
{
    return a->len == b->len && memcmp(a->key, b->key, a->len) == 0;
}

/* Strict parsing: the node of the first key in text order that repeats an earlier key of
 * map, or 0 when every key is distinct. */
static size_t
s_repeated_key(const s_parse_t *ps, const s_node_t *map)
{
    size_t n = map->v.c.count, first = 0;
    if (n < 2) {
        return 0;
    }
    s_entry_t *e = s_sorted_keys(ps, map);
    for (size_t k = 1; k < n; k++) {
        if (s_same_key(&e[k - 1], &e[k]) && (first == 0 || e[k].idx < first)) {
            first = e[k].idx;
        }
    }
    free(e);
    return first;
}

/* A key repeated in one map: the first keeps its place and takes the last one's value; the
 * others are dropped. Returns the number of distinct keys. */
static size_t
s_dedupe(s_parse_t *ps, s_node_t *map)
{
    size_t n = map->v.c.count;
    if (n < 2) {
        return n;
    }
    s_entry_t *e = s_sorted_keys(ps, map);
    size_t distinct = 0;
    for (size_t g = 0; g < n;) {
        size_t end = g + 1;
        while (end < n && s_same_key(&e[end], &e[g])) {
            ps->nodes[e[end].idx].type = S_DROPPED;
            end++;
        }
        ps->nodes[e[g].idx].v.s.val = ps->nodes[e[end - 1].idx].v.s.val;
        distinct++;
        g = end;
    }
    free(e);
    return distinct;
}

static int
s_on_close(void *ctx)
{
    s_parse_t *ps = ctx;
    const s_node_t *top = &ps->nodes[ps->open[ps->depth - 1]];
    if (ps->strict && top->type == S_MAP) {
        size_t rep = s_repeated_key(ps, top);
        if (rep) {
            return s_fail(ps, ps->nodes[rep].v.s.at, "key repeated in the same object");
        }
    }
    ps->depth--;
    ps->mark = s_token_end(ps);
    ps->sep = ps->depth > 0 ? ',' : 0;
    return 1;
}

static int
s_on_start_map(void *ctx)
{
    return s_on_open(ctx, S_MAP);
}

static int
s_on_start_array(void *ctx)
{
    return s_on_open(ctx, S_ARRAY);
}

static const yajl_callbacks s_callbacks = {
    .yajl_null = s_on_null,
    .yajl_boolean = s_on_boolean,
    .yajl_number = s_on_number,
    .yajl_string = s_on_string,
    .yajl_start_map = s_on_start_map,
    .yajl_map_key = s_on_key,
    .yajl_end_map = s_on_close,
    .yajl_start_array = s_on_start_array,
    .yajl_end_array = s_on_close,
};

/* Packs node idx; the tree is at most YARD_JSON_MAX_DEPTH containers deep. */
static void
s_pack(msgpack_packer *pk, s_parse_t *ps, size_t idx)
{
    s_node_t *v = &ps->nodes[idx];
    switch (v->type) {
    case S_NIL:
        msgpack_pack_nil(pk);
        return;
    case S_TRUE:
        msgpack_pack_true(pk);
        return;
    case S_FALSE:
        msgpack_pack_false(pk);
        return;
    case S_INT: /* msgpack-c picks the smallest encoding */
        msgpack_pack_int64(pk, v->v.i);
        return;
    case S_UINT:
        msgpack_pack_uint64(pk, v->v.u);
        return;
    case S_REAL:
        msgpack_pack_double(pk, v->v.d);
        return;
    case S_STR:
    case S_KEY:
        msgpack_pack_str(pk, v->v.s.len);
        msgpack_pack_str_body(pk, s_bytes(ps, v), v->v.s.len);
        return;
    case S_ARRAY:
        msgpack_pack_array(pk, v->v.c.count);
        for (size_t i = v->v.c.first; i; i = ps->nodes[i].next) {
            s_pack(pk, ps, i);
        }
        return;
    case S_MAP:
        /* strict: s_on_close() has refused every repeat */
        msgpack_pack_map(pk, ps->strict ? v->v.c.count : s_dedupe(ps, v));
        for (size_t i = v->v.c.first; i; i = ps->nodes[i].next) {
            if (ps->nodes[i].type == S_KEY) {
                s_pack(pk, ps, i);
                s_pack(pk, ps, ps->nodes[i].v.s.val);
            }
        }
        return;
    }
    abort(); /* S_DROPPED is never reached: maps skip it */
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

/* Says where and why yajl stopped: at the start of the token it was on, except that inside a
 * string our check names the very byte. */
static void
s_yajl_error(s_parse_t *ps, char *err, size_t errlen)
{
    size_t at = s_token_start(ps), bad = 0;
    const char *why = NULL;
    unsigned char *msg = NULL;
    if (at < ps->len && ps->json[at] == '"' &&
        yard__json_check_string(ps->json, ps->len, at, &bad, &why) == 0) {
        why = NULL; /* a good string where the grammar wants something else */
    }
    if (why) {
        at = bad;
    } else if (at < ps->len && ps->json[at] == '\0') {
        why = "NUL byte in JSON text";
    } else {
        msg = yajl_get_error(ps->h, 0, NULL, 0);
        why = msg ? (const char *)msg : "invalid JSON";
    }
    s_json_error(ps->json, at, why, err, errlen);
    if (err && errlen > 0) {
        err[strcspn(err, "\n")] = '\0'; /* yajl ends its text with one */
    }
    if (msg) {
        yajl_free_error(ps->h, msg);
    }
}

static int
s_to_msgpack(const char *json, size_t len, bool strict, void **out, size_t *out_size, char *err,
             size_t errlen)
{
    *out = NULL;
    *out_size = 0;
    if (!json) {
        yard__json_errf(err, errlen, "line 1, column 0: no JSON text");
        return YARD_E_BAD_REQUEST;
    }
    /* yajl skips \v and \f as white space too; RFC 8259 does not, and the token offsets
     * above count only its four (found by tests/fuzz/fuzz_json). Raw, they are invalid
     * inside a string as well, so no JSON text holds one. */
    for (size_t i = 0; i < len; i++) {
        if (json[i] == '\v' || json[i] == '\f') {
            s_json_error(json, i, "vertical tab or form feed is not JSON white space", err, errlen);
            return YARD_E_BAD_REQUEST;
        }
    }
    int rc = YARD_E_BAD_REQUEST;
    s_parse_t ps = {.json = json, .len = len, .strict = strict};
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    /* yajl's defaults are the strict ones: no comments, UTF-8 checked, one value, nothing
     * after it. */
    ps.h = yajl_alloc(&s_callbacks, NULL, &ps);
    if (!ps.h) {
        abort();
    }
    yajl_status st = yajl_parse(ps.h, (const unsigned char *)json, len);
    if (st == yajl_status_ok) {
        ps.final = true; /* a number at the very end is only handed over now */
        st = yajl_complete_parse(ps.h);
    }
    if (st == yajl_status_client_canceled) {
        s_json_error(json, ps.err_at, ps.err_why, err, errlen);
        goto cleanup;
    }
    if (st != yajl_status_ok) {
        s_yajl_error(&ps, err, errlen);
        goto cleanup;
    }
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    s_pack(&pk, &ps, 0);
    if (sbuf.size == 0 || !sbuf.data) {
        abort(); /* every JSON value packs to at least one byte */
    }
    *out_size = sbuf.size;
    *out = msgpack_sbuffer_release(&sbuf);
    rc = 0;
cleanup:
    msgpack_sbuffer_destroy(&sbuf);
    yajl_free(ps.h);
    free(ps.nodes);
    free(ps.strs);
    return rc;
}

int
yard_json_to_msgpack(const char *json, size_t len, void **out, size_t *out_size, char *err,
                     size_t errlen)
{
    return s_to_msgpack(json, len, false, out, out_size, err, errlen);
}

int
yard_json_to_msgpack_strict(const char *json, size_t len, void **out, size_t *out_size, char *err,
                            size_t errlen)
{
    return s_to_msgpack(json, len, true, out, out_size, err, errlen);
}
