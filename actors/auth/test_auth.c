/* The auth actor through a real broker (memory store, one replica), and end to end through
 * the HTTP gateway with libcurl: login, a protected route, 401 without a token, 403 without
 * the scope. Requests and replies are written as JSON here and converted exactly as the
 * gateway converts them. */
#include "bus_json.h"
#include "fixture.h"
#include "harness.h"
#include "auth_test_util.h"
#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/gateway.h"
#include "yard/json.h"
#include "yard/log.h"
#include "yard/msg.h"
#include "yard/registry.h"

#include <curl/curl.h>
#include <sodium.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char s_config[] = "auth:\n"
                               "  admin_user: root\n"
                               "  admin_password: \"correct horse battery\"\n"
                               "  login_burst_user: 10\n"
                               "  login_burst_source: 1000\n"
                               "  login_per_min_source: 1000\n"
                               "gateway:\n"
                               "  routes:\n"
                               "    - method: POST\n"
                               "      path: /v1/login\n"
                               "      service: auth\n"
                               "      op: login\n"
                               "    - method: POST\n"
                               "      path: /v1/invites\n"
                               "      service: auth\n"
                               "      op: invite.create\n"
                               "      auth: bearer\n"
                               "      scopes: [admin]\n"
                               "    - method: POST\n"
                               "      path: /v1/users\n"
                               "      service: auth\n"
                               "      op: user.create\n"
                               "      auth: bearer\n"
                               "      scopes: [admin]\n"
                               "    - method: POST\n"
                               "      path: /v1/redeem\n"
                               "      service: auth\n"
                               "      op: invite.redeem\n"
                               "    - method: POST\n"
                               "      path: /v1/reports\n"
                               "      service: echo\n"
                               "      auth: bearer\n"
                               "      scopes: [reports]\n";

static struct {
    char *dir;
    yard_config_t *cfg;
    int bport;
    yard_broker_t *broker;
    yard_actor_t *auth, *echo;
    yard_gateway_t *gw;
    yard_client_t *client;
    char base[64];
    char admin[4096]; /* the admin's access token */
} F;

/* --- bus calls in JSON ------------------------------------------------------------------ */

static yh_result_t
s_call(const char *op, const char *json, const char *token)
{
    const char *kv[] = {"auth.token", token, NULL};
    return yh_call_json(F.client, "auth", op, json, token ? kv : NULL, 5000);
}

static void
s_login(const char *user, const char *pw, char *access, char *refresh)
{
    char body[256];
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
    yh_result_t r = s_call("login", body, NULL);
    assert_int_equal(r.status, 0);
    ath_json_str(r.json, "access_token", access, 4096);
    if (refresh) {
        ath_json_str(r.json, "refresh_token", refresh, 4096);
    }
    yh_result_free(&r);
}

static int
s_verify(const char *token, const char *scopes_json)
{
    char body[8400];
    snprintf(body, sizeof body, "{\"token\":\"%s\"%s%s}", token, scopes_json ? ",\"scopes\":" : "",
             scopes_json ? scopes_json : "");
    yh_result_t r = s_call("verify", body, NULL);
    yh_result_free(&r);
    return r.status;
}

/* --- fixture ----------------------------------------------------------------------------- */

/* Replicas register asynchronously: the first login waits while there is no service yet. */
static void
s_first_login(void)
{
    yh_result_t r = yh_call_json_ready(
        F.client, "auth", "login", "{\"username\":\"root\",\"password\":\"correct horse battery\"}",
        NULL, 10000);
    if (r.status != 0) {
        fail_msg("first login: %d %s %s", r.status, r.app, r.json ? r.json : "");
    }
    ath_json_str(r.json, "access_token", F.admin, sizeof F.admin);
    yh_result_free(&r);
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
    F.echo = yh_actor_start(yard_registry_find("echo"), F.cfg, F.bport, NULL);
    yard_client_opts_t co = {.default_timeout_ms = 5000};
    assert_int_equal(yard_client_new(yh_endpoint(F.bport), &co, &F.client), 0);
    s_first_login();
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    yard_gateway_destroy(&F.gw);
    yard_client_destroy(&F.client);
    yard_actor_destroy(&F.auth);
    yard_actor_destroy(&F.echo);
    yard_broker_destroy(&F.broker);
    yard_config_destroy(&F.cfg);
    yh_rmtree(F.dir);
    free(F.dir);
    curl_global_cleanup();
    return 0;
}

/* --- tests ------------------------------------------------------------------------------- */

static void
test_login_and_verify(void **state)
{
    (void)state;
    assert_int_equal(s_verify(F.admin, NULL), 0);
    assert_int_equal(s_verify(F.admin, "[\"admin\"]"), 0);
    assert_int_equal(s_verify(F.admin, "[\"admin\",\"billing\"]"), YARD_E_FORBIDDEN);
    assert_int_equal(s_verify("not-a-token", NULL), YARD_E_UNAUTHENTICATED);
    /* Wrong password and unknown user: the same answer. */
    yh_result_t a =
        s_call("login", "{\"username\":\"root\",\"password\":\"wrong password\"}", NULL);
    yh_result_t b =
        s_call("login", "{\"username\":\"nobody\",\"password\":\"wrong password\"}", NULL);
    assert_int_equal(a.status, YARD_E_UNAUTHENTICATED);
    assert_int_equal(b.status, YARD_E_UNAUTHENTICATED);
    assert_string_equal(a.json, b.json);
    yh_result_free(&a);
    yh_result_free(&b);
}

static void
test_bad_input_names_the_field(void **state)
{
    (void)state;
    struct {
        const char *op, *json, *needle;
        int status;
    } rows[] = {
        {"login", "{\"password\":\"x\"}", "'username' is required", YARD_E_BAD_REQUEST},
        {"login", "{\"username\":7,\"password\":\"x\"}", "'username' must be a string",
         YARD_E_BAD_REQUEST},
        {"login", "[1,2]", "the body must be a map", YARD_E_BAD_REQUEST},
        {"verify", "{}", "'token' is required", YARD_E_BAD_REQUEST},
        {"verify", "{\"token\":\"a.b.c\",\"scopes\":\"admin\"}", "'scopes' must be an array",
         YARD_E_BAD_REQUEST},
        {"user.create", "{\"username\":\"bob\",\"password\":\"short\"}", "'password'",
         YARD_E_BAD_REQUEST},
        {"user.create", "{\"username\":\"b o b\",\"password\":\"long enough pw\"}", "'username'",
         YARD_E_BAD_REQUEST},
        {"user.create", "{\"username\":\"bob\",\"password\":\"long enough pw\",\"scopes\":[1]}",
         "'scopes'", YARD_E_BAD_REQUEST},
        {"invite.create", "{\"uses\":0}", "'uses' must be between", YARD_E_BAD_REQUEST},
        {"invite.redeem", "{\"code\":\"x\"}", "'telegram_id', are required", YARD_E_BAD_REQUEST},
        {"revoke", "{}", "one of 'token', 'jti' or 'user'", YARD_E_BAD_REQUEST},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        yh_result_t r = s_call(rows[i].op, rows[i].json, F.admin);
        if (r.status != rows[i].status || !r.json || !strstr(r.json, rows[i].needle)) {
            fail_msg("row %zu (%s %s): status %d, '%s'", i, rows[i].op, rows[i].json, r.status,
                     r.json ? r.json : "");
        }
        yh_result_free(&r);
    }
}

static void
test_admin_operations_need_the_admin_scope(void **state)
{
    (void)state;
    const char *bob = "{\"username\":\"bob\",\"password\":\"bobs password\",\"scopes\":[\"r\"]}";
    yh_result_t r = s_call("user.create", bob, NULL);
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    yh_result_free(&r);
    r = s_call("user.create", bob, F.admin);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"username\":\"bob\""));
    yh_result_free(&r);
    r = s_call("user.create", bob, F.admin);
    assert_int_equal(r.status, YARD_E_SERVICE);
    assert_string_equal(r.app, "CONFLICT");
    yh_result_free(&r);
    char tok[4096];
    s_login("bob", "bobs password", tok, NULL);
    r = s_call("user.list", "{}", tok);
    assert_int_equal(r.status, YARD_E_FORBIDDEN);
    yh_result_free(&r);
    r = s_call("user.list", "{}", F.admin);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"username\":\"bob\""));
    assert_non_null(strstr(r.json, "\"username\":\"root\""));
    assert_null(strstr(r.json, "argon2")); /* hashes never leave the actor */
    yh_result_free(&r);
    /* New scopes void the old tokens; a new login carries the new scopes. */
    r = s_call("user.set_scopes", "{\"username\":\"bob\",\"scopes\":[\"r\",\"w\"]}", F.admin);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    assert_int_equal(s_verify(tok, NULL), YARD_E_UNAUTHENTICATED);
    s_login("bob", "bobs password", tok, NULL);
    yh_result_t v = s_call("verify", NULL, NULL);
    yh_result_free(&v);
    char vb[4200];
    snprintf(vb, sizeof vb, "{\"token\":\"%s\",\"scopes\":[\"r\",\"w\"]}", tok);
    v = s_call("verify", vb, NULL);
    if (v.status != 0) {
        fail_msg("verify after new scopes: %d %s", v.status, v.json);
    }
    yh_result_free(&v);
    /* Deleted: its tokens die, and it cannot log in. */
    r = s_call("user.delete", "{\"username\":\"bob\"}", F.admin);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    assert_int_equal(s_verify(tok, NULL), YARD_E_UNAUTHENTICATED);
    r = s_call("login", "{\"username\":\"bob\",\"password\":\"bobs password\"}", NULL);
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    yh_result_free(&r);
    r = s_call("user.get", "{\"username\":\"bob\"}", F.admin);
    assert_int_equal(r.status, YARD_E_NOT_FOUND);
    yh_result_free(&r);
}

static void
test_refresh_rotates_and_reuse_revokes_the_family(void **state)
{
    (void)state;
    char a1[4096], r1[4096], a2[4096], r2[4096];
    s_login("root", "correct horse battery", a1, r1);
    char body[8400];
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", r1);
    yh_result_t r = s_call("refresh", body, NULL);
    assert_int_equal(r.status, 0);
    ath_json_str(r.json, "access_token", a2, sizeof a2);
    ath_json_str(r.json, "refresh_token", r2, sizeof r2);
    yh_result_free(&r);
    assert_string_not_equal(r1, r2);
    assert_int_equal(s_verify(a2, NULL), 0);
    /* An access token is not a refresh token, nor the reverse. */
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", a2);
    r = s_call("refresh", body, NULL);
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    yh_result_free(&r);
    assert_int_equal(s_verify(r2, NULL), YARD_E_UNAUTHENTICATED);
    /* r1 again: theft. Everything of this session dies, the admin's other session does not. */
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", r1);
    r = s_call("refresh", body, NULL);
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    assert_non_null(strstr(r.json, "already used"));
    yh_result_free(&r);
    assert_int_equal(s_verify(a1, NULL), YARD_E_UNAUTHENTICATED);
    assert_int_equal(s_verify(a2, NULL), YARD_E_UNAUTHENTICATED);
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", r2);
    r = s_call("refresh", body, NULL);
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    yh_result_free(&r);
    assert_int_equal(s_verify(F.admin, NULL), 0);
}

static void
test_revoke_and_logout(void **state)
{
    (void)state;
    char a[4096], rt[4096], body[8400];
    s_login("root", "correct horse battery", a, rt);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", a);
    yh_result_t r = s_call("revoke", body, NULL);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    assert_int_equal(s_verify(a, NULL), YARD_E_UNAUTHENTICATED);
    s_login("root", "correct horse battery", a, rt);
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", rt);
    r = s_call("logout", body, NULL);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    assert_int_equal(s_verify(a, NULL), YARD_E_UNAUTHENTICATED);
    r = s_call("refresh", body, NULL);
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    yh_result_free(&r);
    r = s_call("revoke", "{\"jti\":\"abc\"}", NULL); /* by jti: admin only */
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    yh_result_free(&r);
}

static void
test_invites(void **state)
{
    (void)state;
    yh_result_t r =
        s_call("invite.create", "{\"scopes\":[\"chat\"],\"uses\":2,\"note\":\"team\"}", F.admin);
    assert_int_equal(r.status, 0);
    char code[128], id[64];
    ath_json_str(r.json, "code", code, sizeof code);
    ath_json_str(r.json, "id", id, sizeof id);
    yh_result_free(&r);
    assert_true(strlen(code) >= 22); /* 128 bits, base64url */
    char body[512];
    snprintf(body, sizeof body,
             "{\"code\":\"%s\",\"username\":\"carol\",\"password\":\"carols password\"}", code);
    r = s_call("invite.redeem", body, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"scopes\":[\"chat\"]"));
    yh_result_free(&r);
    char tok[4096];
    s_login("carol", "carols password", tok, NULL);
    assert_int_equal(s_verify(tok, "[\"chat\"]"), 0);
    snprintf(body, sizeof body, "{\"code\":\"%s\",\"telegram_id\":4242}", code);
    r = s_call("invite.redeem", body, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"username\":\"tg:4242\""));
    yh_result_free(&r);
    r = s_call("invite.list", "{}", F.admin);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"used\":2"));
    assert_null(strstr(r.json, code)); /* the code itself is not kept */
    yh_result_free(&r);
    snprintf(body, sizeof body, "{\"code\":\"%s\",\"telegram_id\":4343}", code);
    r = s_call("invite.redeem", body, NULL); /* used up */
    assert_int_equal(r.status, YARD_E_SERVICE);
    assert_string_equal(r.app, "INVALID_CODE");
    yh_result_free(&r);
    r = s_call("invite.redeem", "{\"code\":\"guess\",\"telegram_id\":1}", NULL);
    assert_string_equal(r.app, "INVALID_CODE");
    yh_result_free(&r);
    /* Revoked before use. */
    r = s_call("invite.create", "{}", F.admin);
    ath_json_str(r.json, "code", code, sizeof code);
    ath_json_str(r.json, "id", id, sizeof id);
    yh_result_free(&r);
    snprintf(body, sizeof body, "{\"id\":\"%s\"}", id);
    r = s_call("invite.revoke", body, F.admin);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    snprintf(body, sizeof body, "{\"code\":\"%s\",\"telegram_id\":77}", code);
    r = s_call("invite.redeem", body, NULL);
    assert_string_equal(r.app, "INVALID_CODE");
    yh_result_free(&r);
}

static void
test_key_rotation_keeps_old_tokens(void **state)
{
    (void)state;
    char before[4096], after[4096];
    s_login("root", "correct horse battery", before, NULL);
    yh_result_t r = s_call("key.rotate", "{}", F.admin);
    assert_int_equal(r.status, 0);
    char kid[64];
    ath_json_str(r.json, "kid", kid, sizeof kid);
    yh_result_free(&r);
    s_login("root", "correct horse battery", after, NULL);
    assert_int_equal(s_verify(before, NULL), 0);
    assert_int_equal(s_verify(after, NULL), 0);
    assert_int_equal(s_verify(F.admin, NULL), 0);
    /* The new token names the new key in its header. */
    size_t hl = strcspn(after, ".");
    char header[256];
    unsigned char raw[256];
    size_t rawlen = 0;
    assert_true(hl < sizeof header);
    memcpy(header, after, hl);
    header[hl] = '\0';
    assert_int_equal(sodium_base642bin(raw, sizeof raw - 1, header, hl, NULL, &rawlen, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    raw[rawlen] = '\0';
    assert_non_null(strstr((char *)raw, kid));
    assert_non_null(strstr((char *)raw, "\"EdDSA\""));
}

static void
test_login_rate_limit(void **state)
{
    (void)state;
    int limited = 0;
    for (int i = 0; i < 14; i++) {
        yh_result_t r =
            s_call("login", "{\"username\":\"mallory\",\"password\":\"guess guess\"}", NULL);
        limited += r.status == YARD_E_SERVICE && strcmp(r.app, "RATE_LIMITED") == 0;
        yh_result_free(&r);
    }
    assert_int_equal(limited, 4); /* a burst of 10 for one user name */
}

/* --- through the gateway ----------------------------------------------------------------- */

static long
s_http(const char *path, const char *json, const char *token, ath_http_t *out)
{
    return ath_http_post(F.base, path, json, token, 10000, out);
}

static void
test_gateway_end_to_end(void **state)
{
    (void)state;
    yard_gateway_opts_t o;
    char err[512] = "", bflag[64];
    snprintf(bflag, sizeof bflag, "--broker=%s", yh_endpoint(F.bport));
    char *argv[] = {bflag, "--listen=127.0.0.1:0", NULL};
    assert_int_equal(yard_gateway_opts_fill(&o, F.cfg, 2, argv, err, sizeof err), 0);
    assert_int_equal(yard_gateway_new(&o, F.cfg, NULL, &F.gw, err, sizeof err), 0);
    yard_gateway_opts_free(&o);
    assert_int_equal(yard_gateway_start(F.gw), 0);
    snprintf(F.base, sizeof F.base, "http://127.0.0.1:%u", yard_gateway_port(F.gw));

    ath_http_t b;
    /* Login over HTTP: 401 for a wrong password, a token for the right one. */
    assert_int_equal(
        s_http("/v1/login", "{\"username\":\"root\",\"password\":\"nope nope\"}", NULL, &b), 401);
    assert_non_null(strstr(b.body, "\"code\":\"UNAUTHENTICATED\""));
    assert_int_equal(s_http("/v1/login",
                            "{\"username\":\"root\",\"password\":\"correct horse battery\"}", NULL,
                            &b),
                     200);
    char admin[4096];
    ath_json_str(b.body, "access_token", admin, sizeof admin);
    /* A protected route: 401 without a token, 403 without its scope, 200 with it. */
    assert_int_equal(s_http("/v1/reports", "{\"q\":1}", NULL, &b), 401);
    assert_int_equal(s_http("/v1/reports", "{\"q\":1}", "garbage.token.here", &b), 401);
    assert_int_equal(s_http("/v1/reports", "{\"q\":1}", admin, &b), 403);
    yh_result_t r = s_call("user.create",
                           "{\"username\":\"dave\",\"password\":\"daves password\","
                           "\"scopes\":[\"reports\"]}",
                           F.admin);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    assert_int_equal(
        s_http("/v1/login", "{\"username\":\"dave\",\"password\":\"daves password\"}", NULL, &b),
        200);
    char dave[4096];
    ath_json_str(b.body, "access_token", dave, sizeof dave);
    assert_int_equal(s_http("/v1/reports", "{\"q\":1}", dave, &b), 200);
    assert_string_equal(b.body, "{\"q\":1}");
    /* An admin operation through a bearer route: the gateway passes the caller's token on. */
    assert_int_equal(s_http("/v1/invites", "{\"uses\":1}", dave, &b), 403);
    assert_int_equal(s_http("/v1/invites", "{\"uses\":1}", admin, &b), 200);
    assert_non_null(strstr(b.body, "\"code\":\""));
    /* A name that is taken is the same CONFLICT from both operations, and one status: 409. */
    char code[256], redeem[512];
    ath_json_str(b.body, "code", code, sizeof code);
    assert_int_equal(
        s_http("/v1/users", "{\"username\":\"dave\",\"password\":\"another pass\"}", admin, &b),
        409);
    assert_non_null(strstr(b.body, "\"code\":\"CONFLICT\""));
    snprintf(redeem, sizeof redeem,
             "{\"code\":\"%s\",\"username\":\"dave\",\"password\":\"another pass\"}", code);
    assert_int_equal(s_http("/v1/redeem", redeem, NULL, &b), 409);
    assert_non_null(strstr(b.body, "\"code\":\"CONFLICT\""));
}

/* --- several replicas on Redis ---------------------------------------------------------- */

static struct {
    pid_t redis;
    char *redis_dir;
} R;

static int
s_setup_redis(void **state)
{
    (void)state;
    int port = 0;
    R.redis = yh_redis_start(&port, &R.redis_dir);
    if (R.redis < 0) {
        fail_msg("redis-server did not start (is it installed?)");
    }
    char text[1024];
    snprintf(text, sizeof text,
             "store: redis://127.0.0.1:%d\n"
             "auth:\n"
             "  replicas: 3\n"
             "  admin_user: root\n"
             "  admin_password: \"correct horse battery\"\n",
             port);
    F.dir = yh_tmpdir();
    F.cfg = yh_config_in(F.dir, text);
    F.broker = yh_broker_start(&F.bport);
    F.auth = yh_actor_start(yard_registry_find("auth"), F.cfg, F.bport, NULL);
    yard_client_opts_t co = {.default_timeout_ms = 5000};
    assert_int_equal(yard_client_new(yh_endpoint(F.bport), &co, &F.client), 0);
    s_first_login();
    return 0;
}

static int
s_teardown_redis(void **state)
{
    s_teardown(state);
    yh_redis_stop(R.redis, R.redis_dir);
    return 0;
}

typedef struct {
    int ok, invalid, other;
} s_tally_t;

static void
s_tally_cb(const yard_msg_t *reply, void *arg)
{
    s_tally_t *t = arg;
    int st = yard_msg_status(reply);
    if (st == 0) {
        t->ok++;
    } else if (st == YARD_E_SERVICE && strcmp(yard_msg_app_error(reply), "INVALID_CODE") == 0) {
        t->invalid++;
    } else if (st == YARD_E_UNAUTHENTICATED) {
        t->invalid++;
    } else {
        t->other++;
    }
}

/* n calls of op with bodies[i], all outstanding at once (the broker spreads them over the
 * replicas), then waits for every answer. */
static s_tally_t
s_race(const char *op, char **bodies, int n)
{
    s_tally_t t = {0};
    for (int i = 0; i < n; i++) {
        void *mp = NULL;
        size_t size = 0;
        char err[128];
        assert_int_equal(
            yard_json_to_msgpack(bodies[i], strlen(bodies[i]), &mp, &size, err, sizeof err), 0);
        yard_call_opts_t o = {.op = op, .timeout_ms = 10000};
        assert_int_equal(yard_client_call_async(F.client, "auth", mp, size, &o, s_tally_cb, &t), 0);
        free(mp);
    }
    long long until = yh_now_ms() + 15000;
    while (t.ok + t.invalid + t.other < n && yh_now_ms() < until) {
        yard_client_dispatch(F.client, 100);
    }
    assert_int_equal(t.ok + t.invalid + t.other, n);
    return t;
}

static void
test_replicas_race_for_one_invite(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        int uses = round == 2 ? 3 : 1;
        char req[128];
        snprintf(req, sizeof req, "{\"uses\":%d}", uses);
        yh_result_t r = s_call("invite.create", req, F.admin);
        assert_int_equal(r.status, 0);
        char code[128];
        ath_json_str(r.json, "code", code, sizeof code);
        yh_result_free(&r);
        enum { N = 9 };
        char *bodies[N];
        for (int i = 0; i < N; i++) {
            bodies[i] = malloc(256);
            snprintf(bodies[i], 256, "{\"code\":\"%s\",\"telegram_id\":%d}", code,
                     1000 * (round + 1) + i);
        }
        s_tally_t t = s_race("invite.redeem", bodies, N);
        for (int i = 0; i < N; i++) {
            free(bodies[i]);
        }
        assert_int_equal(t.other, 0);
        assert_int_equal(t.ok, uses); /* exactly as many winners as uses */
        assert_int_equal(t.invalid, N - uses);
    }
}

static void
test_replicas_race_for_one_refresh(void **state)
{
    (void)state;
    char a[4096], rt[4096];
    s_login("root", "correct horse battery", a, rt);
    enum { N = 6 };
    char *bodies[N];
    for (int i = 0; i < N; i++) {
        bodies[i] = malloc(4200);
        snprintf(bodies[i], 4200, "{\"refresh_token\":\"%s\"}", rt);
    }
    s_tally_t t = s_race("refresh", bodies, N);
    for (int i = 0; i < N; i++) {
        free(bodies[i]);
    }
    /* One replica honours it; the others see reuse (and revoke the session). */
    assert_true(t.ok <= 1);
    assert_int_equal(t.other, 0);
    assert_int_equal(s_verify(a, NULL), YARD_E_UNAUTHENTICATED);
}

static void
test_replicas_agree_after_rotation(void **state)
{
    (void)state;
    char before[4096], after[4096];
    s_login("root", "correct horse battery", before, NULL);
    yh_result_t r = s_call("key.rotate", "{}", F.admin);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    s_login("root", "correct horse battery", after, NULL);
    /* Round-robin over 3 replicas: every one of them accepts both keys' tokens at once (a
     * replica that has not seen the new key reloads the set on the unknown kid). */
    for (int i = 0; i < 9; i++) {
        assert_int_equal(s_verify(before, NULL), 0);
        assert_int_equal(s_verify(after, NULL), 0);
    }
    r = s_call("user.create", "{\"username\":\"erin\",\"password\":\"erins password\"}", F.admin);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    for (int i = 0; i < 6; i++) {
        r = s_call("user.get", "{\"username\":\"erin\"}", F.admin);
        assert_int_equal(r.status, 0);
        yh_result_free(&r);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_and_verify),
        cmocka_unit_test(test_bad_input_names_the_field),
        cmocka_unit_test(test_admin_operations_need_the_admin_scope),
        cmocka_unit_test(test_refresh_rotates_and_reuse_revokes_the_family),
        cmocka_unit_test(test_revoke_and_logout),
        cmocka_unit_test(test_invites),
        cmocka_unit_test(test_key_rotation_keeps_old_tokens),
        cmocka_unit_test(test_login_rate_limit),
        cmocka_unit_test(test_gateway_end_to_end),
    };
    const struct CMUnitTest redis_tests[] = {
        cmocka_unit_test(test_replicas_race_for_one_invite),
        cmocka_unit_test(test_replicas_race_for_one_refresh),
        cmocka_unit_test(test_replicas_agree_after_rotation),
    };
    int failed = cmocka_run_group_tests_name("memory store", tests, s_setup, s_teardown);
    memset(&F, 0, sizeof F);
    return failed + cmocka_run_group_tests_name("redis, 3 replicas", redis_tests, s_setup_redis,
                                                s_teardown_redis);
}
