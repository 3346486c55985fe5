/* auth: two-factor login with TOTP, the operations (mfa.h): enrol, confirm, disable, status,
 * the login gate and login.mfa, and the mfa_required_scopes policy. The state and the rules
 * that make a code work once are in mfa_store.c. Secrets and codes never reach a log line, an
 * event or an error text. */
#include "mfa.h"

#include "mfa_store.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PEND_TTL_MS (15u * 60u * 1000u) /* an enrolment waits this long for mfa.confirm */
#define S_CODE_MAX    64                  /* bytes of a "code" field */

static int64_t
s_now_ms(yard_request_t *req)
{
    yard_ctx_t *ctx = yard_request_ctx(req);
    return ctx ? yard_ctx_wall_ms(ctx) : auth_now() * 1000;
}

/* Fails req for a verdict that is not AUTH_MFA_OK. */
static int
s_code_refused(yard_request_t *req, const char *name, auth_mfa_verdict_t v)
{
    yard_log(YARD_LOG_INFO, "auth: two-factor code refused", YF_STR("user", name),
             YF_STR("why", v == AUTH_MFA_REPLAYED ? "already used" : "wrong"));
    const char *msg = v == AUTH_MFA_REPLAYED ? "that code was already used; wait for the next one"
                                             : "invalid two-factor code";
    yard_request_fail(req, YARD_E_UNAUTHENTICATED, "UNAUTHENTICATED", msg);
    return YARD_E_UNAUTHENTICATED;
}

/* The per-user bucket for code attempts (auth:rl:m:<name>), as the login's. */
static int
s_limit(auth_state_t *st, yard_request_t *req, const char *name)
{
    return auth_rate_take(st, req, "m", name, st->o->mfa_burst_user, st->o->mfa_per_min_user,
                          "too many two-factor attempts; retry later");
}

/* Reads the "code" field into buf (wiped by the caller). */
static int
s_req_code(yard_request_t *req, char buf[S_CODE_MAX + 1])
{
    return auth_req_secret(req, "code", buf, S_CODE_MAX + 1);
}

/* --- who is asking ------------------------------------------------------------------------ */

/* The user an mfa.* op is for: the caller's own access token (header auth.token, else the
 * body's "token"), or, where enroll_ok, the body's "challenge" from a login that the policy
 * refused for want of MFA (then *chal is filled). Returns 0, or fails req. */
static int
s_caller(auth_state_t *st, yard_request_t *req, bool enroll_ok, char name[AUTH_NAME_MAX + 1],
         auth_mfa_chal_t *chal)
{
    const char *id = NULL, *token = yard_request_header(req, "auth.token");
    int rc = 0;
    chal->key[0] = '\0';
    if (enroll_ok && (rc = yard_req_str_max_or(req, "challenge", AUTH_MFA_CHAL_MAX, NULL, &id))) {
        return rc;
    }
    if (id) {
        rc = auth_mfa_chal_load(st, id, "enroll", s_now_ms(req), chal);
        if (rc == 1) {
            yard_request_fail(req, YARD_E_UNAUTHENTICATED, "UNAUTHENTICATED",
                              "invalid or expired challenge; log in again");
            return YARD_E_UNAUTHENTICATED;
        }
        if (rc == 0) {
            snprintf(name, AUTH_NAME_MAX + 1, "%s", chal->user);
        }
        return rc ? auth_fail_store(req, rc) : 0;
    }
    if (!token && (rc = yard_req_str_max_or(req, "token", AUTH_JWT_MAX, NULL, &token))) {
        return rc;
    }
    if (!token) {
        yard_request_fail(req, YARD_E_UNAUTHENTICATED, "UNAUTHENTICATED",
                          "this operation needs the caller's access token (the 'auth.token' "
                          "header or a 'token' field)");
        return YARD_E_UNAUTHENTICATED;
    }
    auth_claims_t c;
    if ((rc = auth_check_token(st, req, token, "access", &c)) != 0) {
        return rc;
    }
    size_t n = strlen(c.sub);
    if (n > AUTH_NAME_MAX) { /* not one of our users' tokens (issued by another service?) */
        yard_request_fail(req, YARD_E_UNAUTHENTICATED, "UNAUTHENTICATED", "no such user");
        return YARD_E_UNAUTHENTICATED;
    }
    memcpy(name, c.sub, n + 1);
    return 0;
}

/* --- policy ------------------------------------------------------------------------------- */

static bool
s_required(const auth_state_t *st, const auth_user_t *u)
{
    for (size_t i = 0; i < st->n_mfa_scopes; i++) {
        for (size_t j = 0; j < u->nscopes; j++) {
            if (strcmp(st->mfa_scopes[i], u->scopes[j]) == 0) {
                return true;
            }
        }
    }
    return false;
}

static int
s_cfg_err(const yard_config_t *cfg, yard_config_node_t n, const char *msg)
{
    const char *path = cfg ? yard_config_path(cfg) : NULL;
    yard_log(YARD_LOG_ERROR, "auth: bad configuration", YF_STR("file", path ? path : "-"),
             YF_INT("line", yard_config_node_line(n)), YF_STR("reason", msg));
    return YARD_E_CONFIG;
}

int
auth_mfa_init(auth_state_t *st, const yard_config_t *cfg)
{
    if (st->o->mfa_period % 1000 != 0) {
        yard_log(YARD_LOG_ERROR, "auth: mfa_period must be whole seconds");
        return YARD_E_CONFIG;
    }
    st->n_mfa_scopes = 0;
    yard_config_node_t list = yard_config_node(cfg, "auth.mfa_required_scopes");
    yard_config_kind_t kind = yard_config_node_kind(list);
    if (kind == YARD_CONFIG_ABSENT || kind == YARD_CONFIG_NULL) {
        return 0;
    }
    if (kind != YARD_CONFIG_LIST || yard_config_node_len(list) > AUTH_SCOPES_MAX) {
        return s_cfg_err(cfg, list, "auth.mfa_required_scopes must be a list of at most 32 scopes");
    }
    for (size_t i = 0; i < yard_config_node_len(list); i++) {
        yard_config_node_t it = yard_config_node_item(list, i);
        const char *s = yard_config_node_text(it);
        if (!s || !s[0] || strlen(s) > AUTH_SCOPE_MAX || strpbrk(s, " ,")) {
            return s_cfg_err(cfg, it,
                             "auth.mfa_required_scopes: each scope is 1..64 characters, no "
                             "spaces or ','");
        }
        snprintf(st->mfa_scopes[st->n_mfa_scopes++], AUTH_SCOPE_MAX + 1, "%s", s);
    }
    return 0;
}

/* --- login -------------------------------------------------------------------------------- */

static int
s_mfa_on(auth_state_t *st, const char *name, auth_mfa_rec_t *r)
{
    char key[AUTH_MFA_KEY_MAX];
    auth_mfa_key(key, "", name);
    return auth_mfa_rec_load(st, key, r);
}

int
auth_mfa_gate(auth_state_t *st, const auth_user_t *u, int64_t now_ms, auth_mfa_gate_t *g)
{
    auth_mfa_rec_t r;
    int rc = s_mfa_on(st, u->name, &r);
    sodium_memzero(&r, sizeof r);
    if (rc != 0 && rc != YARD_E_NOT_FOUND) {
        return rc;
    }
    bool on = rc == 0;
    if (!on && !s_required(st, u)) {
        return 0;
    }
    if ((rc = auth_mfa_chal_new(st, u->name, on ? "login" : "enroll", now_ms, g->challenge))) {
        return rc;
    }
    uint32_t ttl_s = st->o->mfa_challenge_ttl / 1000;
    if (on) {
        g->status = 401;
        g->code = "MFA_REQUIRED";
        snprintf(g->msg, sizeof g->msg,
                 "a two-factor code is required: call login.mfa {challenge, code} within %u s, "
                 "with the challenge from the 'auth.mfa_challenge' header (HTTP: X-MFA-Challenge)",
                 ttl_s);
        return 1;
    }
    g->status = 403;
    g->code = "MFA_ENROLL_REQUIRED";
    snprintf(g->msg, sizeof g->msg,
             "two-factor authentication is required for your scopes: enrol first with "
             "mfa.enroll {challenge} and mfa.confirm {challenge, code} (the challenge is in the "
             "'auth.mfa_challenge' header, HTTP: X-MFA-Challenge; valid %u s), then log in again",
             ttl_s);
    yard_log(YARD_LOG_INFO, "auth: sign-in needs MFA enrolment", YF_STR("user", u->name));
    return 1;
}

int
auth_mfa_login_gate(auth_state_t *st, yard_request_t *req, const auth_user_t *u)
{
    auth_mfa_gate_t g;
    int rc = auth_mfa_gate(st, u, s_now_ms(req), &g);
    if (rc < 0) {
        return auth_fail_store(req, rc);
    }
    if (rc == 0) {
        return 0;
    }
    yard_request_set_header(req, "auth.mfa_challenge", g.challenge);
    yard_request_set_header(req, "http.header.X-MFA-Challenge", g.challenge);
    sodium_memzero(g.challenge, sizeof g.challenge);
    return auth_fail(req, g.status, g.code, g.msg);
}

int
auth_login_mfa(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    const char *id;
    char code[S_CODE_MAX + 1];
    int rc;
    if ((rc = yard_req_str_max(req, "challenge", AUTH_MFA_CHAL_MAX, &id)) ||
        (rc = s_req_code(req, code))) {
        return rc;
    }
    auth_mfa_chal_t c;
    auth_mfa_rec_t r;
    memset(&r, 0, sizeof r);
    rc = auth_mfa_chal_load(st, id, "login", s_now_ms(req), &c);
    if (rc == 0 && (rc = s_limit(st, req, c.user)) != 0) {
        sodium_memzero(code, sizeof code);
        return rc;
    }
    if (rc == 0) {
        rc = s_mfa_on(st, c.user, &r);
        rc = rc == YARD_E_NOT_FOUND ? 1 : rc; /* turned off meanwhile: log in again */
    }
    auth_mfa_verdict_t v = AUTH_MFA_WRONG;
    bool rec_used = false;
    if (rc == 0) {
        rc = auth_mfa_code_check(st, c.user, &r, code, true, s_now_ms(req), &v, &rec_used);
    }
    sodium_memzero(code, sizeof code);
    sodium_memzero(&r, sizeof r);
    if (rc == 1) {
        yard_request_fail(req, YARD_E_UNAUTHENTICATED, "UNAUTHENTICATED",
                          "invalid or expired challenge; log in again");
        return YARD_E_UNAUTHENTICATED;
    }
    if (rc != 0) {
        return auth_fail_store(req, rc);
    }
    if (v != AUTH_MFA_OK) {
        return s_code_refused(req, c.user, v);
    }
    /* Single use: of two requests with one challenge, the one whose DEL removed it wins. */
    if ((rc = yard_store_del(st->store, c.key)) <= 0) {
        if (rc < 0) {
            return auth_fail_store(req, rc);
        }
        yard_request_fail(req, YARD_E_UNAUTHENTICATED, "UNAUTHENTICATED",
                          "the challenge was already used; log in again");
        return YARD_E_UNAUTHENTICATED;
    }
    auth_user_t u;
    if ((rc = auth_user_load(st, c.user, &u)) != 0) {
        return rc == YARD_E_NOT_FOUND ? auth_fail(req, 401, "UNAUTHENTICATED", "the user is gone")
                                      : auth_fail_store(req, rc);
    }
    if (rec_used) {
        yard_log(YARD_LOG_WARN, "auth: a recovery code was used", YF_STR("user", c.user));
    }
    char fam[32];
    auth_random_id(fam, sizeof fam, 16);
    return auth_issue(st, req, &u, fam);
}

/* --- enroll, confirm ---------------------------------------------------------------------- */

int
auth_mfa_enroll(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    char name[AUTH_NAME_MAX + 1], key[AUTH_MFA_KEY_MAX];
    auth_mfa_chal_t chal;
    auth_mfa_rec_t r;
    int rc = s_caller(st, req, true, name, &chal);
    if (rc != 0) {
        return rc;
    }
    rc = s_mfa_on(st, name, &r);
    if (rc == 0) {
        sodium_memzero(&r, sizeof r);
        return auth_fail(req, 409, "CONFLICT",
                         "two-factor authentication is already on; mfa.disable it first");
    }
    if (rc != YARD_E_NOT_FOUND) {
        return auth_fail_store(req, rc);
    }
    uint8_t secret[AUTH_TOTP_SECRET_LEN];
    randombytes_buf(secret, sizeof secret);
    memset(&r, 0, sizeof r);
    auth_base32_encode(secret, sizeof secret, r.secret, sizeof r.secret);
    sodium_memzero(secret, sizeof secret);
    r.digits = st->o->mfa_digits;
    r.period = st->o->mfa_period / 1000;
    r.since = s_now_ms(req) / 1000;
    auth_mfa_key(key, "pend:", name);
    rc = auth_mfa_rec_save(st, key, &r, false, S_PEND_TTL_MS);
    char uri[AUTH_TOTP_URI_MAX];
    const char *issuer =
        st->o->mfa_issuer && st->o->mfa_issuer[0] ? st->o->mfa_issuer : st->o->issuer;
    if (rc == 0 && auth_totp_uri(uri, sizeof uri, issuer, name, r.secret, (int)r.digits,
                                 (uint32_t)r.period) != 0) {
        rc = YARD_E_INTERNAL;
    }
    if (rc != 0) {
        sodium_memzero(&r, sizeof r);
        return auth_fail_store(req, rc);
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "otpauth_uri", uri);
    yard_mpw_kstr(w, "secret", r.secret);
    yard_mpw_kstr(w, "algorithm", "SHA1");
    yard_mpw_kint(w, "digits", r.digits);
    yard_mpw_kint(w, "period", r.period);
    yard_mpw_kint(w, "expires_in", S_PEND_TTL_MS / 1000);
    yard_mpw_end(w);
    sodium_memzero(uri, sizeof uri);
    sodium_memzero(&r, sizeof r);
    yard_log(YARD_LOG_INFO, "auth: two-factor enrolment started", YF_STR("user", name));
    return yard_request_reply_mpw(req, &w);
}

int
auth_mfa_confirm(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    char name[AUTH_NAME_MAX + 1], key[AUTH_MFA_KEY_MAX], pkey[AUTH_MFA_KEY_MAX],
        code[S_CODE_MAX + 1];
    auth_mfa_chal_t chal;
    int rc;
    if ((rc = s_caller(st, req, true, name, &chal)) || (rc = s_req_code(req, code))) {
        return rc;
    }
    if ((rc = s_limit(st, req, name)) != 0) {
        sodium_memzero(code, sizeof code);
        return rc;
    }
    auth_mfa_rec_t r;
    auth_mfa_key(pkey, "pend:", name);
    rc = auth_mfa_rec_load(st, pkey, &r);
    if (rc == YARD_E_NOT_FOUND) {
        sodium_memzero(code, sizeof code);
        return auth_fail(req, 409, "CONFLICT", "no enrolment is pending: call mfa.enroll first");
    }
    auth_mfa_verdict_t v = AUTH_MFA_WRONG;
    bool unused;
    if (rc == 0) {
        rc = auth_mfa_code_check(st, name, &r, code, false, s_now_ms(req), &v, &unused);
    }
    sodium_memzero(code, sizeof code);
    if (rc == 0 && v == AUTH_MFA_OK) {
        auth_mfa_key(key, "", name);
        rc = auth_mfa_rec_save(st, key, &r, true, 0); /* SET NX: one confirmation wins */
        rc = rc == 0 ? 1 : rc == 1 ? 0 : rc;          /* 1: someone else turned it on */
    }
    sodium_memzero(&r, sizeof r);
    if (rc < 0) {
        return auth_fail_store(req, rc);
    }
    if (v != AUTH_MFA_OK) {
        return s_code_refused(req, name, v);
    }
    if (rc == 1) {
        return auth_fail(req, 409, "CONFLICT", "two-factor authentication is already on");
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kbool(w, "enabled", true);
    rc = auth_mfa_rc_new(st, name, w);
    yard_mpw_end(w);
    if (rc != 0) {
        yard_store_del(st->store, key); /* not on without its recovery codes */
        yard_mpw_destroy(&w);
        return auth_fail_store(req, rc);
    }
    yard_store_del(st->store, pkey);
    if (chal.key[0]) {
        yard_store_del(st->store, chal.key);
    }
    yard_log(YARD_LOG_INFO, "auth: two-factor authentication turned on", YF_STR("user", name));
    return yard_request_reply_mpw(req, &w);
}

/* --- disable, status ---------------------------------------------------------------------- */

static int
s_disabled(auth_state_t *st, yard_request_t *req, const char *name, const char *by)
{
    int rc = auth_mfa_forget(st, name);
    if (rc != 0) {
        return auth_fail_store(req, rc);
    }
    yard_log(YARD_LOG_INFO, "auth: two-factor authentication turned off", YF_STR("user", name),
             YF_STR("by", by));
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "disabled", name);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}

int
auth_mfa_disable(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    char name[AUTH_NAME_MAX + 1], code[S_CODE_MAX + 1];
    auth_claims_t admin;
    auth_mfa_chal_t unused;
    const char *user = NULL;
    int rc = yard_req_str_max_or(req, "username", AUTH_NAME_MAX, NULL, &user);
    if (rc) {
        return rc;
    }
    if (user) { /* an admin turning it off for someone (a lost phone) */
        if ((rc = auth_require_admin(st, req, &admin)) || (rc = auth_name_check(req, user))) {
            return rc;
        }
        return s_disabled(st, req, user, admin.sub);
    }
    if ((rc = s_caller(st, req, false, name, &unused)) || (rc = s_req_code(req, code))) {
        return rc;
    }
    auth_mfa_rec_t r;
    auth_mfa_verdict_t v = AUTH_MFA_WRONG;
    bool rec_used;
    rc = s_limit(st, req, name);
    if (rc == 0) {
        rc = s_mfa_on(st, name, &r);
        if (rc == YARD_E_NOT_FOUND) {
            sodium_memzero(code, sizeof code);
            return auth_fail(req, 409, "CONFLICT", "two-factor authentication is not on");
        }
        if (rc != 0) {
            sodium_memzero(code, sizeof code);
            return auth_fail_store(req, rc);
        }
        rc = auth_mfa_code_check(st, name, &r, code, true, s_now_ms(req), &v, &rec_used);
        sodium_memzero(&r, sizeof r);
        rc = rc ? auth_fail_store(req, rc) : 0;
    }
    sodium_memzero(code, sizeof code);
    if (rc != 0) {
        return rc;
    }
    return v == AUTH_MFA_OK ? s_disabled(st, req, name, name) : s_code_refused(req, name, v);
}

int
auth_mfa_status(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    char name[AUTH_NAME_MAX + 1], key[AUTH_MFA_KEY_MAX];
    const char *user = NULL;
    auth_mfa_chal_t unused;
    int rc = yard_req_str_max_or(req, "username", AUTH_NAME_MAX, NULL, &user);
    if (rc == 0 && user) { /* someone else's: admin */
        if ((rc = auth_require_admin(st, req, NULL)) == 0 &&
            (rc = auth_name_check(req, user)) == 0) {
            snprintf(name, sizeof name, "%s", user);
        }
    } else if (rc == 0) {
        rc = s_caller(st, req, false, name, &unused);
    }
    if (rc != 0) {
        return rc; /* req was failed */
    }
    auth_user_t u;
    if ((rc = auth_user_load(st, name, &u)) != 0) {
        return rc == YARD_E_NOT_FOUND ? auth_fail(req, 404, "NOT_FOUND", "no such user")
                                      : auth_fail_store(req, rc);
    }
    auth_mfa_rec_t r;
    bool on = false, pending = false;
    if ((rc = s_mfa_on(st, name, &r)) == 0) {
        on = true;
    }
    if (rc == YARD_E_NOT_FOUND) {
        auth_mfa_key(key, "pend:", name);
        rc = auth_mfa_rec_load(st, key, &r);
        pending = rc == 0;
        rc = rc == YARD_E_NOT_FOUND ? 0 : rc;
    }
    sodium_memzero(r.secret, sizeof r.secret);
    char **members = NULL;
    size_t left = 0;
    auth_mfa_key(key, "rc:", name);
    if (rc != 0 || (rc = yard_store_smembers(st->store, key, &members, &left)) != 0) {
        return auth_fail_store(req, rc);
    }
    yard_store_members_free(&members);
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "username", name);
    yard_mpw_kbool(w, "enabled", on);
    yard_mpw_kbool(w, "pending", pending);
    yard_mpw_kbool(w, "required", s_required(st, &u));
    yard_mpw_kint(w, "recovery_codes_left", (int64_t)left);
    if (on) {
        yard_mpw_kint(w, "since", r.since);
    }
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}
