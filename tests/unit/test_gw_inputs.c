/* What the gateway accepts from a client (gateway/inputs.h), rule by rule: method classes,
 * body media types and encodings, Accept for msgpack, UTF-8 (the edges of RFC 3629), paths
 * with NULs and controls percent-encoded or not, bearer tokens at and over the shared limit,
 * and --listen values. Read as the usage example of inputs.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inputs.h"
#include "yard/error.h"
#include "yard/utf8.h"
#include "yard/wire.h"

static void
test_methods(void **state)
{
    (void)state;
    static const char *const routed[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};
    for (size_t i = 0; i < sizeof routed / sizeof routed[0]; i++) {
        assert_int_equal(gw_method_class(routed[i]), GW_METHOD_ROUTED);
    }
    assert_int_equal(gw_method_class("OPTIONS"), GW_METHOD_OPTIONS);
    assert_int_equal(gw_method_class("TRACE"), GW_METHOD_REFUSED);
    assert_int_equal(gw_method_class("CONNECT"), GW_METHOD_REFUSED);
    assert_int_equal(gw_method_class("get"), GW_METHOD_UNKNOWN); /* methods are case-sensitive */
    assert_int_equal(gw_method_class("BREW"), GW_METHOD_UNKNOWN);
    assert_int_equal(gw_method_class(""), GW_METHOD_UNKNOWN);
}

static void
test_body_kinds(void **state)
{
    (void)state;
    char why[200];
    static const struct {
        const char *type, *encoding;
        gw_body_kind_t kind;
        const char *why;
    } rows[] = {
        {"application/json", NULL, GW_BODY_JSON, NULL},
        {"  application/json ; charset=UTF-8", "identity", GW_BODY_JSON, NULL},
        {"application/json;charset=\"utf8\"", NULL, GW_BODY_JSON, NULL},
        {"application/vnd.api+json", NULL, GW_BODY_JSON, NULL},
        {"application/msgpack", NULL, GW_BODY_MSGPACK, NULL},
        {"application/x-msgpack", NULL, GW_BODY_MSGPACK, NULL},
        {"application/json; charset=latin1", NULL, GW_BODY_REFUSED, "charset 'latin1'"},
        {"application/+json", NULL, GW_BODY_REFUSED, "'application/+json'"},
        {"text/json", NULL, GW_BODY_REFUSED, "'text/json' is not accepted"},
        {"text/plain", NULL, GW_BODY_REFUSED, "'text/plain'"},
        {"application/xml", NULL, GW_BODY_REFUSED, "application/json or application/msgpack"},
        {"application/x-www-form-urlencoded", NULL, GW_BODY_REFUSED, "form"},
        {NULL, NULL, GW_BODY_REFUSED, "a body needs Content-Type"},
        {"application/json", "gzip", GW_BODY_REFUSED, "Content-Encoding 'gzip'"},
        {"application/msgpack", "br", GW_BODY_REFUSED, "Content-Encoding 'br'"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        why[0] = '\0';
        gw_body_kind_t k = gw_body_kind(rows[i].type, rows[i].encoding, why, sizeof why);
        if (k != rows[i].kind || (rows[i].why && !strstr(why, rows[i].why))) {
            fail_msg("row %zu (%s): kind %d want %d, why \"%s\"", i,
                     rows[i].type ? rows[i].type : "NULL", k, rows[i].kind, why);
        }
    }
}

static void
test_accept(void **state)
{
    (void)state;
    assert_false(gw_accepts_msgpack(NULL));
    assert_false(gw_accepts_msgpack("*/*"));
    assert_false(gw_accepts_msgpack("application/json"));
    assert_true(gw_accepts_msgpack("application/msgpack"));
    assert_true(gw_accepts_msgpack("application/json;q=0.5, application/msgpack"));
    assert_false(gw_accepts_msgpack("application/json, application/msgpack;q=0.5"));
    assert_false(gw_accepts_msgpack("application/msgpack;q=0"));
    assert_true(gw_accepts_msgpack("text/html, application/x-msgpack ; q=0.9"));
}

static void
test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
    } rows[] = {
        {"", true},
        {"plain", true},
        {"caf\xc3\xa9", true},
        {"\xe2\x82\xac", true},      /* U+20AC */
        {"\xf0\x9f\x98\x80", true},  /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", true},  /* U+10FFFF */
        {"\xc3", false},             /* cut short */
        {"\xc0\xaf", false},         /* overlong '/' */
        {"\xe0\x80\xaf", false},     /* overlong */
        {"\xed\xa0\x80", false},     /* a surrogate */
        {"\xf4\x90\x80\x80", false}, /* past U+10FFFF */
        {"\xff", false},
        {"\x80", false}, /* a lone continuation */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        /* the runtime's one definition (yard/utf8.h), which the gateway uses for paths,
         * queries and headers */
        if (yard_utf8_valid(rows[i].s, strlen(rows[i].s)) != rows[i].ok) {
            fail_msg("row %zu: want %d", i, rows[i].ok);
        }
    }
    assert_int_equal(yard_utf8_len("a", 1), 1);
    assert_int_equal(yard_utf8_len("\x01", 1), 1); /* control characters are the caller's */
    assert_int_equal(yard_utf8_len("\xc3\xa9", 2), 2);
    assert_int_equal(yard_utf8_len("\xe2\x82\xac", 3), 3);
    assert_int_equal(yard_utf8_len("\xe2\x82\xac", 2), 0); /* cut short by avail */
    assert_int_equal(yard_utf8_len("\xf0\x9f\x98\x80", 4), 4);
    /* a cut never splits a character */
    const char *s = "ab\xe2\x82\xac";
    assert_int_equal(gw_utf8_cut(s, 5, 10), 5);
    assert_int_equal(gw_utf8_cut(s, 5, 4), 2);
    assert_int_equal(gw_utf8_cut(s, 5, 3), 2);
    assert_int_equal(gw_utf8_cut(s, 5, 2), 2);
    assert_int_equal(gw_utf8_cut(s, 5, 1), 1);
}

static void
test_uris(void **state)
{
    (void)state;
    char why[200];
    static const struct {
        const char *uri;
        const char *why; /* NULL: valid */
    } rows[] = {
        {"/v1/items/42", NULL},
        {"/v1/items/caf%C3%A9?q=%FF", NULL}, /* the query is the service's to decode */
        {"/v1/items/%zz", NULL},             /* not an escape: taken as it is */
        {"/v1/items/a%", NULL},
        {"/v1/items/a%00b", "control character (byte 0x00)"},
        {"/v1/items/a%0d%0aX: y", "control character (byte 0x0d)"},
        {"/v1/items/%7f", "control character (byte 0x7f)"},
        {"/v1/items/%ff", "not valid UTF-8"},
        {"/v1/items/\xc3(", "not valid UTF-8"},
        {"/v1/items/%c0%af", "not valid UTF-8"},
        {"/v1/items/1?q=\xfe", "query string is not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        why[0] = '\0';
        bool ok = gw_uri_valid(rows[i].uri, why, sizeof why);
        if (ok != (rows[i].why == NULL) || (rows[i].why && !strstr(why, rows[i].why))) {
            fail_msg("%s: ok %d, why \"%s\"", rows[i].uri, ok, why);
        }
    }
}

static void
test_bearer(void **state)
{
    (void)state;
    char why[200], *tok = NULL;
    assert_int_equal(gw_bearer_parse(NULL, &tok, why, sizeof why), GW_BEARER_MISSING);
    assert_non_null(strstr(why, "a bearer token is required"));
    assert_int_equal(gw_bearer_parse("Basic abc", &tok, why, sizeof why), GW_BEARER_MISSING);
    assert_int_equal(gw_bearer_parse("Bearer   ", &tok, why, sizeof why), GW_BEARER_MISSING);
    assert_int_equal(gw_bearer_parse("bearer  abc.def", &tok, why, sizeof why), GW_BEARER_OK);
    assert_string_equal(tok, "abc.def");
    free(tok);
    assert_int_equal(gw_bearer_parse("Bearer sec ret", &tok, why, sizeof why), GW_BEARER_BAD);
    assert_null(tok);
    assert_null(strstr(why, "sec")); /* never the token */
    size_t n = YARD_BEARER_MAX + 7;
    char *h = malloc(n + 8);
    memcpy(h, "Bearer ", 7);
    memset(h + 7, 'x', n);
    h[7 + n] = '\0';
    assert_int_equal(gw_bearer_parse(h, &tok, why, sizeof why), GW_BEARER_TOO_LONG);
    char want[80];
    snprintf(want, sizeof want, "the bearer token is %zu bytes; the limit is 8192", n);
    assert_string_equal(why, want);
    h[7 + YARD_BEARER_MAX] = '\0'; /* exactly the limit */
    assert_int_equal(gw_bearer_parse(h, &tok, why, sizeof why), GW_BEARER_OK);
    assert_int_equal(strlen(tok), YARD_BEARER_MAX);
    free(tok);
    free(h);
    /* the token travels as one bus header value: the wire must hold it */
    assert_true(YARD_BEARER_MAX <= YARD_WIRE_VALUE_MAX);
}

static void
test_listen(void **state)
{
    (void)state;
    char host[64], port[8], err[256];
    assert_int_equal(
        gw_listen_split("127.0.0.1:8080", host, sizeof host, port, sizeof port, err, sizeof err),
        0);
    assert_string_equal(host, "127.0.0.1");
    assert_string_equal(port, "8080");
    assert_int_equal(
        gw_listen_split("[::1]:0", host, sizeof host, port, sizeof port, err, sizeof err), 0);
    assert_string_equal(host, "::1");
    assert_string_equal(port, "0");
    assert_int_equal(
        gw_listen_split(":65535", host, sizeof host, port, sizeof port, err, sizeof err), 0);
    assert_string_equal(host, "");
    static const struct {
        const char *in, *why;
    } bad[] = {
        {"127.0.0.1:99999", "'127.0.0.1:99999': the port must be a number from 0 to 65535"},
        {"127.0.0.1:65536", "from 0 to 65535"},
        {"127.0.0.1:", "from 0 to 65535"},
        {"127.0.0.1:+80", "from 0 to 65535"},
        {"127.0.0.1:0080800", "from 0 to 65535"},
        {"localhost", "'localhost' is not host:port"},
        {"::1:80", "an IPv6 host goes in brackets"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int rc = gw_listen_split(bad[i].in, host, sizeof host, port, sizeof port, err, sizeof err);
        if (rc != YARD_E_CONFIG || !strstr(err, bad[i].why) ||
            !strstr(err, "--listen (gateway.listen)")) {
            fail_msg("%s: rc %d, \"%s\"", bad[i].in, rc, err);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_methods), cmocka_unit_test(test_body_kinds),
        cmocka_unit_test(test_accept),  cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_uris),    cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
