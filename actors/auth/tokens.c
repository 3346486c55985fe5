/* auth: the token operations: login, verify, refresh (rotating, with reuse detection),
 * revoke, logout and key.rotate.
 *
 * A login starts a session (a family, "fam"): the access and refresh tokens it issues, and all
 * that refreshing issues after, carry it. A refresh token works once: its first use claims
 * auth:rt:<jti> with SET NX, so two replicas cannot both honour it, and a second use means it
 * was copied: the whole family is revoked (RFC 6819 5.2.2.3; OAuth 2.0 Security BCP 4.14). */
#include "auth_internal.h"
#include "mfa.h"

#include "yard/error.h"
#include "yard/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- issuing ----------------------------------------------------------------------------- */

int
auth_issue_mpw(auth_state_t *st, const auth_user_t *u, const char *fam, yard_mpw_t **out)
{
    *out = NULL;
    const auth_opts_t *o = st->o;
    const auth_keyset_t *ks = auth_keys(st, false);
    int64_t iat = auth_now(), gen = 0;
    int rc = auth_user_gen(st, u->name, &gen);
    if (rc != 0 || !ks) {
        return rc ? rc : YARD_E_UNREACHABLE;
    }
    const char *scopes[AUTH_SCOPES_MAX];
    for (size_t i = 0; i < u->nscopes; i++) {
        scopes[i] = u->scopes[i];
    }
    char ajti[32], rjti[32];
    auth_random_id(ajti, sizeof ajti, 16);
    auth_random_id(rjti, sizeof rjti, 16);
    int64_t access_s = o->access_ttl / 1000, refresh_s = o->refresh_ttl / 1000;
    auth_claims_in_t c = {.iss = o->issuer,
                          .aud = o->audience,
                          .sub = u->name,
                          .jti = ajti,
                          .typ = "access",
                          .fam = fam,
                          .scopes = scopes,
                          .nscopes = u->nscopes,
                          .iat = iat,
                          .exp = iat + access_s,
                          .gen = gen};
    char *access = NULL, *refresh = NULL;
    const auth_key_t *key = auth_keyset_current(ks);
    if (auth_jwt_sign(key, &c, &access) == 0) {
        c.jti = rjti;
        c.typ = "refresh";
        c.exp = iat + refresh_s;
        auth_jwt_sign(key, &c, &refresh);
    }
    if (!access || !refresh) {
        free(access);
        free(refresh);
        return YARD_E_INTERNAL;
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "access_token", access);
    yard_mpw_kstr(w, "refresh_token", refresh);
    yard_mpw_kstr(w, "token_type", "Bearer");
    yard_mpw_kint(w, "expires_in", access_s);
    yard_mpw_kstr(w, "sub", u->name);
    auth_put_scopes(w, "scopes", (char(*)[AUTH_SCOPE_MAX + 1]) u->scopes, u->nscopes);
    yard_mpw_end(w);
    sodium_memzero(access, strlen(access));
    sodium_memzero(refresh, strlen(refresh));
    free(access);
    free(refresh);
    *out = w;
    return 0;
}

int
auth_issue(auth_state_t *st, yard_request_t *req, const auth_user_t *u, const char *fam)
{
    yard_mpw_t *w = NULL;
    int rc = auth_issue_mpw(st, u, fam, &w);
    if (rc == YARD_E_INTERNAL) {
        yard_request_fail(req, YARD_E_INTERNAL, NULL, "could not sign the tokens");
        return rc;
    }
    return rc ? auth_fail_store(req, rc) : yard_request_reply_mpw(req, &w);
}

/* --- login ------------------------------------------------------------------------------- */

/* Where a login comes from: the gateway's client address, else the first X-Forwarded-For
 * entry, else "bus" (callers on the bus share one bucket). */
static void
s_source(yard_request_t *req, char *out, size_t cap)
{
    const char *peer = yard_request_header(req, "http.peer");
    if (!peer) {
        peer = yard_request_header(req, "http.header.x-forwarded-for");
    }
    size_t n = peer ? strcspn(peer, ", ") : 0;
    if (!peer || n == 0) {
        snprintf(out, cap, "bus");
        return;
    }
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), peer);
}

int
auth_rate_take(auth_state_t *st, yard_request_t *req, const char *kind, const char *id,
               int64_t burst, int64_t per_min, const char *msg)
{
    char key[160];
    snprintf(key, sizeof key, "auth:rl:%s:%s", kind, id);
    int allowed = 0;
    uint32_t retry_ms = 0;
    int rc = yard_store_take_token(st->store, key, (double)per_min / 60.0, (uint32_t)burst, 0,
                                   &allowed, &retry_ms);
    if (rc != 0) {
        return auth_fail_store(req, rc);
    }
    if (!allowed) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", (retry_ms + 999) / 1000);
        yard_request_set_header(req, "http.header.Retry-After", ra);
        yard_log(YARD_LOG_WARN, "auth: rate limited", YF_STR("bucket", kind), YF_STR("id", id));
        return auth_fail(req, 429, "RATE_LIMITED", msg);
    }
    return 0;
}

/* 0 when a login attempt may go on, else the request was failed (429 with Retry-After). */
static int
s_login_limit(auth_state_t *st, yard_request_t *req, const char *name)
{
    const auth_opts_t *o = st->o;
    static const char msg[] = "too many login attempts; retry later";
    char src[64];
    s_source(req, src, sizeof src);
    int rc = auth_rate_take(st, req, "u", name, o->login_burst_user, o->login_per_min_user, msg);
    return rc ? rc
              : auth_rate_take(st, req, "s", src, o->login_burst_source, o->login_per_min_source,
                               msg);
}

int
auth_login(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    char name[AUTH_NAME_MAX + 1], pw[AUTH_PASSWORD_MAX + 1];
    int rc;
    if ((rc = auth_req_name(req, name)) || (rc = auth_req_secret(req, "password", pw, sizeof pw))) {
        return rc;
    }
    if ((rc = s_login_limit(st, req, name)) != 0) {
        sodium_memzero(pw, sizeof pw);
        return rc;
    }
    auth_user_t u;
    rc = auth_user_load(st, name, &u);
    if (rc != 0 && rc != YARD_E_NOT_FOUND) {
        sodium_memzero(pw, sizeof pw);
        return auth_fail_store(req, rc);
    }
    /* An unknown user, a user without a password and a wrong password cost the same time and
     * get the same answer. */
    bool ok = auth_password_verify(rc == 0 && u.hash[0] ? u.hash : NULL, pw);
    sodium_memzero(pw, sizeof pw);
    if (!ok) {
        yard_log(YARD_LOG_INFO, "auth: login failed", YF_STR("user", name));
        yard_request_fail(req, YARD_E_UNAUTHENTICATED, "UNAUTHENTICATED",
                          "invalid username or password");
        return 0;
    }
    if ((rc = auth_mfa_login_gate(st, req, &u)) != 0) {
        return rc; /* MFA_REQUIRED or MFA_ENROLL_REQUIRED, with a challenge (mfa.c) */
    }
    char fam[32];
    auth_random_id(fam, sizeof fam, 16);
    return auth_issue(st, req, &u, fam);
}

/* --- verify ------------------------------------------------------------------------------ */

int
auth_verify(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    const char *token;
    char want[AUTH_SCOPES_MAX][AUTH_SCOPE_MAX + 1];
    size_t nwant = 0;
    int rc;
    if ((rc = yard_req_str_max(req, "token", AUTH_JWT_MAX, &token)) ||
        (rc = auth_req_scopes(req, "scopes", false, want, &nwant))) {
        return rc;
    }
    auth_claims_t c;
    if ((rc = auth_check_token(st, req, token, "access", &c)) != 0) {
        return rc;
    }
    for (size_t i = 0; i < nwant; i++) {
        bool has = false;
        for (size_t j = 0; j < c.nscopes && !has; j++) {
            has = strcmp(want[i], c.scopes[j]) == 0;
        }
        if (!has) {
            char msg[128];
            snprintf(msg, sizeof msg, "the token lacks the '%.64s' scope", want[i]);
            yard_request_fail(req, YARD_E_FORBIDDEN, "FORBIDDEN", msg);
            return 0;
        }
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "sub", c.sub);
    auth_put_scopes(w, "scopes", c.scopes, c.nscopes);
    yard_mpw_kint(w, "exp", c.exp);
    yard_mpw_kstr(w, "jti", c.jti);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}

/* --- refresh ----------------------------------------------------------------------------- */

/* Marks a whole session revoked, for as long as any of its tokens can live. */
static int
s_revoke_family(auth_state_t *st, const char *fam)
{
    char key[128];
    snprintf(key, sizeof key, "auth:fam:%s", fam);
    return yard_store_set(st->store, key, "1", 1, st->o->refresh_ttl + st->o->leeway);
}

int
auth_refresh(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    const char *token;
    auth_claims_t c;
    int rc;
    if ((rc = yard_req_str_max(req, "refresh_token", AUTH_JWT_MAX, &token)) ||
        (rc = auth_check_token(st, req, token, "refresh", &c)) != 0) {
        return rc;
    }
    if (!c.fam[0]) {
        yard_request_fail(req, YARD_E_UNAUTHENTICATED, "UNAUTHENTICATED",
                          "the refresh token has no session");
        return 0;
    }
    char key[128];
    snprintf(key, sizeof key, "auth:rt:%s", c.jti);
    int64_t left_ms = (c.exp - auth_now()) * 1000 + st->o->leeway;
    rc = yard_store_set_nx(st->store, key, "1", 1, left_ms > 1000 ? (uint32_t)left_ms : 1000);
    if (rc < 0) {
        return auth_fail_store(req, rc);
    }
    if (rc == 0) {
        rc = s_revoke_family(st, c.fam);
        yard_log(YARD_LOG_WARN, "auth: refresh token reused; session revoked",
                 YF_STR("user", c.sub), YF_STR("jti", c.jti));
        if (rc != 0) {
            return auth_fail_store(req, rc);
        }
        yard_request_fail(req, YARD_E_UNAUTHENTICATED, "UNAUTHENTICATED",
                          "refresh token already used: the session is revoked");
        return 0;
    }
    auth_user_t u;
    rc = auth_user_load(st, c.sub, &u);
    if (rc == YARD_E_NOT_FOUND) {
        yard_request_fail(req, YARD_E_UNAUTHENTICATED, "UNAUTHENTICATED", "the user is gone");
        return 0;
    }
    if (rc != 0) {
        return auth_fail_store(req, rc);
    }
    return auth_issue(st, req, &u, c.fam); /* the user's scopes as they are now */
}

/* --- revoke, logout ---------------------------------------------------------------------- */

static int
s_revoke_jti(auth_state_t *st, const char *jti, uint32_t ttl_ms)
{
    char key[128];
    snprintf(key, sizeof key, "auth:rev:%s", jti);
    return yard_store_set(st->store, key, "1", 1, ttl_ms);
}

static int
s_ok(yard_request_t *req, const char *what, const char *value)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, what, value);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}

/* The token in field (an access or a refresh token), verified. 1 when present, 0 absent,
 * or a negative error after failing req. */
static int
s_token_field(auth_state_t *st, yard_request_t *req, const char *field, auth_claims_t *c)
{
    const char *token;
    int rc = yard_req_str_max_or(req, field, AUTH_JWT_MAX, NULL, &token);
    if (rc || !token) {
        return rc;
    }
    rc = auth_check_token(st, req, token, NULL, c);
    return rc ? rc : 1;
}

int
auth_revoke(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    auth_claims_t c;
    int has = s_token_field(st, req, "token", &c);
    if (has < 0) {
        return has;
    }
    if (has == 1) { /* holding a token is the right to revoke it */
        int64_t left_ms = (c.exp - auth_now()) * 1000 + st->o->leeway;
        int rc = s_revoke_jti(st, c.jti, left_ms > 1000 ? (uint32_t)left_ms : 1000);
        if (rc == 0 && strcmp(c.typ, "refresh") == 0 && c.fam[0]) {
            rc = s_revoke_family(st, c.fam);
        }
        return rc ? auth_fail_store(req, rc) : s_ok(req, "revoked", c.jti);
    }
    const char *jti = NULL, *user = NULL;
    int rc = yard_req_str_max_or(req, "jti", AUTH_ID_MAX, NULL, &jti);
    if (rc || (!jti && (rc = yard_req_str_max_or(req, "user", AUTH_NAME_MAX, NULL, &user)))) {
        return rc;
    }
    if (!jti && !user) {
        yard_request_fail(req, YARD_E_BAD_REQUEST, NULL,
                          "one of 'token', 'jti' or 'user' is required");
        return YARD_E_BAD_REQUEST;
    }
    if ((rc = auth_require_admin(st, req, NULL)) != 0) {
        return rc;
    }
    rc = jti ? s_revoke_jti(st, jti, st->o->refresh_ttl + st->o->leeway)
             : auth_user_revoke_all(st, user);
    if (rc != 0) {
        return auth_fail_store(req, rc);
    }
    yard_log(YARD_LOG_INFO, "auth: revoked", YF_STR(jti ? "jti" : "user", jti ? jti : user));
    return s_ok(req, "revoked", jti ? jti : user);
}

int
auth_logout(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    auth_claims_t c;
    int has = s_token_field(st, req, "refresh_token", &c);
    if (has == 0) {
        has = s_token_field(st, req, "token", &c);
    }
    if (has < 0) {
        return has;
    }
    if (has == 0 || !c.fam[0]) {
        yard_request_fail(req, YARD_E_BAD_REQUEST, NULL,
                          "'refresh_token' or 'token' (of a login session) is required");
        return YARD_E_BAD_REQUEST;
    }
    int rc = s_revoke_family(st, c.fam);
    return rc ? auth_fail_store(req, rc) : s_ok(req, "logged_out", c.sub);
}

/* --- keys -------------------------------------------------------------------------------- */

int
auth_key_rotate(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    if (auth_require_admin(st, req, NULL) != 0) {
        return 0;
    }
    const auth_keyset_t *cur = auth_keys(st, true);
    char *packed = NULL;
    size_t plen = 0;
    auth_keyset_t *ks = NULL;
    if (!cur || auth_keyset_pack(cur, &packed, &plen) != 0 ||
        auth_keyset_unpack(packed, plen, &ks) != 0) {
        free(packed);
        return auth_fail_store(req, YARD_E_UNREACHABLE);
    }
    free(packed);
    /* The old key verifies as long as any token it signed can live. */
    int64_t keep_s = (st->o->refresh_ttl + st->o->leeway) / 1000;
    auth_keyset_rotate(ks, auth_alg_from_name(st->o->alg), auth_now(), keep_s);
    char kid[AUTH_KID_MAX + 1];
    snprintf(kid, sizeof kid, "%s", auth_keyset_current(ks)->kid);
    int rc = auth_keys_replace(st, ks);
    if (rc != 0) {
        return auth_fail_store(req, rc);
    }
    yard_log(YARD_LOG_INFO, "auth: signing key rotated", YF_STR("kid", kid));
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "kid", kid);
    yard_mpw_kstr(w, "alg", st->o->alg);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}
