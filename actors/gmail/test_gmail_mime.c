/* MIME decoding of Gmail message payloads (gm_mime.h): base64url, quoted-printable, RFC 2047
 * header words, and multipart messages whose parts are in ISO-8859-1, windows-1252 and UTF-8,
 * given both as Gmail gives them (the part's content, base64url) and still carrying their
 * Content-Transfer-Encoding. */
#include "gm_mime.h"

#include "yard/json.h"
#include "yard/mp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

/* base64url of raw bytes, no padding (as Gmail writes body.data). */
static char *
s_b64url(const char *in, size_t n)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(n * 4 / 3 + 4);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        if (i + 1 < n) {
            v |= (uint32_t)(unsigned char)in[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= (unsigned char)in[i + 2];
        }
        out[o++] = al[(v >> 18) & 63];
        out[o++] = al[(v >> 12) & 63];
        if (i + 1 < n) {
            out[o++] = al[(v >> 6) & 63];
        }
        if (i + 2 < n) {
            out[o++] = al[v & 63];
        }
    }
    out[o] = '\0';
    return out;
}

static void
t_base64url(void **state)
{
    (void)state;
    size_t n = 0;
    char *d = gm_b64_decode("SGVsbG8_IHfDtnJsZC0-", 20, &n);
    assert_non_null(d);
    assert_string_equal(d, "Hello? w\xc3\xb6rld->");
    free(d);
    d = gm_b64_decode("SGk=\r\n", 6, &n); /* padding and line breaks ignored */
    assert_string_equal(d, "Hi");
    free(d);
    assert_null(gm_b64_decode("SG*k", 4, &n));
}

static void
t_quoted_printable(void **state)
{
    (void)state;
    size_t n = 0;
    char *d = gm_qp_decode("caf=E9 cr=\r\n=E8me =3D ok=\nx", 28, false, &n);
    assert_string_equal(d, "caf\xe9 cr\xe8me = okx");
    free(d);
    d = gm_qp_decode("a_b=5Fc", 7, true, &n);
    assert_string_equal(d, "a b_c");
    free(d);
}

static void
t_charsets(void **state)
{
    (void)state;
    char *u = gm_to_utf8("caf\xe9", 4, "ISO-8859-1");
    assert_string_equal(u, "caf\xc3\xa9");
    free(u);
    /* 0x80 is the euro sign in windows-1252; 0x93/0x94 are curly quotes */
    u = gm_to_utf8("\x80 \x93ok\x94", 6, "windows-1252");
    assert_string_equal(u, "\xe2\x82\xac \xe2\x80\x9cok\xe2\x80\x9d");
    free(u);
    /* labelled ISO-8859-1 but written by a cp1252 client: read as its superset */
    u = gm_to_utf8("5\x80", 2, "iso-8859-1");
    assert_string_equal(u, "5\xe2\x82\xac");
    free(u);
    u = gm_to_utf8("ok \xff\xfe", 5, "utf-8"); /* invalid UTF-8 becomes U+FFFD */
    assert_string_equal(u, "ok \xef\xbf\xbd\xef\xbf\xbd");
    free(u);
    u = gm_to_utf8("x", 1, "no-such-charset");
    assert_string_equal(u, "x");
    free(u);
}

static void
t_header_words(void **state)
{
    (void)state;
    char *h = gm_header_decode("=?ISO-8859-1?Q?Caf=E9?= =?UTF-8?B?4oKsIDU=?= tonight");
    assert_string_equal(h, "Caf\xc3\xa9\xe2\x82\xac 5 tonight");
    free(h);
    h = gm_header_decode("plain: =?bogus");
    assert_string_equal(h, "plain: =?bogus");
    free(h);
}

/* A payload JSON text with parts given as (mimeType, headers JSON, raw bytes). */
static char *
s_part(const char *mime, const char *headers, const char *raw, size_t n)
{
    char *b = s_b64url(raw, n);
    size_t cap = strlen(b) + strlen(headers) + 256;
    char *out = malloc(cap);
    snprintf(out, cap,
             "{\"mimeType\":\"%s\",\"headers\":%s,\"body\":{\"size\":%zu,\"data\":\"%s\"}}", mime,
             headers, n, b);
    free(b);
    return out;
}

static char *
s_text_of(const char *json, bool *html)
{
    void *mp = NULL;
    size_t size = 0;
    char err[128];
    assert_int_equal(yard_json_to_msgpack(json, strlen(json), &mp, &size, err, sizeof err), 0);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object obj;
    assert_int_equal(yard_mp_decode(mp, size, &zone, &obj, err, sizeof err), 0);
    char *t = gm_payload_text(&obj, html);
    msgpack_zone_destroy(&zone);
    free(mp);
    return t;
}

static void
t_multipart_charsets(void **state)
{
    (void)state;
    struct {
        const char *headers, *raw, *want;
    } cases[] = {
        /* ISO-8859-1, content as Gmail gives it (transfer encoding already undone) */
        {"[{\"name\":\"Content-Type\",\"value\":\"text/plain; charset=ISO-8859-1\"},"
         "{\"name\":\"Content-Transfer-Encoding\",\"value\":\"quoted-printable\"}]",
         "Gr\xfc\xdf"
         "e aus K\xf6ln",
         "Gr\xc3\xbc\xc3\x9f"
         "e aus K\xc3\xb6ln"},
        /* ISO-8859-1 still quoted-printable, with a soft line break */
        {"[{\"name\":\"Content-Type\",\"value\":\"text/plain; charset=\\\"iso-8859-1\\\"\"},"
         "{\"name\":\"Content-Transfer-Encoding\",\"value\":\"quoted-printable\"}]",
         "Gr=FC=DFe aus =\r\nK=F6ln",
         "Gr\xc3\xbc\xc3\x9f"
         "e aus K\xc3\xb6ln"},
        /* windows-1252 still base64 ("\x80 50 \x93net\x94") */
        {"[{\"name\":\"Content-Type\",\"value\":\"text/plain; charset=windows-1252\"},"
         "{\"name\":\"Content-Transfer-Encoding\",\"value\":\"base64\"}]",
         "gCA1MCCTbmV0lA==\r\n", "\xe2\x82\xac 50 \xe2\x80\x9cnet\xe2\x80\x9d"},
        /* UTF-8 still base64 */
        {"[{\"name\":\"Content-Type\",\"value\":\"text/plain; charset=UTF-8\"},"
         "{\"name\":\"Content-Transfer-Encoding\",\"value\":\"base64\"}]",
         "0J/RgNC40LLQtdGCLCDQvNC40YAh",
         "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
         "\xd0\xbc\xd0\xb8\xd1\x80!"},
        /* UTF-8 8bit, a '=' that is no escape stays */
        {"[{\"name\":\"Content-Type\",\"value\":\"text/plain; charset=utf-8\"}]",
         "a = b \xe2\x9c\x93", "a = b \xe2\x9c\x93"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *plain = s_part("text/plain", cases[i].headers, cases[i].raw, strlen(cases[i].raw));
        char *html = s_part("text/html", "[]", "<p>html</p>", 11);
        char *att = s_part("application/pdf", "[]", "%PDF", 4);
        size_t cap = strlen(plain) + strlen(html) + strlen(att) + 512;
        char *json = malloc(cap);
        /* multipart/mixed { multipart/alternative { text/plain, text/html }, pdf } */
        snprintf(json, cap,
                 "{\"mimeType\":\"multipart/mixed\",\"headers\":[],\"body\":{\"size\":0},"
                 "\"parts\":[{\"mimeType\":\"multipart/alternative\",\"headers\":[],"
                 "\"body\":{\"size\":0},\"parts\":[%s,%s]},%s]}",
                 html, plain, att);
        bool is_html = true;
        char *t = s_text_of(json, &is_html);
        assert_non_null(t);
        assert_false(is_html);
        if (strcmp(t, cases[i].want) != 0) {
            fail_msg("case %zu: got '%s', want '%s'", i, t, cases[i].want);
        }
        free(t);
        free(json);
        free(plain);
        free(html);
        free(att);
    }
}

static void
t_html_only_and_none(void **state)
{
    (void)state;
    char *html = s_part("text/html",
                        "[{\"name\":\"Content-Type\",\"value\":\"text/html; "
                        "charset=iso-8859-1\"}]",
                        "<b>\xe9t\xe9</b>", 10);
    bool is_html = false;
    char *t = s_text_of(html, &is_html);
    assert_string_equal(t, "<b>\xc3\xa9t\xc3\xa9</b>");
    assert_true(is_html);
    free(t);
    free(html);
    char *att = s_part("image/png", "[]", "PNG", 3);
    assert_null(s_text_of(att, NULL));
    free(att);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_base64url),          cmocka_unit_test(t_quoted_printable),
        cmocka_unit_test(t_charsets),           cmocka_unit_test(t_header_words),
        cmocka_unit_test(t_multipart_charsets), cmocka_unit_test(t_html_only_and_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
