/* Compact JWS tokens for the auth actor: "b64url(header).b64url(payload).b64url(signature)",
 * signed with EdDSA (Ed25519) or HS256 through libsodium.
 *
 * The invariant of auth_jwt_verify: nothing in a token is believed before its signature is
 * checked, and the signature is checked the way the key set says, never the way the token
 * says. The header is read only to find the kid; the header's alg must then equal that key's
 * algorithm, which is what stops a token "signed" with HMAC keyed by an Ed25519 public key
 * (or with alg "none") from passing. The payload is parsed only after the signature holds.
 * Every refusal names its reason in `why`, which never contains token or key bytes. */
#include "jwt.h"

#include <jansson.h>
#include <sodium.h>

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_B64     sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define S_TYP_MAX (sizeof(((auth_claims_t *)0)->typ) - 1)

static char *
s_b64_encode(const void *bin, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, S_B64);
    char *s = malloc(n);
    if (!s) {
        abort();
    }
    sodium_bin2base64(s, n, bin, len, S_B64);
    return s;
}

/* Decodes exactly b64[0..len) into a fresh buffer (caller frees). -1, with *out NULL, for a
 * character outside the URL-safe alphabet (padding included), trailing data, or a final
 * character with bits that a canonical encoder would have left zero. */
static int
s_b64_decode(const char *b64, size_t len, unsigned char **out, size_t *outlen)
{
    size_t cap = len / 4 * 3 + 3;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        abort();
    }
    /* b64_end NULL: libsodium fails unless it consumed all len characters. */
    if (sodium_base642bin(buf, cap, b64, len, NULL, outlen, NULL, S_B64) != 0) {
        free(buf);
        *out = NULL;
        return -1;
    }
    *out = buf;
    return 0;
}

/* The signature over input[0..len) with k, into sig; returns its length. */
static size_t
s_sign(const auth_key_t *k, const char *input, size_t len, unsigned char sig[64])
{
    if (k->alg == AUTH_ALG_EDDSA) {
        crypto_sign_detached(sig, NULL, (const unsigned char *)input, len, k->secret);
        return crypto_sign_BYTES;
    }
    crypto_auth_hmacsha256(sig, (const unsigned char *)input, len, k->secret);
    return crypto_auth_hmacsha256_BYTES;
}

static bool
s_fits(const char *s, size_t max)
{
    return s && strlen(s) <= max;
}

int
auth_jwt_sign(const auth_key_t *key, const auth_claims_in_t *c, char **out)
{
    *out = NULL;
    const char *alg = key ? auth_alg_name(key->alg) : NULL;
    if (!alg || !c || !c->iss || !c->aud || !s_fits(c->sub, AUTH_SUB_MAX) ||
        !s_fits(c->jti, AUTH_ID_MAX) || (c->fam && !s_fits(c->fam, AUTH_ID_MAX)) ||
        (c->typ && !s_fits(c->typ, S_TYP_MAX)) || c->nscopes > AUTH_SCOPES_MAX ||
        (c->nscopes > 0 && !c->scopes) || sodium_init() < 0) {
        return -1;
    }
    for (size_t i = 0; i < c->nscopes; i++) {
        if (!s_fits(c->scopes[i], AUTH_SCOPE_MAX)) {
            return -1;
        }
    }

    int rc = -1;
    char *hjson = NULL, *pjson = NULL, *h64 = NULL, *p64 = NULL, *s64 = NULL, *input = NULL;
    json_t *hdr = json_pack("{s:s, s:s, s:s}", "alg", alg, "typ", "JWT", "kid", key->kid);
    json_t *pay = json_object();
    json_t *scopes = json_array();
    if (!hdr || !pay || !scopes) {
        goto cleanup;
    }
    /* json_string() is NULL for invalid UTF-8, and json_*_set_new() then fails. */
    int bad = 0;
    for (size_t i = 0; i < c->nscopes; i++) {
        bad |= json_array_append_new(scopes, json_string(c->scopes[i]));
    }
    bad |= json_object_set_new(pay, "iss", json_string(c->iss));
    bad |= json_object_set_new(pay, "aud", json_string(c->aud));
    bad |= json_object_set_new(pay, "sub", json_string(c->sub));
    bad |= json_object_set_new(pay, "jti", json_string(c->jti));
    if (c->typ) {
        bad |= json_object_set_new(pay, "typ", json_string(c->typ));
    }
    if (c->fam) {
        bad |= json_object_set_new(pay, "fam", json_string(c->fam));
    }
    bad |= json_object_set(pay, "scopes", scopes);
    bad |= json_object_set_new(pay, "iat", json_integer(c->iat));
    bad |= json_object_set_new(pay, "exp", json_integer(c->exp));
    if (c->gen != 0) {
        bad |= json_object_set_new(pay, "gen", json_integer(c->gen));
    }
    if (c->nbf != 0) {
        bad |= json_object_set_new(pay, "nbf", json_integer(c->nbf));
    }
    if (bad) {
        goto cleanup;
    }
    hjson = json_dumps(hdr, JSON_COMPACT);
    pjson = json_dumps(pay, JSON_COMPACT);
    if (!hjson || !pjson) {
        goto cleanup;
    }
    h64 = s_b64_encode(hjson, strlen(hjson));
    p64 = s_b64_encode(pjson, strlen(pjson));
    size_t hlen = strlen(h64), plen = strlen(p64);
    size_t s64len =
        sodium_base64_ENCODED_LEN(
            key->alg == AUTH_ALG_EDDSA ? crypto_sign_BYTES : crypto_auth_hmacsha256_BYTES, S_B64) -
        1;
    /* one byte for each dot, one for the NUL */
    size_t total = hlen + 1 + plen + 1 + s64len + 1;
    if (total - 1 > AUTH_JWT_MAX) {
        goto cleanup;
    }
    input = malloc(total);
    if (!input) {
        abort();
    }
    memcpy(input, h64, hlen);
    input[hlen] = '.';
    memcpy(input + hlen + 1, p64, plen + 1);
    unsigned char sig[64];
    size_t siglen = s_sign(key, input, hlen + 1 + plen, sig);
    s64 = s_b64_encode(sig, siglen);
    input[hlen + 1 + plen] = '.';
    memcpy(input + hlen + 1 + plen + 1, s64, strlen(s64) + 1);
    *out = input;
    input = NULL;
    rc = 0;
cleanup:
    json_decref(hdr);
    json_decref(pay);
    json_decref(scopes);
    free(hjson);
    free(pjson);
    free(h64);
    free(p64);
    free(s64);
    free(input);
    return rc;
}

/* A string member: 1 absent, -1 not a string or longer than max, 0 and *val otherwise. */
static int
s_str(const json_t *obj, const char *name, size_t max, const char **val)
{
    const json_t *v = json_object_get(obj, name);
    if (!v) {
        return 1;
    }
    if (!json_is_string(v) || json_string_length(v) > max) {
        return -1;
    }
    *val = json_string_value(v);
    return 0;
}

/* An integer member, like s_str. */
static int
s_int(const json_t *obj, const char *name, int64_t *val)
{
    const json_t *v = json_object_get(obj, name);
    if (!v) {
        return 1;
    }
    if (!json_is_integer(v)) {
        return -1;
    }
    *val = json_integer_value(v);
    return 0;
}

static bool
s_aud_matches(const json_t *aud, const char *want)
{
    if (json_is_string(aud)) {
        return strcmp(json_string_value(aud), want) == 0;
    }
    size_t i;
    const json_t *v;
    json_array_foreach(aud, i, v)
    {
        if (strcmp(json_string_value(v), want) == 0) {
            return true;
        }
    }
    return false;
}

static bool
s_aud_well_formed(const json_t *aud)
{
    if (json_is_string(aud)) {
        return true;
    }
    if (!json_is_array(aud)) {
        return false;
    }
    size_t i;
    const json_t *v;
    json_array_foreach(aud, i, v)
    {
        if (!json_is_string(v)) {
            return false;
        }
    }
    return true;
}

/* Reads and checks the claims of a payload whose signature has been checked. */
static auth_jwt_err_t
s_claims(const json_t *pay, const auth_verify_opts_t *o, auth_claims_t *out, const char **why)
{
    static const char *const required[] = {"exp", "iat", "iss", "aud", "sub", "jti"};
    static const char *const missing[] = {"exp claim missing", "iat claim missing",
                                          "iss claim missing", "aud claim missing",
                                          "sub claim missing", "jti claim missing"};
    if (!json_is_object(pay)) {
        *why = "payload is not a JSON object";
        return AUTH_JWT_MALFORMED;
    }
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (!json_object_get(pay, required[i])) {
            *why = missing[i];
            return AUTH_JWT_MISSING_CLAIM;
        }
    }
    const char *iss = NULL, *sub = NULL, *jti = NULL, *fam = "", *typ = "";
    if (s_int(pay, "exp", &out->exp) != 0) {
        *why = "exp is not an integer";
        return AUTH_JWT_MALFORMED;
    }
    if (s_int(pay, "iat", &out->iat) != 0) {
        *why = "iat is not an integer";
        return AUTH_JWT_MALFORMED;
    }
    if (s_int(pay, "nbf", &out->nbf) < 0) {
        *why = "nbf is not an integer";
        return AUTH_JWT_MALFORMED;
    }
    if (s_int(pay, "gen", &out->gen) < 0 || out->gen < 0) {
        *why = "gen is not a non-negative integer";
        return AUTH_JWT_MALFORMED;
    }
    if (s_str(pay, "iss", SIZE_MAX, &iss) != 0) {
        *why = "iss is not a string";
        return AUTH_JWT_MALFORMED;
    }
    if (s_str(pay, "sub", AUTH_SUB_MAX, &sub) != 0) {
        *why = "sub is not a string or too long";
        return AUTH_JWT_MALFORMED;
    }
    if (s_str(pay, "jti", AUTH_ID_MAX, &jti) != 0) {
        *why = "jti is not a string or too long";
        return AUTH_JWT_MALFORMED;
    }
    if (s_str(pay, "fam", AUTH_ID_MAX, &fam) < 0) {
        *why = "fam is not a string or too long";
        return AUTH_JWT_MALFORMED;
    }
    if (s_str(pay, "typ", S_TYP_MAX, &typ) < 0) {
        *why = "typ is not a string or too long";
        return AUTH_JWT_MALFORMED;
    }
    const json_t *aud = json_object_get(pay, "aud");
    if (!s_aud_well_formed(aud)) {
        *why = "aud is not a string or an array of strings";
        return AUTH_JWT_MALFORMED;
    }
    const json_t *scopes = json_object_get(pay, "scopes");
    if (scopes) {
        if (!json_is_array(scopes) || json_array_size(scopes) > AUTH_SCOPES_MAX) {
            *why = "scopes is not an array, or has too many entries";
            return AUTH_JWT_MALFORMED;
        }
        size_t i;
        const json_t *v;
        json_array_foreach(scopes, i, v)
        {
            if (!json_is_string(v) || json_string_length(v) > AUTH_SCOPE_MAX) {
                *why = "a scope is not a string or too long";
                return AUTH_JWT_MALFORMED;
            }
            memcpy(out->scopes[i], json_string_value(v), json_string_length(v) + 1);
        }
        out->nscopes = json_array_size(scopes);
    }

    if (strcmp(iss, o->iss) != 0) {
        *why = "iss is not the expected issuer";
        return AUTH_JWT_WRONG_ISS;
    }
    if (!s_aud_matches(aud, o->aud)) {
        *why = "aud does not name this audience";
        return AUTH_JWT_WRONG_AUD;
    }
    /* The times in the token are hostile (think INT64_MAX): only now and leeway, which the
     * caller chose, take part in arithmetic. */
    if (o->now - o->leeway_s > out->exp) {
        *why = "token expired";
        return AUTH_JWT_EXPIRED;
    }
    if (out->nbf != 0 && o->now + o->leeway_s < out->nbf) {
        *why = "token not valid yet (nbf)";
        return AUTH_JWT_NOT_YET;
    }
    if (out->iat > o->now + o->leeway_s) {
        *why = "token issued in the future (iat)";
        return AUTH_JWT_NOT_YET;
    }
    if (o->typ && strcmp(typ, o->typ) != 0) {
        *why = "typ is not the expected token type";
        return AUTH_JWT_WRONG_TYP;
    }
    /* Lengths were checked above, so these fit with their NUL. */
    memcpy(out->sub, sub, strlen(sub) + 1);
    memcpy(out->jti, jti, strlen(jti) + 1);
    memcpy(out->fam, fam, strlen(fam) + 1);
    memcpy(out->typ, typ, strlen(typ) + 1);
    return AUTH_JWT_OK;
}

auth_jwt_err_t
auth_jwt_verify(const auth_keyset_t *ks, const char *token, const auth_verify_opts_t *o,
                auth_claims_t *out, char *why, size_t whylen)
{
    assert(ks && o && o->iss && o->aud);
    auth_claims_t scratch;
    if (!out) {
        out = &scratch;
    }
    memset(out, 0, sizeof *out);
    auth_jwt_err_t err = AUTH_JWT_MALFORMED;
    const char *msg = NULL;
    unsigned char *hbin = NULL, *sig = NULL, *pbin = NULL;
    size_t hbinlen = 0, siglen = 0, pbinlen = 0;
    json_t *hdr = NULL, *pay = NULL;

    size_t len = token ? strnlen(token, AUTH_JWT_MAX + 1) : 0;
    if (!token || len == 0) {
        msg = "token is empty";
        goto done;
    }
    if (len > AUTH_JWT_MAX) {
        msg = "token is too long";
        goto done;
    }
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token))) {
        msg = "token is not three dot-separated parts";
        goto done;
    }
    const char *p64 = dot1 + 1, *s64 = dot2 + 1;
    size_t hlen = (size_t)(dot1 - token), plen = (size_t)(dot2 - p64);
    size_t slen = len - (size_t)(s64 - token);

    if (s_b64_decode(token, hlen, &hbin, &hbinlen) != 0) {
        msg = "header is not base64url";
        goto done;
    }
    hdr = json_loadb((const char *)hbin, hbinlen, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(hdr)) {
        msg = "header is not a JSON object";
        goto done;
    }
    if (json_object_get(hdr, "crit")) {
        /* RFC 7515 4.1.11: extensions we do not understand must not be ignored. */
        msg = "header has crit extensions";
        goto done;
    }
    const json_t *jalg = json_object_get(hdr, "alg");
    const json_t *jkid = json_object_get(hdr, "kid");
    if (!jalg) {
        err = AUTH_JWT_BAD_ALG;
        msg = "alg missing";
        goto done;
    }
    if (!json_is_string(jalg)) {
        msg = "alg is not a string";
        goto done;
    }
    auth_alg_t alg = auth_alg_from_name(json_string_value(jalg));
    if (alg == 0) {
        err = AUTH_JWT_BAD_ALG;
        msg = strcmp(json_string_value(jalg), "none") == 0 ? "alg none is not accepted"
                                                           : "alg not supported";
        goto done;
    }
    if (!jkid) {
        err = AUTH_JWT_UNKNOWN_KID;
        msg = "kid missing";
        goto done;
    }
    if (!json_is_string(jkid)) {
        msg = "kid is not a string";
        goto done;
    }
    const auth_key_t *key = NULL;
    if (json_string_length(jkid) <= AUTH_KID_MAX) {
        key = auth_keyset_find(ks, json_string_value(jkid), o->now);
    }
    if (!key) {
        err = AUTH_JWT_UNKNOWN_KID;
        msg = "kid not in the key set";
        goto done;
    }
    if (key->alg != alg) {
        err = AUTH_JWT_BAD_ALG;
        msg = "alg is not the algorithm of the kid's key";
        goto done;
    }
    memcpy(out->kid, key->kid, strlen(key->kid) + 1);

    if (s_b64_decode(s64, slen, &sig, &siglen) != 0) {
        msg = "signature is not base64url";
        goto done;
    }
    size_t inlen = (size_t)(dot2 - token);
    bool sig_ok = false;
    if (alg == AUTH_ALG_EDDSA) {
        sig_ok =
            siglen == crypto_sign_BYTES &&
            crypto_sign_verify_detached(sig, (const unsigned char *)token, inlen, key->pub) == 0;
    } else if (siglen == crypto_auth_hmacsha256_BYTES) {
        unsigned char mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256(mac, (const unsigned char *)token, inlen, key->secret);
        sig_ok = sodium_memcmp(mac, sig, sizeof mac) == 0;
        sodium_memzero(mac, sizeof mac);
    }
    if (!sig_ok) {
        err = AUTH_JWT_BAD_SIGNATURE;
        msg = "signature does not match";
        goto done;
    }

    if (s_b64_decode(p64, plen, &pbin, &pbinlen) != 0) {
        msg = "payload is not base64url";
        goto done;
    }
    pay = json_loadb((const char *)pbin, pbinlen, JSON_REJECT_DUPLICATES, NULL);
    if (!pay) {
        msg = "payload is not JSON (or repeats a member)";
        goto done;
    }
    err = s_claims(pay, o, out, &msg);

done:
    if (err != AUTH_JWT_OK) {
        /* A refused token leaves nothing half-read behind. */
        memset(out, 0, sizeof *out);
    }
    if (why && whylen > 0) {
        snprintf(why, whylen, "%s", err == AUTH_JWT_OK ? "" : msg);
    }
    free(hbin);
    free(sig);
    free(pbin);
    json_decref(hdr);
    json_decref(pay);
    return err;
}

const char *
auth_jwt_strerror(auth_jwt_err_t err)
{
    switch (err) {
    case AUTH_JWT_OK:
        return "ok";
    case AUTH_JWT_MALFORMED:
        return "malformed";
    case AUTH_JWT_BAD_ALG:
        return "bad alg";
    case AUTH_JWT_UNKNOWN_KID:
        return "unknown kid";
    case AUTH_JWT_BAD_SIGNATURE:
        return "bad signature";
    case AUTH_JWT_MISSING_CLAIM:
        return "missing claim";
    case AUTH_JWT_EXPIRED:
        return "expired";
    case AUTH_JWT_NOT_YET:
        return "not yet valid";
    case AUTH_JWT_WRONG_ISS:
        return "wrong issuer";
    case AUTH_JWT_WRONG_AUD:
        return "wrong audience";
    case AUTH_JWT_WRONG_TYP:
        return "wrong token type";
    }
    return "unknown error";
}
