/* A fake OpenID provider (oidc_fake.h): keys and JWS signing with GnuTLS. */
#include "oidc_fake.h"

#include "http_fake.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct of_key {
    of_alg_t alg;
    char kid[128];
    gnutls_privkey_t priv;
    gnutls_pubkey_t pub;
};

static void
s_check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "oidc_fake: %s: %s\n", what, gnutls_strerror(rc));
        abort();
    }
}

static of_key_t *
s_key_new(of_alg_t alg, gnutls_pk_algorithm_t pk, unsigned bits, const char *kid)
{
    of_key_t *k = yh_http_fake_xcalloc(sizeof *k);
    k->alg = alg;
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    s_check(gnutls_privkey_init(&k->priv), "privkey_init");
    s_check(gnutls_privkey_generate2(k->priv, pk, bits, 0, NULL, 0), "privkey_generate2");
    s_check(gnutls_pubkey_init(&k->pub), "pubkey_init");
    s_check(gnutls_pubkey_import_privkey(k->pub, k->priv, 0, 0), "pubkey_import_privkey");
    return k;
}

of_key_t *
of_key_new(of_alg_t alg, const char *kid)
{
    switch (alg) {
    case OF_RS256:
        return s_key_new(alg, GNUTLS_PK_RSA, 2048, kid);
    case OF_ES256:
        return s_key_new(alg, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
                         kid);
    case OF_EDDSA:
        break;
    }
    return s_key_new(alg, GNUTLS_PK_EDDSA_ED25519, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519),
                     kid);
}

of_key_t *
of_key_new_rsa(unsigned bits, const char *kid)
{
    return s_key_new(OF_RS256, GNUTLS_PK_RSA, bits, kid);
}

void
of_key_destroy(of_key_t **k_p)
{
    of_key_t *k = k_p ? *k_p : NULL;
    if (!k) {
        return;
    }
    gnutls_privkey_deinit(k->priv);
    gnutls_pubkey_deinit(k->pub);
    free(k);
    *k_p = NULL;
}

const char *
of_key_kid(const of_key_t *k)
{
    return k->kid;
}

const char *
of_key_alg(const of_key_t *k)
{
    return k->alg == OF_RS256 ? "RS256" : k->alg == OF_ES256 ? "ES256" : "EdDSA";
}

/* Appends base64url (no padding) of n bytes, left-padded with zeros to width bytes. */
static void
s_add_b64(yh_text_t *t, const unsigned char *p, size_t n, size_t width)
{
    size_t pad = width > n ? width - n : 0;
    unsigned char *buf = yh_http_fake_xcalloc(n + pad + 1);
    if (n) {
        memcpy(buf + pad, p, n);
    }
    size_t cap = (n + pad) / 3 * 4 + 8;
    char *out = yh_http_fake_xcalloc(cap);
    yh_text_add(t, "%s", yh_base64(buf, n + pad, true, out, cap));
    free(out);
    free(buf);
}

char *
of_key_jwk(const of_key_t *k, const char *alg)
{
    yh_text_t t = {0};
    gnutls_datum_t a = {0}, b = {0};
    if (k->alg == OF_RS256) {
        s_check(gnutls_pubkey_export_rsa_raw2(k->pub, &a, &b, GNUTLS_EXPORT_FLAG_NO_LZ),
                "export_rsa_raw2");
        yh_text_add(&t, "{\"kty\":\"RSA\",\"n\":\"");
        s_add_b64(&t, a.data, a.size, 0);
        yh_text_add(&t, "\",\"e\":\"");
        s_add_b64(&t, b.data, b.size, 0);
    } else {
        gnutls_ecc_curve_t curve;
        s_check(gnutls_pubkey_export_ecc_raw2(k->pub, &curve, &a, k->alg == OF_ES256 ? &b : NULL,
                                              GNUTLS_EXPORT_FLAG_NO_LZ),
                "export_ecc_raw2");
        yh_text_add(&t, "{\"kty\":\"%s\",\"crv\":\"%s\",\"x\":\"",
                    k->alg == OF_ES256 ? "EC" : "OKP", k->alg == OF_ES256 ? "P-256" : "Ed25519");
        s_add_b64(&t, a.data, a.size, 32);
        if (k->alg == OF_ES256) {
            yh_text_add(&t, "\",\"y\":\"");
            s_add_b64(&t, b.data, b.size, 32);
        }
    }
    gnutls_free(a.data);
    gnutls_free(b.data);
    yh_text_add(&t, "\",\"kid\":");
    yh_text_json_str(&t, k->kid);
    yh_text_add(&t, ",\"use\":\"sig\"");
    if (!alg || alg[0]) {
        yh_text_add(&t, ",\"alg\":\"%s\"", alg ? alg : of_key_alg(k));
    }
    yh_text_add(&t, "}");
    return t.s;
}

char *
of_key_pem(const of_key_t *k)
{
    gnutls_datum_t pem = {0};
    s_check(gnutls_pubkey_export2(k->pub, GNUTLS_X509_FMT_PEM, &pem), "pubkey_export2");
    char *s = yh_http_fake_xcalloc(pem.size + 1);
    memcpy(s, pem.data, pem.size);
    gnutls_free(pem.data);
    return s;
}

/* "b64(header).b64(payload)" */
static yh_text_t
s_signing_input(const char *header, const char *payload)
{
    yh_text_t t = {0};
    s_add_b64(&t, (const unsigned char *)header, strlen(header), 0);
    yh_text_add(&t, ".");
    s_add_b64(&t, (const unsigned char *)payload, strlen(payload), 0);
    return t;
}

char *
of_jws_raw(const char *header, const char *payload, const void *sig, size_t siglen)
{
    yh_text_t t = s_signing_input(header, payload);
    yh_text_add(&t, ".");
    s_add_b64(&t, sig, siglen, 0);
    return t.s;
}

char *
of_jws_hs256(const char *header, const char *payload, const void *secret, size_t secretlen)
{
    yh_text_t t = s_signing_input(header, payload);
    unsigned char mac[32];
    s_check(gnutls_hmac_fast(GNUTLS_MAC_SHA256, secret, secretlen, t.s, t.n, mac), "hmac_fast");
    yh_text_add(&t, ".");
    s_add_b64(&t, mac, sizeof mac, 0);
    return t.s;
}

/* An ECDSA DER signature as JWS wants it: r and s, each left-padded to 32 bytes. */
static void
s_raw_rs(const gnutls_datum_t *der, unsigned char out[64])
{
    gnutls_datum_t r = {0}, s = {0};
    s_check(gnutls_decode_rs_value(der, &r, &s), "decode_rs_value");
    const gnutls_datum_t *v[2] = {&r, &s};
    for (int i = 0; i < 2; i++) {
        const unsigned char *p = v[i]->data;
        size_t n = v[i]->size;
        while (n > 32 && *p == 0) {
            p++;
            n--;
        }
        memset(out + 32 * i, 0, 32 - n);
        memcpy(out + 32 * i + (32 - n), p, n);
    }
    gnutls_free(r.data);
    gnutls_free(s.data);
}

char *
of_jws_sign(const of_key_t *k, const char *header, const char *payload)
{
    yh_text_t t = s_signing_input(header, payload);
    gnutls_datum_t data = {(unsigned char *)t.s, (unsigned)t.n}, sig = {0};
    gnutls_sign_algorithm_t algo = k->alg == OF_RS256   ? GNUTLS_SIGN_RSA_SHA256
                                   : k->alg == OF_ES256 ? GNUTLS_SIGN_ECDSA_SHA256
                                                        : GNUTLS_SIGN_EDDSA_ED25519;
    s_check(gnutls_privkey_sign_data2(k->priv, algo, 0, &data, &sig), "privkey_sign_data2");
    yh_text_add(&t, ".");
    if (k->alg == OF_ES256) {
        unsigned char rs[64];
        s_raw_rs(&sig, rs);
        s_add_b64(&t, rs, sizeof rs, 0);
    } else {
        s_add_b64(&t, sig.data, sig.size, 0);
    }
    gnutls_free(sig.data);
    return t.s;
}

/* --- the provider ----------------------------------------------------------------------- */

#define S_MAX_KEYS  8
#define S_MAX_CODES 64
#define S_CODE_TTL  60 /* seconds a code can be exchanged (RFC 6749 4.1.2: "10 minutes max") */

typedef struct {
    char code[48];
    char redirect_uri[512];
    char nonce[256];
    char challenge[128];
    char sub[256], email[256], groups[512];
    time_t issued;
    bool used;
} s_code_t;

struct of_fake {
    yh_fake_srv_t srv;
    char client_id[256], client_secret[256], redirect_uri[512];
    of_key_t *keys[S_MAX_KEYS];
    size_t nkeys;
    of_key_t *signer; /* the newest key */
    of_key_t *evil;   /* for OF_FORGE_WRONG_KEY: never published */
    char sub[256], email[256], groups[512];
    of_forge_t forge;
    s_code_t codes[S_MAX_CODES];
    size_t ncodes; /* codes issued; slot ncodes % S_MAX_CODES is next */
    char last_authorize[2048];
    unsigned seq;
};

/* Headers of a handler's reply: copied by the server right after the handler returns, on the
 * same (connection) thread. */
static _Thread_local char s_hdr[2048];

static bool
s_json_reply(yh_http_reply_t *reply, int status, yh_text_t *t, const char *headers)
{
    return yh_http_reply_take(reply, status, t->s, headers);
}

static bool
s_oauth_error(yh_http_reply_t *reply, int status, const char *error, const char *desc,
              const char *headers)
{
    yh_text_t t = {0};
    yh_text_add(&t, "{\"error\":\"%s\",\"error_description\":", error);
    yh_text_json_str(&t, desc);
    yh_text_add(&t, "}");
    return s_json_reply(reply, status, &t,
                        headers ? headers
                                : "Content-Type: application/json\nCache-Control: no-store");
}

static bool
s_discovery(of_fake_t *f, yh_http_reply_t *reply)
{
    const char *u = f->srv.url;
    yh_text_t t = {0};
    yh_text_add(&t,
                "{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/authorize\","
                "\"token_endpoint\":\"%s/token\",\"jwks_uri\":\"%s/jwks\","
                "\"userinfo_endpoint\":\"%s/userinfo\",\"response_types_supported\":[\"code\"],"
                "\"subject_types_supported\":[\"public\"],"
                "\"id_token_signing_alg_values_supported\":[\"RS256\",\"ES256\",\"EdDSA\"],"
                "\"scopes_supported\":[\"openid\",\"email\",\"profile\"],"
                "\"token_endpoint_auth_methods_supported\":[\"client_secret_basic\","
                "\"client_secret_post\"],\"code_challenge_methods_supported\":[\"S256\"],"
                "\"grant_types_supported\":[\"authorization_code\"]}",
                u, u, u, u, u);
    return s_json_reply(reply, 200, &t, "Content-Type: application/json");
}

static bool
s_jwks(of_fake_t *f, yh_http_reply_t *reply)
{
    yh_text_t t = {0};
    yh_text_add(&t, "{\"keys\":[");
    for (size_t i = 0; i < f->nkeys; i++) {
        char *jwk = of_key_jwk(f->keys[i], NULL);
        yh_text_add(&t, "%s%s", i ? "," : "", jwk);
        free(jwk);
    }
    yh_text_add(&t, "]}");
    return s_json_reply(reply, 200, &t,
                        "Content-Type: application/json\nCache-Control: public, max-age=3600");
}

/* Appends s percent-encoded (everything but RFC 3986's unreserved characters). */
static void
s_add_pct(yh_text_t *t, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            yh_text_add(t, "%c", c);
        } else {
            yh_text_add(t, "%%%02X", c);
        }
    }
}

/* 302 to redirect_uri with params ("k", v, "k2", v2, NULL); v NULL skips the pair. */
static bool
s_redirect(yh_http_reply_t *reply, const char *redirect_uri, ...)
{
    yh_text_t t = {0};
    yh_text_add(&t, "Location: %s", redirect_uri);
    char sep = strchr(redirect_uri, '?') ? '&' : '?';
    va_list ap;
    va_start(ap, redirect_uri);
    for (const char *k = va_arg(ap, const char *); k; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        if (v) {
            yh_text_add(&t, "%c%s=", sep, k);
            s_add_pct(&t, v);
            sep = '&';
        }
    }
    va_end(ap);
    snprintf(s_hdr, sizeof s_hdr, "%s", t.s);
    free(t.s);
    return yh_http_reply_take(reply, 302, NULL, s_hdr);
}

static bool
s_has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n) {
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ')) {
            return true;
        }
    }
    return false;
}

static bool
s_authorize(of_fake_t *f, const yh_http_fake_req_t *req, yh_http_reply_t *reply)
{
    char cid[256], ruri[512], rtype[64], scope[256], state[256], nonce[256], ch[128], method[16];
    const char *q = req->query;
    snprintf(f->last_authorize, sizeof f->last_authorize, "%s", q);
    yh_http_query_param(q, "client_id", cid, sizeof cid);
    yh_http_query_param(q, "redirect_uri", ruri, sizeof ruri);
    bool has_state = yh_http_query_param(q, "state", state, sizeof state);
    if (strcmp(cid, f->client_id) != 0 || strcmp(ruri, f->redirect_uri) != 0) {
        /* RFC 6749 4.1.2.1: never redirect to an unverified URI. */
        yh_text_t t = {0};
        yh_text_add(&t, "invalid client_id or redirect_uri\n");
        return yh_http_reply_take(reply, 400, t.s, "Content-Type: text/plain");
    }
    const char *st = has_state ? state : NULL;
    yh_http_query_param(q, "response_type", rtype, sizeof rtype);
    yh_http_query_param(q, "scope", scope, sizeof scope);
    yh_http_query_param(q, "nonce", nonce, sizeof nonce);
    yh_http_query_param(q, "code_challenge", ch, sizeof ch);
    yh_http_query_param(q, "code_challenge_method", method, sizeof method);
    if (strcmp(rtype, "code") != 0) {
        return s_redirect(reply, ruri, "error", "unsupported_response_type", "state", st, NULL);
    }
    if (!s_has_word(scope, "openid") || strlen(ch) != 43 || strcmp(method, "S256") != 0) {
        return s_redirect(reply, ruri, "error", "invalid_request", "error_description",
                          "openid scope and an S256 code_challenge are required", "state", st,
                          NULL);
    }
    s_code_t *c = &f->codes[f->ncodes++ % S_MAX_CODES];
    memset(c, 0, sizeof *c);
    unsigned char rnd[24];
    gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof rnd);
    yh_base64(rnd, sizeof rnd, true, c->code, sizeof c->code);
    snprintf(c->redirect_uri, sizeof c->redirect_uri, "%s", ruri);
    snprintf(c->nonce, sizeof c->nonce, "%s", nonce);
    snprintf(c->challenge, sizeof c->challenge, "%s", ch);
    snprintf(c->sub, sizeof c->sub, "%s", f->sub);
    snprintf(c->email, sizeof c->email, "%s", f->email);
    snprintf(c->groups, sizeof c->groups, "%s", f->groups);
    c->issued = time(NULL);
    return s_redirect(reply, ruri, "code", c->code, "state", st, NULL);
}

/* The client's credentials from Basic or the form. 0 ok; 1 bad (Basic used); 2 bad (form). */
static int
s_client_auth(of_fake_t *f, const yh_http_fake_req_t *req)
{
    char auth[600], want[600], id[256], secret[256];
    if (yh_http_fake_header(req, "Authorization", auth, sizeof auth)) {
        /* RFC 6749 2.3.1: id and secret are form-urlencoded before Basic; ours need none. */
        yh_http_basic_auth(f->client_id, f->client_secret, want, sizeof want);
        return strcmp(auth, want) == 0 ? 0 : 1;
    }
    bool has = yh_http_form_param(req->body, "client_id", id, sizeof id) &&
               yh_http_form_param(req->body, "client_secret", secret, sizeof secret);
    return has && strcmp(id, f->client_id) == 0 && strcmp(secret, f->client_secret) == 0 ? 0 : 2;
}

static bool
s_pkce_ok(const char *verifier, const char *challenge)
{
    size_t n = strlen(verifier);
    if (n < 43 || n > 128 ||
        strspn(verifier, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789-._~") != n) {
        return false;
    }
    unsigned char h[32];
    char b64[64];
    gnutls_hash_fast(GNUTLS_DIG_SHA256, verifier, n, h);
    return strcmp(yh_base64(h, sizeof h, true, b64, sizeof b64), challenge) == 0;
}

static char *
s_id_token(of_fake_t *f, const s_code_t *c)
{
    time_t now = time(NULL);
    yh_text_t p = {0};
    yh_text_add(&p, "{\"iss\":");
    yh_text_json_str(&p, f->forge == OF_FORGE_WRONG_ISS ? "https://evil.example.com" : f->srv.url);
    yh_text_add(&p, ",\"aud\":");
    yh_text_json_str(&p, f->forge == OF_FORGE_WRONG_AUD ? "another-client" : f->client_id);
    yh_text_add(&p, ",\"sub\":");
    yh_text_json_str(&p, c->sub);
    if (c->email[0]) {
        yh_text_add(&p, ",\"email\":");
        yh_text_json_str(&p, c->email);
        yh_text_add(&p, ",\"email_verified\":true");
    }
    if (c->groups[0]) {
        yh_text_add(&p, ",\"groups\":%s", c->groups);
    }
    if (c->nonce[0]) {
        yh_text_add(&p, ",\"nonce\":");
        yh_text_json_str(&p, f->forge == OF_FORGE_WRONG_NONCE ? "not-the-nonce" : c->nonce);
    }
    long long iat = f->forge == OF_FORGE_EXPIRED ? (long long)now - 7200 : (long long)now;
    yh_text_add(&p, ",\"iat\":%lld,\"exp\":%lld}", iat, iat + 3600);
    char hdr[256];
    const of_key_t *k = f->signer;
    snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
             f->forge == OF_FORGE_ALG_NONE    ? "none"
             : f->forge == OF_FORGE_HS256_PUB ? "HS256"
                                              : of_key_alg(k),
             of_key_kid(k));
    char *tok;
    if (f->forge == OF_FORGE_ALG_NONE) {
        tok = of_jws_raw(hdr, p.s, NULL, 0);
    } else if (f->forge == OF_FORGE_HS256_PUB) {
        char *pem = of_key_pem(k);
        tok = of_jws_hs256(hdr, p.s, pem, strlen(pem));
        free(pem);
    } else {
        tok = of_jws_sign(f->forge == OF_FORGE_WRONG_KEY ? f->evil : k, hdr, p.s);
    }
    free(p.s);
    return tok;
}

static bool
s_token(of_fake_t *f, const yh_http_fake_req_t *req, yh_http_reply_t *reply)
{
    int auth = s_client_auth(f, req);
    if (auth != 0) {
        return s_oauth_error(reply, 401, "invalid_client", "client authentication failed",
                             auth == 1 ? "Content-Type: application/json\nCache-Control: "
                                         "no-store\nWWW-Authenticate: Basic realm=\"fake\""
                                       : NULL);
    }
    char grant[64], code[64], ruri[512], verifier[256];
    yh_http_form_param(req->body, "grant_type", grant, sizeof grant);
    if (strcmp(grant, "authorization_code") != 0) {
        return s_oauth_error(reply, 400, "unsupported_grant_type", "only authorization_code", NULL);
    }
    if (!yh_http_form_param(req->body, "code", code, sizeof code) ||
        !yh_http_form_param(req->body, "redirect_uri", ruri, sizeof ruri) ||
        !yh_http_form_param(req->body, "code_verifier", verifier, sizeof verifier)) {
        return s_oauth_error(reply, 400, "invalid_request",
                             "code, redirect_uri and code_verifier are required", NULL);
    }
    s_code_t *c = NULL;
    for (size_t i = 0; i < S_MAX_CODES && !c; i++) {
        c = f->codes[i].code[0] && strcmp(f->codes[i].code, code) == 0 ? &f->codes[i] : NULL;
    }
    const char *bad = !c                                    ? "unknown code"
                      : c->used                             ? "code already used"
                      : time(NULL) - c->issued > S_CODE_TTL ? "code expired"
                      : strcmp(c->redirect_uri, ruri) != 0  ? "redirect_uri mismatch"
                      : !s_pkce_ok(verifier, c->challenge)  ? "PKCE verification failed"
                                                            : NULL;
    if (c) {
        c->used = true; /* one try per code, whatever the outcome */
    }
    if (bad) {
        return s_oauth_error(reply, 400, "invalid_grant", bad, NULL);
    }
    char *idt = s_id_token(f, c);
    yh_text_t t = {0};
    yh_text_add(&t,
                "{\"access_token\":\"at-%u\",\"token_type\":\"Bearer\",\"expires_in\":3600,"
                "\"scope\":\"openid email\",\"id_token\":\"%s\"}",
                ++f->seq, idt);
    free(idt);
    return s_json_reply(reply, 200, &t,
                        "Content-Type: application/json\nCache-Control: no-store\nPragma: "
                        "no-cache");
}

static bool
s_handle(const yh_http_fake_req_t *req, yh_http_reply_t *reply, void *arg)
{
    of_fake_t *f = arg;
    pthread_mutex_lock(&f->srv.lock);
    bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    bool done = false;
    if (get && strcmp(req->path, "/.well-known/openid-configuration") == 0) {
        done = s_discovery(f, reply);
    } else if (get && strcmp(req->path, "/jwks") == 0) {
        done = s_jwks(f, reply);
    } else if (get && strcmp(req->path, "/authorize") == 0) {
        done = s_authorize(f, req, reply);
    } else if (post && strcmp(req->path, "/token") == 0) {
        done = s_token(f, req, reply);
    }
    pthread_mutex_unlock(&f->srv.lock);
    return done;
}

of_fake_t *
of_fake_start(const char *client_id, const char *client_secret, const char *redirect_uri)
{
    of_fake_t *f = yh_http_fake_xcalloc(sizeof *f);
    snprintf(f->client_id, sizeof f->client_id, "%s", client_id);
    snprintf(f->client_secret, sizeof f->client_secret, "%s", client_secret);
    snprintf(f->redirect_uri, sizeof f->redirect_uri, "%s", redirect_uri);
    snprintf(f->sub, sizeof f->sub, "u-1001");
    snprintf(f->email, sizeof f->email, "jane@example.com");
    f->keys[f->nkeys++] = f->signer = of_key_new(OF_RS256, "k1");
    f->evil = of_key_new(OF_RS256, "k1");
    yh_fake_srv_start(&f->srv, "", s_handle, f);
    return f;
}

void
of_fake_stop(of_fake_t **f_p)
{
    of_fake_t *f = f_p ? *f_p : NULL;
    if (!f) {
        return;
    }
    yh_fake_srv_stop(&f->srv);
    for (size_t i = 0; i < f->nkeys; i++) {
        of_key_destroy(&f->keys[i]);
    }
    of_key_destroy(&f->evil);
    free(f);
    *f_p = NULL;
}

const char *
of_fake_issuer(of_fake_t *f)
{
    return f->srv.url;
}

void
of_fake_user(of_fake_t *f, const char *sub, const char *email, const char *groups_json)
{
    pthread_mutex_lock(&f->srv.lock);
    snprintf(f->sub, sizeof f->sub, "%s", sub);
    snprintf(f->email, sizeof f->email, "%s", email ? email : "");
    snprintf(f->groups, sizeof f->groups, "%s", groups_json ? groups_json : "");
    pthread_mutex_unlock(&f->srv.lock);
}

void
of_fake_add_key(of_fake_t *f, of_alg_t alg, const char *kid)
{
    of_key_t *k = of_key_new(alg, kid); /* outside the lock: RSA generation takes a while */
    pthread_mutex_lock(&f->srv.lock);
    if (f->nkeys == S_MAX_KEYS) {
        abort();
    }
    f->keys[f->nkeys++] = f->signer = k;
    pthread_mutex_unlock(&f->srv.lock);
}

void
of_fake_remove_key(of_fake_t *f, const char *kid)
{
    pthread_mutex_lock(&f->srv.lock);
    for (size_t i = 0; i < f->nkeys; i++) {
        if (strcmp(of_key_kid(f->keys[i]), kid) == 0 && f->keys[i] != f->signer) {
            of_key_destroy(&f->keys[i]);
            f->keys[i] = f->keys[--f->nkeys];
            break;
        }
    }
    pthread_mutex_unlock(&f->srv.lock);
}

void
of_fake_forge(of_fake_t *f, of_forge_t forge)
{
    pthread_mutex_lock(&f->srv.lock);
    f->forge = forge;
    pthread_mutex_unlock(&f->srv.lock);
}

const of_forgery_t of_forgeries[] = {
    {OF_FORGE_WRONG_KEY, "signature does not verify"},
    {OF_FORGE_ALG_NONE, "alg none is not accepted"},
    {OF_FORGE_HS256_PUB, "alg not supported"},
    {OF_FORGE_WRONG_AUD, "aud does not name our client_id"},
    {OF_FORGE_WRONG_ISS, "iss is not the provider's issuer"},
    {OF_FORGE_WRONG_NONCE, "nonce is not the one sent"},
    {OF_FORGE_EXPIRED, "ID token expired"},
};
const size_t of_forgeries_count = sizeof of_forgeries / sizeof of_forgeries[0];

size_t
of_fake_requests(of_fake_t *f, const char *path)
{
    return yh_http_fake_count(f->srv.http, path);
}

void
of_fake_last_authorize(of_fake_t *f, char *buf, size_t cap)
{
    pthread_mutex_lock(&f->srv.lock);
    snprintf(buf, cap, "%s", f->last_authorize);
    pthread_mutex_unlock(&f->srv.lock);
}
