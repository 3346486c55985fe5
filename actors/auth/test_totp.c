/* totp.c against the RFCs' own tables: RFC 4226 appendix D (HOTP), RFC 6238 appendix B (TOTP,
 * the SHA-1 rows, 8 digits as printed and their last 6 for the 6-digit truncation), RFC 4648
 * section 10 (base32); then drift, used steps, malformed codes and the otpauth:// URI. */
#include "totp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

/* RFC 4226 appendix D and RFC 6238 appendix B: the ASCII seed "12345678901234567890". */
static const uint8_t s_seed[] = "12345678901234567890";
#define S_SEED_LEN 20

static void
test_hotp_rfc4226(void **state)
{
    (void)state;
    static const uint32_t want[10] = {755224, 287082, 359152, 969429, 338314,
                                      254676, 287922, 162583, 399871, 520489};
    for (uint64_t c = 0; c < 10; c++) {
        uint32_t code = 0;
        assert_int_equal(auth_hotp(s_seed, S_SEED_LEN, c, 6, &code), 0);
        assert_int_equal(code, want[c]);
    }
}

static void
test_totp_rfc6238_sha1(void **state)
{
    (void)state;
    static const struct {
        int64_t t;
        const char *code8;
    } rows[] = {{59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
                {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t step = auth_totp_step(rows[i].t, 30);
        uint32_t code = 0;
        char text[16];
        assert_int_equal(auth_hotp(s_seed, S_SEED_LEN, (uint64_t)step, 8, &code), 0);
        auth_totp_format(code, 8, text, sizeof text);
        assert_string_equal(text, rows[i].code8);
        /* 6 digits: the same truncation modulo 10^6, i.e. the last six of the 8-digit code */
        assert_int_equal(auth_hotp(s_seed, S_SEED_LEN, (uint64_t)step, 6, &code), 0);
        auth_totp_format(code, 6, text, sizeof text);
        assert_string_equal(text, rows[i].code8 + 2);
        int64_t got = -1;
        assert_true(auth_totp_match(s_seed, S_SEED_LEN, step, 1, 8, rows[i].code8, 0, &got));
        assert_int_equal(got, step);
    }
    assert_int_equal(auth_totp_step(1111111109, 30), 0x23523EC);
    assert_int_equal(auth_totp_step(20000000000, 30), 0x27BC86AA);
}

static void
test_totp_drift_and_used_steps(void **state)
{
    (void)state;
    int64_t now = auth_totp_step(1234567890, 30), got = 0;
    char codes[5][8];
    for (int d = -2; d <= 2; d++) {
        uint32_t c = 0;
        assert_int_equal(auth_hotp(s_seed, S_SEED_LEN, (uint64_t)(now + d), 6, &c), 0);
        auth_totp_format(c, 6, codes[d + 2], sizeof codes[0]);
    }
    for (int d = -1; d <= 1; d++) { /* one step either way */
        assert_true(auth_totp_match(s_seed, S_SEED_LEN, now, 1, 6, codes[d + 2], 0, &got));
        assert_int_equal(got, now + d);
    }
    assert_false(auth_totp_match(s_seed, S_SEED_LEN, now, 1, 6, codes[0], 0, &got)); /* -2 */
    assert_false(auth_totp_match(s_seed, S_SEED_LEN, now, 1, 6, codes[4], 0, &got)); /* +2 */
    assert_false(auth_totp_match(s_seed, S_SEED_LEN, now, 0, 6, codes[1], 0, &got)); /* no drift */
    /* A step at or below the last one used is not accepted again. */
    assert_false(auth_totp_match(s_seed, S_SEED_LEN, now, 1, 6, codes[2], now + 1, &got));
    assert_true(auth_totp_match(s_seed, S_SEED_LEN, now, 1, 6, codes[3], now + 1, &got));
    assert_int_equal(got, now + 1);
    /* Malformed codes never match. */
    const char *bad[] = {"", "12345", "1234567", "12a456", " 12345", "-12345", NULL};
    for (int i = 0; bad[i]; i++) {
        assert_false(auth_totp_match(s_seed, S_SEED_LEN, now, 1, 6, bad[i], 0, &got));
    }
    assert_false(auth_totp_match(s_seed, S_SEED_LEN, now, 1, 6, NULL, 0, &got));
    uint32_t c;
    assert_int_equal(auth_hotp(s_seed, S_SEED_LEN, 0, 5, &c), -1);
    assert_int_equal(auth_hotp(s_seed, S_SEED_LEN, 0, 9, &c), -1);
    assert_int_equal(auth_hotp(s_seed, 0, 0, 6, &c), -1);
}

static void
test_base32_rfc4648(void **state)
{
    (void)state;
    static const char *rows[][2] = {{"", ""},
                                    {"f", "MY"},
                                    {"fo", "MZXQ"},
                                    {"foo", "MZXW6"},
                                    {"foob", "MZXW6YQ"},
                                    {"fooba", "MZXW6YTB"},
                                    {"foobar", "MZXW6YTBOI"}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char out[32];
        size_t n = strlen(rows[i][0]);
        assert_int_equal(auth_base32_encode((const uint8_t *)rows[i][0], n, out, sizeof out),
                         strlen(rows[i][1]));
        assert_string_equal(out, rows[i][1]);
        uint8_t back[32];
        size_t m = 0;
        assert_int_equal(auth_base32_decode(rows[i][1], back, sizeof back, &m), 0);
        assert_int_equal(m, n);
        assert_memory_equal(back, rows[i][0], n);
    }
    uint8_t b[32];
    size_t m = 0;
    /* padding, lower case and spaces as apps and people write them */
    assert_int_equal(auth_base32_decode("mzxw 6ytb oi======", b, sizeof b, &m), 0);
    assert_int_equal(m, 6);
    assert_memory_equal(b, "foobar", 6);
    assert_int_equal(auth_base32_decode("MZXW1", b, sizeof b, &m), -1); /* '1' */
    assert_int_equal(auth_base32_decode("MZ!", b, sizeof b, &m), -1);
    assert_int_equal(auth_base32_decode("MY", b, sizeof b, &m), 0);   /* "f" */
    assert_int_equal(auth_base32_decode("MZ", b, sizeof b, &m), -1);  /* leftover bits set */
    assert_int_equal(auth_base32_decode("MZX", b, sizeof b, &m), -1); /* a dangling char */
    assert_int_equal(auth_base32_decode("MZXW6YTBOI", b, 5, &m), -1); /* over cap */
    char small[4];
    assert_int_equal(auth_base32_encode((const uint8_t *)"foo", 3, small, sizeof small), 0);
    /* A 20-byte secret is 32 characters, the form apps expect. */
    char s[64];
    assert_int_equal(auth_base32_encode(s_seed, S_SEED_LEN, s, sizeof s), 32);
    assert_string_equal(s, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
}

static void
test_otpauth_uri(void **state)
{
    (void)state;
    char uri[AUTH_TOTP_URI_MAX];
    assert_int_equal(auth_totp_uri(uri, sizeof uri, "Switch yard", "tg:42",
                                   "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 6, 30),
                     0);
    assert_string_equal(uri, "otpauth://totp/Switch%20yard:tg%3A42?"
                             "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Switch%20yard"
                             "&algorithm=SHA1&digits=6&period=30");
    char tiny[40];
    assert_int_equal(auth_totp_uri(tiny, sizeof tiny, "switchyard", "alice", "GEZDGNBV", 6, 30),
                     -1);
    assert_string_equal(tiny, "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hotp_rfc4226),
        cmocka_unit_test(test_totp_rfc6238_sha1),
        cmocka_unit_test(test_totp_drift_and_used_steps),
        cmocka_unit_test(test_base32_rfc4648),
        cmocka_unit_test(test_otpauth_uri),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
