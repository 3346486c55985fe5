/* oidc.start and oidc.callback: sign-in with an OpenID provider, authorization code flow with
 * PKCE (OpenID Connect Core 1.0 3.1; RFC 7636), ending in our own token pair as from login.
 *
 * start: state, nonce and the PKCE verifier are 256 random bits each (base64url); the store
 * keeps them under the state for OIDC_STATE_TTL_MS; the reply is the provider's authorization
 * URL with the S256 challenge (and, for the gateway, a 302 to it).
 * callback: the state is deleted first (one DEL answers 1 to exactly one caller, on any
 * replica: a replayed state finds nothing), then the code is exchanged at the token endpoint
 * (client_secret_basic, the verifier, the same redirect_uri), the ID token is checked
 * (oidc_jwt.h, with the nonce from the state), the claims are mapped to a local user, and a
 * session starts. Codes, verifiers, tokens and the client secret are never logged or put in an
 * error text; the provider's OAuth error code (invalid_grant, ...) is. */
#include "mfa.h"
#include "oidc.h"
#include "oidc_jwt.h"

#include "yard/error.h"
#include "yard/http.h"
#include "yard/log.h"
#include "yard/mp.h"

#include <gnutls/crypto.h>
#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OIDC_STATE_TTL_MS (10 * 60 * 1000) /* how long a started sign-in can be completed */
#define S_RAND_LEN        44               /* 32 random bytes in base64url, with its NUL */
#define S_CODE_MAX        2048             /* authorization codes accepted, bytes */

/* One callback on its way through discovery, the code exchange and the JWKS. */
typedef struct {
    auth_state_t *st;
    yard_ctx_t *ctx;
    oidc_provider_t *p;
    yard_deferred_t *d;
    char code[S_CODE_MAX + 1];
    char nonce[S_RAND_LEN], verifier[S_RAND_LEN];
    char invite[AUTH_INVITE_ID_MAX + 1]; /* the invitation's id, "" when none was given */
    char *id_token;
    bool refetched;
} s_flow_t;

static void
s_flow_free(s_flow_t *f)
{
    if (f->id_token) {
        sodium_memzero(f->id_token, strlen(f->id_token));
        free(f->id_token);
    }
    sodium_memzero(f, sizeof *f);
    free(f);
}

/* Fails the deferred request (HTTP status for the gateway when not 0) and frees the flow. */
static void
s_flow_fail(s_flow_t *f, int err, int status, const char *code, const char *msg)
{
    if (!status) { /* the gateway maps an app code it does not know to 500: say it */
        status = err == YARD_E_UNAUTHENTICATED ? 401 : err == YARD_E_FORBIDDEN ? 403 : 0;
    }
    if (status) {
        char s[8];
        snprintf(s, sizeof s, "%d", status);
        yard_deferred_set_header(f->d, "http.status", s);
    }
    yard_log(YARD_LOG_INFO, "auth: OpenID sign-in refused", YF_STR("provider", f->p->name),
             YF_STR("why", msg));
    yard_deferred_fail(&f->d, err, code, msg);
    s_flow_free(f);
}

/* --- helpers ------------------------------------------------------------------------------ */

static void
s_pct(char *out, size_t cap, const char *s)
{
    size_t o = strlen(out);
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
        }
    }
    out[o] = '\0';
}

/* "&key=<value percent-encoded>" appended to out. */
static void
s_param(char *out, size_t cap, const char *key, const char *value)
{
    size_t o = strlen(out);
    snprintf(out + o, cap - o, "&%s=", key);
    s_pct(out, cap, value);
}

static void
s_challenge(const char *verifier, char out[S_RAND_LEN])
{
    unsigned char h[32];
    gnutls_hash_fast(GNUTLS_DIG_SHA256, verifier, strlen(verifier), h);
    sodium_bin2base64(out, S_RAND_LEN, h, sizeof h, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void
s_state_key(char *key, size_t cap, const char *state)
{
    snprintf(key, cap, "auth:oidc:st:%s", state);
}

/* --- oidc.start --------------------------------------------------------------------------- */

typedef struct {
    auth_state_t *st;
    oidc_provider_t *p;
    yard_deferred_t *d;
    char invite[AUTH_INVITE_ID_MAX + 1]; /* "" when none */
} s_start_t;

static void
s_start_fail(s_start_t *s, int err, const char *msg)
{
    yard_deferred_fail(&s->d, err, NULL, msg);
    free(s);
}

static void
s_start_ready(void *arg, int err, const char *why)
{
    s_start_t *s = arg;
    oidc_provider_t *p = s->p;
    if (err) {
        char msg[200];
        snprintf(msg, sizeof msg, "OpenID provider '%s': %s", p->name, why);
        s_start_fail(s, YARD_E_UNREACHABLE, msg);
        return;
    }
    char state[S_RAND_LEN], nonce[S_RAND_LEN], verifier[S_RAND_LEN], challenge[S_RAND_LEN];
    auth_random_id(state, sizeof state, 32);
    auth_random_id(nonce, sizeof nonce, 32);
    auth_random_id(verifier, sizeof verifier, 32); /* 43 characters: RFC 7636 4.1's minimum */
    s_challenge(verifier, challenge);
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "p", p->name);
    yard_mpw_kstr(w, "n", nonce);
    yard_mpw_kstr(w, "v", verifier);
    if (s->invite[0]) {
        yard_mpw_kstr(w, "i", s->invite);
    }
    yard_mpw_end(w);
    const void *mp = NULL;
    size_t size = 0;
    char key[96];
    s_state_key(key, sizeof key, state);
    int rc = yard_mpw_finish(w, &mp, &size);
    if (rc == 0) {
        rc = yard_store_set(s->st->store, key, mp, size, OIDC_STATE_TTL_MS);
    }
    yard_mpw_destroy(&w);
    sodium_memzero(verifier, sizeof verifier);
    if (rc != 0) {
        s_start_fail(s, YARD_E_UNREACHABLE, "the state store is not reachable");
        return;
    }
    char url[4 * OIDC_URL_MAX + 512];
    snprintf(url, sizeof url, "%s%cresponse_type=code", p->authorization_endpoint,
             strchr(p->authorization_endpoint, '?') ? '&' : '?');
    s_param(url, sizeof url, "client_id", p->client_id);
    s_param(url, sizeof url, "redirect_uri", p->redirect_uri);
    s_param(url, sizeof url, "scope", p->scope);
    s_param(url, sizeof url, "state", state);
    s_param(url, sizeof url, "nonce", nonce);
    s_param(url, sizeof url, "code_challenge", challenge);
    s_param(url, sizeof url, "code_challenge_method", "S256");
    w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "redirect_url", url);
    yard_mpw_kstr(w, "state", state);
    yard_mpw_kint(w, "expires_in", OIDC_STATE_TTL_MS / 1000);
    yard_mpw_end(w);
    /* Through the gateway: a 302 to the provider; never cached. */
    yard_deferred_set_header(s->d, "http.status", "302");
    yard_deferred_set_header(s->d, "http.header.Location", url);
    yard_deferred_set_header(s->d, "http.header.Cache-Control", "no-store");
    if (yard_mpw_finish(w, &mp, &size) == 0) {
        yard_deferred_reply(&s->d, mp, size);
    } else {
        yard_deferred_fail(&s->d, YARD_E_INTERNAL, NULL, "could not build the reply");
    }
    yard_mpw_destroy(&w);
    free(s);
}

/* The value of key in a raw query string ("a=1&b=x%2Fy"), percent- and '+'-decoded into out;
 * false when absent, longer than cap - 1, or holding a NUL or a bad escape. */
static bool
s_query_param(const char *q, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (const char *p = q; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, key, klen) != 0 || p[klen] != '=') {
            continue;
        }
        size_t o = 0;
        for (const char *v = p + klen + 1; *v && *v != '&'; v++) {
            unsigned hi, lo;
            char c = *v;
            if (c == '%' && sscanf(v + 1, "%1x%1x", &hi, &lo) == 2) {
                c = (char)(hi << 4 | lo);
                v += 2;
            } else if (c == '%') {
                return false;
            } else if (c == '+') {
                c = ' ';
            }
            if (c == '\0' || o + 1 >= cap) {
                return false;
            }
            out[o++] = c;
        }
        out[o] = '\0';
        return true;
    }
    return false;
}

/* A string field from the body; else (a GET through the gateway) from the path parameter
 * http.param.<key> or the query. Returns 0 with *out (borrowed from req, or copied into buf),
 * YARD_E_NOT_FOUND when it is nowhere (req untouched), or fails req naming the field. */
static int
s_field(yard_request_t *req, const char *key, size_t max, char *buf, size_t cap, const char **out)
{
    int rc = yard_req_str_max_or(req, key, max, NULL, out);
    if (rc || *out) {
        return rc;
    }
    char hdr[64];
    snprintf(hdr, sizeof hdr, "http.param.%s", key);
    const char *v = yard_request_header(req, hdr);
    const char *q = yard_request_header(req, "http.query");
    if (v && strlen(v) < cap && strlen(v) <= max) {
        snprintf(buf, cap, "%s", v);
    } else if (!v && q && s_query_param(q, key, buf, cap) && strlen(buf) <= max) {
        v = buf;
    } else if (v || (q && s_query_param(q, key, buf, cap))) {
        return yard_req_fail_field(req, key, "must be a string of at most %zu bytes", max);
    } else {
        return YARD_E_NOT_FOUND;
    }
    *out = buf;
    return 0;
}

static oidc_provider_t *
s_req_provider(auth_state_t *st, yard_request_t *req)
{
    const char *name;
    char buf[OIDC_NAME_MAX + 2];
    int rc = s_field(req, "provider", OIDC_NAME_MAX, buf, sizeof buf, &name);
    if (rc == YARD_E_NOT_FOUND) {
        yard_req_fail_field(req, "provider", "is required");
    }
    if (rc) {
        return NULL;
    }
    oidc_provider_t *p = oidc_find(st->oidc, name);
    if (!p) {
        yard_req_fail_field(req, "provider", "names no configured OpenID provider");
    }
    return p;
}

int
auth_oidc_start(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    oidc_provider_t *p = s_req_provider(st, req);
    if (!p) {
        return 0;
    }
    s_start_t *s = calloc(1, sizeof *s);
    if (!s) {
        abort();
    }
    /* Each start keeps a state in the store for 10 minutes: bounded per source address (the
     * gateway's client, else X-Forwarded-For, else "bus"), in buckets shared by replicas. */
    const char *src = yard_request_header(req, "http.peer");
    char sbuf[64];
    if (!src) {
        src = yard_request_header(req, "http.header.x-forwarded-for");
    }
    snprintf(sbuf, sizeof sbuf, "%s:%.*s", p->name, src ? (int)strcspn(src, ", ") : 3,
             src ? src : "bus");
    int rc = auth_rate_take(st, req, "o", sbuf, p->starts_per_min, p->starts_per_min,
                            "too many sign-ins started from here; retry later");
    if (rc != 0) {
        free(s);
        return rc;
    }
    s->st = st;
    s->p = p;
    /* An invitation code (only a hash of it is kept) for a sign-in that creates the user. */
    const char *code = NULL;
    char cbuf[80];
    rc = s_field(req, "invite", 64, cbuf, sizeof cbuf, &code);
    if (rc == 0 && auth_invite_id(code, s->invite) != 0) {
        rc = yard_req_fail_field(req, "invite", "must be an invitation code");
    }
    sodium_memzero(cbuf, sizeof cbuf);
    if (rc != 0 && rc != YARD_E_NOT_FOUND) {
        free(s);
        return 0;
    }
    yard_ctx_t *ctx = yard_request_ctx(req);
    s->d = yard_request_defer(req);
    if (!s->d) {
        free(s);
        return YARD_E_INTERNAL;
    }
    oidc_discover(ctx, p, s_start_ready, s);
    return 0;
}

/* The local user for a verified ID token, then our token pair. */
static void
s_sign_in(s_flow_t *f, const oidc_id_token_t *t)
{
    auth_user_t u;
    oidc_refusal_t why = {0};
    int rc = oidc_user_for(f->st, f->p, t, f->invite, &u, &why);
    if (rc != 0) {
        s_flow_fail(f, why.err, 0, why.code, why.msg);
        return;
    }
    /* The provider proved who this is; a local second factor (or the scope policy) still
     * applies, exactly as after a password: login.mfa completes it. */
    auth_mfa_gate_t g;
    rc = auth_mfa_gate(f->st, &u, f->ctx ? yard_ctx_wall_ms(f->ctx) : auth_now() * 1000, &g);
    if (rc < 0) {
        s_flow_fail(f, YARD_E_UNREACHABLE, 503, NULL, "the state store is not reachable");
        return;
    }
    if (rc == 1) {
        yard_deferred_set_header(f->d, "auth.mfa_challenge", g.challenge);
        yard_deferred_set_header(f->d, "http.header.X-MFA-Challenge", g.challenge);
        sodium_memzero(g.challenge, sizeof g.challenge);
        s_flow_fail(f, YARD_E_SERVICE, g.status, g.code, g.msg);
        return;
    }
    char fam[32];
    auth_random_id(fam, sizeof fam, 16);
    yard_mpw_t *w = NULL;
    rc = auth_issue_mpw(f->st, &u, fam, &w);
    if (rc != 0) {
        s_flow_fail(f, rc, 0, NULL, "could not issue the tokens");
        return;
    }
    const void *mp = NULL;
    size_t size = 0;
    yard_mpw_finish(w, &mp, &size);
    yard_log(YARD_LOG_INFO, "auth: OpenID sign-in", YF_STR("user", u.name),
             YF_STR("provider", f->p->name));
    yard_deferred_set_header(f->d, "http.header.Cache-Control", "no-store");
    yard_deferred_reply(&f->d, mp, size);
    yard_mpw_destroy(&w); /* auth_issue_mpw wrote the tokens; the writer's buffer is freed */
    s_flow_free(f);
}

/* --- oidc.callback: the ID token -------------------------------------------------------- */

static void s_keys_ready(void *arg, int err, const char *why);

static void
s_check_id_token(s_flow_t *f)
{
    oidc_verify_opts_t o = {.iss = f->p->issuer,
                            .client_id = f->p->client_id,
                            .nonce = f->nonce,
                            .now = auth_now(),
                            .leeway_s = f->st->o->leeway / 1000};
    oidc_id_token_t t;
    char why[128], msg[200];
    oidc_jwt_err_t e = oidc_jwt_verify(f->p->jwks, f->id_token, &o, &t, why, sizeof why);
    if (e == OIDC_JWT_UNKNOWN_KID && !f->refetched) {
        f->refetched = true; /* the provider may have rotated its keys: look once */
        oidc_jwks_load(f->ctx, f->p, true, s_keys_ready, f);
        return;
    }
    if (e != OIDC_JWT_OK) {
        snprintf(msg, sizeof msg, "the provider's ID token was refused: %s", why);
        yard_log(YARD_LOG_WARN, "auth: ID token refused", YF_STR("provider", f->p->name),
                 YF_STR("why", why));
        s_flow_fail(f, YARD_E_UNAUTHENTICATED, 0, "ID_TOKEN_REFUSED", msg);
        return;
    }
    s_sign_in(f, &t);
    oidc_id_token_clear(&t);
}

static void
s_keys_ready(void *arg, int err, const char *why)
{
    s_flow_t *f = arg;
    if (err && !f->p->jwks) {
        char msg[200];
        snprintf(msg, sizeof msg, "OpenID provider '%s': %s", f->p->name, why);
        s_flow_fail(f, YARD_E_UNREACHABLE, 0, NULL, msg);
        return;
    }
    s_check_id_token(f);
}

/* --- oidc.callback: the code exchange --------------------------------------------------- */

static void
s_token_done(const yard_http_resp_t *resp, void *arg)
{
    s_flow_t *f = arg;
    char msg[200], oerr[64] = "";
    int status = yard_http_resp_status(resp);
    if (yard_http_resp_error(resp) != 0) {
        snprintf(msg, sizeof msg, "OpenID provider '%s': the token endpoint did not answer",
                 f->p->name);
        s_flow_fail(f, YARD_E_UNREACHABLE, 0, NULL, msg);
        return;
    }
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 2048)) {
        abort();
    }
    void *mp = NULL;
    size_t size = 0;
    msgpack_object doc;
    const char *idt = NULL;
    bool json = yard_http_resp_json(resp, &mp, &size, NULL, 0) == 0 &&
                yard_mp_decode(mp, size, &zone, &doc, NULL, 0) == 0;
    if (json && status == 200) {
        yard_mp_get_cstr(&doc, "id_token", &zone, &idt, NULL, 0);
    } else if (json) {
        yard_mp_get_strbuf(&doc, "error", oerr, sizeof oerr, NULL, 0); /* RFC 6749 5.2 */
    }
    if (idt && strlen(idt) <= OIDC_ID_TOKEN_MAX) {
        f->id_token = strdup(idt);
    }
    if (mp) {
        sodium_memzero(mp, size); /* it held the provider's tokens */
    }
    msgpack_zone_destroy(&zone);
    free(mp);
    if (!f->id_token) {
        snprintf(msg, sizeof msg, "OpenID provider '%s' refused the code: %s (HTTP %d)", f->p->name,
                 oerr[0] ? oerr : "no ID token in the answer", status);
        s_flow_fail(f, YARD_E_UNAUTHENTICATED, 0, "CODE_REFUSED", msg);
        return;
    }
    oidc_jwks_load(f->ctx, f->p, false, s_keys_ready, f);
}

/* "Basic base64(urlencode(id):urlencode(secret))" (RFC 6749 2.3.1). Caller wipes it. */
static void
s_basic(const oidc_provider_t *p, char *out, size_t cap)
{
    char cred[1024] = "";
    s_pct(cred, sizeof cred, p->client_id);
    strncat(cred, ":", sizeof cred - strlen(cred) - 1);
    s_pct(cred, sizeof cred, p->client_secret);
    snprintf(out, cap, "Basic ");
    sodium_bin2base64(out + 6, cap - 6, (const unsigned char *)cred, strlen(cred),
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(cred, sizeof cred);
}

static void
s_exchange(void *arg, int err, const char *why)
{
    s_flow_t *f = arg;
    char msg[200];
    if (err) {
        snprintf(msg, sizeof msg, "OpenID provider '%s': %s", f->p->name, why);
        s_flow_fail(f, YARD_E_UNREACHABLE, 0, NULL, msg);
        return;
    }
    char body[S_CODE_MAX * 3 + 2 * OIDC_URL_MAX + 256] = "grant_type=authorization_code";
    s_param(body, sizeof body, "code", f->code);
    s_param(body, sizeof body, "redirect_uri", f->p->redirect_uri);
    s_param(body, sizeof body, "code_verifier", f->verifier);
    char auth[1500];
    s_basic(f->p, auth, sizeof auth);
    yard_http_t *h = yard_ctx_http(f->ctx);
    yard_http_req_t *req = NULL;
    int rc = h ? yard_http_req_new("POST", f->p->token_endpoint, &req) : YARD_E_INTERNAL;
    if (rc == 0) {
        yard_http_req_header(req, "Authorization", auth); /* a secret: never shown */
        yard_http_req_header(req, "Accept", "application/json");
        yard_http_req_body(req, body, strlen(body), "application/x-www-form-urlencoded");
        yard_http_req_timeout(req, 10000);
        rc = yard_http_send(h, &req, s_token_done, f); /* no retries: a code works once */
    }
    sodium_memzero(auth, sizeof auth);
    sodium_memzero(body, sizeof body);
    if (rc != 0) {
        yard_http_req_destroy(&req);
        s_flow_fail(f, YARD_E_UNREACHABLE, 0, NULL, "could not reach the token endpoint");
    }
}

/* Takes the state: deletes it (exactly one caller gets it) and reads nonce and verifier. */
static int
s_take_state(s_flow_t *f, yard_request_t *req, const char *state)
{
    char key[200], pname[OIDC_NAME_MAX + 1] = "";
    s_state_key(key, sizeof key, state);
    char *val = NULL;
    size_t len = 0;
    int rc = yard_store_get(f->st->store, key, &val, &len);
    int del = rc == 0 ? yard_store_del(f->st->store, key) : 0;
    if (rc != 0 && rc != YARD_E_NOT_FOUND) {
        return auth_fail_store(req, rc);
    }
    if (del < 0) {
        free(val);
        return auth_fail_store(req, del);
    }
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 512)) {
        abort();
    }
    msgpack_object o;
    bool ok =
        del == 1 && yard_mp_decode(val, len, &zone, &o, NULL, 0) == 0 &&
        yard_mp_get_strbuf(&o, "p", pname, sizeof pname, NULL, 0) == 0 &&
        yard_mp_get_strbuf(&o, "n", f->nonce, sizeof f->nonce, NULL, 0) == 0 &&
        yard_mp_get_strbuf(&o, "v", f->verifier, sizeof f->verifier, NULL, 0) == 0 &&
        yard_mp_get_strbuf(&o, "i", f->invite, sizeof f->invite, NULL, 0) != YARD_E_BAD_REQUEST &&
        strcmp(pname, f->p->name) == 0;
    msgpack_zone_destroy(&zone);
    if (val) {
        sodium_memzero(val, len);
    }
    free(val);
    if (!ok) {
        yard_request_fail(req, YARD_E_UNAUTHENTICATED, "UNAUTHENTICATED",
                          "unknown, expired or already used state");
        return YARD_E_UNAUTHENTICATED;
    }
    return 0;
}

int
auth_oidc_callback(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    oidc_provider_t *p = s_req_provider(st, req);
    const char *st_in = NULL, *err_in = NULL, *code = NULL;
    char sbuf[130], ebuf[66], cbuf[S_CODE_MAX + 2];
    if (!p) {
        return 0;
    }
    int rc = s_field(req, "state", 128, sbuf, sizeof sbuf, &st_in);
    if (rc == 0) {
        rc = s_field(req, "error", 64, ebuf, sizeof ebuf, &err_in);
        rc = rc == YARD_E_NOT_FOUND ? 0 : rc;
    }
    if (rc == 0 && !err_in) {
        rc = s_field(req, "code", S_CODE_MAX, cbuf, sizeof cbuf, &code);
    }
    if (rc == YARD_E_NOT_FOUND) {
        return yard_req_fail_field(req, st_in ? "code" : "state", "is required");
    }
    if (rc) {
        return 0;
    }
    s_flow_t *f = calloc(1, sizeof *f);
    if (!f) {
        abort();
    }
    *f = (s_flow_t){.st = st, .ctx = yard_request_ctx(req), .p = p};
    if (s_take_state(f, req, st_in) != 0) {
        s_flow_free(f);
        return 0;
    }
    if (err_in) { /* the provider sent the user back with an error (access_denied, ...) */
        char msg[128];
        snprintf(msg, sizeof msg, "the provider answered %.64s", err_in);
        yard_log(YARD_LOG_INFO, "auth: OpenID provider sent an error back",
                 YF_STR("provider", p->name), YF_STR("error", err_in));
        s_flow_free(f);
        yard_request_set_header(req, "http.status", "401");
        yard_request_fail(req, YARD_E_UNAUTHENTICATED, "PROVIDER_ERROR", msg);
        return 0;
    }
    snprintf(f->code, sizeof f->code, "%s", code);
    f->d = yard_request_defer(req);
    if (!f->d) {
        s_flow_free(f);
        return YARD_E_INTERNAL;
    }
    oidc_discover(f->ctx, p, s_exchange, f);
    return 0;
}
