/* auth: two-factor login with TOTP (mfa.h). A code is accepted once: the step it matched is
 * claimed with SET NX (so two replicas cannot both take it) and remembered as the user's last
 * step (so an older code is refused afterwards, RFC 6238 section 5.2). Recovery codes are
 * stored as hashes in a set and spent with SREM, which exactly one replica wins. Challenges
 * are kept under a hash of their id, with their expiry in the record (the actor's clock) and
 * a TTL (the store's), and are spent with DEL, which exactly one replica wins. Secrets and
 * codes never reach a log line, an event or an error text. */
#include "mfa.h"

#include "totp.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PEND_TTL_MS (15u * 60u * 1000u)         /* an enrolment waits this long for mfa.confirm */
#define S_DRIFT       1                           /* steps either way (RFC 6238 section 5.2) */
#define S_RC_BYTES    10                          /* 80 random bits per recovery code */
#define S_RC_CHARS    AUTH_BASE32_LEN(S_RC_BYTES) /* 16 */
#define S_CODE_MAX    64                          /* bytes of a "code" field */
#define S_CHAL_MAX    64                          /* bytes of a challenge id */
#define S_KEY_MAX     160

typedef struct {
    char secret[AUTH_BASE32_LEN(AUTH_TOTP_SECRET_MAX) + 1];
    int64_t digits, period, since;
} s_rec_t;

typedef struct {
    char user[AUTH_NAME_MAX + 1];
    char kind[16]; /* "login" or "enroll" */
    int64_t exp;   /* wall ms */
    char key[S_KEY_MAX];
} s_chal_t;

static int64_t
s_now_ms(yard_request_t *req)
{
    yard_ctx_t *ctx = yard_request_ctx(req);
    return ctx ? yard_ctx_wall_ms(ctx) : auth_now() * 1000;
}

/* --- records ------------------------------------------------------------------------------ */

static int
s_rec_save(auth_state_t *st, const char *key, const s_rec_t *r, bool nx, uint32_t ttl_ms)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "secret", r->secret);
    yard_mpw_kint(w, "digits", r->digits);
    yard_mpw_kint(w, "period", r->period);
    yard_mpw_kint(w, "since", r->since);
    yard_mpw_end(w);
    const void *rec = NULL;
    size_t size = 0;
    int rc = yard_mpw_finish(w, &rec, &size);
    if (rc == 0) {
        rc = nx ? yard_store_set_nx(st->store, key, rec, size, ttl_ms)
                : yard_store_set(st->store, key, rec, size, ttl_ms);
    }
    sodium_memzero((void *)rec, size);
    yard_mpw_destroy(&w);
    return rc;
}

/* Loads the record at key: 0, YARD_E_NOT_FOUND, or a store error (YARD_E_INTERNAL for one
 * that does not decode). */
static int
s_rec_load(auth_state_t *st, const char *key, s_rec_t *r)
{
    char *val = NULL;
    size_t len = 0;
    int rc = yard_store_get(st->store, key, &val, &len);
    if (rc != 0) {
        return rc;
    }
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 512)) {
        abort();
    }
    msgpack_object o;
    memset(r, 0, sizeof *r);
    bool ok = yard_mp_decode(val, len, &zone, &o, NULL, 0) == 0 &&
              yard_mp_get_strbuf(&o, "secret", r->secret, sizeof r->secret, NULL, 0) == 0 &&
              yard_mp_get_int(&o, "digits", &r->digits, NULL, 0) == 0 &&
              yard_mp_get_int(&o, "period", &r->period, NULL, 0) == 0 &&
              r->digits >= AUTH_TOTP_DIGITS_MIN && r->digits <= AUTH_TOTP_DIGITS_MAX &&
              r->period > 0 && r->period <= 3600;
    yard_mp_get_int(&o, "since", &r->since, NULL, 0);
    msgpack_zone_destroy(&zone);
    sodium_memzero(val, len);
    free(val);
    if (!ok) {
        yard_log(YARD_LOG_ERROR, "a stored MFA record does not decode", YF_STR("key", key));
        return YARD_E_INTERNAL;
    }
    return 0;
}

static void
s_key(char *out, const char *what, const char *name)
{
    snprintf(out, S_KEY_MAX, "auth:mfa:%s%s", what, name);
}

/* --- challenges --------------------------------------------------------------------------- */

static void
s_chal_key(char *out, const char *id)
{
    unsigned char h[16];
    char hex[sizeof h * 2 + 1];
    crypto_generichash(h, sizeof h, (const unsigned char *)id, strlen(id), NULL, 0);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    snprintf(out, S_KEY_MAX, "auth:mfa:ch:%s", hex);
}

/* Makes a challenge for name and puts it on req's answer (headers auth.mfa_challenge and,
 * for the gateway, X-MFA-Challenge). Returns 0 or a store error. */
static int
s_chal_new(auth_state_t *st, yard_request_t *req, const char *name, const char *kind)
{
    char id[64], key[S_KEY_MAX];
    auth_random_id(id, sizeof id, 32);
    s_chal_key(key, id);
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "user", name);
    yard_mpw_kstr(w, "kind", kind);
    yard_mpw_kint(w, "exp", s_now_ms(req) + st->o->mfa_challenge_ttl);
    yard_mpw_end(w);
    const void *rec = NULL;
    size_t size = 0;
    int rc = yard_mpw_finish(w, &rec, &size);
    if (rc == 0) {
        rc = yard_store_set(st->store, key, rec, size, st->o->mfa_challenge_ttl + 1000);
    }
    yard_mpw_destroy(&w);
    if (rc == 0) {
        yard_request_set_header(req, "auth.mfa_challenge", id);
        yard_request_set_header(req, "http.header.X-MFA-Challenge", id);
    }
    sodium_memzero(id, sizeof id);
    return rc;
}

/* Loads the challenge id of kind. Returns 0; 1 when it is unknown, expired or of another
 * kind (req not answered); or a store error. */
static int
s_chal_load(auth_state_t *st, yard_request_t *req, const char *id, const char *kind, s_chal_t *c)
{
    memset(c, 0, sizeof *c);
    s_chal_key(c->key, id);
    char *val = NULL;
    size_t len = 0;
    int rc = yard_store_get(st->store, c->key, &val, &len);
    if (rc == YARD_E_NOT_FOUND) {
        return 1;
    }
    if (rc != 0) {
        return rc;
    }
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 256)) {
        abort();
    }
    msgpack_object o;
    bool ok = yard_mp_decode(val, len, &zone, &o, NULL, 0) == 0 &&
              yard_mp_get_strbuf(&o, "user", c->user, sizeof c->user, NULL, 0) == 0 &&
              yard_mp_get_strbuf(&o, "kind", c->kind, sizeof c->kind, NULL, 0) == 0 &&
              yard_mp_get_int(&o, "exp", &c->exp, NULL, 0) == 0;
    msgpack_zone_destroy(&zone);
    free(val);
    if (!ok || strcmp(c->kind, kind) != 0 || s_now_ms(req) >= c->exp) {
        return 1;
    }
    return 0;
}

/* --- codes -------------------------------------------------------------------------------- */

/* The recovery code's stored form: BLAKE2b over the user's name and the normalised code, hex.
 * The code carries 80 random bits, so a slow password hash would add nothing but work. */
static void
s_rc_hash(const char *name, const char *norm, char out[65])
{
    unsigned char h[32];
    crypto_generichash_state gs;
    crypto_generichash_init(&gs, NULL, 0, sizeof h);
    crypto_generichash_update(&gs, (const unsigned char *)"switchyard mfa recovery", 24);
    crypto_generichash_update(&gs, (const unsigned char *)name, strlen(name) + 1);
    crypto_generichash_update(&gs, (const unsigned char *)norm, strlen(norm));
    crypto_generichash_final(&gs, h, sizeof h);
    sodium_bin2hex(out, 65, h, sizeof h);
}

/* A recovery code as typed (either case, with or without dashes and spaces) in the form it
 * was hashed in: 16 upper-case base32 characters. False when it cannot be one. */
static bool
s_rc_norm(const char *code, char out[S_RC_CHARS + 1])
{
    size_t n = 0;
    for (const char *p = code; *p; p++) {
        char c = *p;
        if (c == '-' || c == ' ') {
            continue;
        }
        if (c >= 'a' && c <= 'z') {
            c = (char)(c - 'a' + 'A');
        }
        if (!((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7')) || n == S_RC_CHARS) {
            return false;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return n == S_RC_CHARS;
}

typedef enum { S_OK, S_WRONG, S_REPLAYED } s_verdict_t;

/* Checks a TOTP code against r for name at now_ms and, when right, spends its step. */
static int
s_totp_check(auth_state_t *st, const char *name, const s_rec_t *r, const char *code, int64_t now_ms,
             s_verdict_t *v)
{
    uint8_t key[AUTH_TOTP_SECRET_MAX];
    size_t klen = 0;
    if (auth_base32_decode(r->secret, key, sizeof key, &klen) != 0) {
        return YARD_E_INTERNAL;
    }
    char lkey[S_KEY_MAX], *val = NULL;
    size_t len = 0;
    s_key(lkey, "last:", name);
    int rc = yard_store_get(st->store, lkey, &val, &len);
    if (rc != 0 && rc != YARD_E_NOT_FOUND) {
        sodium_memzero(key, sizeof key);
        return rc;
    }
    int64_t last = val ? strtoll(val, NULL, 10) : -1, step = 0;
    free(val);
    int64_t now = auth_totp_step(now_ms / 1000, (uint32_t)r->period);
    int digits = (int)r->digits;
    bool fresh = auth_totp_match(key, klen, now, S_DRIFT, digits, code, last + 1, &step);
    bool any = fresh || auth_totp_match(key, klen, now, S_DRIFT, digits, code, 0, &step);
    sodium_memzero(key, sizeof key);
    *v = fresh ? S_OK : any ? S_REPLAYED : S_WRONG;
    if (!fresh) {
        return 0;
    }
    char ukey[S_KEY_MAX + 24], num[24];
    snprintf(ukey, sizeof ukey, "auth:mfa:used:%s:%lld", name, (long long)step);
    uint32_t keep_ms = (uint32_t)((2 * S_DRIFT + 2) * r->period * 1000);
    rc = yard_store_set_nx(st->store, ukey, "1", 1, keep_ms);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0) {
        *v = S_REPLAYED; /* another replica took this step first */
        return 0;
    }
    snprintf(num, sizeof num, "%lld", (long long)step);
    return yard_store_set(st->store, lkey, num, strlen(num), 0);
}

/* Checks code (a TOTP code, or with recovery a recovery code, which is then spent). */
static int
s_code_check(auth_state_t *st, yard_request_t *req, const char *name, const s_rec_t *r,
             const char *code, bool recovery, s_verdict_t *v, bool *used_recovery)
{
    *v = S_WRONG;
    *used_recovery = false;
    size_t n = strlen(code);
    bool numeric = n == (size_t)r->digits && strspn(code, "0123456789") == n;
    if (numeric) {
        return s_totp_check(st, name, r, code, s_now_ms(req), v);
    }
    char norm[S_RC_CHARS + 1], hash[65], key[S_KEY_MAX];
    if (!recovery || !s_rc_norm(code, norm)) {
        return 0;
    }
    s_rc_hash(name, norm, hash);
    sodium_memzero(norm, sizeof norm);
    s_key(key, "rc:", name);
    int rc = yard_store_srem(st->store, key, hash);
    if (rc < 0) {
        return rc;
    }
    *v = rc == 1 ? S_OK : S_WRONG;
    *used_recovery = rc == 1;
    return 0;
}

/* Fails req for a verdict that is not S_OK. */
static int
s_code_refused(yard_request_t *req, const char *name, s_verdict_t v)
{
    yard_log(YARD_LOG_INFO, "auth: two-factor code refused", YF_STR("user", name),
             YF_STR("why", v == S_REPLAYED ? "already used" : "wrong"));
    const char *msg = v == S_REPLAYED ? "that code was already used; wait for the next one"
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
         s_chal_t *chal)
{
    const char *id = NULL, *token = yard_request_header(req, "auth.token");
    int rc = 0;
    chal->key[0] = '\0';
    if (enroll_ok && (rc = yard_req_str_max_or(req, "challenge", S_CHAL_MAX, NULL, &id))) {
        return rc;
    }
    if (id) {
        rc = s_chal_load(st, req, id, "enroll", chal);
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
s_mfa_on(auth_state_t *st, const char *name, s_rec_t *r)
{
    char key[S_KEY_MAX];
    s_key(key, "", name);
    return s_rec_load(st, key, r);
}

int
auth_mfa_login_gate(auth_state_t *st, yard_request_t *req, const auth_user_t *u)
{
    s_rec_t r;
    int rc = s_mfa_on(st, u->name, &r);
    sodium_memzero(&r, sizeof r);
    if (rc != 0 && rc != YARD_E_NOT_FOUND) {
        return auth_fail_store(req, rc);
    }
    bool on = rc == 0;
    if (!on && !s_required(st, u)) {
        return 0;
    }
    if ((rc = s_chal_new(st, req, u->name, on ? "login" : "enroll")) != 0) {
        return auth_fail_store(req, rc);
    }
    char msg[256];
    uint32_t ttl_s = st->o->mfa_challenge_ttl / 1000;
    if (on) {
        snprintf(msg, sizeof msg,
                 "a two-factor code is required: call login.mfa {challenge, code} within %u s, "
                 "with the challenge from the 'auth.mfa_challenge' header (HTTP: X-MFA-Challenge)",
                 ttl_s);
        return auth_fail(req, 401, "MFA_REQUIRED", msg);
    }
    snprintf(msg, sizeof msg,
             "two-factor authentication is required for your scopes: enrol first with "
             "mfa.enroll {challenge} and mfa.confirm {challenge, code} (the challenge is in the "
             "'auth.mfa_challenge' header, HTTP: X-MFA-Challenge; valid %u s), then log in again",
             ttl_s);
    yard_log(YARD_LOG_INFO, "auth: login needs MFA enrolment", YF_STR("user", u->name));
    return auth_fail(req, 403, "MFA_ENROLL_REQUIRED", msg);
}

int
auth_login_mfa(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    const char *id;
    char code[S_CODE_MAX + 1];
    int rc;
    if ((rc = yard_req_str_max(req, "challenge", S_CHAL_MAX, &id)) ||
        (rc = s_req_code(req, code))) {
        return rc;
    }
    s_chal_t c;
    s_rec_t r;
    memset(&r, 0, sizeof r);
    rc = s_chal_load(st, req, id, "login", &c);
    if (rc == 0 && (rc = s_limit(st, req, c.user)) != 0) {
        sodium_memzero(code, sizeof code);
        return rc;
    }
    if (rc == 0) {
        rc = s_mfa_on(st, c.user, &r);
        rc = rc == YARD_E_NOT_FOUND ? 1 : rc; /* turned off meanwhile: log in again */
    }
    s_verdict_t v = S_WRONG;
    bool rec_used = false;
    if (rc == 0) {
        rc = s_code_check(st, req, c.user, &r, code, true, &v, &rec_used);
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
    if (v != S_OK) {
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
    char name[AUTH_NAME_MAX + 1], key[S_KEY_MAX];
    s_chal_t chal;
    s_rec_t r;
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
    s_key(key, "pend:", name);
    rc = s_rec_save(st, key, &r, false, S_PEND_TTL_MS);
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

/* Replaces name's recovery codes with AUTH_MFA_RECOVERY_CODES new ones, written to w as the
 * array "recovery_codes" (the only time they are shown). Returns 0 or a store error. */
static int
s_rc_new(auth_state_t *st, const char *name, yard_mpw_t *w)
{
    char key[S_KEY_MAX];
    s_key(key, "rc:", name);
    int rc = yard_store_del(st->store, key);
    yard_mpw_key(w, "recovery_codes");
    yard_mpw_array(w);
    for (int i = 0; rc >= 0 && i < AUTH_MFA_RECOVERY_CODES; i++) {
        uint8_t raw[S_RC_BYTES];
        char b32[S_RC_CHARS + 1], shown[S_RC_CHARS + 4], hash[65];
        randombytes_buf(raw, sizeof raw);
        auth_base32_encode(raw, sizeof raw, b32, sizeof b32);
        s_rc_hash(name, b32, hash);
        rc = yard_store_sadd(st->store, key, hash);
        size_t o = 0;
        for (int j = 0; j < S_RC_CHARS; j++) { /* xxxx-xxxx-xxxx-xxxx, lower case */
            if (j && j % 4 == 0) {
                shown[o++] = '-';
            }
            char c = b32[j];
            shown[o++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
        shown[o] = '\0';
        yard_mpw_str(w, shown);
        sodium_memzero(raw, sizeof raw);
        sodium_memzero(b32, sizeof b32);
        sodium_memzero(shown, sizeof shown);
    }
    yard_mpw_end(w);
    return rc < 0 ? rc : 0;
}

int
auth_mfa_confirm(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    char name[AUTH_NAME_MAX + 1], key[S_KEY_MAX], pkey[S_KEY_MAX], code[S_CODE_MAX + 1];
    s_chal_t chal;
    int rc;
    if ((rc = s_caller(st, req, true, name, &chal)) || (rc = s_req_code(req, code))) {
        return rc;
    }
    if ((rc = s_limit(st, req, name)) != 0) {
        sodium_memzero(code, sizeof code);
        return rc;
    }
    s_rec_t r;
    s_key(pkey, "pend:", name);
    rc = s_rec_load(st, pkey, &r);
    if (rc == YARD_E_NOT_FOUND) {
        sodium_memzero(code, sizeof code);
        return auth_fail(req, 409, "CONFLICT", "no enrolment is pending: call mfa.enroll first");
    }
    s_verdict_t v = S_WRONG;
    bool unused;
    if (rc == 0) {
        rc = s_code_check(st, req, name, &r, code, false, &v, &unused);
    }
    sodium_memzero(code, sizeof code);
    if (rc == 0 && v == S_OK) {
        s_key(key, "", name);
        rc = s_rec_save(st, key, &r, true, 0); /* SET NX: one confirmation wins */
        rc = rc == 0 ? 1 : rc == 1 ? 0 : rc;   /* 1: someone else turned it on */
    }
    sodium_memzero(&r, sizeof r);
    if (rc < 0) {
        return auth_fail_store(req, rc);
    }
    if (v != S_OK) {
        return s_code_refused(req, name, v);
    }
    if (rc == 1) {
        return auth_fail(req, 409, "CONFLICT", "two-factor authentication is already on");
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kbool(w, "enabled", true);
    rc = s_rc_new(st, name, w);
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

int
auth_mfa_forget(auth_state_t *st, const char *name)
{
    static const char *const what[] = {"", "pend:", "last:", "rc:"};
    for (size_t i = 0; i < sizeof what / sizeof what[0]; i++) {
        char key[S_KEY_MAX];
        s_key(key, what[i], name);
        int rc = yard_store_del(st->store, key);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

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
    s_chal_t unused;
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
    s_rec_t r;
    s_verdict_t v = S_WRONG;
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
        rc = s_code_check(st, req, name, &r, code, true, &v, &rec_used);
        sodium_memzero(&r, sizeof r);
        rc = rc ? auth_fail_store(req, rc) : 0;
    }
    sodium_memzero(code, sizeof code);
    if (rc != 0) {
        return rc;
    }
    return v == S_OK ? s_disabled(st, req, name, name) : s_code_refused(req, name, v);
}

int
auth_mfa_status(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    char name[AUTH_NAME_MAX + 1], key[S_KEY_MAX];
    const char *user = NULL;
    s_chal_t unused;
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
    s_rec_t r;
    bool on = false, pending = false;
    if ((rc = s_mfa_on(st, name, &r)) == 0) {
        on = true;
    }
    if (rc == YARD_E_NOT_FOUND) {
        s_key(key, "pend:", name);
        rc = s_rec_load(st, key, &r);
        pending = rc == 0;
        rc = rc == YARD_E_NOT_FOUND ? 0 : rc;
    }
    sodium_memzero(r.secret, sizeof r.secret);
    char **members = NULL;
    size_t left = 0;
    s_key(key, "rc:", name);
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
