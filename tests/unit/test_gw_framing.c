/* Gateway HTTP/1.1 framing checks, header by header as libmicrohttpd hands them over. Read as
 * the usage example of gateway/framing.h: init with the version and request target, feed each
 * header, take the verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "framing.h"

/* The verdict for a request given as "Name: value" strings (NULL-ended). */
static int
s_check(const char *version, const char *target, const char *const *headers, gw_framing_t *f)
{
    gw_framing_init(f, version, target);
    for (size_t i = 0; headers[i]; i++) {
        const char *colon = strchr(headers[i], ':');
        assert_non_null(colon);
        const char *v = colon + 1;
        while (*v == ' ') {
            v++;
        }
        gw_framing_header(f, headers[i], (size_t)(colon - headers[i]), v, strlen(v));
    }
    return gw_framing_verdict(f);
}

#define S_CHECK(version, target, f, ...)                                                           \
    s_check(version, target, (const char *const[]){__VA_ARGS__, NULL}, f)

static void
test_sound_requests_pass(void **state)
{
    (void)state;
    gw_framing_t f;
    assert_int_equal(S_CHECK("HTTP/1.1", "/v1/echo?a=1", &f, "Host: x", "Content-Length: 7"), 0);
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Host: x", "Transfer-Encoding: chunked"), 0);
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "host: x", "transfer-encoding: Chunked"), 0);
    /* the same length twice says one thing (RFC 9110 8.6 lets a recipient take it) */
    assert_int_equal(
        S_CHECK("HTTP/1.1", "/", &f, "Host: x", "Content-Length: 3", "Content-Length: 3"), 0);
    assert_int_equal(S_CHECK("HTTP/1.0", "/", &f, "Accept: */*"), 0); /* 1.0 needs no Host */
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Host: x", "Content-Length: 0007"), 0);
    assert_int_equal(f.cl, 7);
}

static void
test_content_length(void **state)
{
    (void)state;
    gw_framing_t f;
    assert_int_equal(
        S_CHECK("HTTP/1.1", "/", &f, "Host: x", "Content-Length: 3", "Content-Length: 30"), 400);
    assert_string_equal(f.code, "BAD_REQUEST");
    assert_non_null(strstr(f.message, "two Content-Length"));
    const char *bad[] = {
        "3x", "", "+3", "-3", "3,3", "0x3", "18446744073709551615", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char h[64];
        snprintf(h, sizeof h, "Content-Length: %s", bad[i]);
        assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Host: x", h), 400);
        assert_non_null(strstr(f.message, "Content-Length"));
    }
}

static void
test_header_names(void **state)
{
    (void)state;
    gw_framing_t f;
    /* libmicrohttpd keeps "Content-Length : 7" as a header named "Content-Length " */
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Host: x", "Content-Length : 7"), 400);
    assert_non_null(strstr(f.message, "colon"));
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Host: x", "X A: 1"), 400);
    /* an obs-fold line after Content-Length lands in the name: "Content-Length0" */
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Host: x", "Content-Length0: 3"), 400);
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Host: x", "Transfer-Encodingchunked: "), 400);
    gw_framing_init(&f, "HTTP/1.1", "/");
    gw_framing_header(&f, "Host", 4, "x", 1);
    gw_framing_header(&f, "X-A", 3, "a\0b", 3); /* a NUL a C string would hide */
    assert_int_equal(gw_framing_verdict(&f), 400);
}

static void
test_host(void **state)
{
    (void)state;
    gw_framing_t f;
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Accept: */*"), 400);
    assert_non_null(strstr(f.message, "Host"));
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Host: a", "Host: b"), 400);
}

static void
test_transfer_encoding(void **state)
{
    (void)state;
    gw_framing_t f;
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Host: x", "Transfer-Encoding: gzip"), 501);
    assert_string_equal(f.code, "NOT_IMPLEMENTED");
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Host: x", "Transfer-Encoding: gzip, chunked"),
                     501);
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Host: x", "Transfer-Encoding: x-made-up"), 501);
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Host: x", "Transfer-Encoding: chunked, chunked"),
                     400);
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Host: x", "Transfer-Encoding: ,"), 400);
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Host: x", "Transfer-Encoding: chunked;x=1"),
                     400);
    assert_int_equal(
        S_CHECK("HTTP/1.1", "/", &f, "Host: x", "Transfer-Encoding: chunked", "Content-Length: 3"),
        400);
    assert_non_null(strstr(f.message, "both"));
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Host: x", "Transfer-Encoding: chunked",
                             "Transfer-Encoding: chunked"),
                     400);
    assert_int_equal(S_CHECK("HTTP/1.0", "/", &f, "Transfer-Encoding: chunked"), 400);
}

static void
test_request_line(void **state)
{
    (void)state;
    gw_framing_t f;
    assert_int_equal(S_CHECK("HTTP/1.1", "/a b", &f, "Host: x"), 400);
    assert_int_equal(S_CHECK("HTTP/1.1", "/a\tb", &f, "Host: x"), 400);
    assert_int_equal(S_CHECK("HTTP/2.0", "/", &f, "Host: x"), 400);
    /* the first reason is the one kept */
    assert_int_equal(S_CHECK("HTTP/1.1", "/", &f, "Content-Length: x", "Transfer-Encoding: gzip"),
                     400);
    assert_non_null(strstr(f.message, "Content-Length"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sound_requests_pass), cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_header_names),        cmocka_unit_test(test_host),
        cmocka_unit_test(test_transfer_encoding),   cmocka_unit_test(test_request_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
