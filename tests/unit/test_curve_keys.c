/* yard/curve.h and the broker's CURVE and bind settings, without a running bus: what a bad
 * setting is told (naming the setting and the file, never a key), yard_curve_keygen()'s files,
 * and yard_broker_new() refusing a non-loopback endpoint without CURVE or insecure, and half
 * a CURVE configuration, and starting with a duplicate certificate in keys_dir. */
#include "harness.h"
#include "yard/broker.h"
#include "yard/curve.h"
#include "yard/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

typedef struct {
    char *dir;
    char pub[512], sec[520];
    char pub_only[520]; /* a copy of the public certificate with no NAME_secret beside it */
} s_keys_t;

static int
s_setup(void **state)
{
    s_keys_t *k = calloc(1, sizeof *k);
    assert_non_null(k);
    k->dir = yh_tmpdir();
    snprintf(k->pub, sizeof k->pub, "%s/me", k->dir);
    snprintf(k->sec, sizeof k->sec, "%s_secret", k->pub);
    char err[256] = "";
    const char *meta[] = {"call", "echo", NULL};
    assert_int_equal(yard_curve_keygen(k->pub, meta, err, sizeof err), 0);
    char text[2048];
    FILE *f = fopen(k->pub, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    snprintf(k->pub_only, sizeof k->pub_only, "%s/other", k->dir);
    yh_write_file(k->pub_only, text);
    *state = k;
    return 0;
}

static int
s_teardown(void **state)
{
    s_keys_t *k = *state;
    yard_curve_configure(NULL, NULL, 0);
    yh_rmtree(k->dir);
    free(k->dir);
    free(k);
    return 0;
}

static char *
s_slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void
test_keygen(void **state)
{
    s_keys_t *k = *state;
    struct stat st;
    assert_int_equal(stat(k->sec, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char text[2048];
    s_slurp(k->pub, text, sizeof text);
    assert_non_null(strstr(text, "call = \"echo\""));
    assert_non_null(strstr(text, "name = \"me\""));
    assert_null(strstr(text, "secret-key"));
    char err[256] = "";
    assert_int_equal(yard_curve_keygen(k->pub, NULL, err, sizeof err), YARD_E_INVALID);
    assert_non_null(strstr(err, "already exists"));
    assert_int_equal(yard_curve_keygen("", NULL, err, sizeof err), YARD_E_INVALID);
}

static void
test_configure_errors(void **state)
{
    s_keys_t *k = *state;
    char err[512] = "", secret_text[2048];
    yard_curve_opts_t o = {.broker_key = k->pub};
    assert_int_equal(yard_curve_configure(&o, err, sizeof err), YARD_E_CONFIG);
    assert_non_null(strstr(err, "curve.key"));

    o = (yard_curve_opts_t){.key = k->sec, .broker_key = "/nonexistent/broker"};
    assert_int_equal(yard_curve_configure(&o, err, sizeof err), YARD_E_CONFIG);
    assert_non_null(strstr(err, "curve.broker_key"));
    assert_non_null(strstr(err, "/nonexistent/broker"));
    assert_false(yard_curve_enabled());

    /* a public certificate is not a key pair (CZMQ reads NAME_secret for NAME when it is
     * there, so this one has none); the error names the file, not a key */
    o = (yard_curve_opts_t){.key = k->pub_only, .broker_key = k->pub};
    assert_int_equal(yard_curve_configure(&o, err, sizeof err), YARD_E_CONFIG);
    assert_non_null(strstr(err, "no secret key"));
    const char *line = strstr(s_slurp(k->sec, secret_text, sizeof secret_text), "secret-key = \"");
    assert_non_null(line);
    char secret[41];
    memcpy(secret, line + strlen("secret-key = \""), 40);
    secret[40] = '\0';
    assert_null(strstr(err, secret));

    o = (yard_curve_opts_t){.key = k->sec, .broker_key = k->pub};
    assert_int_equal(yard_curve_configure(&o, err, sizeof err), 0);
    assert_true(yard_curve_enabled());
    assert_int_equal(yard_curve_configure(NULL, err, sizeof err), 0);
    assert_false(yard_curve_enabled());
}

static int
s_broker_new(const char *bind, bool insecure, const char *key, const char *dir)
{
    yard_broker_opts_t o = {.bind = (char *)bind, .insecure = insecure};
    o.curve_key = key;
    o.curve_keys_dir = dir;
    yard_broker_t *b = NULL;
    int rc = yard_broker_new(&o, NULL, &b);
    yard_broker_destroy(&b);
    return rc;
}

static void
test_broker_bind_rule(void **state)
{
    s_keys_t *k = *state;
    char ep[64], lo[64], ipc[600];
    int port = yh_free_port();
    snprintf(ep, sizeof ep, "tcp://0.0.0.0:%d", port);
    snprintf(lo, sizeof lo, "tcp://127.0.0.1:%d", port);
    snprintf(ipc, sizeof ipc, "ipc://%s/bus.sock", k->dir);
    assert_int_equal(s_broker_new(ep, false, NULL, NULL), YARD_E_CONFIG);
    assert_int_equal(s_broker_new("tcp://*:1", false, NULL, NULL), YARD_E_CONFIG);
    assert_int_equal(s_broker_new("tcp://eth0:1", false, NULL, NULL), YARD_E_CONFIG);
    assert_int_equal(s_broker_new(ep, true, NULL, NULL), 0);
    assert_int_equal(s_broker_new(lo, false, NULL, NULL), 0);
    assert_int_equal(s_broker_new(ipc, false, NULL, NULL), 0);
    assert_int_equal(s_broker_new("inproc://curve-unit", false, NULL, NULL), 0);
    /* with CURVE, any endpoint */
    assert_int_equal(s_broker_new(ep, false, k->sec, k->dir), 0);
}

static void
test_broker_curve_settings(void **state)
{
    s_keys_t *k = *state;
    char lo[64];
    snprintf(lo, sizeof lo, "tcp://127.0.0.1:%d", yh_free_port());
    assert_int_equal(s_broker_new(lo, false, k->sec, NULL), YARD_E_CONFIG);
    assert_int_equal(s_broker_new(lo, false, NULL, k->dir), YARD_E_CONFIG);
    assert_int_equal(s_broker_new(lo, false, k->pub_only, k->dir), YARD_E_CONFIG); /* public */
    assert_int_equal(s_broker_new(lo, false, k->sec, k->sec), YARD_E_CONFIG);      /* not a dir */
    assert_int_equal(s_broker_new(lo, false, "/nonexistent", k->dir), YARD_E_CONFIG);
    /* k->dir holds me, me_secret and other, a copy of me: a duplicate public key, which
     * zauth's own store would abort on, is skipped */
    assert_int_equal(s_broker_new(lo, false, k->sec, k->dir), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen),
        cmocka_unit_test(test_configure_errors),
        cmocka_unit_test(test_broker_bind_rule),
        cmocka_unit_test(test_broker_curve_settings),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
