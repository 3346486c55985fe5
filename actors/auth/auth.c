/* auth: users, scopes, bearer tokens and invitation codes (README.md lists the operations).
 * This file holds the descriptor, the options, start-up (key set, first admin) and what the
 * handler files share: reading scopes and names (on yard/mp.h), checking tokens. */
#include "auth_internal.h"
#include "mfa.h"
#include "oidc.h"

#include "yard/error.h"
#include "yard/log.h"
#include "yard/registry.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_OFF(f) offsetof(auth_opts_t, f)
#define S_DAY_MS (24u * 3600u * 1000u)

static const yard_option_t s_options[] = {
    {"issuer", YARD_OPT_STRING, "switchyard", S_OFF(issuer), "the tokens' iss claim", 0, 0, 0},
    {"audience", YARD_OPT_STRING, "switchyard", S_OFF(audience), "the tokens' aud claim", 0, 0, 0},
    {"alg", YARD_OPT_STRING, "EdDSA", S_OFF(alg),
     "signing algorithm of new keys: EdDSA (Ed25519) or HS256", 0, 0, 0},
    {"access_ttl", YARD_OPT_MS, "15m", S_OFF(access_ttl), "access token lifetime", 60000, S_DAY_MS,
     0},
    {"refresh_ttl", YARD_OPT_MS, "720h", S_OFF(refresh_ttl), "refresh token lifetime", 60000,
     40 * (int64_t)S_DAY_MS, 0},
    {"leeway", YARD_OPT_MS, "30s", S_OFF(leeway), "clock skew allowed on exp, nbf and iat", 1000,
     300000, 0},
    {"key_reload", YARD_OPT_MS, "5s", S_OFF(key_reload),
     "how often a replica re-reads the key set (rotation reaches every replica by then)", 100,
     3600000, 0},
    {"admin_user", YARD_OPT_STRING, NULL, S_OFF(admin_user),
     "first admin, created at start when absent (with admin_password)", 0, 0, 0},
    {"admin_password", YARD_OPT_STRING, NULL, S_OFF(admin_password),
     "the first admin's password (best from a file: admin_password_file, "
     "YARD_AUTH_ADMIN_PASSWORD_FILE)",
     0, 0, YARD_OPT_SECRET},
    {"admin_scope", YARD_OPT_STRING, "admin", S_OFF(admin_scope),
     "the scope that user.*, invite.create/list/revoke, revoke by jti/user and key.rotate need", 0,
     0, 0},
    {"login_burst_user", YARD_OPT_INT, "5", S_OFF(login_burst_user),
     "login attempts per user name in a burst", 1, 100000, 0},
    {"login_per_min_user", YARD_OPT_INT, "5", S_OFF(login_per_min_user),
     "login attempts per user name per minute, sustained", 1, 100000, 0},
    {"login_burst_source", YARD_OPT_INT, "20", S_OFF(login_burst_source),
     "login attempts per source address in a burst", 1, 100000, 0},
    {"login_per_min_source", YARD_OPT_INT, "20", S_OFF(login_per_min_source),
     "login attempts per source address per minute, sustained", 1, 100000, 0},
    {"mfa_issuer", YARD_OPT_STRING, NULL, S_OFF(mfa_issuer),
     "the issuer authenticator apps show for two-factor codes (default: issuer)", 0, 0, 0},
    {"mfa_period", YARD_OPT_MS, "30s", S_OFF(mfa_period),
     "TOTP time step of new enrolments (whole seconds)", 15000, 120000, 0},
    {"mfa_digits", YARD_OPT_INT, "6", S_OFF(mfa_digits), "TOTP digits of new enrolments", 6, 8, 0},
    {"mfa_challenge_ttl", YARD_OPT_MS, "5m", S_OFF(mfa_challenge_ttl),
     "how long the challenge of a login waiting for its second factor lives", 30000, 1800000, 0},
    {"mfa_burst_user", YARD_OPT_INT, "5", S_OFF(mfa_burst_user),
     "two-factor code attempts per user in a burst", 1, 100000, 0},
    {"mfa_per_min_user", YARD_OPT_INT, "1", S_OFF(mfa_per_min_user),
     "two-factor code attempts per user per minute, sustained", 1, 100000, 0},
    {"mfa_required_scopes", YARD_OPT_NODE, NULL, 0,
     "users holding any of these scopes cannot log in without two-factor (a list)", 0, 0, 0},
    {"oidc_providers", YARD_OPT_NODE, NULL, 0,
     "OpenID providers to sign in with (a list: name, issuer, client_id, client_secret_file, "
     "redirect_uri, ...; README)",
     0, 0, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

int64_t
auth_now(void)
{
    return (int64_t)time(NULL);
}

int64_t
auth_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- failures ---------------------------------------------------------------------------- */

int
auth_fail(yard_request_t *req, int status, const char *code, const char *msg)
{
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    yard_request_set_header(req, "http.status", st);
    yard_request_fail(req, YARD_E_SERVICE, code, msg);
    return YARD_E_SERVICE;
}

int
auth_fail_store(yard_request_t *req, int rc)
{
    yard_log(YARD_LOG_ERROR, "state store failed", YF_STR("error", yard_err_name(rc)));
    yard_request_fail(req, YARD_E_UNREACHABLE, NULL, "the state store is not reachable");
    return YARD_E_UNREACHABLE;
}

/* --- fields and replies ------------------------------------------------------------------ */

static bool
s_scope_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > AUTH_SCOPE_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c > 0x7e || c == ',') {
            return false;
        }
    }
    return true;
}

int
auth_scopes_read(const msgpack_object *map, const char *key, msgpack_zone *zone,
                 char scopes[][AUTH_SCOPE_MAX + 1], size_t *n, char *err, size_t errlen)
{
    const char *const *v = NULL;
    size_t count = 0;
    int rc = yard_mp_get_strs(map, key, zone, AUTH_SCOPES_MAX, &v, &count, err, errlen);
    if (rc) {
        return rc;
    }
    for (size_t i = 0; i < count; i++) {
        if (!s_scope_ok(v[i])) {
            yard_mp_field_err(err, errlen, key,
                              "must hold scopes of 1..64 printable characters, no spaces or ','");
            return YARD_E_BAD_REQUEST;
        }
    }
    for (size_t i = 0; i < count; i++) {
        snprintf(scopes[i], AUTH_SCOPE_MAX + 1, "%s", v[i]);
    }
    *n = count;
    return 0;
}

int
auth_req_scopes(yard_request_t *req, const char *key, bool required,
                char scopes[][AUTH_SCOPE_MAX + 1], size_t *n)
{
    *n = 0;
    const msgpack_object *map;
    int rc = yard_req_body_map(req, &map);
    if (rc) {
        return rc;
    }
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 1024)) {
        abort();
    }
    char why[200];
    rc = auth_scopes_read(map, key, &zone, scopes, n, why, sizeof why);
    msgpack_zone_destroy(&zone);
    if (rc == YARD_E_NOT_FOUND && !required) {
        return 0;
    }
    if (rc) {
        yard_request_fail(req, YARD_E_BAD_REQUEST, NULL, why);
        return YARD_E_BAD_REQUEST;
    }
    return 0;
}

int
auth_req_secret(yard_request_t *req, const char *key, char *buf, size_t cap)
{
    const msgpack_object *map;
    int rc = yard_req_body_map(req, &map);
    if (rc) {
        return rc;
    }
    char why[200];
    if (yard_mp_get_strbuf(map, key, buf, cap, why, sizeof why) != 0) {
        yard_request_fail(req, YARD_E_BAD_REQUEST, NULL, why);
        return YARD_E_BAD_REQUEST;
    }
    return 0;
}

int
auth_name_check(yard_request_t *req, const char *name)
{
    size_t n = strlen(name);
    bool ok = n >= 1 && n <= AUTH_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '@' || c == '-' || c == ':';
    }
    if (!ok) {
        return yard_req_fail_field(req, "username",
                                   "must be 1..64 characters of letters, digits and ._@:-");
    }
    return 0;
}

int
auth_req_name(yard_request_t *req, char name[AUTH_NAME_MAX + 1])
{
    const char *v;
    int rc;
    if ((rc = yard_req_str(req, "username", &v)) || (rc = auth_name_check(req, v))) {
        return rc;
    }
    snprintf(name, AUTH_NAME_MAX + 1, "%s", v);
    return 0;
}

int
auth_req_new_password(yard_request_t *req, char hash[AUTH_HASH_MAX])
{
    char pw[AUTH_PASSWORD_MAX + 1];
    int rc = auth_req_secret(req, "password", pw, sizeof pw);
    const char *why = rc ? NULL : auth_password_check(pw, strlen(pw));
    if (why) {
        rc = yard_req_fail_field(req, "password", "is not acceptable: %s", why);
    }
    if (rc == 0 && auth_password_hash(pw, hash) != 0) {
        yard_request_fail(req, YARD_E_INTERNAL, NULL, "password hashing failed");
        rc = YARD_E_INTERNAL;
    }
    sodium_memzero(pw, sizeof pw);
    return rc;
}

void
auth_put_scopes(yard_mpw_t *w, const char *key, char scopes[][AUTH_SCOPE_MAX + 1], size_t n)
{
    yard_mpw_key(w, key);
    yard_mpw_array(w);
    for (size_t i = 0; i < n; i++) {
        yard_mpw_str(w, scopes[i]);
    }
    yard_mpw_end(w);
}

/* --- keys -------------------------------------------------------------------------------- */

static const char S_KEYS[] = "auth:keys";

/* Reads the key set; creates it when the store has none (the first replica to start wins). */
static int
s_keys_load(auth_state_t *st, auth_keyset_t **out)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        char *val = NULL;
        size_t len = 0;
        int rc = yard_store_get(st->store, S_KEYS, &val, &len);
        if (rc == 0) {
            rc = auth_keyset_unpack(val, len, out);
            free(val);
            if (rc != 0) {
                yard_log(YARD_LOG_ERROR, "the stored key set does not decode",
                         YF_STR("key", S_KEYS));
                return YARD_E_INTERNAL;
            }
            return 0;
        }
        if (rc != YARD_E_NOT_FOUND) {
            return rc;
        }
        auth_keyset_t *ks = NULL;
        if (auth_keyset_new(auth_alg_from_name(st->o->alg), auth_now(), &ks) != 0) {
            return YARD_E_CONFIG;
        }
        char *packed = NULL;
        size_t plen = 0;
        auth_keyset_pack(ks, &packed, &plen);
        rc = yard_store_set_nx(st->store, S_KEYS, packed, plen, 0);
        free(packed);
        if (rc == 1) {
            yard_log(YARD_LOG_INFO, "created the signing key set",
                     YF_STR("kid", auth_keyset_current(ks)->kid), YF_STR("alg", st->o->alg));
            *out = ks;
            return 0;
        }
        auth_keyset_destroy(&ks);
        if (rc < 0) {
            return rc;
        }
    }
    return YARD_E_INTERNAL;
}

const auth_keyset_t *
auth_keys(auth_state_t *st, bool force)
{
    int64_t now = auth_mono_ms();
    if (st->keys && !force && now - st->keys_loaded_ms < (int64_t)st->o->key_reload) {
        return st->keys;
    }
    auth_keyset_t *ks = NULL;
    if (s_keys_load(st, &ks) == 0) {
        auth_keyset_destroy(&st->keys);
        st->keys = ks;
        st->keys_loaded_ms = now;
    }
    return st->keys; /* the old set when the store is down: tokens still verify */
}

int
auth_keys_replace(auth_state_t *st, auth_keyset_t *ks)
{
    char *packed = NULL;
    size_t plen = 0;
    auth_keyset_pack(ks, &packed, &plen);
    int rc = yard_store_set(st->store, S_KEYS, packed, plen, 0);
    free(packed);
    if (rc != 0) {
        auth_keyset_destroy(&ks);
        return rc;
    }
    auth_keyset_destroy(&st->keys);
    st->keys = ks;
    st->keys_loaded_ms = auth_mono_ms();
    return 0;
}

/* --- token checks ------------------------------------------------------------------------ */

static int
s_unauthenticated(yard_request_t *req, const char *msg)
{
    yard_request_fail(req, YARD_E_UNAUTHENTICATED, "UNAUTHENTICATED", msg);
    return YARD_E_UNAUTHENTICATED;
}

int
auth_check_token(auth_state_t *st, yard_request_t *req, const char *token, const char *typ,
                 auth_claims_t *out)
{
    auth_verify_opts_t vo = {.iss = st->o->issuer,
                             .aud = st->o->audience,
                             .typ = typ,
                             .now = auth_now(),
                             .leeway_s = st->o->leeway / 1000};
    char why[128] = "";
    const auth_keyset_t *ks = auth_keys(st, false);
    if (!ks) {
        return auth_fail_store(req, YARD_E_UNREACHABLE);
    }
    bool cached = auth_vcache_get(st->vcache, ks, token, &vo, out);
    auth_jwt_err_t e = cached ? AUTH_JWT_OK : auth_jwt_verify(ks, token, &vo, out, why, sizeof why);
    int64_t now_ms = auth_mono_ms();
    if (e == AUTH_JWT_UNKNOWN_KID && now_ms - st->keys_miss_ms >= 1000) {
        /* Another replica may have rotated: look again, at most once a second, so garbage
         * kids cannot make every request a store read. */
        st->keys_miss_ms = now_ms;
        ks = auth_keys(st, true);
        e = auth_jwt_verify(ks, token, &vo, out, why, sizeof why);
    }
    if (e != AUTH_JWT_OK) {
        return s_unauthenticated(req, why);
    }
    if (!cached) {
        auth_vcache_put(st->vcache, token, out);
    }
    /* Revocation: the token, its session and its user's generation, read in one round trip. */
    char rev[AUTH_ID_MAX + 16], fam[AUTH_ID_MAX + 16], gen[AUTH_SUB_MAX + 16];
    snprintf(rev, sizeof rev, "auth:rev:%s", out->jti);
    snprintf(fam, sizeof fam, "auth:fam:%s", out->fam[0] ? out->fam : "-");
    snprintf(gen, sizeof gen, "auth:gen:%s", out->sub);
    const char *keys[3] = {rev, fam, gen};
    char *vals[3];
    size_t lens[3];
    int rc = yard_store_mget(st->store, keys, 3, vals, lens);
    if (rc != 0) {
        return auth_fail_store(req, rc);
    }
    int64_t current = vals[2] ? strtoll(vals[2], NULL, 10) : 0;
    rc = (vals[0] || (out->fam[0] && vals[1]) || current != out->gen) ? 1 : 0;
    for (int i = 0; i < 3; i++) {
        free(vals[i]);
    }
    return rc == 1 ? s_unauthenticated(req, "the token was revoked") : 0;
}

static bool
s_has_scope(const auth_claims_t *c, const char *scope)
{
    for (size_t i = 0; i < c->nscopes; i++) {
        if (strcmp(c->scopes[i], scope) == 0) {
            return true;
        }
    }
    return false;
}

int
auth_require_admin(auth_state_t *st, yard_request_t *req, auth_claims_t *caller)
{
    const char *token = yard_request_header(req, "auth.token");
    if (!token) {
        return s_unauthenticated(req, "this operation needs the caller's access token in the "
                                      "'auth.token' header");
    }
    auth_claims_t c;
    int rc = auth_check_token(st, req, token, "access", &c);
    if (rc != 0) {
        return rc;
    }
    if (!s_has_scope(&c, st->o->admin_scope)) {
        char msg[128];
        snprintf(msg, sizeof msg, "this operation needs the '%s' scope", st->o->admin_scope);
        yard_request_fail(req, YARD_E_FORBIDDEN, "FORBIDDEN", msg);
        return YARD_E_FORBIDDEN;
    }
    if (caller) {
        *caller = c;
    }
    return 0;
}

/* --- life cycle -------------------------------------------------------------------------- */

static void
s_fini(void *state)
{
    auth_state_t *st = state;
    auth_keyset_destroy(&st->keys);
    auth_vcache_destroy(&st->vcache);
    oidc_destroy(&st->oidc);
}

static int
s_init(void *state, const yard_actor_env_t *env)
{
    auth_state_t *st = state;
    st->o = env->options;
    st->store = env->store;
    if (!auth_alg_from_name(st->o->alg)) {
        yard_log(YARD_LOG_ERROR, "auth: alg must be EdDSA or HS256", YF_STR("alg", st->o->alg));
        return YARD_E_CONFIG;
    }
    if (sodium_init() < 0) {
        return YARD_E_INTERNAL;
    }
    st->vcache = auth_vcache_new(1024);
    int rc = 0;
    if (!auth_keys(st, true)) {
        yard_log(YARD_LOG_ERROR, "auth: no key set (is the store reachable?)");
        rc = YARD_E_UNREACHABLE;
    }
    /* Every replica, so none answers a login before the first admin exists (SET NX: one of
     * them writes it). */
    if (rc == 0) {
        rc = auth_users_bootstrap(st);
    }
    if (rc == 0) {
        rc = auth_mfa_init(st, env->config);
    }
    if (rc == 0) {
        rc = oidc_config_load(env->config, &st->oidc);
    }
    if (rc != 0) {
        s_fini(st); /* the runtime runs fini only after a successful init */
    }
    return rc;
}

static const yard_handler_def_t s_handlers[] = {
    {"login", auth_login, "{username, password} -> {access_token, refresh_token, ...}"},
    {"verify", auth_verify, "{token, scopes?} -> {sub, scopes, exp}"},
    {"refresh", auth_refresh, "{refresh_token} -> a new pair (the old one is spent)"},
    {"revoke", auth_revoke, "{token} | {jti} | {user}"},
    {"logout", auth_logout, "{refresh_token} or {token}: ends the session"},
    {"user.create", auth_user_create, "{username, password, scopes} (admin)"},
    {"user.get", auth_user_get, "{username} (admin)"},
    {"user.list", auth_user_list, "{} (admin)"},
    {"user.delete", auth_user_delete, "{username} (admin)"},
    {"user.set_scopes", auth_user_set_scopes, "{username, scopes} (admin)"},
    {"user.set_password", auth_user_set_password, "{username, password} (admin)"},
    {"invite.create", auth_invite_create, "{scopes, uses, expires_in, note} -> {code} (admin)"},
    {"invite.redeem", auth_invite_redeem, "{code, username, password} | {code, telegram_id}"},
    {"invite.list", auth_invite_list, "{} (admin)"},
    {"invite.revoke", auth_invite_revoke, "{id} (admin)"},
    {"key.rotate", auth_key_rotate, "{} -> {kid, alg} (admin)"},
    {"telegram.check", auth_telegram_check,
     "{telegram_id, scope?} -> {username, scopes, allowed} (NOT_LINKED when none)"},
    {"login.mfa", auth_login_mfa, "{challenge, code} -> the pair, as login (after MFA_REQUIRED)"},
    {"mfa.enroll", auth_mfa_enroll, "{} (own token) | {challenge} -> {otpauth_uri, secret}"},
    {"mfa.confirm", auth_mfa_confirm, "{code} -> {enabled, recovery_codes} (shown once)"},
    {"mfa.disable", auth_mfa_disable, "{code} (own token) | {username} (admin)"},
    {"mfa.status", auth_mfa_status, "{} (own token) | {username} (admin)"},
    {"oidc.start", auth_oidc_start, "{provider} -> {redirect_url, state} (302 via the gateway)"},
    {"oidc.callback", auth_oidc_callback, "{provider, code, state} -> the pair, as login"},
    {NULL, NULL, NULL},
};

/* Ops whose bodies carry passwords, tokens or invitation codes, one way or the other: the
 * broker never shows their bodies to `yard tap` (docs/protocol.md, "Taps"). logout and revoke
 * take tokens; key.rotate answers only a key id and algorithm. */
static const char *const s_sensitive[] = {
    "login",    "refresh",   "verify", "logout", "revoke", "user.*",
    "invite.*", "login.mfa", "mfa.*",  "oidc.*", NULL,
};

const yard_actor_def_t yard_actor_auth = {
    .name = "auth",
    .description = "users, scopes, bearer tokens (JWT) and invitation codes",
    .handlers = s_handlers,
    .options = s_options,
    .options_size = sizeof(auth_opts_t),
    .state_size = sizeof(auth_state_t),
    .credit = 16,
    .stateful = true,
    .sensitive = s_sensitive,
    .init = s_init,
    .fini = s_fini,
};
