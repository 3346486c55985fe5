/* yard/mp.h: the bounded decoder, the field readers, the request readers and the writer; and a
 * table of malformed msgpack run through every place that unpacks a peer's bytes: the decoder
 * itself, yard_request_object() and the request readers, JSON conversion, the wire's head
 * frame decoder (every message the broker and the clients receive), the broker's $sys
 * service, and the gateway (an actor's reply, the auth service's verify reply, the broker's
 * stats for /metrics). Each must answer with a clean error, never abort (CI runs this under
 * ASan, where msgpack-c's ~137 GB allocation for "dd ff ff ff ff" would abort). */
#include "bus_json.h"
#include "fixture.h"
#include "harness.h"
#include "metrics.h"
#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/gateway.h"
#include "yard/json.h"
#include "yard/mp.h"
#include "yard/msg.h"
#include "yard/wire.h"

#include <curl/curl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the malformed table ----------------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *bytes;
    size_t len;
    const char *needle; /* in the decoder's reason */
} s_bad_t;

#define S_ROW(name, lit, needle)                                                                   \
    {                                                                                              \
        name, lit, sizeof(lit) - 1, needle                                                         \
    }

static char s_deep[40]; /* 33 nested arrays around 1: one level too deep */

static s_bad_t s_bad[] = {
    S_ROW("empty", "", "empty"),
    S_ROW("array32 of 4 billion", "\xdd\xff\xff\xff\xff", "claims"),
    S_ROW("map32 of 4 billion", "\xdf\xff\xff\xff\xff", "claims"),
    S_ROW("bin32 of 4 GiB", "\xc6\xff\xff\xff\xff", "needs"),
    S_ROW("str32 of 4 GiB", "\xdb\xff\xff\xff\xff", "needs"),
    S_ROW("ext32 of 4 GiB", "\xc9\xff\xff\xff\xff\x01", "needs"),
    S_ROW("array16 of 65535", "\xdc\xff\xff", "claims"),
    S_ROW("truncated str",
          "\xa5"
          "ab",
          "needs"),
    S_ROW("truncated map16 count", "\xde\x00", "truncated"),
    S_ROW("truncated float64", "\xcb\x00\x00", "needs"),
    S_ROW("map missing a value",
          "\x82\xa1"
          "a\x01\xa1"
          "b",
          "truncated at byte 6"),
    S_ROW("never-used byte", "\xc1", "0xc1"),
    S_ROW("trailing bytes", "\x01\x02", "trailing"),
    S_ROW("two maps", "\x80\x80", "trailing"),
    {"33 levels deep", s_deep, 34, "nesting deeper"},
};

#define S_NBAD (sizeof s_bad / sizeof s_bad[0])

static void
s_init_deep(void)
{
    memset(s_deep, 0x91, 33);
    s_deep[33] = 0x01;
}

/* --- the decoder ------------------------------------------------------------------------- */

static void
test_decode_rejects_each_malformed_row(void **state)
{
    (void)state;
    for (size_t i = 0; i < S_NBAD; i++) {
        msgpack_zone zone;
        assert_true(msgpack_zone_init(&zone, 256));
        msgpack_object o;
        char err[200] = "";
        int rc = yard_mp_decode(s_bad[i].bytes, s_bad[i].len, &zone, &o, err, sizeof err);
        if (rc != YARD_E_BAD_REQUEST || !strstr(err, s_bad[i].needle)) {
            fail_msg("row '%s': rc %d, '%s'", s_bad[i].name, rc, err);
        }
        assert_int_equal(o.type, MSGPACK_OBJECT_NIL);
        assert_int_equal(yard_mp_check(s_bad[i].bytes, s_bad[i].len, NULL, 0), YARD_E_BAD_REQUEST);
        msgpack_zone_destroy(&zone);
    }
}

static void
test_decode_reasons_give_the_byte_offset(void **state)
{
    (void)state;
    char err[200];
    yard_mp_check("\x92\x01\xc1", 3, err, sizeof err);
    assert_string_equal(err, "invalid msgpack byte 0xc1 at byte 2");
    yard_mp_check("\x01\x02", 2, err, sizeof err);
    assert_string_equal(err, "trailing bytes after the msgpack value at byte 1");
    yard_mp_check("\xdd\xff\xff\xff\xff", 5, err, sizeof err);
    assert_string_equal(err, "msgpack truncated: the container at byte 0 claims 4294967295 "
                             "elements, 0 bytes left");
}

static void
test_decode_accepts_32_levels_and_every_type(void **state)
{
    (void)state;
    char deep[33];
    memset(deep, 0x91, 32);
    deep[32] = 0x01;
    msgpack_zone zone;
    assert_true(msgpack_zone_init(&zone, 256));
    msgpack_object o;
    assert_int_equal(yard_mp_decode(deep, sizeof deep, &zone, &o, NULL, 0), 0);
    assert_int_equal(o.type, MSGPACK_OBJECT_ARRAY);
    /* nil, true, -1, 300, 1.5 (f64), "é", bin, fixext 1, {} */
    static const char all[] = "\x99\xc0\xc3\xff\xcd\x01\x2c\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"
                              "\xa2\xc3\xa9\xc4\x01\x00\xd4\x05\x07\x80";
    assert_int_equal(yard_mp_decode(all, sizeof all - 1, &zone, &o, NULL, 0), 0);
    assert_int_equal(o.via.array.size, 9);
    assert_int_equal(o.via.array.ptr[4].type, MSGPACK_OBJECT_FLOAT64);
    assert_string_equal(yard_mp_type_name(&o.via.array.ptr[0]), "nil");
    assert_string_equal(yard_mp_type_name(&o.via.array.ptr[1]), "a boolean");
    assert_string_equal(yard_mp_type_name(&o.via.array.ptr[2]), "an integer");
    assert_string_equal(yard_mp_type_name(&o.via.array.ptr[4]), "a number");
    assert_string_equal(yard_mp_type_name(&o.via.array.ptr[5]), "a string");
    assert_string_equal(yard_mp_type_name(&o.via.array.ptr[6]), "binary data");
    assert_string_equal(yard_mp_type_name(&o.via.array.ptr[7]), "an extension");
    assert_string_equal(yard_mp_type_name(&o.via.array.ptr[8]), "a map");
    msgpack_zone_destroy(&zone);
}

static void
test_json_conversion_rejects_each_malformed_row(void **state)
{
    (void)state;
    for (size_t i = 0; i < S_NBAD; i++) {
        char *out = (char *)1;
        char err[200] = "";
        int rc = yard_json_from_msgpack(s_bad[i].bytes, s_bad[i].len, &out, NULL, err, sizeof err);
        if (rc != YARD_E_BAD_REQUEST || out != NULL || !strstr(err, s_bad[i].needle)) {
            fail_msg("row '%s': rc %d, '%s'", s_bad[i].name, rc, err);
        }
    }
}

static void
test_wire_header_rejects_each_malformed_row(void **state)
{
    (void)state;
    yard_codec_t *codec = yard_codec_new();
    for (size_t i = 0; i < S_NBAD; i++) {
        if (strcmp(s_bad[i].name, "two maps") == 0) {
            continue; /* in a head frame, what follows the header is an inline body */
        }
        char frame[64];
        memcpy(frame, "YD\x03\x02", YARD_WIRE_CMD_SIZE); /* a REQUEST's command bytes */
        memcpy(frame + YARD_WIRE_CMD_SIZE, s_bad[i].bytes, s_bad[i].len);
        yard_cmd_t cmd;
        yard_header_t h;
        const char *why = NULL;
        int rc = yard_wire_decode(codec, frame, YARD_WIRE_CMD_SIZE + s_bad[i].len, &cmd, &h, &why);
        if (rc != YARD_E_BAD_REQUEST || !why) {
            fail_msg("row '%s': rc %d", s_bad[i].name, rc);
        }
    }
    yard_codec_destroy(&codec);
}

/* --- field readers ----------------------------------------------------------------------- */

/* {s:"hi", n:-5, u:2^64-1, i:7, b:true, d:1.5, nil:nil, m:{}, a:["x","y"], bad:[1], z:"a\0b"} */
static void
s_sample(yard_mpw_t *w)
{
    yard_mpw_map(w);
    yard_mpw_kstr(w, "s", "hi");
    yard_mpw_kint(w, "n", -5);
    yard_mpw_kuint(w, "u", UINT64_MAX);
    yard_mpw_kint(w, "i", 7);
    yard_mpw_kbool(w, "b", true);
    yard_mpw_key(w, "d");
    yard_mpw_double(w, 1.5);
    yard_mpw_key(w, "nil");
    yard_mpw_nil(w);
    yard_mpw_key(w, "m");
    yard_mpw_map(w);
    yard_mpw_end(w);
    yard_mpw_key(w, "a");
    static const char *const xy[] = {"x", "y"};
    yard_mpw_strs(w, xy, 2);
    yard_mpw_key(w, "bad");
    yard_mpw_array(w);
    yard_mpw_int(w, 1);
    yard_mpw_end(w);
    yard_mpw_key(w, "z");
    yard_mpw_strn(w, "a\0b", 3);
    yard_mpw_end(w);
}

typedef struct {
    yard_mpw_t *w;
    msgpack_zone zone;
    msgpack_object map;
    char err[200];
} s_rd_t;

static int
s_rd_setup(void **state)
{
    s_rd_t *r = calloc(1, sizeof *r);
    r->w = yard_mpw_new();
    s_sample(r->w);
    const void *data;
    size_t size;
    assert_int_equal(yard_mpw_finish(r->w, &data, &size), 0);
    assert_true(msgpack_zone_init(&r->zone, 1024));
    assert_int_equal(yard_mp_decode(data, size, &r->zone, &r->map, r->err, sizeof r->err), 0);
    *state = r;
    return 0;
}

static int
s_rd_teardown(void **state)
{
    s_rd_t *r = *state;
    msgpack_zone_destroy(&r->zone);
    yard_mpw_destroy(&r->w);
    assert_null(r->w);
    free(r);
    return 0;
}

static void
test_read_strings(void **state)
{
    s_rd_t *r = *state;
    yard_str_t s;
    assert_int_equal(yard_mp_get_str(&r->map, "s", &s, r->err, sizeof r->err), 0);
    assert_int_equal(s.len, 2);
    assert_memory_equal(s.ptr, "hi", 2);
    assert_int_equal(yard_mp_get_str(&r->map, "z", &s, NULL, 0), 0); /* NULs allowed here */
    assert_int_equal(s.len, 3);
    const char *c = NULL;
    assert_int_equal(yard_mp_get_cstr(&r->map, "s", &r->zone, &c, NULL, 0), 0);
    assert_string_equal(c, "hi");
    assert_int_equal(yard_mp_get_cstr(&r->map, "z", &r->zone, &c, r->err, sizeof r->err),
                     YARD_E_BAD_REQUEST);
    assert_string_equal(r->err, "'z' must not contain a NUL byte");
    assert_int_equal(yard_mp_get_str(&r->map, "n", &s, r->err, sizeof r->err), YARD_E_BAD_REQUEST);
    assert_string_equal(r->err, "'n' must be a string, not an integer");
    char buf[3];
    assert_int_equal(yard_mp_get_strbuf(&r->map, "s", buf, sizeof buf, NULL, 0), 0);
    assert_string_equal(buf, "hi");
    char small[2];
    assert_int_equal(yard_mp_get_strbuf(&r->map, "s", small, sizeof small, r->err, sizeof r->err),
                     YARD_E_BAD_REQUEST);
    assert_string_equal(r->err, "'s' must be at most 1 bytes");
}

static void
test_read_absent_and_nil_are_not_found(void **state)
{
    s_rd_t *r = *state;
    yard_str_t s = {"untouched", 9};
    assert_int_equal(yard_mp_get_str(&r->map, "nope", &s, r->err, sizeof r->err), YARD_E_NOT_FOUND);
    assert_string_equal(r->err, "'nope' is required");
    assert_int_equal(s.len, 9);
    int64_t n = 42;
    assert_int_equal(yard_mp_get_int(&r->map, "nil", &n, NULL, 0), YARD_E_NOT_FOUND);
    assert_int_equal(n, 42);
    assert_non_null(yard_mp_find(&r->map, "nil")); /* find sees the nil itself */
    assert_null(yard_mp_find(&r->map, "nope"));
    /* Not a map at all. */
    const msgpack_object *a = yard_mp_find(&r->map, "a");
    assert_int_equal(yard_mp_get_int(a, "x", &n, r->err, sizeof r->err), YARD_E_BAD_REQUEST);
    assert_non_null(strstr(r->err, "not a map"));
}

static void
test_read_numbers(void **state)
{
    s_rd_t *r = *state;
    int64_t i = 0;
    uint64_t u = 0;
    double d = 0;
    assert_int_equal(yard_mp_get_int(&r->map, "n", &i, NULL, 0), 0);
    assert_int_equal(i, -5);
    assert_int_equal(yard_mp_get_int(&r->map, "u", &i, r->err, sizeof r->err), YARD_E_BAD_REQUEST);
    assert_string_equal(r->err, "'u' is too large (at most 9223372036854775807)");
    assert_int_equal(yard_mp_get_uint(&r->map, "u", &u, NULL, 0), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(yard_mp_get_uint(&r->map, "n", &u, r->err, sizeof r->err), YARD_E_BAD_REQUEST);
    assert_string_equal(r->err, "'n' must not be negative");
    assert_int_equal(yard_mp_get_uint(&r->map, "s", &u, r->err, sizeof r->err), YARD_E_BAD_REQUEST);
    assert_string_equal(r->err, "'s' must be a non-negative integer, not a string");
    assert_int_equal(yard_mp_get_int_range(&r->map, "i", 1, 10, &i, NULL, 0), 0);
    assert_int_equal(i, 7);
    assert_int_equal(yard_mp_get_int_range(&r->map, "i", 1, 5, &i, r->err, sizeof r->err),
                     YARD_E_BAD_REQUEST);
    assert_string_equal(r->err, "'i' must be between 1 and 5");
    assert_int_equal(yard_mp_get_int_range(&r->map, "u", 0, INT64_MAX, &i, r->err, sizeof r->err),
                     YARD_E_BAD_REQUEST);
    assert_string_equal(r->err, "'u' must be between 0 and 9223372036854775807");
    assert_int_equal(yard_mp_get_double(&r->map, "d", &d, NULL, 0), 0);
    assert_true(d == 1.5);
    assert_int_equal(yard_mp_get_double(&r->map, "n", &d, NULL, 0), 0);
    assert_true(d == -5.0);
    assert_int_equal(yard_mp_get_double(&r->map, "b", &d, r->err, sizeof r->err),
                     YARD_E_BAD_REQUEST);
    assert_string_equal(r->err, "'b' must be a number, not a boolean");
}

static void
test_read_bool_map_array_strs(void **state)
{
    s_rd_t *r = *state;
    bool b = false;
    assert_int_equal(yard_mp_get_bool(&r->map, "b", &b, NULL, 0), 0);
    assert_true(b);
    assert_int_equal(yard_mp_get_bool(&r->map, "i", &b, r->err, sizeof r->err), YARD_E_BAD_REQUEST);
    assert_string_equal(r->err, "'i' must be true or false, not an integer");
    const msgpack_object *o = NULL;
    assert_int_equal(yard_mp_get_map(&r->map, "m", &o, NULL, 0), 0);
    assert_int_equal(o->via.map.size, 0);
    assert_int_equal(yard_mp_get_map(&r->map, "a", &o, r->err, sizeof r->err), YARD_E_BAD_REQUEST);
    assert_string_equal(r->err, "'a' must be a map, not an array");
    assert_int_equal(yard_mp_get_array(&r->map, "a", &o, NULL, 0), 0);
    assert_int_equal(o->via.array.size, 2);
    const char *const *v = NULL;
    size_t n = 0;
    assert_int_equal(yard_mp_get_strs(&r->map, "a", &r->zone, 8, &v, &n, NULL, 0), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0], "x");
    assert_string_equal(v[1], "y");
    assert_int_equal(yard_mp_get_strs(&r->map, "a", &r->zone, 1, &v, &n, r->err, sizeof r->err),
                     YARD_E_BAD_REQUEST);
    assert_string_equal(r->err, "'a' must have at most 1 items");
    assert_int_equal(yard_mp_get_strs(&r->map, "bad", &r->zone, 8, &v, &n, r->err, sizeof r->err),
                     YARD_E_BAD_REQUEST);
    assert_string_equal(r->err, "'bad' must be an array of strings, not of an integer");
    assert_int_equal(yard_mp_get_strs(&r->map, "s", &r->zone, 8, &v, &n, r->err, sizeof r->err),
                     YARD_E_BAD_REQUEST);
    assert_string_equal(r->err, "'s' must be an array of strings, not a string");
    yard_mp_field_err(r->err, sizeof r->err, "k", "is %d too many", 3);
    assert_string_equal(r->err, "'k' is 3 too many");
}

/* --- the writer -------------------------------------------------------------------------- */

static void
s_expect_bytes(yard_mpw_t *w, const char *want, size_t n)
{
    const void *data = NULL;
    size_t size = 0;
    int rc = yard_mpw_finish(w, &data, &size);
    if (rc) {
        fail_msg("finish: %s", yard_mpw_error(w));
    }
    assert_int_equal(size, n);
    assert_memory_equal(data, want, n);
}

static void
test_write_builds_exact_bytes(void **state)
{
    (void)state;
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "a", "b");
    yard_mpw_kint(w, "n", -1);
    yard_mpw_kbool(w, "t", true);
    yard_mpw_key(w, "l");
    yard_mpw_array(w);
    yard_mpw_nil(w);
    yard_mpw_uint(w, 200);
    yard_mpw_bin(w, "\x00", 1);
    yard_mpw_raw(w, "\x81\xa1x\x01", 4);
    yard_mpw_str(w, NULL);
    yard_mpw_end(w);
    yard_mpw_end(w);
    static const char want[] = "\x84\xa1"
                               "a\xa1"
                               "b\xa1n\xff\xa1t\xc3\xa1l\x95\xc0\xcc\xc8\xc4\x01"
                               "\x00\x81\xa1x\x01\xc0";
    s_expect_bytes(w, want, sizeof want - 1);
    yard_mpw_destroy(&w);
}

static void
test_write_uses_the_smallest_container_headers(void **state)
{
    (void)state;
    size_t counts[] = {0, 15, 16, 65535, 65536};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        yard_mpw_t *w = yard_mpw_new();
        yard_mpw_array(w);
        for (size_t i = 0; i < counts[c]; i++) {
            yard_mpw_int(w, 1);
        }
        yard_mpw_end(w);
        const void *data;
        size_t size;
        assert_int_equal(yard_mpw_finish(w, &data, &size), 0);
        size_t head = counts[c] < 16 ? 1 : counts[c] < 65536 ? 3 : 5;
        assert_int_equal(size, head + counts[c]);
        const unsigned char *p = data;
        assert_int_equal(p[0], head == 1 ? 0x90 | counts[c] : head == 3 ? 0xdc : 0xdd);
        msgpack_zone zone;
        msgpack_zone_init(&zone, 1024);
        msgpack_object o;
        assert_int_equal(yard_mp_decode(data, size, &zone, &o, NULL, 0), 0);
        assert_int_equal(o.via.array.size, counts[c]);
        msgpack_zone_destroy(&zone);
        yard_mpw_destroy(&w);
    }
}

typedef void (*s_misuse_fn)(yard_mpw_t *w);

static void
s_value_without_key(yard_mpw_t *w)
{
    yard_mpw_map(w);
    yard_mpw_int(w, 1);
    yard_mpw_end(w);
}
static void
s_key_in_array(yard_mpw_t *w)
{
    yard_mpw_array(w);
    yard_mpw_key(w, "k");
    yard_mpw_end(w);
}
static void
s_key_without_value(yard_mpw_t *w)
{
    yard_mpw_map(w);
    yard_mpw_key(w, "k");
    yard_mpw_end(w);
}
static void
s_two_keys(yard_mpw_t *w)
{
    yard_mpw_map(w);
    yard_mpw_key(w, "k");
    yard_mpw_key(w, "j");
}
static void
s_unbalanced(yard_mpw_t *w)
{
    yard_mpw_array(w);
    yard_mpw_array(w);
    yard_mpw_end(w);
}
static void
s_end_at_top(yard_mpw_t *w)
{
    yard_mpw_int(w, 1);
    yard_mpw_end(w);
}
static void
s_two_tops(yard_mpw_t *w)
{
    yard_mpw_int(w, 1);
    yard_mpw_int(w, 2);
}
static void
s_bad_utf8(yard_mpw_t *w)
{
    yard_mpw_str(w, "\xc0\xaf"); /* overlong '/' */
}
static void
s_bad_utf8_key(yard_mpw_t *w)
{
    yard_mpw_map(w);
    yard_mpw_kint(w, "\xed\xa0\x80", 1); /* a surrogate */
    yard_mpw_end(w);
}
static void
s_bad_raw(yard_mpw_t *w)
{
    yard_mpw_raw(w, "\xdd\xff\xff\xff\xff", 5);
}
static void
s_raw_trailing(yard_mpw_t *w)
{
    yard_mpw_raw(w, "\x01\x02", 2);
}
static void
s_too_deep(yard_mpw_t *w)
{
    for (int i = 0; i < 33; i++) {
        yard_mpw_array(w);
    }
}
static void
s_raw_too_deep(yard_mpw_t *w)
{
    yard_mpw_array(w);
    yard_mpw_raw(w,
                 "\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91"
                 "\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x01",
                 33); /* 32 levels inside an array: 33 */
    yard_mpw_end(w);
}
static void
s_nothing(yard_mpw_t *w)
{
    (void)w;
}

static void
test_write_misuse_is_a_sticky_error(void **state)
{
    (void)state;
    struct {
        s_misuse_fn fn;
        const char *needle;
    } rows[] = {
        {s_value_without_key, "a map needs a key before a value"},
        {s_key_in_array, "a key outside a map"},
        {s_key_without_value, "a map key without a value"},
        {s_two_keys, "two keys in a row"},
        {s_unbalanced, "still open"},
        {s_end_at_top, "end without an open map or array"},
        {s_two_tops, "a second value at the top level"},
        {s_bad_utf8, "a string is not valid UTF-8 at byte 0"},
        {s_bad_utf8_key, "a map key is not valid UTF-8"},
        {s_bad_raw, "raw msgpack is invalid: msgpack truncated"},
        {s_raw_trailing, "raw msgpack is invalid: trailing bytes"},
        {s_too_deep, "nesting deeper than 32 levels"},
        {s_raw_too_deep, "nesting deeper than 32 levels"},
        {s_nothing, "nothing was written"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        yard_mpw_t *w = yard_mpw_new();
        rows[i].fn(w);
        const void *data = NULL;
        size_t size = 0;
        int rc = yard_mpw_finish(w, &data, &size);
        const char *e = yard_mpw_error(w);
        if (rc != YARD_E_INTERNAL || !e || !strstr(e, rows[i].needle)) {
            fail_msg("row %zu: rc %d, '%s'", i, rc, e ? e : "(none)");
        }
        assert_null(data);
        /* Sticky: later calls do nothing, the first error stays. */
        yard_mpw_int(w, 1);
        assert_string_equal(yard_mpw_error(w), e);
        yard_mpw_destroy(&w);
    }
}

static void
test_write_object_copies_a_decoded_value(void **state)
{
    (void)state;
    msgpack_zone zone;
    msgpack_zone_init(&zone, 256);
    msgpack_object o;
    assert_int_equal(yard_mp_decode("\x92\x01\xa1x", 4, &zone, &o, NULL, 0), 0);
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_key(w, "v");
    yard_mpw_object(w, &o);
    yard_mpw_end(w);
    s_expect_bytes(w, "\x81\xa1v\x92\x01\xa1x", 7);
    yard_mpw_destroy(&w);
    msgpack_zone_destroy(&zone);
}

/* --- replies from a writer --------------------------------------------------------------- */

static void
test_reply_mpw_in_test_mode(void **state)
{
    (void)state;
    yard_request_t *req = yard_request_new_test("svc", "op", NULL, 0);
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "ok", "yes");
    yard_mpw_end(w);
    assert_int_equal(yard_request_reply_mpw(req, &w), 0);
    assert_null(w);
    const void *body;
    size_t size;
    assert_int_equal(yard_request_outcome_test(req, &body, &size, NULL), 0);
    assert_int_equal(size, 8);
    assert_memory_equal(body, "\x81\xa2ok\xa3yes", 8);
    yard_request_destroy_test(&req);

    /* A writer left open fails the request, INTERNAL. */
    req = yard_request_new_test("svc", "op", NULL, 0);
    w = yard_mpw_new();
    yard_mpw_map(w);
    assert_int_equal(yard_request_reply_mpw(req, &w), YARD_E_INTERNAL);
    assert_null(w);
    assert_int_equal(yard_request_outcome_test(req, NULL, NULL, NULL), YARD_E_INTERNAL);
    yard_request_destroy_test(&req);

    /* Deferred. */
    req = yard_request_new_test("svc", "op", NULL, 0);
    yard_deferred_t *d = yard_request_defer(req);
    assert_non_null(d);
    w = yard_mpw_new();
    yard_mpw_int(w, 5);
    assert_int_equal(yard_deferred_reply_mpw(&d, &w), 0);
    assert_null(d);
    assert_null(w);
    assert_int_equal(yard_request_outcome_test(req, &body, &size, NULL), 0);
    assert_int_equal(size, 1);
    assert_memory_equal(body, "\x05", 1);
    yard_request_destroy_test(&req);

    req = yard_request_new_test("svc", "op", NULL, 0);
    d = yard_request_defer(req);
    w = yard_mpw_new();
    assert_int_equal(yard_deferred_reply_mpw(&d, &w), YARD_E_INTERNAL);
    assert_null(d);
    assert_int_equal(yard_request_outcome_test(req, NULL, NULL, NULL), YARD_E_INTERNAL);
    yard_request_destroy_test(&req);
}

/* --- request readers, in test mode ------------------------------------------------------- */

static yard_request_t *
s_req_json(const char *json)
{
    void *mp = NULL;
    size_t n = 0;
    assert_int_equal(yard_json_to_msgpack(json, strlen(json), &mp, &n, NULL, 0), 0);
    yard_request_t *req = yard_request_new_test("svc", "op", mp, n);
    free(mp);
    return req;
}

static void
test_request_readers_read_each_type(void **state)
{
    (void)state;
    yard_request_t *req = s_req_json("{\"s\":\"hi\",\"i\":-3,\"u\":18446744073709551615,"
                                     "\"b\":false,\"d\":2.5,\"a\":[\"p\",\"q\"],\"m\":{\"k\":1},"
                                     "\"n\":null}");
    const char *s = NULL;
    int64_t i = 0;
    uint64_t u = 0;
    bool b = true;
    double d = 0;
    const char *const *a = NULL;
    size_t n = 0;
    const msgpack_object *m = NULL;
    assert_int_equal(yard_req_str(req, "s", &s), 0);
    assert_string_equal(s, "hi");
    assert_int_equal(yard_req_str_or(req, "none", "dflt", &s), 0);
    assert_string_equal(s, "dflt");
    assert_int_equal(yard_req_str_or(req, "n", "nil reads as absent", &s), 0);
    assert_string_equal(s, "nil reads as absent");
    assert_int_equal(yard_req_str_max(req, "s", 2, &s), 0);
    assert_int_equal(yard_req_str_max_or(req, "none", 2, "d", &s), 0);
    assert_int_equal(yard_req_int(req, "i", &i), 0);
    assert_int_equal(i, -3);
    assert_int_equal(yard_req_int_or(req, "none", 9, &i), 0);
    assert_int_equal(i, 9);
    assert_int_equal(yard_req_int_range(req, "i", -3, 0, &i), 0);
    assert_int_equal(yard_req_int_range_or(req, "none", 0, 1, 77, &i), 0);
    assert_int_equal(i, 77);
    assert_int_equal(yard_req_uint(req, "u", &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(yard_req_uint_or(req, "none", 4, &u), 0);
    assert_true(u == 4);
    assert_int_equal(yard_req_bool(req, "b", &b), 0);
    assert_false(b);
    assert_int_equal(yard_req_bool_or(req, "none", true, &b), 0);
    assert_true(b);
    assert_int_equal(yard_req_double(req, "d", &d), 0);
    assert_true(d == 2.5);
    assert_int_equal(yard_req_double_or(req, "none", 0.5, &d), 0);
    assert_true(d == 0.5);
    assert_int_equal(yard_req_strs(req, "a", &a, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(a[1], "q");
    assert_int_equal(yard_req_strs_or_none(req, "none", &a, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(yard_req_map(req, "m", &m), 0);
    assert_int_equal(m->via.map.size, 1);
    assert_true(yard_req_has(req, "s"));
    assert_false(yard_req_has(req, "n"));
    assert_false(yard_req_has(req, "none"));
    /* None of that answered the request. */
    assert_int_equal(yard_request_outcome_test(req, NULL, NULL, NULL), 1);
    yard_request_destroy_test(&req);
}

static void
test_request_readers_fail_the_request(void **state)
{
    (void)state;
    yard_request_t *req = s_req_json("{\"s\":\"hi\"}");
    const char *s = NULL;
    assert_int_equal(yard_req_str(req, "name", &s), YARD_E_BAD_REQUEST);
    assert_int_equal(yard_request_outcome_test(req, NULL, NULL, NULL), YARD_E_BAD_REQUEST);
    yard_request_destroy_test(&req);

    /* An empty body reads as {}. */
    req = yard_request_new_test("svc", "op", NULL, 0);
    int64_t i = 0;
    assert_int_equal(yard_req_int_or(req, "x", 3, &i), 0);
    assert_int_equal(i, 3);
    assert_int_equal(yard_req_int(req, "x", &i), YARD_E_BAD_REQUEST);
    yard_request_destroy_test(&req);

    /* A body that is not a map fails even an optional read. */
    req = yard_request_new_test("svc", "op", "\x92\x01\x02", 3);
    assert_int_equal(yard_req_int_or(req, "x", 3, &i), YARD_E_BAD_REQUEST);
    assert_int_equal(yard_request_outcome_test(req, NULL, NULL, NULL), YARD_E_BAD_REQUEST);
    yard_request_destroy_test(&req);

    req = s_req_json("{\"s\":\"hi\"}");
    assert_int_equal(yard_req_fail_field(req, "s", "is %s", "wrong"), YARD_E_BAD_REQUEST);
    assert_int_equal(yard_request_outcome_test(req, NULL, NULL, NULL), YARD_E_BAD_REQUEST);
    yard_request_destroy_test(&req);
}

static void
test_request_object_rejects_each_malformed_row(void **state)
{
    (void)state;
    for (size_t i = 0; i < S_NBAD; i++) {
        yard_request_t *req = yard_request_new_test("svc", "op", s_bad[i].bytes, s_bad[i].len);
        assert_null(yard_request_object(req));
        const char *s = NULL;
        int rc = yard_req_str(req, "k", &s);
        /* Malformed: "not valid msgpack"; empty reads as {}: "'k' is required". */
        if (rc != YARD_E_BAD_REQUEST ||
            yard_request_outcome_test(req, NULL, NULL, NULL) != YARD_E_BAD_REQUEST) {
            fail_msg("row '%s': rc %d", s_bad[i].name, rc);
        }
        yard_request_destroy_test(&req);
    }
}

/* --- over the bus: the texts a caller sees, $sys, the gateway ---------------------------- */

/* "mpt": each op reads field "v" with one reader and replies {v: what it read}. */
static int
s_op_str(yard_request_t *req, void *state)
{
    (void)state;
    const char *v;
    int rc;
    if ((rc = yard_req_str(req, "v", &v))) {
        return rc;
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "v", v);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}

static int
s_op_uint(yard_request_t *req, void *state)
{
    (void)state;
    uint64_t v;
    int rc;
    if ((rc = yard_req_uint(req, "v", &v))) {
        return rc;
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kuint(w, "v", v);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}

static int
s_op_range(yard_request_t *req, void *state)
{
    (void)state;
    int64_t v;
    int rc;
    if ((rc = yard_req_int_range_or(req, "v", 1, 10, 5, &v))) {
        return rc;
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kint(w, "v", v);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}

static int
s_op_strs(yard_request_t *req, void *state)
{
    (void)state;
    const char *const *v;
    size_t n;
    int rc;
    if ((rc = yard_req_strs(req, "v", &v, &n))) {
        return rc;
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_key(w, "v");
    yard_mpw_strs(w, v, n);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}

/* Replies with bad row N (http.param.row or the body's "row"), raw. */
static int
s_op_bad(yard_request_t *req, void *state)
{
    (void)state;
    const char *p = yard_request_header(req, "http.param.row");
    size_t row = p ? strtoul(p, NULL, 10) : 0;
    if (row >= S_NBAD || s_bad[row].len == 0) {
        return yard_request_reply(req, "\xc0", 1);
    }
    return yard_request_reply(req, s_bad[row].bytes, s_bad[row].len);
}

static const yard_handler_def_t s_mpt_handlers[] = {
    {"str", s_op_str, "{v: string}"},       {"uint", s_op_uint, "{v: uint}"},
    {"range", s_op_range, "{v?: 1..10}"},   {"strs", s_op_strs, "{v: [string]}"},
    {"bad", s_op_bad, "a malformed reply"}, {NULL, NULL, NULL}};
static const yard_actor_def_t s_mpt_def = {
    .name = "mpt", .description = "mp readers", .handlers = s_mpt_handlers};

/* The fake auth: token "row<N>" gets bad row N as its verify reply; "good" a real identity. */
static int
s_auth_verify(yard_request_t *req, void *state)
{
    (void)state;
    const char *tok;
    int rc;
    if ((rc = yard_req_str(req, "token", &tok))) {
        return rc;
    }
    if (strcmp(tok, "good") == 0) {
        yard_mpw_t *w = yard_mpw_new();
        yard_mpw_map(w);
        yard_mpw_kstr(w, "sub", "u1");
        static const char *const sc[] = {"a"};
        yard_mpw_key(w, "scopes");
        yard_mpw_strs(w, sc, 1);
        yard_mpw_end(w);
        return yard_request_reply_mpw(req, &w);
    }
    size_t row = strncmp(tok, "row", 3) == 0 ? strtoul(tok + 3, NULL, 10) : S_NBAD;
    if (row >= S_NBAD || s_bad[row].len == 0) {
        return yard_request_reply(req, "\xc0", 1);
    }
    return yard_request_reply(req, s_bad[row].bytes, s_bad[row].len);
}

static const yard_handler_def_t s_auth_handlers[] = {{"verify", s_auth_verify, "verify"},
                                                     {NULL, NULL, NULL}};
static const yard_actor_def_t s_auth_def = {
    .name = "auth", .description = "fake auth", .handlers = s_auth_handlers};

static struct {
    int port;
    char *dir;
    yard_broker_t *broker;
    yard_actor_t *mpt, *auth;
    yard_client_t *client;
} B;

static int
s_bus_setup(void **state)
{
    (void)state;
    B.dir = yh_tmpdir();
    B.broker = yh_broker_start(&B.port);
    B.mpt = yh_actor_start(&s_mpt_def, NULL, B.port, NULL);
    B.auth = yh_actor_start(&s_auth_def, NULL, B.port, NULL);
    assert_int_equal(yard_client_new(yh_endpoint(B.port), NULL, &B.client), 0);
    yh_result_t r = yh_call_json_ready(B.client, "mpt", "str", "{\"v\":\"x\"}", NULL, 10000);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    r = yh_call_json_ready(B.client, "auth", "verify", "{\"token\":\"good\"}", NULL, 10000);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    return 0;
}

static int
s_bus_teardown(void **state)
{
    (void)state;
    yard_client_destroy(&B.client);
    yard_actor_destroy(&B.mpt);
    yard_actor_destroy(&B.auth);
    yard_broker_destroy(&B.broker);
    yh_rmtree(B.dir);
    free(B.dir);
    return 0;
}

static void
test_bus_readers_name_the_field(void **state)
{
    (void)state;
    struct {
        const char *op, *json;
        int status;
        const char *needle;
    } rows[] = {
        {"str", "{\"v\":\"hé\"}", 0, "{\"v\":\"hé\"}"},
        {"str", "{}", YARD_E_BAD_REQUEST, "'v' is required"},
        {"str", "{\"v\":1}", YARD_E_BAD_REQUEST, "'v' must be a string, not an integer"},
        {"str", "{\"v\":\"a\\u0000b\"}", YARD_E_BAD_REQUEST, "'v' must not contain a NUL byte"},
        {"str", "[1]", YARD_E_BAD_REQUEST, "the body must be a map, not an array"},
        {"uint", "{\"v\":18446744073709551615}", 0, "{\"v\":18446744073709551615}"},
        {"uint", "{\"v\":-1}", YARD_E_BAD_REQUEST, "'v' must not be negative"},
        {"range", "{}", 0, "{\"v\":5}"},
        {"range", "{\"v\":null}", 0, "{\"v\":5}"},
        {"range", "{\"v\":11}", YARD_E_BAD_REQUEST, "'v' must be between 1 and 10"},
        {"range", "{\"v\":true}", YARD_E_BAD_REQUEST, "'v' must be an integer, not a boolean"},
        {"strs", "{\"v\":[\"a\",\"b\"]}", 0, "{\"v\":[\"a\",\"b\"]}"},
        {"strs", "{\"v\":[\"a\",{}]}", YARD_E_BAD_REQUEST,
         "'v' must be an array of strings, not of a map"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        yh_result_t r = yh_call_json(B.client, "mpt", rows[i].op, rows[i].json, NULL, 5000);
        if (r.status != rows[i].status || !r.json || !strstr(r.json, rows[i].needle)) {
            fail_msg("row %zu (%s %s): status %d, '%s'", i, rows[i].op, rows[i].json, r.status,
                     r.json ? r.json : "");
        }
        yh_result_free(&r);
    }
}

/* A raw call; returns the status and copies the error text into why. */
static int
s_raw_call(const char *service, const char *op, const void *body, size_t size, char *why,
           size_t cap)
{
    yard_call_opts_t o = {.op = op, .timeout_ms = 5000};
    yard_msg_t *reply = NULL;
    int rc = yard_client_call(B.client, service, body, size, &o, &reply);
    snprintf(why, cap, "%s", reply && yard_msg_error_text(reply) ? yard_msg_error_text(reply) : "");
    yard_msg_destroy(&reply);
    return rc;
}

static void
test_bus_request_bodies_of_each_malformed_row(void **state)
{
    (void)state;
    char why[512];
    for (size_t i = 0; i < S_NBAD; i++) {
        int rc = s_raw_call("mpt", "str", s_bad[i].bytes, s_bad[i].len, why, sizeof why);
        const char *want = s_bad[i].len ? "the body is not valid msgpack" : "'v' is required";
        if (rc != YARD_E_BAD_REQUEST || !strstr(why, want) ||
            (s_bad[i].len && !strstr(why, s_bad[i].needle))) {
            fail_msg("row '%s': %d '%s'", s_bad[i].name, rc, why);
        }
    }
}

static void
test_sys_replicas_with_each_malformed_row(void **state)
{
    (void)state;
    char why[512];
    for (size_t i = 0; i < S_NBAD; i++) {
        int rc = s_raw_call("$sys", "replicas", s_bad[i].bytes, s_bad[i].len, why, sizeof why);
        if (rc != YARD_E_BAD_REQUEST || !strstr(why, "op replicas needs a body {service: NAME}")) {
            fail_msg("row '%s': %d '%s'", s_bad[i].name, rc, why);
        }
    }
    assert_int_equal(s_raw_call("$sys", "replicas", "\x81\xa7service\x01", 10, why, sizeof why),
                     YARD_E_BAD_REQUEST);
    assert_non_null(strstr(why, "'service' must be a string, not an integer"));
    /* The broker is still whole: a good request is answered. */
    assert_int_equal(s_raw_call("$sys", "replicas", "\x81\xa7service\xa3mpt", 13, why, sizeof why),
                     0);
    assert_int_equal(s_raw_call("$sys", "replicas", "\x81\xa7service\xa4nope", 14, why, sizeof why),
                     YARD_E_NOT_FOUND);
}

/* --- the gateway ------------------------------------------------------------------------- */

static size_t
s_discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static long
s_http_get(uint16_t port, const char *path, const char *bearer)
{
    char url[128], auth[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    if (bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        h = curl_slist_append(NULL, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static void
test_gateway_with_each_malformed_row(void **state)
{
    (void)state;
    yard_config_t *cfg = yh_config_in(B.dir, "gateway:\n"
                                             "  routes:\n"
                                             "    - method: GET\n"
                                             "      path: \"/bad/{row}\"\n"
                                             "      service: mpt\n"
                                             "      op: bad\n"
                                             "    - method: GET\n"
                                             "      path: \"/me\"\n"
                                             "      service: mpt\n"
                                             "      op: range\n"
                                             "      auth: bearer\n");
    char bflag[64], err[512] = "";
    snprintf(bflag, sizeof bflag, "--broker=%s", yh_endpoint(B.port));
    char *argv[] = {bflag, "--listen=127.0.0.1:0", NULL};
    yard_gateway_opts_t o;
    assert_int_equal(yard_gateway_opts_fill(&o, cfg, 2, argv, err, sizeof err), 0);
    yard_gateway_t *gw = NULL;
    assert_int_equal(yard_gateway_new(&o, cfg, NULL, &gw, err, sizeof err), 0);
    assert_int_equal(yard_gateway_start(gw), 0);
    uint16_t port = yard_gateway_port(gw);
    assert_int_equal(s_http_get(port, "/me", "good"), 200);
    for (size_t i = 0; i < S_NBAD; i++) {
        if (s_bad[i].len == 0) {
            continue;
        }
        char path[32], tok[32];
        snprintf(path, sizeof path, "/bad/%zu", i);
        snprintf(tok, sizeof tok, "row%zu", i);
        long a = s_http_get(port, path, NULL), b = s_http_get(port, "/me", tok);
        if (a != 502 || b != 502) {
            fail_msg("row '%s': reply %ld, verify %ld", s_bad[i].name, a, b);
        }
    }
    assert_int_equal(s_http_get(port, "/me", "good"), 200); /* still serving */
    yard_gateway_destroy(&gw);
    yard_gateway_opts_free(&o);
    yard_config_destroy(&cfg);
}

static void
test_gateway_metrics_with_each_malformed_row(void **state)
{
    (void)state;
    yard_gw_metrics_t *m = yard_gw_metrics_new();
    for (size_t i = 0; i < S_NBAD; i++) {
        yard_gw_metrics_set_sys(m, s_bad[i].bytes, s_bad[i].len);
        size_t len = 0;
        char *text = yard_gw_metrics_render(m, &len);
        assert_non_null(text);
        if (strstr(text, "yard_service_replicas{")) {
            fail_msg("row '%s': rendered services from a malformed stats body", s_bad[i].name);
        }
        free(text);
    }
    yard_gw_metrics_destroy(&m);
}

int
main(void)
{
    s_init_deep();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_rejects_each_malformed_row),
        cmocka_unit_test(test_decode_reasons_give_the_byte_offset),
        cmocka_unit_test(test_decode_accepts_32_levels_and_every_type),
        cmocka_unit_test(test_json_conversion_rejects_each_malformed_row),
        cmocka_unit_test(test_wire_header_rejects_each_malformed_row),
        cmocka_unit_test_setup_teardown(test_read_strings, s_rd_setup, s_rd_teardown),
        cmocka_unit_test_setup_teardown(test_read_absent_and_nil_are_not_found, s_rd_setup,
                                        s_rd_teardown),
        cmocka_unit_test_setup_teardown(test_read_numbers, s_rd_setup, s_rd_teardown),
        cmocka_unit_test_setup_teardown(test_read_bool_map_array_strs, s_rd_setup, s_rd_teardown),
        cmocka_unit_test(test_write_builds_exact_bytes),
        cmocka_unit_test(test_write_uses_the_smallest_container_headers),
        cmocka_unit_test(test_write_misuse_is_a_sticky_error),
        cmocka_unit_test(test_write_object_copies_a_decoded_value),
        cmocka_unit_test(test_reply_mpw_in_test_mode),
        cmocka_unit_test(test_request_readers_read_each_type),
        cmocka_unit_test(test_request_readers_fail_the_request),
        cmocka_unit_test(test_request_object_rejects_each_malformed_row),
        cmocka_unit_test(test_gateway_metrics_with_each_malformed_row),
    };
    const struct CMUnitTest bus[] = {
        cmocka_unit_test(test_bus_readers_name_the_field),
        cmocka_unit_test(test_bus_request_bodies_of_each_malformed_row),
        cmocka_unit_test(test_sys_replicas_with_each_malformed_row),
        cmocka_unit_test(test_gateway_with_each_malformed_row),
    };
    int failed = cmocka_run_group_tests_name("mp", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("mp over the bus", bus, s_bus_setup, s_bus_teardown);
    curl_global_cleanup();
    return failed;
}
