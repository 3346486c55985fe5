/* JSON <-> msgpack (yard/json.h), as its usage example: convert a typed request body to the
 * bus's msgpack and a reply back to text, and see what each bad input is answered with. */
#include "yard/error.h"
#include "yard/json.h"

#include <msgpack.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* JSON text -> msgpack -> JSON text; returns the final text (caller frees). */
static char *
s_round_trip(const char *json)
{
    void *mp = NULL;
    size_t mp_size = 0;
    char err[256] = "";
    int rc = yard_json_to_msgpack(json, strlen(json), &mp, &mp_size, err, sizeof err);
    if (rc) {
        fail_msg("to_msgpack(%s) = %d: %s", json, rc, err);
    }
    char *text = NULL;
    size_t len = 0;
    rc = yard_json_from_msgpack(mp, mp_size, &text, &len, err, sizeof err);
    if (rc) {
        fail_msg("from_msgpack(%s) = %d: %s", json, rc, err);
    }
    assert_int_equal(len, strlen(text));
    free(mp);
    return text;
}

/* Texts already in canonical compact form come back byte for byte. */
static void
test_round_trip_canonical(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{\"hello\":\"world\"}",
        "null",
        "true",
        "false",
        "0",
        "[]",
        "{}",
        "\"\"",
        "[1,-1,0,127,128,255,256,-32,-33,-129,65535,65536,4294967295,4294967296]",
        "[9223372036854775807,-9223372036854775808]",
        "[18446744073709551615,9223372036854775808,-4294967296,-2147483649]",
        "[0.1,1.5,-2.0,1e+300,5e-324,1.7976931348623157e+308,0.30000000000000004,100.0]",
        "\"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x9a\x82\"",
        "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f/\"",
        "\"nul\\u0000inside\"",
        "{\"z\":1,\"a\":2,\"m\":[{\"b\":null}],\"c\":{}}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", /* 32 levels */
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{\"a\":1}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char *out = s_round_trip(texts[i]);
        assert_string_equal(out, texts[i]);
        free(out);
    }
}

/* Spacing and escapes that have a shorter form are normalised. */
static void
test_round_trip_normalises(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {" { \"a\" : [ 1 , 2 ] }\n", "{\"a\":[1,2]}"},
        {"\"\\u00e9\\/\"", "\"\xc3\xa9/\""},
        {"\"\\ud83d\\ude82\"", "\"\xf0\x9f\x9a\x82\""},
        {"1E2", "100.0"},
        {"-0.0", "-0.0"},
        {"2.50", "2.5"},
        {"-0", "0"},
        /* an integer beyond uint64 is an error; written as a real it is a double */
        {"18446744073709551616.0", "1.8446744073709552e+19"},
        {"1e19", "1e+19"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = s_round_trip(cases[i].in);
        assert_string_equal(out, cases[i].out);
        free(out);
    }
}

/* The packed bytes use msgpack's smallest encodings. */
static void
test_packed_bytes(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *bytes;
        size_t size;
    } cases[] = {
        {"{\"a\":1}",
         "\x81\xa1"
         "a\x01",
         4},
        {"-1", "\xff", 1},
        {"200", "\xcc\xc8", 2},
        {"[true,false,null]", "\x93\xc3\xc2\xc0", 4},
        {"1.0", "\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00", 9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        void *mp = NULL;
        size_t n = 0;
        assert_int_equal(
            yard_json_to_msgpack(cases[i].json, strlen(cases[i].json), &mp, &n, NULL, 0), 0);
        assert_int_equal(n, cases[i].size);
        assert_memory_equal(mp, cases[i].bytes, n);
        free(mp);
    }
}

/* Every integer of int64 and uint64 converts exactly, both ways: negative ones as msgpack
 * int 64 (0xd3) when they need all 8 bytes, non-negative ones as uint 64 (0xcf). */
static void
test_integer_range(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *bytes;
        size_t size;
    } cases[] = {
        {"18446744073709551615", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9},
        {"9223372036854775808", "\xcf\x80\x00\x00\x00\x00\x00\x00\x00", 9},
        {"9223372036854775807", "\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", 9},
        {"-9223372036854775808", "\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9},
        {"-2147483649", "\xd3\xff\xff\xff\xff\x7f\xff\xff\xff", 9},
        {"4294967296", "\xcf\x00\x00\x00\x01\x00\x00\x00\x00", 9},
        {"0", "\x00", 1},
        {"-1", "\xff", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        void *mp = NULL;
        size_t n = 0;
        char err[256] = "";
        if (yard_json_to_msgpack(cases[i].json, strlen(cases[i].json), &mp, &n, err, sizeof err)) {
            fail_msg("%s: %s", cases[i].json, err);
        }
        assert_int_equal(n, cases[i].size);
        assert_memory_equal(mp, cases[i].bytes, n);
        char *text = NULL;
        assert_int_equal(yard_json_from_msgpack(mp, n, &text, NULL, NULL, 0), 0);
        assert_string_equal(text, cases[i].json);
        free(text);
        free(mp);
    }
}

/* A key repeated in one object: the last value wins, at the key's first position (RFC 8259
 * leaves it open). */
static void
test_duplicate_keys(void **state)
{
    (void)state;
    char *out = s_round_trip("{\"a\":1,\"b\":2,\"a\":[3]}");
    assert_string_equal(out, "{\"a\":[3],\"b\":2}");
    free(out);
    out = s_round_trip("{\"a\":{\"x\":1},\"a\":{\"y\":2}}");
    assert_string_equal(out, "{\"a\":{\"y\":2}}");
    free(out);
    out = s_round_trip("{\"b\":0,\"a\":1,\"b\":2,\"c\":3,\"b\":4,\"a\":5}");
    assert_string_equal(out, "{\"b\":4,\"a\":5,\"c\":3}");
    free(out);
}

/* yard_json_to_msgpack_strict: a repeated key is an error naming the repeat's position, at any
 * depth and however the key is escaped; distinct keys parse as the lenient parse does. */
static void
test_duplicate_keys_strict(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *err;
    } bad[] = {
        {"{\"a\":1,\"a\":2}", "line 1, column 8: key repeated in the same object"},
        {"{\"a\":1,\"b\":2,\"b\":3,\"a\":4}", "line 1, column 14: key repeated in the same object"},
        {"[{\"x\":{\"k\":1,\n\"k\":2}}]", "line 2, column 1: key repeated in the same object"},
        {"{\"k\":1,\"\\u006b\":2}", "line 1, column 8: key repeated in the same object"},
        {"{\"sub\":\"u1\",\"n\":{},\"sub\":\"admin\"}",
         "line 1, column 20: key repeated in the same object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *mp = (void *)"untouched";
        size_t n = 1;
        char err[256] = "";
        int rc =
            yard_json_to_msgpack_strict(bad[i].json, strlen(bad[i].json), &mp, &n, err, sizeof err);
        if (rc != YARD_E_BAD_REQUEST || mp || n || strcmp(err, bad[i].err) != 0) {
            fail_msg("strict %s: rc %d, err \"%s\", want \"%s\"", bad[i].json, rc, err, bad[i].err);
        }
        /* the lenient parse takes the same text */
        assert_int_equal(yard_json_to_msgpack(bad[i].json, strlen(bad[i].json), &mp, &n, NULL, 0),
                         0);
        free(mp);
    }
    /* the same key in different objects, and keys that differ only in length, are fine */
    static const char good[] = "{\"a\":{\"a\":1},\"ab\":[{\"a\":2},{\"a\":3}],\"b\":{}}";
    void *strict = NULL, *lenient = NULL;
    size_t ns = 0, nl = 0;
    assert_int_equal(yard_json_to_msgpack_strict(good, strlen(good), &strict, &ns, NULL, 0), 0);
    assert_int_equal(yard_json_to_msgpack(good, strlen(good), &lenient, &nl, NULL, 0), 0);
    assert_int_equal(ns, nl);
    assert_memory_equal(strict, lenient, ns);
    free(strict);
    free(lenient);
}

/* Input need not be NUL-terminated: only len bytes are read. */
static void
test_length_counted_input(void **state)
{
    (void)state;
    const char text[] = "[1,2]garbage";
    void *mp = NULL;
    size_t n = 0;
    assert_int_equal(yard_json_to_msgpack(text, 5, &mp, &n, NULL, 0), 0);
    char *out = NULL;
    assert_int_equal(yard_json_from_msgpack(mp, n, &out, NULL, NULL, 0), 0);
    assert_string_equal(out, "[1,2]");
    free(out);
    free(mp);
}

static char *
s_from_packed(void (*pack)(msgpack_packer *pk))
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    pack(&pk);
    char *out = NULL;
    char err[256] = "";
    int rc = yard_json_from_msgpack(sbuf.data, sbuf.size, &out, NULL, err, sizeof err);
    msgpack_sbuffer_destroy(&sbuf);
    if (rc) {
        fail_msg("from_msgpack = %d: %s", rc, err);
    }
    return out;
}

static void
s_pack_uint64_max(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint64(pk, UINT64_MAX);
    msgpack_pack_uint64(pk, (uint64_t)INT64_MAX + 1);
}

static void
s_pack_bin(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_bin(pk, 5);
    msgpack_pack_bin_body(pk, "hello", 5);
    msgpack_pack_bin(pk, 1);
    msgpack_pack_bin_body(pk, "\xff", 1);
    msgpack_pack_bin(pk, 2);
    msgpack_pack_bin_body(pk, "\xfb\xff", 2);
    msgpack_pack_bin(pk, 0);
}

static void
s_pack_float32(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    msgpack_pack_float(pk, 0.1f);
    msgpack_pack_float(pk, 3.0f);
    msgpack_pack_float(pk, 16777217.0f);
}

static void
s_pack_scalar_keys(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 6);
    msgpack_pack_int(pk, 1);
    msgpack_pack_str_with_body(pk, "x", 1);
    msgpack_pack_int(pk, -7);
    msgpack_pack_nil(pk);
    msgpack_pack_true(pk);
    msgpack_pack_int(pk, 2);
    msgpack_pack_nil(pk);
    msgpack_pack_int(pk, 3);
    msgpack_pack_double(pk, 0.5);
    msgpack_pack_int(pk, 4);
    msgpack_pack_uint64(pk, UINT64_MAX);
    msgpack_pack_int(pk, 5);
}

/* What only msgpack can express has a documented JSON form. */
static void
test_msgpack_only_values(void **state)
{
    (void)state;
    char *out = s_from_packed(s_pack_uint64_max);
    assert_string_equal(out, "[18446744073709551615,9223372036854775808]");
    free(out);

    out = s_from_packed(s_pack_bin);
    assert_string_equal(out, "[\"aGVsbG8=\",\"/w==\",\"+/8=\",\"\"]");
    free(out);

    out = s_from_packed(s_pack_float32);
    assert_string_equal(out, "[0.1,3.0,16777216.0]");
    free(out);

    out = s_from_packed(s_pack_scalar_keys);
    assert_string_equal(out, "{\"1\":\"x\",\"-7\":null,\"true\":2,\"null\":3,\"0.5\":4,"
                             "\"18446744073709551615\":5}");
    free(out);
}

/* Every finite double survives double -> JSON text -> double bit for bit. */
static void
test_doubles_round_trip_exactly(void **state)
{
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 20000; i++) {
        /* xorshift64 over all bit patterns: normals, subnormals, both signs. */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof d);
        if (d != d || d - d != 0) {
            continue; /* NaN, infinities */
        }
        msgpack_sbuffer sbuf;
        msgpack_sbuffer_init(&sbuf);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
        msgpack_pack_double(&pk, d);
        char *text = NULL;
        assert_int_equal(yard_json_from_msgpack(sbuf.data, sbuf.size, &text, NULL, NULL, 0), 0);
        void *mp = NULL;
        size_t n = 0;
        char err[256] = "";
        if (yard_json_to_msgpack(text, strlen(text), &mp, &n, err, sizeof err)) {
            fail_msg("%s does not parse back: %s", text, err);
        }
        assert_int_equal(n, sbuf.size);
        assert_memory_equal(mp, sbuf.data, n);
        free(mp);
        free(text);
        msgpack_sbuffer_destroy(&sbuf);
    }
}

/* Bad JSON: BAD_REQUEST, nothing returned, and a message naming the position. */
static void
test_bad_json(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *where; /* must appear in the message */
        const char *what;  /* and this too (yajl's words or ours) */
    } cases[] = {
        {"", "line 1, column 1", "premature EOF"},
        {"[1,2", "line 1, column 5", "premature EOF"},
        {"{\"a\":}", "line 1, column 6", "unallowed token"},
        {"{\n  \"a\": tru\n}", "line 2, column 8", "invalid string in json text"},
        {"[1,]", "line 1, column 4", "unallowed token"},
        {"{\"a\":1} x", "line 1, column 9", "trailing garbage"},
        /* beyond uint64 or int64: an error, never a clamped or rounded value */
        {"18446744073709551616", "line 1, column 1", "outside the int64 and uint64 ranges"},
        {"[1,\n -9223372036854775809]", "line 2, column 2", "outside the int64 and uint64"},
        {"{\"a\":99999999999999999999999999}", "line 1, column 6", "outside the int64"},
        {"1e400", "line 1, column 1", "too large for a double"},
        /* yajl skips these as white space, RFC 8259 does not (found by fuzz_json: an
         * assertion in the parser fired, which ended the gateway on a 4-byte body) */
        {"\v\"a\"", "line 1", "not JSON white space"},
        {"[1,\f2]", "line 1", "not JSON white space"},
        {"01", "line 1, column 1", "leading zero"},
        {"-01", "line 1, column 1", "leading zero"},
        {"[1.]", "line 1, column 2", "malformed number"},
        {"-Infinity", "line 1, column 1", "malformed number"},
        {"NaN", "line 1, column 1", "invalid char"},
        {"[true,nan]", "line 1, column 7", "invalid string in json text"},
        {"\"\\ud800\"", "line 1, column 2", "invalid Unicode"},
        {"\"\\ud800\\u0041\"", "line 1, column 2", "invalid Unicode"},
        {"\"x\\udc00\"", "line 1, column 3", "invalid Unicode"},
        {"{\"k\\u0000ey\":1}", "line 1, column 12", "NUL byte in object key"},
        {"{\"k\\u0000ey\"  :1}", "line 1, column 12", "NUL byte in object key"},
        {"\"\xc3\x28\"", "line 1, column 2", "invalid UTF-8"},
        {"\"\xed\xa0\x80\"", "line 1, column 2", "invalid UTF-8"}, /* an encoded surrogate */
        {"\"\xc0\x80\"", "line 1, column 2", "invalid UTF-8"},     /* overlong NUL */
        {"[\"a\x01\"]", "line 1, column 4", "control character"},
        {"{'a':1}", "line 1, column 2", "invalid char"},
        {"/* c */ 1", "line 1, column 1", "comments are not enabled"},
        {"1 2", "line 1, column 3", "trailing garbage"},
        {"[1,,2]", "line 1, column 4", "unallowed token"},
        {"{1:2}", "line 1, column 2", "invalid object key"},
        {"\"abc", "line 1, column 5", "unterminated string"},
        {"[\"a\\x\"]", "line 1, column 4", "invalid escape"},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "line 1, column 33",
         "deeper than 32"},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
         "line 1, column 33", "deeper than 32"},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{\"a\":1}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "line 1",
         "deeper than 32"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        void *mp = (void *)1;
        size_t n = 99;
        char err[256] = "";
        int rc =
            yard_json_to_msgpack(cases[i].json, strlen(cases[i].json), &mp, &n, err, sizeof err);
        assert_int_equal(rc, YARD_E_BAD_REQUEST);
        assert_null(mp);
        assert_int_equal(n, 0);
        if (!strstr(err, cases[i].where) || !strstr(err, cases[i].what)) {
            fail_msg("case %zu (%s): message \"%s\" lacks \"%s\" or \"%s\"", i, cases[i].json, err,
                     cases[i].where, cases[i].what);
        }
    }
    /* A small error buffer is truncated, never overrun; NULL is allowed. */
    void *mp = NULL;
    size_t n = 0;
    char small[8];
    assert_int_equal(yard_json_to_msgpack("[", 1, &mp, &n, small, sizeof small),
                     YARD_E_BAD_REQUEST);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(yard_json_to_msgpack("[", 1, &mp, &n, NULL, 0), YARD_E_BAD_REQUEST);
    /* A raw NUL byte is no end of the text: what follows it is still read, and refused. */
    char err[256] = "";
    assert_int_equal(yard_json_to_msgpack("[1]\0", 4, &mp, &n, err, sizeof err),
                     YARD_E_BAD_REQUEST);
    assert_non_null(strstr(err, "line 1, column 4: NUL byte"));
    assert_int_equal(yard_json_to_msgpack("\"a\0b\"", 5, &mp, &n, err, sizeof err),
                     YARD_E_BAD_REQUEST);
    assert_non_null(strstr(err, "line 1, column"));
    assert_null(mp);
}

/* Bad msgpack: BAD_REQUEST with a reason, never a crash or a partial result. */
static void
test_bad_msgpack(void **state)
{
    (void)state;
    static char deep[40];
    memset(deep, 0x91, 33); /* 33 nested one-element arrays */
    deep[33] = 0x01;
    static const struct {
        const char *bytes;
        size_t size;
        const char *what;
    } cases[] = {
        {"", 0, "empty"},
        {"\x92\x01", 2, "claims 2 elements, 1 bytes left"},
        {"\xd9\x05"
         "ab",
         4, "truncated"},
        {"\x01\x02", 2, "trailing bytes"},
        {"\xc1", 1, "invalid msgpack byte 0xc1 at byte 0"},
        {"\xdd\xff\xff\xff\xff", 5, "claims 4294967295 elements"}, /* no 64 GiB allocation */
        {"\xdf\x80\x00\x00\x00\x01", 6, "claims 4294967296 elements"},
        {"\xc6\xff\xff\xff\xff"
         "abc",
         8, "needs 4294967295 more bytes"},
        {"\xcb\x00\x00", 3, "truncated"},
        {"\xd4\x01\x00", 3, "ext type 1"},
        {"\xa2\xc3\x28", 3, "not valid UTF-8"},
        {"\xa3\xed\xa0\x80", 4, "not valid UTF-8"}, /* an encoded surrogate */
        {"\xa2\xc0\x80", 3, "not valid UTF-8"},     /* overlong NUL */
        {"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", 9, "NaN or infinity"},
        {"\xcb\xff\xf0\x00\x00\x00\x00\x00\x00", 9, "NaN or infinity"},
        {"\x81\x90\x01", 3, "map key is not a string or a scalar"},
        {"\x81\xc4\x01"
         "a\x01",
         5, "map key is not a string or a scalar"},
        {"\x81\xa1\xff\x01", 4, "map key is not valid UTF-8"},
        {deep, 34, "deeper than 32"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = (char *)1;
        size_t len = 99;
        char err[256] = "";
        int rc = yard_json_from_msgpack(cases[i].bytes, cases[i].size, &out, &len, err, sizeof err);
        assert_int_equal(rc, YARD_E_BAD_REQUEST);
        assert_null(out);
        assert_int_equal(len, 0);
        if (!strstr(err, cases[i].what)) {
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err, cases[i].what);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_canonical),
        cmocka_unit_test(test_round_trip_normalises),
        cmocka_unit_test(test_packed_bytes),
        cmocka_unit_test(test_integer_range),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_duplicate_keys_strict),
        cmocka_unit_test(test_length_counted_input),
        cmocka_unit_test(test_msgpack_only_values),
        cmocka_unit_test(test_doubles_round_trip_exactly),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_bad_msgpack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
