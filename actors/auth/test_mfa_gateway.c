/* Two-factor login end to end: the auth actor on a real broker behind the real HTTP gateway,
 * spoken to with libcurl on the real clock. A user enrols with her own bearer token, a login
 * then answers 401 MFA_REQUIRED with the challenge in the X-MFA-Challenge header (never in the
 * body), login.mfa completes it, and an admin reads and turns off another user's MFA (a
 * non-admin may not). */
#include "bus_json.h"
#include "fixture.h"
#include "harness.h"
#include "auth_test_util.h"
#include "totp.h"
#include "yard/broker.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/gateway.h"
#include "yard/log.h"
#include "yard/registry.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char s_config[] = "auth:\n"
                               "  admin_user: root\n"
                               "  admin_password: \"correct horse battery\"\n"
                               "  login_burst_user: 100\n"
                               "  login_burst_source: 1000\n"
                               "  login_per_min_source: 1000\n"
                               "gateway:\n"
                               "  routes:\n"
                               "    - {method: POST, path: /v1/login, service: auth, op: login}\n"
                               "    - {method: POST, path: /v1/login/mfa, service: auth,"
                               " op: login.mfa}\n"
                               "    - {method: POST, path: /v1/mfa/enroll, service: auth,"
                               " op: mfa.enroll, auth: bearer}\n"
                               "    - {method: POST, path: /v1/mfa/confirm, service: auth,"
                               " op: mfa.confirm, auth: bearer}\n"
                               "    - {method: POST, path: /v1/mfa/status, service: auth,"
                               " op: mfa.status, auth: bearer}\n"
                               "    - {method: POST, path: /v1/mfa/disable, service: auth,"
                               " op: mfa.disable, auth: bearer}\n"
                               "    - {method: POST, path: /v1/users, service: auth,"
                               " op: user.create, auth: bearer, scopes: [admin]}\n";

static struct {
    char *dir;
    yard_config_t *cfg;
    int bport;
    yard_broker_t *broker;
    yard_actor_t *auth;
    yard_gateway_t *gw;
    char base[64];
} F;

static long
s_http(const char *path, const char *json, const char *token, ath_http_t *out)
{
    return ath_http_post(F.base, path, json, token, 10000, out);
}

static long
s_login(const char *user, const char *pw, ath_http_t *b)
{
    char body[256];
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
    return s_http("/v1/login", body, NULL, b);
}

static int
s_setup(void **state)
{
    (void)state;
    yard_log_set_level(YARD_LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    F.dir = yh_tmpdir();
    F.cfg = yh_config_in(F.dir, s_config);
    F.broker = yh_broker_start(&F.bport);
    F.auth = yh_actor_start(yard_registry_find("auth"), F.cfg, F.bport, NULL);
    F.gw = yh_gateway_try(F.cfg, F.bport, NULL, NULL);
    assert_non_null(F.gw);
    snprintf(F.base, sizeof F.base, "http://127.0.0.1:%u", yard_gateway_port(F.gw));
    /* replicas register asynchronously: wait for the service on the bus first; it is there
     * and wants a token */
    ath_wait_service(F.bport, "mfa.status", "{}", YARD_E_UNAUTHENTICATED);
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    yard_gateway_destroy(&F.gw);
    yard_actor_destroy(&F.auth);
    yard_broker_destroy(&F.broker);
    yard_config_destroy(&F.cfg);
    yh_rmtree(F.dir);
    free(F.dir);
    curl_global_cleanup();
    return 0;
}

static void
test_mfa_through_the_gateway(void **state)
{
    (void)state;
    ath_http_t b;
    char admin[4096], alice[4096], secret[64], body[512], code[16];
    assert_int_equal(s_login("root", "correct horse battery", &b), 200);
    ath_json_str(b.body, "access_token", admin, sizeof admin);
    assert_int_equal(s_http("/v1/users",
                            "{\"username\":\"alice\",\"password\":\"alices password\","
                            "\"scopes\":[\"reports\"]}",
                            admin, &b),
                     200);
    assert_int_equal(s_login("alice", "alices password", &b), 200);
    ath_json_str(b.body, "access_token", alice, sizeof alice);
    /* enrol with her own bearer token, confirm with the current code */
    assert_int_equal(s_http("/v1/mfa/enroll", "{}", alice, &b), 200);
    ath_json_str(b.body, "secret", secret, sizeof secret);
    assert_non_null(strstr(b.body, "\"otpauth_uri\":\"otpauth://totp/switchyard:alice?secret="));
    ath_totp_at(secret, (uint64_t)auth_totp_step(time(NULL), 30), code, sizeof code);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    assert_int_equal(s_http("/v1/mfa/confirm", body, alice, &b), 200);
    char rc0[32];
    const char *p = strstr(b.body, "\"recovery_codes\":[\"");
    assert_non_null(p);
    p += strlen("\"recovery_codes\":[\"");
    snprintf(rc0, sizeof rc0, "%.19s", p);
    /* the password alone: 401 MFA_REQUIRED, the challenge in a header, not in the body */
    assert_int_equal(s_login("alice", "alices password", &b), 401);
    assert_non_null(strstr(b.body, "\"code\":\"MFA_REQUIRED\""));
    assert_true(strlen(b.challenge) >= 40);
    assert_null(strstr(b.body, b.challenge));
    char chal[128];
    snprintf(chal, sizeof chal, "%s", b.challenge);
    snprintf(body, sizeof body, "{\"challenge\":\"%s\",\"code\":\"0000000\"}", chal);
    assert_int_equal(s_http("/v1/login/mfa", body, NULL, &b), 401); /* neither kind of code */
    snprintf(body, sizeof body, "{\"challenge\":\"%s\",\"code\":\"%s\"}", chal, rc0);
    assert_int_equal(s_http("/v1/login/mfa", body, NULL, &b), 200);
    assert_non_null(strstr(b.body, "\"access_token\":\""));
    assert_int_equal(s_http("/v1/login/mfa", body, NULL, &b), 401); /* spent, both */
    /* the admin sees and turns off alice's MFA; alice may not touch root's */
    assert_int_equal(s_http("/v1/mfa/status", "{\"username\":\"alice\"}", admin, &b), 200);
    assert_non_null(strstr(b.body, "\"enabled\":true"));
    assert_non_null(strstr(b.body, "\"recovery_codes_left\":9"));
    assert_null(strstr(b.body, secret));
    assert_int_equal(s_http("/v1/mfa/disable", "{\"username\":\"root\"}", alice, &b), 403);
    assert_int_equal(s_http("/v1/mfa/disable", "{\"username\":\"alice\"}", admin, &b), 200);
    assert_int_equal(s_login("alice", "alices password", &b), 200); /* a plain login again */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mfa_through_the_gateway),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
