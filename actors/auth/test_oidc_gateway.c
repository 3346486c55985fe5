/* Sign-in with an OpenID provider end to end and browser-less: the auth actor on a real broker
 * behind the real HTTP gateway, the fake provider of tests/fakes/oidc_fake.h, and libcurl as
 * the browser, on the real clock. GET /auth/oidc/<provider>/start answers 302 to the
 * provider; the provider answers 302 back to GET /auth/oidc/<provider>/callback?code&state;
 * that answers our own token pair, which auth then accepts. A replayed callback URL is 401;
 * each forged ID token is 401 with its reason; a key rotation at the provider is picked up
 * (the JWKS refetched on the unknown kid, here after jwks_refetch_min: 1s). */
#include "bus_json.h"
#include "fixture.h"
#include "harness.h"
#include "auth_test_util.h"
#include "oidc_fake.h"
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
#include <time.h>

#define CLIENT "yard-gw"
#define SECRET "gateway-client-secret-0123"

static struct {
    char *dir;
    yard_config_t *cfg;
    int bport, gport;
    yard_broker_t *broker;
    yard_actor_t *auth;
    yard_gateway_t *gw;
    of_fake_t *idp;
    char base[64];
} F;

/* GET url without following redirects. */
static ath_http_t
s_http_get(const char *url)
{
    ath_http_t r;
    ath_http_get(url, 15000, &r);
    return r;
}

/* POST json to path (with a bearer token when not NULL). */
static ath_http_t
s_http_post(const char *path, const char *json, const char *token)
{
    ath_http_t r;
    ath_http_post(F.base, path, json, token, 15000, &r);
    return r;
}

/* start (with ?query when not NULL) -> provider -> the callback URL (not yet visited). */
static void
s_to_callback_q(const char *provider, const char *query, char *cb, size_t cap)
{
    char url[256];
    snprintf(url, sizeof url, "%s/auth/oidc/%s/start%s%s", F.base, provider, query ? "?" : "",
             query ? query : "");
    ath_http_t r = s_http_get(url);
    assert_int_equal(r.status, 302);
    assert_int_equal(strncmp(r.location, of_fake_issuer(F.idp), strlen(of_fake_issuer(F.idp))), 0);
    ath_http_t p = s_http_get(r.location);
    assert_int_equal(p.status, 302);
    snprintf(url, sizeof url, "%s/auth/oidc/%s/callback?", F.base, provider);
    assert_int_equal(strncmp(p.location, url, strlen(url)), 0);
    snprintf(cb, cap, "%s", p.location);
}

static void
s_to_callback(const char *provider, char *cb, size_t cap)
{
    s_to_callback_q(provider, NULL, cb, cap);
}

static ath_http_t
s_flow(const char *provider)
{
    char cb[4096];
    s_to_callback(provider, cb, sizeof cb);
    return s_http_get(cb);
}

static int
s_setup(void **state)
{
    (void)state;
    yard_log_set_level(YARD_LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    F.gport = yh_free_port();
    snprintf(F.base, sizeof F.base, "http://127.0.0.1:%d", F.gport);
    char redirect[128];
    snprintf(redirect, sizeof redirect, "%s/auth/oidc/kc/callback", F.base);
    F.idp = of_fake_start(CLIENT, SECRET, redirect);
    char cfg[4096];
    snprintf(cfg, sizeof cfg,
             "auth:\n"
             "  admin_user: root\n"
             "  admin_password: \"correct horse battery\"\n"
             "  oidc_providers:\n"
             "    - name: kc\n"
             "      issuer: %s\n"
             "      client_id: " CLIENT "\n"
             "      client_secret: " SECRET "\n"
             "      redirect_uri: %s\n"
             "      create_users: true\n"
             "      invite_required: true\n"
             "      jwks_refetch_min: 1s\n"
             "      starts_per_min: 100000\n"
             "      group_scopes: {ops: [deploy]}\n"
             "gateway:\n"
             "  routes:\n"
             "    - {method: GET, path: \"/auth/oidc/{provider}/start\", service: auth,"
             " op: oidc.start}\n"
             "    - {method: GET, path: \"/auth/oidc/{provider}/callback\", service: auth,"
             " op: oidc.callback}\n"
             "    - {method: POST, path: /v1/verify, service: auth, op: verify}\n"
             "    - {method: POST, path: /v1/login, service: auth, op: login}\n"
             "    - {method: POST, path: /v1/invites, service: auth, op: invite.create,"
             " auth: bearer, scopes: [admin]}\n",
             of_fake_issuer(F.idp), redirect);
    F.dir = yh_tmpdir();
    F.cfg = yh_config_in(F.dir, cfg);
    F.broker = yh_broker_start(&F.bport);
    F.auth = yh_actor_start(yard_registry_find("auth"), F.cfg, F.bport, NULL);
    char listen[64];
    snprintf(listen, sizeof listen, "--listen=127.0.0.1:%d", F.gport);
    const char *flags[] = {listen, NULL};
    F.gw = yh_gateway_try(F.cfg, F.bport, flags, NULL);
    assert_non_null(F.gw);
    /* the service is up */
    ath_wait_service(F.bport, "verify", "{\"token\":\"x\"}", YARD_E_UNAUTHENTICATED);
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
    of_fake_stop(&F.idp);
    yh_rmtree(F.dir);
    free(F.dir);
    curl_global_cleanup();
    return 0;
}

/* An invitation (admin, through the gateway) for uses sign-ups, with scopes. */
static void
s_invite(int uses, char *code, size_t cap)
{
    char admin[4096], body[128];
    ath_http_t r = s_http_post(
        "/v1/login", "{\"username\":\"root\",\"password\":\"correct horse battery\"}", NULL);
    assert_int_equal(r.status, 200);
    ath_json_str(r.body, "access_token", admin, sizeof admin);
    snprintf(body, sizeof body, "{\"uses\":%d,\"scopes\":[\"reports\"]}", uses);
    r = s_http_post("/v1/invites", body, admin);
    assert_int_equal(r.status, 200);
    ath_json_str(r.body, "code", code, cap);
}

static void
test_oidc_gateway_flow(void **state)
{
    (void)state;
    of_fake_user(F.idp, "9f1c-77", "ann@example.com", "[\"ops\"]");
    /* A new user without an invitation: refused (invite_required). */
    char cb[4096], code[128], q[160];
    s_to_callback("kc", cb, sizeof cb);
    ath_http_t r = s_http_get(cb);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "needs an invitation code"));
    /* With one: created, with the invitation's scopes and the mapped ones. */
    s_invite(1, code, sizeof code);
    snprintf(q, sizeof q, "invite=%s", code);
    s_to_callback_q("kc", q, cb, sizeof cb);
    r = s_http_get(cb);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"sub\":\"kc:9f1c-77\""));
    assert_non_null(strstr(r.body, "\"scopes\":[\"deploy\",\"reports\"]"));
    char access[4096], body[4200];
    ath_json_str(r.body, "access_token", access, sizeof access);
    /* Our own token: auth accepts it like any login's. */
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"scopes\":[\"deploy\"]}", access);
    ath_http_t v = s_http_post("/v1/verify", body, NULL);
    assert_int_equal(v.status, 200);
    assert_non_null(strstr(v.body, "\"sub\":\"kc:9f1c-77\""));
    /* The invitation was for one: another new user with it is refused, and a known user
     * needs none. */
    of_fake_user(F.idp, "other-88", NULL, NULL);
    s_to_callback_q("kc", q, cb, sizeof cb);
    r = s_http_get(cb);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "invitation code is invalid, expired or used up"));
    of_fake_user(F.idp, "9f1c-77", "ann@example.com", "[\"ops\"]");
    assert_int_equal(s_flow("kc").status, 200);
    /* A malformed invitation is refused at the start. */
    snprintf(q, sizeof q, "%s/auth/oidc/kc/start?invite=", F.base);
    assert_int_equal(s_http_get(q).status, 400);
}

static void
test_oidc_gateway_replayed_state(void **state)
{
    (void)state;
    char cb[4096];
    s_to_callback("kc", cb, sizeof cb);
    assert_int_equal(s_http_get(cb).status, 200);
    ath_http_t r = s_http_get(cb);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "already used state"));
    /* No state, or an unknown provider: 400 naming the field. */
    char url[256];
    snprintf(url, sizeof url, "%s/auth/oidc/kc/callback?code=abc", F.base);
    r = s_http_get(url);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "'state'"));
    snprintf(url, sizeof url, "%s/auth/oidc/nope/start", F.base);
    r = s_http_get(url);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "'provider'"));
}

static void
test_oidc_gateway_forgeries(void **state)
{
    (void)state;
    const of_forgery_t *rows = of_forgeries;
    for (size_t i = 0; i < of_forgeries_count; i++) {
        of_fake_forge(F.idp, rows[i].forge);
        ath_http_t r = s_flow("kc");
        if (r.status != 401 || !strstr(r.body, rows[i].why)) {
            fail_msg("forge %zu: %ld %s (want 401 '%s')", i, r.status, r.body, rows[i].why);
        }
        assert_null(strstr(r.body, "eyJ")); /* no token bytes in the answer */
    }
    of_fake_forge(F.idp, OF_FORGE_NONE);
    assert_int_equal(s_flow("kc").status, 200);
}

static void
test_oidc_gateway_key_rotation(void **state)
{
    (void)state;
    of_fake_forge(F.idp, OF_FORGE_NONE);
    size_t fetched = of_fake_requests(F.idp, "/jwks");
    of_fake_add_key(F.idp, OF_EDDSA, "k-rot");
    of_fake_remove_key(F.idp, "k1");
    /* The unknown kid refetches the JWKS at most once per jwks_refetch_min (1 s here): within
     * it the sign-in is refused, after it the new key is fetched and used. Poll with a
     * deadline, no sleeps. */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long status = 0;
    int tries = 0;
    do {
        ath_http_t r = s_flow("kc");
        status = r.status;
        tries++;
        assert_true(status == 200 || (status == 401 && strstr(r.body, "kid")));
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (status != 200 && now.tv_sec - t0.tv_sec < 10);
    assert_int_equal(status, 200);
    /* However many tries it took, the JWKS was fetched at most once per second of them. */
    size_t extra = of_fake_requests(F.idp, "/jwks") - fetched;
    assert_true(extra >= 1);
    assert_true(extra <= (size_t)(now.tv_sec - t0.tv_sec) + 2);
    printf("rotation picked up after %d sign-ins, %zu JWKS fetches\n", tries, extra);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oidc_gateway_flow),
        cmocka_unit_test(test_oidc_gateway_replayed_state),
        cmocka_unit_test(test_oidc_gateway_forgeries),
        cmocka_unit_test(test_oidc_gateway_key_rotation),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
