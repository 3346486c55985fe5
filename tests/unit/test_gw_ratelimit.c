/* Gateway rate limits: token buckets per client IP and per token from gateway.rate_limit, on a
 * test clock; the bounded table under a client rotating addresses; shared buckets through a
 * real Redis when one is installed. Read as the usage example of gateway/ratelimit.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ratelimit.h"
#include "yard/error.h"

typedef struct {
    char *dir;
    char *path;
    yard_config_t *cfg;
    yard_gw_ratelimit_t *rl;
    uint64_t now; /* the test clock, ms */
} fixture_t;

static uint64_t
s_clock(void *arg)
{
    return ((fixture_t *)arg)->now;
}

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->dir = yh_tmpdir();
    assert_non_null(f->dir);
    size_t n = strlen(f->dir) + 16;
    f->path = malloc(n);
    snprintf(f->path, n, "%s/yard.yaml", f->dir);
    f->now = 1000000;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    yard_gw_ratelimit_destroy(&f->rl);
    yard_config_destroy(&f->cfg);
    yh_rmtree(f->dir);
    free(f->dir);
    free(f->path);
    free(f);
    return 0;
}

static int
s_build(fixture_t *f, const char *text, yard_store_t *store, char *err, size_t errlen)
{
    yard_gw_ratelimit_destroy(&f->rl);
    yard_config_destroy(&f->cfg);
    char lerr[256];
    f->cfg = yh_config_write(f->path, text, lerr, sizeof lerr);
    if (f->cfg == NULL) {
        fail_msg("load: %s", lerr);
    }
    err[0] = '\0';
    int rc = yard_gw_ratelimit_new(f->cfg, store, &f->rl, err, errlen);
    if (f->rl != NULL) {
        yard_gw_ratelimit_set_clock(f->rl, s_clock, f);
    }
    return rc;
}

static void
s_assert_bad(fixture_t *f, const char *text, const char *want)
{
    char err[512];
    assert_int_equal(s_build(f, text, NULL, err, sizeof err), YARD_E_CONFIG);
    assert_null(f->rl);
    if (strstr(err, want) == NULL) {
        fail_msg("expected \"%s\" in \"%s\"", want, err);
    }
}

/* Takes from (kind, key) and checks the outcome: 0 allowed, else the Retry-After seconds. */
static void
s_take(fixture_t *f, yard_gw_rl_kind_t kind, const char *key, uint32_t want_retry_s)
{
    uint32_t retry = 99;
    int rc = yard_gw_ratelimit_take(f->rl, kind, key, &retry);
    if (want_retry_s == 0) {
        assert_int_equal(rc, 0);
        assert_int_equal(retry, 0);
    } else {
        assert_int_equal(rc, YARD_E_OVERLOADED);
        assert_int_equal(retry, want_retry_s);
    }
}

static void
test_off(void **state)
{
    fixture_t *f = *state;
    char err[256];
    yard_gw_ratelimit_t *rl = NULL;
    assert_int_equal(yard_gw_ratelimit_new(NULL, NULL, &rl, err, sizeof err), 0);
    assert_null(rl);
    assert_int_equal(s_build(f, "gateway:\n  rate_limit: {}\n", NULL, err, sizeof err), 0);
    assert_null(f->rl);
    /* a NULL limiter lets everything through */
    uint32_t retry = 5;
    assert_int_equal(yard_gw_ratelimit_take(NULL, YARD_GW_RL_IP, "1.2.3.4", &retry), 0);
    assert_int_equal(retry, 0);
}

static void
test_buckets(void **state)
{
    fixture_t *f = *state;
    char err[256];
    assert_int_equal(s_build(f,
                             "gateway:\n"
                             "  rate_limit:\n"
                             "    per_ip: {rate: 2, burst: 3}\n",
                             NULL, err, sizeof err),
                     0);
    assert_non_null(f->rl);
    s_take(f, YARD_GW_RL_IP, "10.0.0.1", 0);
    s_take(f, YARD_GW_RL_IP, "10.0.0.1", 0);
    s_take(f, YARD_GW_RL_IP, "10.0.0.1", 0);
    s_take(f, YARD_GW_RL_IP, "10.0.0.1", 1); /* 500 ms to the next token: Retry-After 1 */
    s_take(f, YARD_GW_RL_IP, "10.0.0.2", 0); /* another client has its own bucket */
    f->now += 600;
    s_take(f, YARD_GW_RL_IP, "10.0.0.1", 0);
    s_take(f, YARD_GW_RL_IP, "10.0.0.1", 1);
    f->now += 3600000; /* an hour idle refills to the burst, no more */
    s_take(f, YARD_GW_RL_IP, "10.0.0.1", 0);
    s_take(f, YARD_GW_RL_IP, "10.0.0.1", 0);
    s_take(f, YARD_GW_RL_IP, "10.0.0.1", 0);
    s_take(f, YARD_GW_RL_IP, "10.0.0.1", 1);
    f->now -= 10000; /* a clock going back refills nothing */
    s_take(f, YARD_GW_RL_IP, "10.0.0.1", 1);
    /* no per_token limit configured: tokens are not limited */
    for (int i = 0; i < 100; i++) {
        s_take(f, YARD_GW_RL_TOKEN, "tok", 0);
    }
}

static void
test_slow_rate_and_tokens(void **state)
{
    fixture_t *f = *state;
    char err[256];
    assert_int_equal(s_build(f,
                             "gateway:\n"
                             "  rate_limit:\n"
                             "    per_token: {rate: 0.1}\n", /* one per 10 s, burst 1 */
                             NULL, err, sizeof err),
                     0);
    s_take(f, YARD_GW_RL_TOKEN, "alice", 0);
    s_take(f, YARD_GW_RL_TOKEN, "alice", 10);
    f->now += 4000;
    s_take(f, YARD_GW_RL_TOKEN, "alice", 6);
    s_take(f, YARD_GW_RL_IP, "10.0.0.1", 0); /* per_ip is off */
    /* a very long token is kept bounded, and still has its own bucket */
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    s_take(f, YARD_GW_RL_TOKEN, big, 0);
    s_take(f, YARD_GW_RL_TOKEN, big, 10);
    big[4000] = 'y'; /* same prefix, different token */
    s_take(f, YARD_GW_RL_TOKEN, big, 0);
}

static void
test_bounded_table(void **state)
{
    fixture_t *f = *state;
    char err[256];
    assert_int_equal(s_build(f,
                             "gateway:\n"
                             "  rate_limit:\n"
                             "    per_ip: {rate: 1, burst: 1}\n"
                             "    max_keys: 3\n",
                             NULL, err, sizeof err),
                     0);
    s_take(f, YARD_GW_RL_IP, "victim", 0);
    s_take(f, YARD_GW_RL_IP, "victim", 1);
    /* recently used buckets survive... */
    s_take(f, YARD_GW_RL_IP, "a", 0);
    s_take(f, YARD_GW_RL_IP, "victim", 1);
    s_take(f, YARD_GW_RL_IP, "b", 0);
    s_take(f, YARD_GW_RL_IP, "victim", 1);
    /* ...while a client rotating addresses evicts the least recently used, never growing the
     * table past max_keys (ASan would see the leak otherwise; eviction is observable below) */
    char ip[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(ip, sizeof ip, "198.51.%d.%d", i / 256, i % 256);
        s_take(f, YARD_GW_RL_IP, ip, 0);
    }
    s_take(f, YARD_GW_RL_IP, "victim", 0); /* evicted: back full (the bounded leniency) */
}

static void
test_errors(void **state)
{
    fixture_t *f = *state;
    s_assert_bad(f, "gateway:\n  rate_limit: [1]\n",
                 "yard.yaml:2: gateway.rate_limit.rate_limit: expected a map");
    s_assert_bad(f, "gateway:\n  rate_limit:\n    per_host: {rate: 1}\n",
                 "yard.yaml:3: gateway.rate_limit: unknown key 'per_host'");
    s_assert_bad(f, "gateway:\n  rate_limit:\n    per_ip:\n      rate: 1\n      brust: 2\n",
                 "yard.yaml:5: gateway.rate_limit.per_ip: unknown key 'brust'");
    s_assert_bad(f, "gateway:\n  rate_limit:\n    per_ip: 100\n",
                 "yard.yaml:3: gateway.rate_limit.per_ip: expected a map");
    s_assert_bad(f, "gateway:\n  rate_limit:\n    per_ip: {burst: 2}\n",
                 "yard.yaml:3: gateway.rate_limit.per_ip.rate: missing");
    s_assert_bad(f, "gateway:\n  rate_limit:\n    per_ip:\n      rate: fast\n",
                 "yard.yaml:4: gateway.rate_limit.per_ip.rate: 'fast' is not a number");
    s_assert_bad(f, "gateway:\n  rate_limit:\n    per_ip:\n      rate: 0\n", "is not a number");
    s_assert_bad(f, "gateway:\n  rate_limit:\n    per_token:\n      rate: 1\n      burst: 0\n",
                 "yard.yaml:5: gateway.rate_limit.per_token.burst: 0 is out of range");
    s_assert_bad(f, "gateway:\n  rate_limit:\n    per_token:\n      rate: 1\n      burst: 2.5\n",
                 "per_token.burst: invalid integer '2.5'");
    s_assert_bad(f, "gateway:\n  rate_limit:\n    per_ip: {rate: 1}\n    max_keys: 0\n",
                 "yard.yaml:4: gateway.rate_limit.max_keys: expected an integer");
}

static void
test_shared_through_redis(void **state)
{
    fixture_t *f = *state;
    int port = 0;
    char *dir = NULL;
    pid_t pid = yh_redis_start(&port, &dir);
    if (pid < 0) {
        skip(); /* redis-server is not installed */
    }
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    yard_store_t *store = NULL;
    assert_int_equal(yard_store_open(url, &store), 0);
    char err[256];
    const char *text = "gateway:\n  rate_limit:\n    per_ip: {rate: 0.01, burst: 2}\n";
    assert_int_equal(s_build(f, text, store, err, sizeof err), 0);
    /* a second limiter (another gateway replica) on the same store shares the bucket */
    yard_gw_ratelimit_t *other = NULL;
    assert_int_equal(yard_gw_ratelimit_new(f->cfg, store, &other, err, sizeof err), 0);
    uint32_t retry = 0;
    assert_int_equal(yard_gw_ratelimit_take(f->rl, YARD_GW_RL_IP, "10.1.1.1", &retry), 0);
    assert_int_equal(yard_gw_ratelimit_take(other, YARD_GW_RL_IP, "10.1.1.1", &retry), 0);
    assert_int_equal(yard_gw_ratelimit_take(f->rl, YARD_GW_RL_IP, "10.1.1.1", &retry),
                     YARD_E_OVERLOADED);
    assert_in_range(retry, 95, 100);
    /* the store gone: fail open */
    yh_redis_stop(pid, dir);
    assert_int_equal(yard_gw_ratelimit_take(other, YARD_GW_RL_IP, "10.1.1.1", &retry), 0);
    yard_gw_ratelimit_destroy(&other);
    yard_gw_ratelimit_destroy(&f->rl);
    yard_store_destroy(&store);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buckets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_rate_and_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_through_redis, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
