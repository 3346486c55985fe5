/* Two-factor codes under races: three auth replicas on one real redis-server behind a real
 * broker (skipped without redis-server), on the real clock. Six logins waiting for their
 * second factor send one TOTP code at once: exactly one wins, wherever the broker sent each.
 * Then one recovery code at once from five: exactly one wins. Then one challenge with four
 * different recovery codes at once: exactly one login. */
#include "bus_json.h"
#include "fixture.h"
#include "harness.h"
#include "auth_test_util.h"
#include "totp.h"
#include "yard/broker.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/msg.h"
#include "yard/registry.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
    pid_t redis;
    char *redis_dir, *dir;
    yard_config_t *cfg;
    int bport;
    yard_broker_t *broker;
    yard_actor_t *auth;
    yard_client_t *client;
} F;

/* A password login that must answer MFA_REQUIRED; its challenge into out. */
static void
s_challenge(char out[128])
{
    void *mp = NULL;
    size_t size = 0;
    ath_pack("{\"username\":\"root\",\"password\":\"correct horse battery\"}", &mp, &size);
    yard_call_opts_t o = {.op = "login", .timeout_ms = 10000};
    yard_msg_t *reply = NULL;
    assert_int_equal(yard_client_call(F.client, "auth", mp, size, &o, &reply), YARD_E_SERVICE);
    free(mp);
    assert_non_null(reply);
    assert_string_equal(yard_msg_app_error(reply), "MFA_REQUIRED");
    const char *h = yard_msg_header(reply, "auth.mfa_challenge");
    assert_non_null(h);
    assert_true(strlen(h) < 128);
    snprintf(out, 128, "%s", h);
    yard_msg_destroy(&reply);
}

typedef struct {
    int ok, refused, other;
} s_tally_t;

static void
s_tally_cb(const yard_msg_t *reply, void *arg)
{
    s_tally_t *t = arg;
    int st = yard_msg_status(reply);
    t->ok += st == 0;
    t->refused += st == YARD_E_UNAUTHENTICATED;
    t->other += st != 0 && st != YARD_E_UNAUTHENTICATED;
}

/* login.mfa {chal[i], code[i]} for i < n, all outstanding at once. */
static s_tally_t
s_race(char chal[][128], char code[][32], int n)
{
    s_tally_t t = {0};
    for (int i = 0; i < n; i++) {
        char body[512];
        snprintf(body, sizeof body, "{\"challenge\":\"%s\",\"code\":\"%s\"}", chal[i], code[i]);
        void *mp = NULL;
        size_t size = 0;
        ath_pack(body, &mp, &size);
        yard_call_opts_t o = {.op = "login.mfa", .timeout_ms = 10000};
        assert_int_equal(yard_client_call_async(F.client, "auth", mp, size, &o, s_tally_cb, &t), 0);
        free(mp);
    }
    long long until = yh_now_ms() + 15000;
    while (t.ok + t.refused + t.other < n && yh_now_ms() < until) {
        yard_client_dispatch(F.client, 100);
    }
    assert_int_equal(t.ok + t.refused + t.other, n);
    return t;
}

static int
s_setup(void **state)
{
    (void)state;
    yard_log_set_level(YARD_LOG_ERROR);
    int port = 0;
    F.redis = yh_redis_start(&port, &F.redis_dir);
    if (F.redis < 0) {
        return 0; /* the test skips */
    }
    char text[1024];
    snprintf(text, sizeof text,
             "store: redis://127.0.0.1:%d\n"
             "auth:\n"
             "  replicas: 3\n"
             "  admin_user: root\n"
             "  admin_password: \"correct horse battery\"\n"
             "  login_burst_user: 1000\n"
             "  login_burst_source: 1000\n"
             "  mfa_burst_user: 1000\n",
             port);
    F.dir = yh_tmpdir();
    F.cfg = yh_config_in(F.dir, text);
    F.broker = yh_broker_start(&F.bport);
    F.auth = yh_actor_start(yard_registry_find("auth"), F.cfg, F.bport, NULL);
    yard_client_opts_t co = {.default_timeout_ms = 10000};
    assert_int_equal(yard_client_new(yh_endpoint(F.bport), &co, &F.client), 0);
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    if (F.redis < 0) {
        return 0;
    }
    yard_client_destroy(&F.client);
    yard_actor_destroy(&F.auth);
    yard_broker_destroy(&F.broker);
    yard_config_destroy(&F.cfg);
    yh_rmtree(F.dir);
    free(F.dir);
    yh_redis_stop(F.redis, F.redis_dir);
    return 0;
}

static void
s_code_at(const char *secret, int64_t step, char out[32])
{
    ath_totp_at(secret, (uint64_t)step, out, 32);
}

static void
test_one_code_one_login_across_replicas(void **state)
{
    (void)state;
    if (F.redis < 0) {
        skip(); /* redis-server is not installed */
    }
    yh_result_t r = yh_call_json_ready(F.client, "auth", "login",
                                       "{\"username\":\"root\",\"password\":\"correct horse "
                                       "battery\"}",
                                       NULL, 10000);
    assert_int_equal(r.status, 0);
    char token[4096], secret[64], body[4400], code[32];
    ath_json_str(r.json, "access_token", token, sizeof token);
    yh_result_free(&r);
    const char *kv[] = {"auth.token", token, NULL};
    r = yh_call_json(F.client, "auth", "mfa.enroll", "{}", kv, 10000);
    assert_int_equal(r.status, 0);
    ath_json_str(r.json, "secret", secret, sizeof secret);
    yh_result_free(&r);
    int64_t step = auth_totp_step(time(NULL), 30);
    s_code_at(secret, step, code);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    r = yh_call_json(F.client, "auth", "mfa.confirm", body, kv, 10000);
    assert_int_equal(r.status, 0);
    char rc[10][32];
    const char *p = strstr(r.json, "\"recovery_codes\":[\"");
    assert_non_null(p);
    p += strlen("\"recovery_codes\":[\"");
    for (int i = 0; i < 10; i++, p += 22) {
        snprintf(rc[i], sizeof rc[i], "%.19s", p);
    }
    yh_result_free(&r);

    enum { N = 6 };
    char chal[N][128], codes[N][32];
    for (int i = 0; i < N; i++) {
        s_challenge(chal[i]);
        s_code_at(secret, step + 1, codes[i]); /* the next step's: newer than the confirm's */
    }
    s_tally_t t = s_race(chal, codes, N);
    assert_int_equal(t.other, 0);
    assert_int_equal(t.ok, 1); /* one code, one login, whichever replica had it */
    assert_int_equal(t.refused, N - 1);
    /* The losers' challenges still stand (a refused code does not spend them): five at once
     * with one recovery code. */
    int k = 0;
    char left[N][128];
    for (int i = 0; i < N; i++) {
        snprintf(left[k], sizeof left[k], "%s", chal[i]);
        snprintf(codes[k], sizeof codes[k], "%s", rc[0]);
        k++;
    }
    t = s_race(left, codes, k); /* the winner's challenge is spent: refused like the rest */
    assert_int_equal(t.other, 0);
    assert_int_equal(t.ok, 1);
    assert_int_equal(t.refused, k - 1);
    /* one fresh challenge, four different recovery codes at once: one login */
    char one[4][128], fresh[128];
    s_challenge(fresh);
    for (int i = 0; i < 4; i++) {
        snprintf(one[i], sizeof one[i], "%s", fresh);
        snprintf(codes[i], sizeof codes[i], "%s", rc[1 + i]);
    }
    t = s_race(one, codes, 4);
    assert_int_equal(t.other, 0);
    assert_int_equal(t.ok, 1);
    assert_int_equal(t.refused, 3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_code_one_login_across_replicas),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
