/* Two-factor login (mfa.c) through the actor test harness: the auth actor's own options, init,
 * store and handlers, on a fake clock (2026-01-01T00:00:00Z at the start) so that every TOTP
 * code is known in advance. Enrolment, confirmation, login with and without MFA, wrong,
 * replayed and drifted codes, recovery codes, the attempt limit, challenges (single use,
 * expiry), the scope policy; then two replicas on one real redis-server (skipped without
 * one): a code or recovery code spent on one is refused on the other. */
#include "harness.h"
#include "auth_test_util.h"
#include "totp.h"
#include "yard/actor_test.h"
#include "yard/error.h"
#include "yard/registry.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_T0 1767225600LL /* the harness's fake wall clock at start: 2026-01-01T00:00:00Z */

static const char s_base[] = "auth:\n"
                             "  admin_user: root\n"
                             "  admin_password: \"correct horse battery\"\n"
                             "  login_burst_user: 1000\n"
                             "  login_burst_source: 1000\n"
                             "  login_per_min_source: 1000\n";

typedef struct {
    int status;          /* 0 or the yard error */
    char app[64];        /* the app error, "" when none */
    char json[8192];     /* the reply as JSON ("" for a failure) */
    char challenge[128]; /* the auth.mfa_challenge answer header, "" when none */
    char http_chal[128]; /* the X-MFA-Challenge answer header */
} s_res_t;

static yard_actor_test_t *
s_actor(const char *extra)
{
    char cfg[2048];
    snprintf(cfg, sizeof cfg, "%s%s", s_base, extra ? extra : "");
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(yard_registry_find("auth"), cfg, &t), 0);
    return t;
}

static s_res_t
s_call(yard_actor_test_t *t, const char *op, const char *json)
{
    s_res_t r;
    memset(&r, 0, sizeof r);
    yard_request_t *req = ath_request(t, op, json);
    r.status = ath_outcome(req, r.app, sizeof r.app, r.json, sizeof r.json);
    const char *h = yard_request_answer_header_test(req, "auth.mfa_challenge");
    snprintf(r.challenge, sizeof r.challenge, "%s", h ? h : "");
    h = yard_request_answer_header_test(req, "http.header.X-MFA-Challenge");
    snprintf(r.http_chal, sizeof r.http_chal, "%s", h ? h : "");
    yard_request_destroy_test(&req);
    return r;
}

/* root's access token from a plain login (no MFA). */
static void
s_token(yard_actor_test_t *t, char *tok, size_t cap)
{
    s_res_t r =
        s_call(t, "login", "{\"username\":\"root\",\"password\":\"correct horse battery\"}");
    assert_int_equal(r.status, 0);
    ath_json_str(r.json, "access_token", tok, cap);
}

/* The code of secret (base32) at the fake clock's start + offset_s. */
static void
s_code(const char *secret, int64_t offset_s, char out[16])
{
    ath_totp_at(secret, (uint64_t)auth_totp_step(S_T0 + offset_s, 30), out, 16);
}

typedef struct {
    char secret[64];
    char rc[10][32];
} s_enrolled_t;

/* Enrols and confirms root with the code of step offset_s; returns the secret and codes. */
static s_enrolled_t
s_enable(yard_actor_test_t *t, int64_t offset_s)
{
    s_enrolled_t e;
    memset(&e, 0, sizeof e);
    char tok[4096], body[4400], code[16];
    s_token(t, tok, sizeof tok);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", tok);
    s_res_t r = s_call(t, "mfa.enroll", body);
    assert_int_equal(r.status, 0);
    ath_json_str(r.json, "secret", e.secret, sizeof e.secret);
    assert_int_equal(strlen(e.secret), 32); /* 160 bits */
    char uri[512], want[256];
    ath_json_str(r.json, "otpauth_uri", uri, sizeof uri);
    snprintf(want, sizeof want,
             "otpauth://totp/switchyard:root?secret=%s&issuer=switchyard&algorithm=SHA1"
             "&digits=6&period=30",
             e.secret);
    assert_string_equal(uri, want);
    s_code(e.secret, offset_s, code);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"code\":\"%s\"}", tok, code);
    r = s_call(t, "mfa.confirm", body);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"enabled\":true"));
    const char *p = strstr(r.json, "\"recovery_codes\":[");
    assert_non_null(p);
    p += strlen("\"recovery_codes\":[");
    for (int i = 0; i < 10; i++) {
        assert_int_equal(*p, '"');
        size_t n = strcspn(p + 1, "\"");
        assert_int_equal(n, 19); /* xxxx-xxxx-xxxx-xxxx */
        memcpy(e.rc[i], p + 1, n);
        p += n + 2 + (i < 9);
    }
    return e;
}

/* A login that must answer MFA_REQUIRED; its challenge into chal. */
static void
s_login_challenge(yard_actor_test_t *t, char *chal, size_t cap)
{
    s_res_t r =
        s_call(t, "login", "{\"username\":\"root\",\"password\":\"correct horse battery\"}");
    assert_int_equal(r.status, YARD_E_SERVICE);
    assert_string_equal(r.app, "MFA_REQUIRED");
    assert_true(strlen(r.challenge) >= 40);
    assert_string_equal(r.challenge, r.http_chal);
    assert_true(strlen(r.challenge) < cap);
    snprintf(chal, cap, "%s", r.challenge);
}

static s_res_t
s_login_mfa(yard_actor_test_t *t, const char *chal, const char *code)
{
    char body[512];
    snprintf(body, sizeof body, "{\"challenge\":\"%s\",\"code\":\"%s\"}", chal, code);
    return s_call(t, "login.mfa", body);
}

/* --- tests -------------------------------------------------------------------------------- */

static void
test_enrol_confirm_and_login(void **state)
{
    (void)state;
    yard_actor_test_t *t = s_actor(NULL);
    char tok[4096];
    s_token(t, tok, sizeof tok); /* without MFA: a plain login gives tokens */
    char body[4400];
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", tok);
    s_res_t r = s_call(t, "mfa.status", body);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"enabled\":false"));
    /* confirm before enrol, and a wrong confirmation code */
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"code\":\"123456\"}", tok);
    r = s_call(t, "mfa.confirm", body);
    assert_string_equal(r.app, "CONFLICT");
    s_enrolled_t e = s_enable(t, 0);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", tok);
    r = s_call(t, "mfa.status", body);
    assert_non_null(strstr(r.json, "\"enabled\":true"));
    assert_non_null(strstr(r.json, "\"recovery_codes_left\":10"));
    assert_null(strstr(r.json, e.secret)); /* the secret is never shown again */
    r = s_call(t, "mfa.enroll", body);     /* on already */
    assert_string_equal(r.app, "CONFLICT");
    /* With MFA on, the password alone gives a challenge, not tokens. */
    char chal[128], code[16];
    s_login_challenge(t, chal, sizeof chal);
    yard_actor_test_advance(t, 30000); /* the next step: the confirmation's code is spent */
    s_code(e.secret, 30, code);
    r = s_login_mfa(t, chal, code);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"access_token\":\""));
    assert_non_null(strstr(r.json, "\"refresh_token\":\""));
    assert_non_null(strstr(r.json, "\"sub\":\"root\""));
    char access[4096];
    ath_json_str(r.json, "access_token", access, sizeof access);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", access);
    assert_int_equal(s_call(t, "verify", body).status, 0);
    yard_actor_test_destroy(&t);
}

static void
test_wrong_replayed_and_drifted_codes(void **state)
{
    (void)state;
    yard_actor_test_t *t = s_actor("  mfa_burst_user: 100\n");
    s_enrolled_t e = s_enable(t, 0);
    yard_actor_test_advance(t, 10 * 30000); /* now: step T0 + 10 */
    char chal[128], code[16];
    s_login_challenge(t, chal, sizeof chal);
    s_res_t r = s_login_mfa(t, chal, "000000");
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    r = s_login_mfa(t, chal, "12345"); /* malformed: neither a TOTP nor a recovery code */
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    s_code(e.secret, 300 + 60, code); /* +2 steps: refused */
    assert_int_equal(s_login_mfa(t, chal, code).status, YARD_E_UNAUTHENTICATED);
    s_code(e.secret, 300 - 60, code); /* -2 steps: refused */
    assert_int_equal(s_login_mfa(t, chal, code).status, YARD_E_UNAUTHENTICATED);
    s_code(e.secret, 300 - 30, code); /* -1 step: accepted (the challenge survived the misses) */
    assert_int_equal(s_login_mfa(t, chal, code).status, 0);
    /* The same code again, with a new challenge: replayed. */
    s_login_challenge(t, chal, sizeof chal);
    r = s_login_mfa(t, chal, code);
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    /* +1 step is accepted; after it the current step's code (older) is refused. */
    s_code(e.secret, 300 + 30, code);
    assert_int_equal(s_login_mfa(t, chal, code).status, 0);
    s_login_challenge(t, chal, sizeof chal);
    s_code(e.secret, 300, code);
    assert_int_equal(s_login_mfa(t, chal, code).status, YARD_E_UNAUTHENTICATED);
    yard_actor_test_advance(t, 60000); /* step +12: new codes work */
    s_code(e.secret, 360, code);
    assert_int_equal(s_login_mfa(t, chal, code).status, 0);
    yard_actor_test_destroy(&t);
}

static void
test_recovery_codes_once(void **state)
{
    (void)state;
    yard_actor_test_t *t = s_actor("  mfa_burst_user: 100\n");
    s_enrolled_t e = s_enable(t, 0);
    char chal[128], upper[32];
    s_login_challenge(t, chal, sizeof chal);
    assert_int_equal(s_login_mfa(t, chal, e.rc[3]).status, 0);
    s_login_challenge(t, chal, sizeof chal);
    assert_int_equal(s_login_mfa(t, chal, e.rc[3]).status, YARD_E_UNAUTHENTICATED); /* spent */
    /* typed in upper case without dashes: the same code */
    size_t o = 0;
    for (const char *p = e.rc[4]; *p; p++) {
        if (*p != '-') {
            upper[o++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        }
    }
    upper[o] = '\0';
    assert_int_equal(s_login_mfa(t, chal, upper).status, 0);
    assert_int_equal(s_login_mfa(t, chal, e.rc[5]).status, YARD_E_UNAUTHENTICATED); /* chal used */
    s_login_challenge(t, chal, sizeof chal);
    assert_int_equal(s_login_mfa(t, chal, "abcd-efgh-ijkl-mnop").status, YARD_E_UNAUTHENTICATED);
    char tok[4096], body[4400];
    assert_int_equal(s_login_mfa(t, chal, e.rc[5]).status, 0);
    s_res_t r = s_call(t, "login.mfa", "{\"challenge\":\"x\"}");
    assert_int_equal(r.status, YARD_E_BAD_REQUEST);
    /* status counts what is left; disable with a recovery code, then login is plain again */
    s_login_challenge(t, chal, sizeof chal);
    r = s_login_mfa(t, chal, e.rc[6]);
    assert_int_equal(r.status, 0);
    ath_json_str(r.json, "access_token", tok, sizeof tok);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", tok);
    r = s_call(t, "mfa.status", body);
    assert_non_null(strstr(r.json, "\"recovery_codes_left\":6"));
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"code\":\"%s\"}", tok, e.rc[6]);
    assert_int_equal(s_call(t, "mfa.disable", body).status, YARD_E_UNAUTHENTICATED); /* spent */
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"code\":\"%s\"}", tok, e.rc[7]);
    r = s_call(t, "mfa.disable", body);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"disabled\":\"root\""));
    s_token(t, tok, sizeof tok);
    yard_actor_test_destroy(&t);
}

static void
test_attempts_are_rate_limited(void **state)
{
    (void)state;
    yard_actor_test_t *t = s_actor("  mfa_burst_user: 4\n");
    s_enrolled_t e = s_enable(t, 0); /* the confirmation takes one attempt */
    yard_actor_test_advance(t, 30000);
    char chal[128], code[16];
    s_login_challenge(t, chal, sizeof chal);
    int limited = 0, refused = 0;
    for (int i = 0; i < 6; i++) {
        s_res_t r = s_login_mfa(t, chal, "999999");
        limited += r.status == YARD_E_SERVICE && strcmp(r.app, "RATE_LIMITED") == 0;
        refused += r.status == YARD_E_UNAUTHENTICATED;
    }
    assert_int_equal(refused, 3);
    assert_int_equal(limited, 3);
    s_code(e.secret, 30, code); /* even the right code waits for the bucket */
    s_res_t r = s_login_mfa(t, chal, code);
    assert_string_equal(r.app, "RATE_LIMITED");
    yard_actor_test_destroy(&t);
}

static void
test_challenge_single_use_and_expiry(void **state)
{
    (void)state;
    yard_actor_test_t *t = s_actor("  mfa_burst_user: 100\n  mfa_challenge_ttl: 2m\n");
    s_enrolled_t e = s_enable(t, 0);
    char chal[128], code[16];
    yard_actor_test_advance(t, 30000);
    s_login_challenge(t, chal, sizeof chal);
    s_code(e.secret, 30, code);
    assert_int_equal(s_login_mfa(t, chal, code).status, 0);
    yard_actor_test_advance(t, 30000);
    s_code(e.secret, 60, code);
    s_res_t r = s_login_mfa(t, chal, code); /* the same challenge with a fresh code */
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    s_login_challenge(t, chal, sizeof chal);
    yard_actor_test_advance(t, 121000); /* past mfa_challenge_ttl */
    s_code(e.secret, 181, code);
    assert_int_equal(s_login_mfa(t, chal, code).status, YARD_E_UNAUTHENTICATED);
    assert_int_equal(s_login_mfa(t, "not-a-challenge", code).status, YARD_E_UNAUTHENTICATED);
    /* a fresh one works with that same (unspent) code */
    s_login_challenge(t, chal, sizeof chal);
    assert_int_equal(s_login_mfa(t, chal, code).status, 0);
    yard_actor_test_destroy(&t);
}

static void
test_policy_requires_enrolment(void **state)
{
    (void)state;
    yard_actor_test_t *t = s_actor("  mfa_required_scopes: [ops, admin]\n");
    s_res_t r =
        s_call(t, "login", "{\"username\":\"root\",\"password\":\"correct horse battery\"}");
    assert_int_equal(r.status, YARD_E_SERVICE);
    assert_string_equal(r.app, "MFA_ENROLL_REQUIRED");
    char chal[128], body[512], secret[64], code[16];
    snprintf(chal, sizeof chal, "%s", r.challenge);
    assert_true(strlen(chal) >= 40);
    /* a login challenge is not an enrolment one, and the other way round */
    assert_int_equal(s_login_mfa(t, chal, "123456").status, YARD_E_UNAUTHENTICATED);
    snprintf(body, sizeof body, "{\"challenge\":\"%s\"}", chal);
    r = s_call(t, "mfa.enroll", body);
    assert_int_equal(r.status, 0);
    ath_json_str(r.json, "secret", secret, sizeof secret);
    r = s_call(t, "mfa.status", body); /* status needs a token, not a challenge */
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    s_code(secret, 0, code);
    snprintf(body, sizeof body, "{\"challenge\":\"%s\",\"code\":\"%s\"}", chal, code);
    r = s_call(t, "mfa.confirm", body);
    assert_int_equal(r.status, 0);
    r = s_call(t, "mfa.confirm", body); /* the enrolment challenge is spent */
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    s_login_challenge(t, chal, sizeof chal); /* now: MFA_REQUIRED, and a code completes it */
    yard_actor_test_advance(t, 30000);
    s_code(secret, 30, code);
    assert_int_equal(s_login_mfa(t, chal, code).status, 0);
    yard_actor_test_destroy(&t);
}

static void
test_bad_policy_is_a_config_error(void **state)
{
    (void)state;
    char cfg[1024];
    yard_actor_test_t *t = NULL;
    snprintf(cfg, sizeof cfg, "%s  mfa_required_scopes: admin\n", s_base);
    assert_int_equal(yard_actor_test_new(yard_registry_find("auth"), cfg, &t), YARD_E_CONFIG);
    snprintf(cfg, sizeof cfg, "%s  mfa_required_scopes: [\"a b\"]\n", s_base);
    assert_int_equal(yard_actor_test_new(yard_registry_find("auth"), cfg, &t), YARD_E_CONFIG);
    snprintf(cfg, sizeof cfg, "%s  mfa_period: 15500ms\n", s_base);
    assert_int_equal(yard_actor_test_new(yard_registry_find("auth"), cfg, &t), YARD_E_CONFIG);
    assert_null(t);
}

/* --- two replicas on one redis-server ----------------------------------------------------- */

static void
test_replicas_share_spent_codes(void **state)
{
    (void)state;
    int port = 0;
    char *dir = NULL;
    pid_t redis = yh_redis_start(&port, &dir);
    if (redis < 0) {
        skip(); /* redis-server is not installed */
    }
    char extra[256];
    snprintf(extra, sizeof extra, "  mfa_burst_user: 100\nstore: redis://127.0.0.1:%d\n", port);
    yard_actor_test_t *a = s_actor(extra), *b = s_actor(extra);
    s_enrolled_t e = s_enable(a, 0); /* enrolled on a */
    yard_actor_test_advance(a, 30000);
    yard_actor_test_advance(b, 30000);
    char chal[128], code[16];
    s_login_challenge(b, chal, sizeof chal); /* b sees MFA on */
    s_code(e.secret, 30, code);
    assert_int_equal(s_login_mfa(a, chal, code).status, 0); /* a challenge from b, used on a */
    s_login_challenge(a, chal, sizeof chal);
    assert_int_equal(s_login_mfa(b, chal, code).status, YARD_E_UNAUTHENTICATED); /* replayed */
    s_code(e.secret, 0, code); /* older than the one used: refused on both */
    assert_int_equal(s_login_mfa(b, chal, code).status, YARD_E_UNAUTHENTICATED);
    assert_int_equal(s_login_mfa(a, chal, code).status, YARD_E_UNAUTHENTICATED);
    assert_int_equal(s_login_mfa(b, chal, e.rc[0]).status, 0); /* recovery code on b */
    s_login_challenge(a, chal, sizeof chal);
    assert_int_equal(s_login_mfa(a, chal, e.rc[0]).status, YARD_E_UNAUTHENTICATED); /* on a */
    yard_actor_test_advance(a, 30000);
    s_code(e.secret, 60, code);
    assert_int_equal(s_login_mfa(a, chal, code).status, 0);
    assert_int_equal(s_login_mfa(b, chal, e.rc[1]).status, YARD_E_UNAUTHENTICATED); /* chal */
    yard_actor_test_destroy(&a);
    yard_actor_test_destroy(&b);
    yh_redis_stop(redis, dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enrol_confirm_and_login),
        cmocka_unit_test(test_wrong_replayed_and_drifted_codes),
        cmocka_unit_test(test_recovery_codes_once),
        cmocka_unit_test(test_attempts_are_rate_limited),
        cmocka_unit_test(test_challenge_single_use_and_expiry),
        cmocka_unit_test(test_policy_requires_enrolment),
        cmocka_unit_test(test_bad_policy_is_a_config_error),
        cmocka_unit_test(test_replicas_share_spent_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
