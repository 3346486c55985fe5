/* Sign-in with an OpenID provider (oidc*.c) through the actor test harness, against the fake
 * provider of tests/fakes/oidc_fake.h on a real port: oidc.start's authorization URL is
 * followed with libcurl as a browser would (the fake signs the user in and redirects with a
 * code), and oidc.callback gets what the redirect carried. Discovery and JWKS go through the
 * replica's own HTTP engine (turned by yard_actor_test_run); the JWKS refetch limit runs on the
 * harness's fake clock.
 *
 * Shown: the whole flow (PKCE S256, state, nonce), the user created with scopes from its
 * groups and the tokens verified by auth itself; a replayed state; every forged ID token the
 * issue lists (wrong key, alg none, HS256 keyed with the public key, wrong aud, iss, nonce,
 * expired); an unknown user refused where the provider may not create users; key rotation at
 * the provider (an unknown kid refetches the JWKS, at most once a minute); the fake's own
 * contract (PKCE, client authentication, redirect_uri); config errors. */
#include "oidc_fake.h"
#include "totp.h"

#include "capture.h"
#include "harness.h"
#include "auth_test_util.h"
#include "yard/actor_test.h"
#include "yard/error.h"
#include "yard/registry.h"

#include <curl/curl.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENT   "yard-web"
#define SECRET   "s3cr3t-client-secret-value"
#define REDIRECT "http://127.0.0.1:9/auth/oidc/fake/callback"

typedef struct {
    of_fake_t *idp;
    yard_actor_test_t *t;
    char secret_file[64];
} fix_t;

typedef struct {
    int status;
    char app[64];
    char json[8192];
    char location[2048]; /* the answer header http.header.Location, "" when none */
    char challenge[128]; /* the answer header auth.mfa_challenge, "" when none */
    char log[16384];     /* what the actor logged meanwhile (a refusal's reason is there) */
} res_t;

static res_t
s_call(yard_actor_test_t *t, const char *op, const char *json)
{
    res_t r;
    memset(&r, 0, sizeof r);
    yh_capture_t cap;
    yh_capture_start(&cap, STDERR_FILENO);
    yard_request_t *req = ath_request(t, op, json);
    int ran = yard_actor_test_run(t, 20000, ath_answered, req);
    char *log = yh_capture_end(&cap, NULL);
    snprintf(r.log, sizeof r.log, "%s", log);
    fputs(log, stderr);
    free(log);
    assert_int_equal(ran, 0);
    r.status = ath_outcome(req, r.app, sizeof r.app, r.json, sizeof r.json);
    const char *h = yard_request_answer_header_test(req, "http.header.Location");
    snprintf(r.location, sizeof r.location, "%s", h ? h : "");
    h = yard_request_answer_header_test(req, "auth.mfa_challenge");
    snprintf(r.challenge, sizeof r.challenge, "%s", h ? h : "");
    yard_request_destroy_test(&req);
    return r;
}

/* GET url without following redirects: the status, and the Location into loc. */
static long
s_browser(const char *url, char *loc, size_t cap)
{
    ath_http_t b;
    long status = ath_http_get(url, 10000, &b);
    size_t n = strlen(b.location);
    assert_true(n < cap);
    memcpy(loc, b.location, n + 1);
    return status;
}

static size_t
s_collect(char *p, size_t size, size_t n, void *arg)
{
    char *buf = arg;
    size_t have = strlen(buf), k = size * n;
    if (have + k < 4096) {
        memcpy(buf + have, p, k);
        buf[have + k] = '\0';
    }
    return k;
}

/* POSTs a form to url; the status, and the body into out (4096 bytes). */
static long
s_post_form(const char *url, const char *form, char *out, size_t cap)
{
    assert_true(cap >= 4096);
    out[0] = '\0';
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

/* The value of key in the query of url (no decoding needed: codes and states are base64url). */
static void
s_query(const char *url, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "%s=", key);
    const char *q = strchr(url, '?');
    assert_non_null(q);
    const char *p = strstr(q, pat);
    assert_non_null(p);
    p += strlen(pat);
    size_t n = strcspn(p, "&");
    assert_true(n < cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

/* oidc.start, then the "browser" at the provider: the callback's body into cb. */
static void
s_start(fix_t *f, const char *provider, char *cb, size_t cap)
{
    char body[128], loc[2048], code[256], state[128], url[2048];
    snprintf(body, sizeof body, "{\"provider\":\"%s\"}", provider);
    res_t r = s_call(f->t, "oidc.start", body);
    assert_int_equal(r.status, 0);
    ath_json_str(r.json, "redirect_url", url, sizeof url);
    assert_string_equal(r.location, url); /* for the gateway's 302 */
    assert_non_null(strstr(url, "code_challenge_method=S256"));
    assert_non_null(strstr(url, "&nonce="));
    assert_null(strstr(url, SECRET));
    assert_int_equal(s_browser(url, loc, sizeof loc), 302);
    assert_int_equal(strncmp(loc, REDIRECT "?", strlen(REDIRECT) + 1), 0);
    s_query(loc, "code", code, sizeof code);
    s_query(loc, "state", state, sizeof state);
    snprintf(cb, cap, "{\"provider\":\"%s\",\"code\":\"%s\",\"state\":\"%s\"}", provider, code,
             state);
}

static res_t
s_sign_in(fix_t *f, const char *provider)
{
    char cb[1024], code[256];
    s_start(f, provider, cb, sizeof cb);
    res_t r = s_call(f->t, "oidc.callback", cb);
    /* Secrets never in a log line: the client secret, the code, the tokens. */
    ath_json_str(cb, "code", code, sizeof code);
    assert_null(strstr(r.log, SECRET));
    assert_null(strstr(r.log, code));
    assert_null(strstr(r.log, "eyJ"));
    return r;
}

/* The actor's config for the fixture's provider, with extra lines at the top level. */
static void
s_config(const fix_t *f, const char *extra, char *cfg, size_t cap)
{
    const char *iss = of_fake_issuer(f->idp);
    snprintf(cfg, cap,
             "%s"
             "auth:\n"
             "  oidc_providers:\n"
             "    - name: fake\n"
             "      issuer: %s\n"
             "      client_id: " CLIENT "\n"
             "      client_secret_file: %s\n"
             "      redirect_uri: " REDIRECT "\n"
             "      create_users: true\n"
             "      starts_per_min: 100000\n"
             "      user_scopes: [read]\n"
             "      group_scopes: {ops: [deploy, read], admins: [admin]}\n"
             "    - name: strict\n"
             "      issuer: %s\n"
             "      client_id: " CLIENT "\n"
             "      client_secret_file: %s\n"
             "      redirect_uri: " REDIRECT "\n"
             "      starts_per_min: 100000\n",
             extra, iss, f->secret_file, iss, f->secret_file);
}

static int
s_setup(void **state)
{
    static fix_t f;
    memset(&f, 0, sizeof f);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    f.idp = of_fake_start(CLIENT, SECRET, REDIRECT);
    snprintf(f.secret_file, sizeof f.secret_file, "/tmp/yard-oidc-secret-XXXXXX");
    int fd = mkstemp(f.secret_file);
    if (fd < 0 || write(fd, SECRET "\n", strlen(SECRET) + 1) < 0) {
        return -1;
    }
    close(fd);
    char cfg[4096];
    s_config(&f, "", cfg, sizeof cfg);
    if (yard_actor_test_new(yard_registry_find("auth"), cfg, &f.t) != 0) {
        return -1;
    }
    *state = &f;
    return 0;
}

static int
s_teardown(void **state)
{
    fix_t *f = *state;
    yard_actor_test_destroy(&f->t);
    of_fake_stop(&f->idp);
    unlink(f->secret_file);
    curl_global_cleanup();
    return 0;
}

/* --- tests, in order (they share the provider and the actor) ----------------------------- */

static void
test_oidc_sign_in(void **state)
{
    fix_t *f = *state;
    of_fake_user(f->idp, "u-1001", "jane@example.com", "[\"ops\",\"unmapped\"]");
    res_t r = s_sign_in(f, "fake");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"sub\":\"fake:u-1001\""));
    assert_non_null(strstr(r.json, "\"scopes\":[\"read\",\"deploy\"]"));
    char access[2048], body[2200];
    ath_json_str(r.json, "access_token", access, sizeof access);
    ath_json_str(r.json, "refresh_token", body, sizeof body); /* a pair, as from login */
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"scopes\":[\"deploy\"]}", access);
    res_t v = s_call(f->t, "verify", body);
    assert_int_equal(v.status, 0);
    assert_non_null(strstr(v.json, "\"sub\":\"fake:u-1001\""));
    /* The provider saw a PKCE S256 challenge, the openid scope and our client. */
    char q[2048];
    of_fake_last_authorize(f->idp, q, sizeof q);
    assert_non_null(strstr(q, "code_challenge_method=S256"));
    assert_non_null(strstr(q, "scope=openid"));
    assert_int_equal(of_fake_requests(f->idp, "/.well-known/openid-configuration"), 1);
    assert_int_equal(of_fake_requests(f->idp, "/jwks"), 1);
    /* A second sign-in of the same user: the same local user, discovery and keys cached. */
    r = s_sign_in(f, "fake");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"sub\":\"fake:u-1001\""));
    assert_int_equal(of_fake_requests(f->idp, "/.well-known/openid-configuration"), 1);
    assert_int_equal(of_fake_requests(f->idp, "/jwks"), 1);
}

/* The TOTP code of secret (base32) now, on the harness's fake wall clock. */
static void
s_totp(fix_t *f, const char *secret, char out[16])
{
    int64_t now_s = yard_ctx_wall_ms(yard_actor_test_ctx(f->t)) / 1000;
    ath_totp_at(secret, (uint64_t)auth_totp_step(now_s, 30), out, 16);
}

/* The provider proves who the user is; a local second factor still applies, as after a
 * password: a user with TOTP on gets MFA_REQUIRED and a challenge (in a header, never the
 * body) instead of tokens, and login.mfa completes the sign-in. */
static void
test_oidc_local_mfa_applies(void **state)
{
    fix_t *f = *state;
    of_fake_user(f->idp, "u-3003", "mfa@example.com", "[]");
    res_t r = s_sign_in(f, "fake");
    assert_int_equal(r.status, 0);
    char access[2048], body[2400], secret[64], code[16];
    ath_json_str(r.json, "access_token", access, sizeof access);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", access);
    r = s_call(f->t, "mfa.enroll", body);
    assert_int_equal(r.status, 0);
    ath_json_str(r.json, "secret", secret, sizeof secret);
    s_totp(f, secret, code);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"code\":\"%s\"}", access, code);
    r = s_call(f->t, "mfa.confirm", body);
    assert_int_equal(r.status, 0);
    yard_actor_test_advance(f->t, 30000); /* the confirmation's code is spent: the next step */

    r = s_sign_in(f, "fake");
    assert_int_equal(r.status, YARD_E_SERVICE);
    assert_string_equal(r.app, "MFA_REQUIRED");
    assert_true(strlen(r.challenge) >= 40);
    assert_null(strstr(r.log, r.challenge));
    s_totp(f, secret, code);
    snprintf(body, sizeof body, "{\"challenge\":\"%s\",\"code\":\"%s\"}", r.challenge, code);
    res_t m = s_call(f->t, "login.mfa", body);
    assert_int_equal(m.status, 0);
    assert_non_null(strstr(m.json, "\"sub\":\"fake:u-3003\""));
    assert_non_null(strstr(m.json, "\"access_token\":"));
    /* the next tests sign in as test_oidc_sign_in's user, who has no second factor */
    of_fake_user(f->idp, "u-1001", "jane@example.com", "[\"ops\",\"unmapped\"]");
}

static void
test_oidc_state_single_use(void **state)
{
    fix_t *f = *state;
    char cb[1024];
    s_start(f, "fake", cb, sizeof cb);
    assert_int_equal(s_call(f->t, "oidc.callback", cb).status, 0);
    res_t r = s_call(f->t, "oidc.callback", cb); /* replayed */
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    assert_string_equal(r.app, "UNAUTHENTICATED");
    /* A made-up state, and one started for another provider. */
    r = s_call(f->t, "oidc.callback", "{\"provider\":\"fake\",\"code\":\"x\",\"state\":\"nope\"}");
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    s_start(f, "fake", cb, sizeof cb);
    char *p = strstr(cb, "\"fake\"");
    char other[1100];
    snprintf(other, sizeof other, "{\"provider\":\"strict\"%s", p + strlen("\"fake\""));
    assert_int_equal(s_call(f->t, "oidc.callback", other).status, YARD_E_UNAUTHENTICATED);
    assert_int_equal(s_call(f->t, "oidc.callback", cb).status, YARD_E_UNAUTHENTICATED); /* spent */
    /* The provider sent the user back with an error: the state is spent too. */
    s_start(f, "fake", cb, sizeof cb);
    char *code = strstr(cb, "\"code\"");
    char denied[1100];
    snprintf(denied, sizeof denied, "{\"provider\":\"fake\",\"error\":\"access_denied\",%s",
             strstr(code, "\"state\""));
    r = s_call(f->t, "oidc.callback", denied);
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    assert_string_equal(r.app, "PROVIDER_ERROR");
    assert_int_equal(s_call(f->t, "oidc.callback", cb).status, YARD_E_UNAUTHENTICATED);
}

static void
test_oidc_forged_id_tokens(void **state)
{
    fix_t *f = *state;
    const of_forgery_t *rows = of_forgeries;
    of_fake_user(f->idp, "u-forged", NULL, "[\"admins\"]");
    for (size_t i = 0; i < of_forgeries_count; i++) {
        of_fake_forge(f->idp, rows[i].forge);
        res_t r = s_sign_in(f, "fake");
        assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
        /* Each reason is shown by test_oidc_jwt.c's table; the log is rate-limited. */
        if (strcmp(r.app, "ID_TOKEN_REFUSED") != 0) {
            fail_msg("forge %zu (%s): app error '%s'", i, rows[i].why, r.app);
        }
    }
    of_fake_forge(f->idp, OF_FORGE_NONE);
    assert_int_equal(s_sign_in(f, "fake").status, 0); /* honest again: accepted */
}

static void
test_oidc_unknown_user_refused(void **state)
{
    fix_t *f = *state;
    of_fake_user(f->idp, "u-2002", "bob@example.com", NULL);
    res_t r = s_sign_in(f, "strict");
    assert_int_equal(r.status, YARD_E_FORBIDDEN);
    assert_string_equal(r.app, "UNKNOWN_USER");
    /* Created through the provider that may create users, it is still another user for
     * "strict" (users are <provider>:<sub>), so strict still refuses. */
    assert_int_equal(s_sign_in(f, "fake").status, 0);
    assert_int_equal(s_sign_in(f, "strict").status, YARD_E_FORBIDDEN);
    /* An unknown provider is a bad request naming the field. */
    r = s_call(f->t, "oidc.start", "{\"provider\":\"nope\"}");
    assert_int_equal(r.status, YARD_E_BAD_REQUEST);
}

static void
test_oidc_key_rotation(void **state)
{
    fix_t *f = *state;
    of_fake_user(f->idp, "u-1001", NULL, NULL);
    size_t fetched = of_fake_requests(f->idp, "/jwks");
    /* The provider rotates: a token under the new kid within a minute of our last fetch is
     * refused without a refetch (a flood of made-up kids costs the provider nothing). */
    of_fake_add_key(f->idp, OF_ES256, "k2");
    res_t r = s_sign_in(f, "fake");
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    assert_string_equal(r.app, "ID_TOKEN_REFUSED");
    assert_int_equal(of_fake_requests(f->idp, "/jwks"), fetched);
    /* A minute later the unknown kid refetches the keys, once. */
    yard_actor_test_advance(f->t, 60000);
    assert_int_equal(s_sign_in(f, "fake").status, 0);
    assert_int_equal(of_fake_requests(f->idp, "/jwks"), fetched + 1);
    assert_int_equal(s_sign_in(f, "fake").status, 0);
    assert_int_equal(of_fake_requests(f->idp, "/jwks"), fetched + 1);
    /* The old key is gone at the provider; tokens under the new ones keep working. */
    of_fake_remove_key(f->idp, "k1");
    yard_actor_test_advance(f->t, 60000);
    of_fake_add_key(f->idp, OF_EDDSA, "k3");
    assert_int_equal(s_sign_in(f, "fake").status, 0);
    assert_int_equal(of_fake_requests(f->idp, "/jwks"), fetched + 2);
}

/* The fake's own contract: what a real provider refuses, it refuses. */
static void
test_oidc_fake_contract(void **state)
{
    fix_t *f = *state;
    char loc[2048], url[2048];
    snprintf(url, sizeof url,
             "%s/authorize?response_type=code&client_id=" CLIENT
             "&redirect_uri=http%%3A%%2F%%2Fevil.example%%2Fcb&scope=openid&state=s",
             of_fake_issuer(f->idp));
    assert_int_equal(s_browser(url, loc, sizeof loc), 400); /* never redirected */
    snprintf(url, sizeof url,
             "%s/authorize?response_type=code&client_id=" CLIENT
             "&redirect_uri=http%%3A%%2F%%2F127.0.0.1%%3A9%%2Fauth%%2Foidc%%2Ffake%%2Fcallback"
             "&scope=openid&state=s1",
             of_fake_issuer(f->idp));
    assert_int_equal(s_browser(url, loc, sizeof loc), 302); /* no PKCE challenge */
    assert_non_null(strstr(loc, "error=invalid_request"));
    assert_non_null(strstr(loc, "state=s1"));
    /* The token endpoint: a code for a known verifier, then the contract's refusals. */
    static const char verifier[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"; /* RFC 7636 B */
    static const char challenge[] = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    snprintf(url, sizeof url,
             "%s/authorize?response_type=code&client_id=" CLIENT
             "&redirect_uri=http%%3A%%2F%%2F127.0.0.1%%3A9%%2Fauth%%2Foidc%%2Ffake%%2Fcallback"
             "&scope=openid&state=s2&nonce=n2&code_challenge=%s&code_challenge_method=S256",
             of_fake_issuer(f->idp), challenge);
    assert_int_equal(s_browser(url, loc, sizeof loc), 302);
    char code[128], form[512];
    s_query(loc, "code", code, sizeof code);
    snprintf(url, sizeof url, "%s/token", of_fake_issuer(f->idp));
    const char *ru = "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fauth%2Foidc%2Ffake%2Fcallback";
    snprintf(form, sizeof form,
             "grant_type=authorization_code&code=%s%s&code_verifier=%s&client_id=" CLIENT
             "&client_secret=wrong",
             code, ru, verifier);
    char body[4096];
    assert_int_equal(s_post_form(url, form, body, sizeof body), 401);
    assert_non_null(strstr(body, "\"invalid_client\""));
    snprintf(form, sizeof form,
             "grant_type=authorization_code&code=%s%s&code_verifier=%s&client_id=" CLIENT
             "&client_secret=" SECRET,
             code, ru, "not-the-verifier-not-the-verifier-not-the-verifier");
    assert_int_equal(s_post_form(url, form, body, sizeof body), 400);
    assert_non_null(strstr(body, "\"invalid_grant\""));
    /* One try per code: the right verifier now is too late. */
    snprintf(form, sizeof form,
             "grant_type=authorization_code&code=%s%s&code_verifier=%s&client_id=" CLIENT
             "&client_secret=" SECRET,
             code, ru, verifier);
    assert_int_equal(s_post_form(url, form, body, sizeof body), 400);
    assert_non_null(strstr(body, "code already used"));
    snprintf(form, sizeof form, "grant_type=password&client_id=" CLIENT "&client_secret=" SECRET);
    assert_int_equal(s_post_form(url, form, body, sizeof body), 400);
    assert_non_null(strstr(body, "\"unsupported_grant_type\""));
    /* A fresh code with the right verifier: an ID token, not cached. */
    snprintf(url, sizeof url,
             "%s/authorize?response_type=code&client_id=" CLIENT
             "&redirect_uri=http%%3A%%2F%%2F127.0.0.1%%3A9%%2Fauth%%2Foidc%%2Ffake%%2Fcallback"
             "&scope=openid&state=s3&nonce=n3&code_challenge=%s&code_challenge_method=S256",
             of_fake_issuer(f->idp), challenge);
    assert_int_equal(s_browser(url, loc, sizeof loc), 302);
    s_query(loc, "code", code, sizeof code);
    snprintf(url, sizeof url, "%s/token", of_fake_issuer(f->idp));
    snprintf(form, sizeof form,
             "grant_type=authorization_code&code=%s%s&code_verifier=%s&client_id=" CLIENT
             "&client_secret=" SECRET,
             code, ru, verifier);
    assert_int_equal(s_post_form(url, form, body, sizeof body), 200);
    assert_non_null(strstr(body, "\"id_token\":\"eyJ"));
}

static void
test_oidc_config_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "auth:\n  oidc_providers: {name: x}\n",
        "auth:\n  oidc_providers:\n    - name: x\n      issuer: https://id.example.com\n"
        "      client_id: c\n      client_secret: s\n      redirect_uri: https://a/cb\n"
        "      colour: blue\n",
        "auth:\n  oidc_providers:\n    - name: x\n      issuer: http://id.example.com\n"
        "      client_id: c\n      client_secret: s\n      redirect_uri: https://a/cb\n",
        "auth:\n  oidc_providers:\n    - name: x\n      issuer: https://id.example.com\n"
        "      client_id: c\n      redirect_uri: https://a/cb\n",
        "auth:\n  oidc_providers:\n    - name: x\n      issuer: https://id.example.com\n"
        "      client_id: c\n      client_secret: s\n      redirect_uri: https://a/cb\n"
        "      username_claim: name\n",
        "auth:\n  oidc_providers:\n    - name: x\n      issuer: https://id.example.com\n"
        "      client_id: c\n      client_secret: s\n      redirect_uri: https://a/cb\n"
        "      group_scopes: {ops: [\"a b\"]}\n",
        "auth:\n  oidc_providers:\n    - name: x\n      issuer: https://id.example.com\n"
        "      client_id: c\n      client_secret: s\n      redirect_uri: https://a/cb\n"
        "      invite_required: true\n",
        "auth:\n  oidc_providers:\n    - name: x\n      issuer: https://id.example.com\n"
        "      client_id: c\n      client_secret: s\n      redirect_uri: https://a/cb\n"
        "      jwks_refetch_min: 10ms\n",
        "auth:\n  oidc_providers:\n    - name: \"x y\"\n      issuer: https://id.example.com\n"
        "      client_id: c\n      client_secret: s\n      redirect_uri: https://a/cb\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yard_actor_test_t *t = NULL;
        int rc = yard_actor_test_new(yard_registry_find("auth"), bad[i], &t);
        if (rc != YARD_E_CONFIG) {
            fail_msg("config %zu: got %d", i, rc);
        }
        assert_null(t);
    }
    /* No providers at all: auth starts as before, and oidc.start names the field. */
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(yard_registry_find("auth"), "auth: {}\n", &t), 0);
    res_t r = s_call(t, "oidc.start", "{\"provider\":\"google\"}");
    assert_int_equal(r.status, YARD_E_BAD_REQUEST);
    yard_actor_test_destroy(&t);
}

/* Starts are bounded per source address: past starts_per_min (a burst of as many, then as
 * many a minute) a start is RATE_LIMITED with Retry-After. */
static void
test_oidc_start_rate_limited(void **state)
{
    fix_t *f = *state;
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "auth:\n  oidc_providers:\n    - name: fake\n      issuer: %s\n"
             "      client_id: " CLIENT "\n      client_secret: x\n"
             "      redirect_uri: " REDIRECT "\n      starts_per_min: 2\n",
             of_fake_issuer(f->idp));
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(yard_registry_find("auth"), cfg, &t), 0);
    assert_int_equal(s_call(t, "oidc.start", "{\"provider\":\"fake\"}").status, 0);
    assert_int_equal(s_call(t, "oidc.start", "{\"provider\":\"fake\"}").status, 0);
    res_t r = s_call(t, "oidc.start", "{\"provider\":\"fake\"}");
    assert_int_equal(r.status, YARD_E_SERVICE);
    assert_string_equal(r.app, "RATE_LIMITED");
    yard_actor_test_destroy(&t);
}

/* Two replicas on one redis-server (skipped without one): a sign-in started on one completes
 * on the other, and its state then works on neither. */
static void
test_oidc_replicas_share_state(void **state)
{
    fix_t *f = *state;
    int port = 0;
    char *dir = NULL;
    pid_t redis = yh_redis_start(&port, &dir);
    if (redis < 0) {
        skip(); /* redis-server is not installed */
    }
    char extra[64], cfg[4096], cb[1024];
    snprintf(extra, sizeof extra, "store: redis://127.0.0.1:%d\n", port);
    s_config(f, extra, cfg, sizeof cfg);
    yard_actor_test_t *a = NULL, *b = NULL;
    assert_int_equal(yard_actor_test_new(yard_registry_find("auth"), cfg, &a), 0);
    assert_int_equal(yard_actor_test_new(yard_registry_find("auth"), cfg, &b), 0);
    of_fake_user(f->idp, "u-rep", NULL, NULL);
    yard_actor_test_t *saved = f->t;
    f->t = a;
    s_start(f, "fake", cb, sizeof cb); /* started on a */
    f->t = saved;
    res_t r = s_call(b, "oidc.callback", cb); /* completed on b */
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"sub\":\"fake:u-rep\""));
    assert_int_equal(s_call(a, "oidc.callback", cb).status, YARD_E_UNAUTHENTICATED);
    assert_int_equal(s_call(b, "oidc.callback", cb).status, YARD_E_UNAUTHENTICATED);
    /* The user b created is found on a as well. */
    f->t = a;
    r = s_sign_in(f, "fake");
    f->t = saved;
    assert_int_equal(r.status, 0);
    yard_actor_test_destroy(&a);
    yard_actor_test_destroy(&b);
    yh_redis_stop(redis, dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oidc_sign_in),
        cmocka_unit_test(test_oidc_local_mfa_applies),
        cmocka_unit_test(test_oidc_state_single_use),
        cmocka_unit_test(test_oidc_forged_id_tokens),
        cmocka_unit_test(test_oidc_unknown_user_refused),
        cmocka_unit_test(test_oidc_key_rotation),
        cmocka_unit_test(test_oidc_fake_contract),
        cmocka_unit_test(test_oidc_config_errors),
        cmocka_unit_test(test_oidc_start_rate_limited),
        cmocka_unit_test(test_oidc_replicas_share_state),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
