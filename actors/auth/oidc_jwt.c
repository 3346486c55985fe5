/* ID token verification (oidc_jwt.h): compact JWS, the key picked by kid and the algorithm
 * pinned by that key, the signature checked by GnuTLS, then the claims.
 *
 * The order trusts nothing before the signature: the header is read only for kid and alg
 * (and refused with crit), the signature is checked with the key's algorithm, and only then
 * is the payload parsed. JWS ES256 signatures are the raw r || s (RFC 7518 3.4); GnuTLS
 * verifies DER, so the pair is re-encoded with gnutls_encode_rs_value() first. */
#include "oidc_jwt.h"

#include "jws.h"

#include "yard/assert.h"
#include "yard/json.h"
#include "yard/mp.h"

#include <gnutls/crypto.h>
#include <msgpack.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The key named by the header's kid, if the header's alg is that key's algorithm. */
static oidc_jwt_err_t
s_header_key(const msgpack_object *hdr, const oidc_jwks_t *jwks, const oidc_jwk_t **key,
             const char **why)
{
    if (hdr->type != MSGPACK_OBJECT_MAP) {
        *why = "header is not a JSON object";
        return OIDC_JWT_MALFORMED;
    }
    if (yard_mp_find(hdr, "crit")) {
        *why = "header has crit extensions"; /* RFC 7515 4.1.11 */
        return OIDC_JWT_MALFORMED;
    }
    char alg[16] = "", kid[OIDC_KID_MAX + 1] = "";
    if (!yard_mp_find(hdr, "alg")) {
        *why = "alg missing";
        return OIDC_JWT_BAD_ALG;
    }
    oidc_alg_t a = OIDC_ALG_NONE;
    if (yard_mp_get_strbuf(hdr, "alg", alg, sizeof alg, NULL, 0) == 0) {
        a = oidc_alg_from_name(alg);
    }
    if (a == OIDC_ALG_NONE) {
        *why = auth_mp_str_equals(yard_mp_find(hdr, "alg"), "none") ? "alg none is not accepted"
                                                                    : "alg not supported";
        return OIDC_JWT_BAD_ALG;
    }
    if (yard_mp_get_strbuf(hdr, "kid", kid, sizeof kid, NULL, 0) != 0) {
        *why = "kid missing or not a string";
        return OIDC_JWT_UNKNOWN_KID;
    }
    *key = oidc_jwks_find(jwks, kid);
    if (!*key) {
        *why = "kid not in the provider's JWKS";
        return OIDC_JWT_UNKNOWN_KID;
    }
    if ((*key)->alg != a) {
        *why = "alg is not the algorithm of the kid's key";
        return OIDC_JWT_BAD_ALG;
    }
    return OIDC_JWT_OK;
}

static bool
s_signature_ok(const oidc_jwk_t *key, const char *input, size_t inlen, const unsigned char *sig,
               size_t siglen)
{
    gnutls_datum_t data = {(unsigned char *)input, (unsigned)inlen};
    gnutls_datum_t s = {(unsigned char *)sig, (unsigned)siglen};
    switch (key->alg) {
    case OIDC_ALG_RS256:
        return gnutls_pubkey_verify_data2(key->pub, GNUTLS_SIGN_RSA_SHA256, 0, &data, &s) >= 0;
    case OIDC_ALG_EDDSA:
        return siglen == 64 &&
               gnutls_pubkey_verify_data2(key->pub, GNUTLS_SIGN_EDDSA_ED25519, 0, &data, &s) >= 0;
    case OIDC_ALG_ES256: {
        if (siglen != 64) {
            return false;
        }
        gnutls_datum_t r = {(unsigned char *)sig, 32}, sv = {(unsigned char *)sig + 32, 32};
        gnutls_datum_t der = {NULL, 0};
        if (gnutls_encode_rs_value(&der, &r, &sv) != 0) {
            return false;
        }
        bool ok =
            gnutls_pubkey_verify_data2(key->pub, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &der) >= 0;
        gnutls_free(der.data);
        return ok;
    }
    case OIDC_ALG_NONE:
        break;
    }
    return false;
}

static bool
s_aud_ok(const msgpack_object *pay, const char *client_id, const char **why)
{
    const msgpack_object *aud = yard_mp_find(pay, "aud"), *azp = yard_mp_find(pay, "azp");
    bool found = auth_mp_str_equals(aud, client_id);
    uint32_t n = 1;
    if (aud && aud->type == MSGPACK_OBJECT_ARRAY) {
        n = aud->via.array.size;
        for (uint32_t i = 0; i < n; i++) {
            found = found || auth_mp_str_equals(&aud->via.array.ptr[i], client_id);
        }
    }
    if (!found) {
        *why = "aud does not name our client_id";
    } else if (azp && !auth_mp_str_equals(azp, client_id)) {
        *why = "azp is not our client_id";
    } else if (n > 1 && !azp) {
        *why = "aud has several audiences and no azp";
    } else {
        return true;
    }
    return false;
}

/* An integer claim: 0, 1 absent, -1 not an integer. */
static int
s_int(const msgpack_object *map, const char *name, int64_t *val)
{
    if (!yard_mp_find(map, name)) {
        return 1;
    }
    return yard_mp_get_int(map, name, val, NULL, 0) == 0 ? 0 : -1;
}

static oidc_jwt_err_t
s_times(const msgpack_object *pay, const oidc_verify_opts_t *o, oidc_id_token_t *out,
        const char **why)
{
    int64_t nbf = 0;
    int e = s_int(pay, "exp", &out->exp), i = s_int(pay, "iat", &out->iat);
    int n = s_int(pay, "nbf", &nbf);
    if (e == 1 || i == 1) {
        *why = e == 1 ? "exp claim missing" : "iat claim missing";
        return OIDC_JWT_MISSING_CLAIM;
    }
    if (e < 0 || i < 0 || n < 0) {
        *why = "exp, iat or nbf is not an integer";
        return OIDC_JWT_MALFORMED;
    }
    /* Token times are hostile (INT64_MAX): only now and leeway take part in arithmetic. */
    if (o->now - o->leeway_s > out->exp) {
        *why = "ID token expired";
        return OIDC_JWT_EXPIRED;
    }
    if (out->iat > o->now + o->leeway_s || (n == 0 && nbf > o->now + o->leeway_s)) {
        *why = "ID token not valid yet (iat or nbf in the future)";
        return OIDC_JWT_NOT_YET;
    }
    return OIDC_JWT_OK;
}

/* The claims of a payload whose signature holds. */
static oidc_jwt_err_t
s_claims(const msgpack_object *pay, const oidc_verify_opts_t *o, oidc_id_token_t *out,
         const char **why)
{
    if (pay->type != MSGPACK_OBJECT_MAP) {
        *why = "payload is not a JSON object";
        return OIDC_JWT_MALFORMED;
    }
    if (!yard_mp_find(pay, "iss") || !yard_mp_find(pay, "aud") || !yard_mp_find(pay, "sub")) {
        *why = "iss, aud or sub claim missing";
        return OIDC_JWT_MISSING_CLAIM;
    }
    if (!auth_mp_str_equals(yard_mp_find(pay, "iss"), o->iss)) {
        *why = "iss is not the provider's issuer";
        return OIDC_JWT_WRONG_ISS;
    }
    if (!s_aud_ok(pay, o->client_id, why)) {
        return OIDC_JWT_WRONG_AUD;
    }
    oidc_jwt_err_t err = s_times(pay, o, out, why);
    if (err != OIDC_JWT_OK) {
        return err;
    }
    if (o->nonce && !yard_mp_find(pay, "nonce")) {
        *why = "nonce claim missing";
        return OIDC_JWT_MISSING_CLAIM;
    }
    if (o->nonce && !auth_mp_str_equals(yard_mp_find(pay, "nonce"), o->nonce)) {
        *why = "nonce is not the one sent";
        return OIDC_JWT_WRONG_NONCE;
    }
    if (yard_mp_get_strbuf(pay, "sub", out->sub, sizeof out->sub, NULL, 0) != 0 || !out->sub[0]) {
        *why = "sub is not a string of 1..255 bytes";
        return OIDC_JWT_MALFORMED;
    }
    if (yard_mp_get_strbuf(pay, "email", out->email, sizeof out->email, NULL, 0) != 0) {
        out->email[0] = '\0';
    }
    if (yard_mp_get_bool(pay, "email_verified", &out->email_verified, NULL, 0) != 0) {
        out->email_verified = false; /* absent, or the string "true" some providers send */
    }
    return OIDC_JWT_OK;
}

static bool
s_split(const char *token, size_t len, const char **p64, const char **s64)
{
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token))) {
        return false;
    }
    *p64 = dot1 + 1;
    *s64 = dot2 + 1;
    return true;
}

typedef struct {
    msgpack_zone zone;
    void *hmp, *pmp;
    size_t hsize, psize;
} s_scratch_t;

static oidc_jwt_err_t
s_verify(const oidc_jwks_t *jwks, const char *token, const oidc_verify_opts_t *o, s_scratch_t *sc,
         oidc_id_token_t *out, const char **why)
{
    size_t len = token ? strnlen(token, OIDC_ID_TOKEN_MAX + 1) : 0;
    const char *p64 = NULL, *s64 = NULL;
    if (len == 0 || len > OIDC_ID_TOKEN_MAX) {
        *why = len == 0 ? "ID token is empty" : "ID token is too long";
        return OIDC_JWT_MALFORMED;
    }
    if (!s_split(token, len, &p64, &s64)) {
        *why = "ID token is not three dot-separated parts";
        return OIDC_JWT_MALFORMED;
    }
    msgpack_object hdr, pay;
    if (auth_jws_part(token, (size_t)(p64 - 1 - token), &sc->zone, &sc->hmp, &sc->hsize, &hdr) !=
        0) {
        *why = "header is not base64url JSON";
        return OIDC_JWT_MALFORMED;
    }
    const oidc_jwk_t *key = NULL;
    oidc_jwt_err_t err = s_header_key(&hdr, jwks, &key, why);
    if (err != OIDC_JWT_OK) {
        return err;
    }
    snprintf(out->kid, sizeof out->kid, "%s", key->kid);
    unsigned char *sig = NULL;
    size_t siglen = 0;
    if (auth_b64url_decode(s64, len - (size_t)(s64 - token), &sig, &siglen) != 0) {
        *why = "signature is not base64url";
        return OIDC_JWT_MALFORMED;
    }
    bool ok = s_signature_ok(key, token, (size_t)(s64 - 1 - token), sig, siglen);
    free(sig);
    if (!ok) {
        *why = "signature does not verify with the kid's key";
        return OIDC_JWT_BAD_SIGNATURE;
    }
    if (auth_jws_part(p64, (size_t)(s64 - 1 - p64), &sc->zone, &sc->pmp, &sc->psize, &pay) != 0) {
        *why = "payload is not base64url JSON (or repeats a member)";
        return OIDC_JWT_MALFORMED;
    }
    return s_claims(&pay, o, out, why);
}

oidc_jwt_err_t
oidc_jwt_verify(const oidc_jwks_t *jwks, const char *token, const oidc_verify_opts_t *o,
                oidc_id_token_t *out, char *why, size_t whylen)
{
    YARD_ASSERT(o && o->iss && o->client_id && out);
    memset(out, 0, sizeof *out);
    const char *msg = "";
    s_scratch_t sc = {0};
    if (!msgpack_zone_init(&sc.zone, 1024)) {
        abort();
    }
    oidc_jwt_err_t err = s_verify(jwks, token, o, &sc, out, &msg);
    msgpack_zone_destroy(&sc.zone);
    free(sc.hmp);
    if (err == OIDC_JWT_OK) {
        out->claims = sc.pmp;
        out->claims_size = sc.psize;
    } else {
        free(sc.pmp);
        memset(out, 0, sizeof *out);
    }
    if (why && whylen > 0) {
        snprintf(why, whylen, "%s", err == OIDC_JWT_OK ? "" : msg);
    }
    return err;
}

void
oidc_id_token_clear(oidc_id_token_t *t)
{
    if (t) {
        free(t->claims);
        memset(t, 0, sizeof *t);
    }
}

const char *
oidc_jwt_strerror(oidc_jwt_err_t err)
{
    static const char *const names[] = {
        "ok",
        "malformed",
        "bad alg",
        "unknown kid",
        "bad signature",
        "missing claim",
        "expired",
        "not yet valid",
        "wrong issuer",
        "wrong audience",
        "wrong nonce",
    };
    return (unsigned)err < sizeof names / sizeof names[0] ? names[err] : "unknown error";
}
