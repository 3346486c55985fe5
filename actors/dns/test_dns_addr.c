/* The dns actor's pure parts: what counts as one address of a family, which addresses may be
 * published, and the per-record interval rules (dns_decide). */
#include "dns_internal.h"

#include "yard/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void
t_parse_one_address(void **state)
{
    (void)state;
    char out[DNS_ADDR_MAX], err[200];
    assert_int_equal(dns_addr_parse("1.2.3.4\n", 8, DNS_FAM_V4, out, err, sizeof err), 0);
    assert_string_equal(out, "1.2.3.4");
    assert_int_equal(dns_addr_parse("  2001:DB8:0:0::1 ", 18, DNS_FAM_V6, out, err, sizeof err), 0);
    assert_string_equal(out, "2001:db8::1"); /* canonical form */
}

static void
t_parse_garbage(void **state)
{
    (void)state;
    char out[DNS_ADDR_MAX], err[200];
    const char *html = "<html><body>502 Bad Gateway</body></html>";
    assert_int_equal(dns_addr_parse(html, strlen(html), DNS_FAM_V4, out, err, sizeof err), -1);
    assert_non_null(strstr(err, "words") ? err : strstr(err, "not an address"));
    assert_int_equal(dns_addr_parse("1.2.3.4 5.6.7.8", 15, DNS_FAM_V4, out, err, sizeof err), -1);
    assert_non_null(strstr(err, "2 words"));
    assert_int_equal(dns_addr_parse("2001:db8::1", 11, DNS_FAM_V4, out, err, sizeof err), -1);
    assert_non_null(strstr(err, "IPv6 address where IPv4"));
    assert_int_equal(dns_addr_parse("1.2.3.4", 7, DNS_FAM_V6, out, err, sizeof err), -1);
    assert_non_null(strstr(err, "IPv4 address where IPv6"));
    assert_int_equal(dns_addr_parse("", 0, DNS_FAM_V4, out, err, sizeof err), -1);
    assert_int_equal(dns_addr_parse("1.2.3.256", 9, DNS_FAM_V4, out, err, sizeof err), -1);
}

static void
t_usable(void **state)
{
    (void)state;
    char err[200];
    const char *global[] = {"1.2.3.4", "8.8.8.8", "100.63.255.255", "172.32.0.1", NULL};
    for (size_t i = 0; global[i]; i++) {
        assert_true(dns_addr_usable(global[i], DNS_FAM_V4, false, err, sizeof err));
    }
    const char *private_ok[] = {"10.0.0.1",  "192.168.1.1", "172.16.0.1", "100.64.0.1",
                                "127.0.0.1", "169.254.1.1", NULL};
    for (size_t i = 0; private_ok[i]; i++) {
        assert_false(dns_addr_usable(private_ok[i], DNS_FAM_V4, false, err, sizeof err));
        assert_non_null(strstr(err, "allow_private"));
        assert_true(dns_addr_usable(private_ok[i], DNS_FAM_V4, true, err, sizeof err));
    }
    const char *never[] = {"0.0.0.0",   "224.0.0.1", "255.255.255.255",
                           "192.0.2.1", "240.0.0.1", NULL};
    for (size_t i = 0; never[i]; i++) {
        assert_false(dns_addr_usable(never[i], DNS_FAM_V4, true, err, sizeof err));
    }
    assert_true(dns_addr_usable("2606:4700::1111", DNS_FAM_V6, false, err, sizeof err));
    assert_false(dns_addr_usable("fd00::1", DNS_FAM_V6, false, err, sizeof err));
    assert_non_null(strstr(err, "ULA"));
    assert_true(dns_addr_usable("fd00::1", DNS_FAM_V6, true, err, sizeof err));
    assert_false(dns_addr_usable("fe80::1", DNS_FAM_V6, false, err, sizeof err));
    assert_false(dns_addr_usable("::1", DNS_FAM_V6, false, err, sizeof err));
    assert_false(dns_addr_usable("2001:db8::1", DNS_FAM_V6, true, err, sizeof err));
    assert_false(dns_addr_usable("ff02::1", DNS_FAM_V6, true, err, sizeof err));
    assert_false(dns_addr_usable("::", DNS_FAM_V6, true, err, sizeof err));
    assert_false(dns_addr_usable("::ffff:1.2.3.4", DNS_FAM_V6, true, err, sizeof err));
}

static void
t_decide(void **state)
{
    (void)state;
    dns_record_t r = {
        .min_interval = 300000, .min_error_interval = 60000, .max_interval = 86400000};
    dns_state_t st = {0};
    const char *why;
    int64_t until, now = 1000000000;
    /* Never set: update. */
    assert_int_equal(dns_decide(&r, &st, "1.2.3.4", now, false, &why, &until), DNS_DO_UPDATE);
    /* Set a minute ago to the same address: nothing. */
    strcpy(st.addr, "1.2.3.4");
    st.set_ms = now - 60000;
    assert_int_equal(dns_decide(&r, &st, "1.2.3.4", now, false, &why, &until), DNS_DO_NOTHING);
    /* A change within min_interval: held until it passes; force goes past it. */
    assert_int_equal(dns_decide(&r, &st, "5.6.7.8", now, false, &why, &until), DNS_DO_HOLD);
    assert_string_equal(why, "min_interval");
    assert_int_equal(until, st.set_ms + 300000);
    assert_int_equal(dns_decide(&r, &st, "5.6.7.8", now, true, &why, &until), DNS_DO_UPDATE);
    /* After max_interval the same address is refreshed. */
    st.set_ms = now - 86400000;
    assert_int_equal(dns_decide(&r, &st, "1.2.3.4", now, false, &why, &until), DNS_DO_UPDATE);
    /* A failure 10 s ago: min_error_interval, which force does not bypass. */
    st.err_ms = now - 10000;
    assert_int_equal(dns_decide(&r, &st, "5.6.7.8", now, true, &why, &until), DNS_DO_HOLD);
    assert_string_equal(why, "min_error_interval");
    /* A configuration hold stays until the configuration changes. */
    strcpy(st.held, "config");
    assert_int_equal(dns_decide(&r, &st, "5.6.7.8", now + 86400000LL * 30, true, &why, &until),
                     DNS_DO_HOLD);
    assert_int_equal(until, 0);
    /* A provider's hold (911, 429) lasts until its time. */
    strcpy(st.held, "911");
    st.held_until = now + 600000;
    st.err_ms = 0;
    assert_int_equal(dns_decide(&r, &st, "5.6.7.8", now, true, &why, &until), DNS_DO_HOLD);
    assert_int_equal(until, now + 600000);
    assert_int_equal(dns_decide(&r, &st, "5.6.7.8", now + 600000, true, &why, &until),
                     DNS_DO_UPDATE);
}

/* The state survives a write and a read; a configuration change (another fingerprint) lifts
 * a "config" hold and forgets the cached ids and the old configuration's error, but keeps the
 * address the provider has and a provider's own hold. */
static void
t_state_round_trip_and_config_change(void **state)
{
    (void)state;
    yard_store_t *st = NULL;
    assert_int_equal(yard_store_open("memory", &st), 0);
    dns_record_t r = {.key = "dns:rec:dyndns2:A:h.example.com", .fp = "aaaa"};
    dns_state_t in = {.addr = "1.2.3.4",
                      .set_ms = 5,
                      .change_ms = 4,
                      .check_ms = 6,
                      .err_ms = 7,
                      .code = "badauth",
                      .err = "wrong",
                      .held = "config",
                      .nochg = 2,
                      .cf_zone = "z1",
                      .cf_id = "r1",
                      .noted = "x@0"};
    assert_int_equal(dns_state_save(st, &r, &in), 0);
    dns_state_t out;
    assert_int_equal(dns_state_load(st, &r, &out), 0);
    assert_string_equal(out.addr, "1.2.3.4");
    assert_int_equal(out.set_ms, 5);
    assert_int_equal(out.err_ms, 7);
    assert_string_equal(out.held, "config");
    assert_string_equal(out.cf_id, "r1");
    assert_int_equal(out.nochg, 2);
    memcpy(r.fp, "bbbb", 5); /* the configuration changed */
    assert_int_equal(dns_state_load(st, &r, &out), 0);
    assert_string_equal(out.addr, "1.2.3.4");
    assert_string_equal(out.held, "");
    assert_int_equal(out.err_ms, 0);
    assert_string_equal(out.cf_id, "");
    assert_string_equal(out.cf_zone, "");
    assert_string_equal(out.fp, "bbbb");
    strcpy(in.held, "911");
    in.held_until = 99;
    memcpy(r.fp, "aaaa", 5);
    assert_int_equal(dns_state_save(st, &r, &in), 0);
    memcpy(r.fp, "cccc", 5);
    assert_int_equal(dns_state_load(st, &r, &out), 0);
    assert_string_equal(out.held, "911");
    assert_int_equal(out.held_until, 99);
    /* A record never written reads empty; garbage reads empty too. */
    dns_record_t other = {.key = "dns:rec:x", .fp = "aaaa"};
    assert_int_equal(dns_state_load(st, &other, &out), 0);
    assert_string_equal(out.addr, "");
    assert_int_equal(yard_store_set(st, other.key, "\xc1garbage", 8, 0), 0);
    assert_int_equal(dns_state_load(st, &other, &out), 0);
    assert_string_equal(out.addr, "");
    yard_store_destroy(&st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_parse_one_address),
        cmocka_unit_test(t_parse_garbage),
        cmocka_unit_test(t_usable),
        cmocka_unit_test(t_decide),
        cmocka_unit_test(t_state_round_trip_and_config_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
