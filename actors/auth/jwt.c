/* Compact JWS tokens for the auth actor: "b64url(header).b64url(payload).b64url(signature)",
 * signed with EdDSA (Ed25519) or HS256 through libsodium.
 *
 * Header and payload are JSON written from msgpack (yard_mpw_t, then yard_json_from_msgpack) and
 * read back the other way with the strict parser, which refuses a repeated member: two JSON
 * libraries that disagree on which of {"alg":"EdDSA","alg":"none"} counts are an attack
 * surface. Strings are compared with their lengths, so "yard\u0000x" is not the issuer "yard".
 *
 * The invariant of auth_jwt_verify: nothing in a token is believed before its signature is
 * checked, and the signature is checked the way the key set says, never the way the token
 * says. The header is read only to find the kid; the header's alg must then equal that key's
 * algorithm, which is what stops a token "signed" with HMAC keyed by an Ed25519 public key
 * (or with alg "none") from passing. The payload is parsed only after the signature holds.
 * Every refusal names its reason in `why`, which never contains token or key bytes. */
#include "jws.h"
#include "jwt.h"

#include "yard/assert.h"
#include "yard/json.h"
#include "yard/mp.h"

#include <msgpack.h>
#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_B64     sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define S_TYP_MAX (sizeof(((auth_claims_t *)0)->typ) - 1)
#define S_ALG_MAX 15 /* longer than any algorithm name we know */

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

/* The compact JSON text of w's value: 0 and *json (caller frees with free()), or -1 when w
 * was misused or a string is not UTF-8. Destroys w. */
static int
s_json_of(yard_mpw_t **w, char **json)
{
    const void *mp = NULL;
    size_t size = 0;
    int rc = yard_mpw_finish(*w, &mp, &size);
    if (rc == 0) {
        rc = yard_json_from_msgpack(mp, size, json, NULL, NULL, 0);
    }
    yard_mpw_destroy(w);
    return rc == 0 ? 0 : -1;
}

static int
s_header_json(const auth_key_t *key, char **json)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "alg", auth_alg_name(key->alg));
    yard_mpw_kstr(w, "typ", "JWT");
    yard_mpw_kstr(w, "kid", key->kid);
    yard_mpw_end(w);
    return s_json_of(&w, json);
}

static int
s_payload_json(const auth_claims_in_t *c, char **json)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "iss", c->iss);
    yard_mpw_kstr(w, "aud", c->aud);
    yard_mpw_kstr(w, "sub", c->sub);
    yard_mpw_kstr(w, "jti", c->jti);
    if (c->typ) {
        yard_mpw_kstr(w, "typ", c->typ);
    }
    if (c->fam) {
        yard_mpw_kstr(w, "fam", c->fam);
    }
    yard_mpw_key(w, "scopes");
    yard_mpw_strs(w, c->scopes, c->nscopes);
    yard_mpw_kint(w, "iat", c->iat);
    yard_mpw_kint(w, "exp", c->exp);
    if (c->gen != 0) {
        yard_mpw_kint(w, "gen", c->gen);
    }
    if (c->nbf != 0) {
        yard_mpw_kint(w, "nbf", c->nbf);
    }
    yard_mpw_end(w);
    return s_json_of(&w, json);
}

/* "b64(h).b64(p).b64(signature over the text before the second dot)", or NULL when it would
 * be longer than AUTH_JWT_MAX. Caller frees. */
static char *
s_compact(const auth_key_t *key, const char *hjson, const char *pjson)
{
    char *h64 = s_b64_encode(hjson, strlen(hjson));
    char *p64 = s_b64_encode(pjson, strlen(pjson));
    size_t hlen = strlen(h64), plen = strlen(p64);
    size_t s64len =
        sodium_base64_ENCODED_LEN(
            key->alg == AUTH_ALG_EDDSA ? crypto_sign_BYTES : crypto_auth_hmacsha256_BYTES, S_B64) -
        1;
    /* one byte for each dot, one for the NUL */
    size_t total = hlen + 1 + plen + 1 + s64len + 1;
    char *out = NULL;
    if (total - 1 <= AUTH_JWT_MAX) {
        out = malloc(total);
        if (!out) {
            abort();
        }
        memcpy(out, h64, hlen);
        out[hlen] = '.';
        memcpy(out + hlen + 1, p64, plen + 1);
        unsigned char sig[64];
        size_t siglen = s_sign(key, out, hlen + 1 + plen, sig);
        char *s64 = s_b64_encode(sig, siglen);
        out[hlen + 1 + plen] = '.';
        memcpy(out + hlen + 1 + plen + 1, s64, strlen(s64) + 1);
        free(s64);
    }
    free(h64);
    free(p64);
    return out;
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
    char *hjson = NULL, *pjson = NULL;
    /* Both fail only for a string that is not UTF-8. */
    if (s_header_json(key, &hjson) == 0 && s_payload_json(c, &pjson) == 0) {
        *out = s_compact(key, hjson, pjson);
    }
    free(hjson);
    free(pjson);
    return *out ? 0 : -1;
}

/* A string member copied into buf (cap bytes with its NUL): 1 absent, -1 not a string (nil
 * included: yard_mp_find sees a nil member, the typed readers call it absent), longer than
 * cap - 1 or holding a NUL, 0 otherwise. */
static int
s_str(const msgpack_object *map, const char *name, char *buf, size_t cap)
{
    const msgpack_object *v = yard_mp_find(map, name);
    if (!v) {
        return 1;
    }
    return yard_mp_get_strbuf(map, name, buf, cap, NULL, 0) == 0 ? 0 : -1;
}

/* An int64 member, like s_str (nil, a real or an integer past int64 is -1). */
static int
s_int(const msgpack_object *map, const char *name, int64_t *val)
{
    const msgpack_object *v = yard_mp_find(map, name);
    if (!v) {
        return 1;
    }
    return yard_mp_get_int(map, name, val, NULL, 0) == 0 ? 0 : -1;
}

static bool
s_aud_matches(const msgpack_object *aud, const char *want)
{
    if (auth_mp_is_str(aud)) {
        return auth_mp_str_equals(aud, want);
    }
    for (uint32_t i = 0; i < aud->via.array.size; i++) {
        if (auth_mp_str_equals(&aud->via.array.ptr[i], want)) {
            return true;
        }
    }
    return false;
}

static bool
s_aud_well_formed(const msgpack_object *aud)
{
    if (auth_mp_is_str(aud)) {
        return true;
    }
    if (!aud || aud->type != MSGPACK_OBJECT_ARRAY) {
        return false;
    }
    for (uint32_t i = 0; i < aud->via.array.size; i++) {
        if (!auth_mp_is_str(&aud->via.array.ptr[i])) {
            return false;
        }
    }
    return true;
}

/* The scopes claim into out: absent is none; -1 when it is not an array of at most
 * AUTH_SCOPES_MAX strings of at most AUTH_SCOPE_MAX bytes without a NUL. */
static int
s_scopes(const msgpack_object *pay, msgpack_zone *zone, auth_claims_t *out)
{
    if (!yard_mp_find(pay, "scopes")) {
        return 0;
    }
    const char *const *v = NULL;
    size_t n = 0;
    if (yard_mp_get_strs(pay, "scopes", zone, AUTH_SCOPES_MAX, &v, &n, NULL, 0) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i]);
        if (len > AUTH_SCOPE_MAX) {
            return -1;
        }
        memcpy(out->scopes[i], v[i], len + 1);
    }
    out->nscopes = n;
    return 0;
}

/* Reads the claims' types and shapes into out; the first fault is MALFORMED with *why. */
static auth_jwt_err_t
s_claim_types(const msgpack_object *pay, msgpack_zone *zone, auth_claims_t *out, const char **why)
{
    if (s_int(pay, "exp", &out->exp) != 0) {
        *why = "exp is not an integer";
    } else if (s_int(pay, "iat", &out->iat) != 0) {
        *why = "iat is not an integer";
    } else if (s_int(pay, "nbf", &out->nbf) < 0) {
        *why = "nbf is not an integer";
    } else if (s_int(pay, "gen", &out->gen) < 0 || out->gen < 0) {
        *why = "gen is not a non-negative integer";
    } else if (!auth_mp_is_str(yard_mp_find(pay, "iss"))) {
        *why = "iss is not a string";
    } else if (s_str(pay, "sub", out->sub, sizeof out->sub) != 0) {
        *why = "sub is not a string or too long";
    } else if (s_str(pay, "jti", out->jti, sizeof out->jti) != 0) {
        *why = "jti is not a string or too long";
    } else if (s_str(pay, "fam", out->fam, sizeof out->fam) < 0) {
        *why = "fam is not a string or too long";
    } else if (s_str(pay, "typ", out->typ, sizeof out->typ) < 0) {
        *why = "typ is not a string or too long";
    } else if (!s_aud_well_formed(yard_mp_find(pay, "aud"))) {
        *why = "aud is not a string or an array of strings";
    } else if (s_scopes(pay, zone, out) != 0) {
        *why = "scopes is not an array, or has too many entries, or a scope is too long";
    } else {
        return AUTH_JWT_OK;
    }
    return AUTH_JWT_MALFORMED;
}

/* Reads and checks the claims of a payload whose signature has been checked. */
static auth_jwt_err_t
s_claims(const msgpack_object *pay, msgpack_zone *zone, const auth_verify_opts_t *o,
         auth_claims_t *out, const char **why)
{
    static const char *const required[] = {"exp", "iat", "iss", "aud", "sub", "jti"};
    static const char *const missing[] = {"exp claim missing", "iat claim missing",
                                          "iss claim missing", "aud claim missing",
                                          "sub claim missing", "jti claim missing"};
    if (pay->type != MSGPACK_OBJECT_MAP) {
        *why = "payload is not a JSON object";
        return AUTH_JWT_MALFORMED;
    }
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (!yard_mp_find(pay, required[i])) {
            *why = missing[i];
            return AUTH_JWT_MISSING_CLAIM;
        }
    }
    auth_jwt_err_t err = s_claim_types(pay, zone, out, why);
    if (err != AUTH_JWT_OK) {
        return err;
    }
    if (!auth_mp_str_equals(yard_mp_find(pay, "iss"), o->iss)) {
        *why = "iss is not the expected issuer";
        return AUTH_JWT_WRONG_ISS;
    }
    if (!s_aud_matches(yard_mp_find(pay, "aud"), o->aud)) {
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
    if (o->typ && strcmp(out->typ, o->typ) != 0) {
        *why = "typ is not the expected token type";
        return AUTH_JWT_WRONG_TYP;
    }
    return AUTH_JWT_OK;
}

/* From the header: the key its kid names, if its alg is that key's algorithm. Returns
 * AUTH_JWT_OK and *key, or the refusal with *why. */
static auth_jwt_err_t
s_header_key(const msgpack_object *hdr, const auth_keyset_t *ks, int64_t now,
             const auth_key_t **key, const char **why)
{
    if (hdr->type != MSGPACK_OBJECT_MAP) {
        *why = "header is not a JSON object";
        return AUTH_JWT_MALFORMED;
    }
    if (yard_mp_find(hdr, "crit")) {
        /* RFC 7515 4.1.11: extensions we do not understand must not be ignored. */
        *why = "header has crit extensions";
        return AUTH_JWT_MALFORMED;
    }
    char alg_name[S_ALG_MAX + 1], kid[AUTH_KID_MAX + 1];
    const msgpack_object *jalg = yard_mp_find(hdr, "alg"), *jkid = yard_mp_find(hdr, "kid");
    if (!jalg) {
        *why = "alg missing";
        return AUTH_JWT_BAD_ALG;
    }
    if (!auth_mp_is_str(jalg)) {
        *why = "alg is not a string";
        return AUTH_JWT_MALFORMED;
    }
    auth_alg_t alg = 0;
    if (s_str(hdr, "alg", alg_name, sizeof alg_name) == 0) {
        alg = auth_alg_from_name(alg_name);
    }
    if (alg == 0) {
        *why = auth_mp_str_equals(jalg, "none") ? "alg none is not accepted" : "alg not supported";
        return AUTH_JWT_BAD_ALG;
    }
    if (!jkid) {
        *why = "kid missing";
        return AUTH_JWT_UNKNOWN_KID;
    }
    if (!auth_mp_is_str(jkid)) {
        *why = "kid is not a string";
        return AUTH_JWT_MALFORMED;
    }
    /* An over-long kid, or one holding a NUL, names no key. */
    *key = s_str(hdr, "kid", kid, sizeof kid) == 0 ? auth_keyset_find(ks, kid, now) : NULL;
    if (!*key) {
        *why = "kid not in the key set";
        return AUTH_JWT_UNKNOWN_KID;
    }
    if ((*key)->alg != alg) {
        *why = "alg is not the algorithm of the kid's key";
        return AUTH_JWT_BAD_ALG;
    }
    return AUTH_JWT_OK;
}

static bool
s_signature_ok(const auth_key_t *key, const char *input, size_t inlen, const unsigned char *sig,
               size_t siglen)
{
    if (key->alg == AUTH_ALG_EDDSA) {
        return siglen == crypto_sign_BYTES &&
               crypto_sign_verify_detached(sig, (const unsigned char *)input, inlen, key->pub) == 0;
    }
    if (siglen != crypto_auth_hmacsha256_BYTES) {
        return false;
    }
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)input, inlen, key->secret);
    bool ok = sodium_memcmp(mac, sig, sizeof mac) == 0;
    sodium_memzero(mac, sizeof mac);
    return ok;
}

/* The token's three parts: false when it is not "h.p.s". */
static bool
s_split(const char *token, size_t len, size_t *hlen, const char **p64, size_t *plen,
        const char **s64, size_t *slen)
{
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token))) {
        return false;
    }
    *hlen = (size_t)(dot1 - token);
    *p64 = dot1 + 1;
    *plen = (size_t)(dot2 - *p64);
    *s64 = dot2 + 1;
    *slen = len - (size_t)(*s64 - token);
    return true;
}

/* auth_jwt_verify's steps, in the order that trusts nothing before the signature. */
static auth_jwt_err_t
s_verify(const auth_keyset_t *ks, const char *token, const auth_verify_opts_t *o,
         msgpack_zone *zone, void **hmp, void **pmp, auth_claims_t *out, const char **why)
{
    size_t len = token ? strnlen(token, AUTH_JWT_MAX + 1) : 0;
    if (len == 0 || len > AUTH_JWT_MAX) {
        *why = len == 0 ? "token is empty" : "token is too long";
        return AUTH_JWT_MALFORMED;
    }
    size_t hlen = 0, plen = 0, slen = 0;
    const char *p64 = NULL, *s64 = NULL;
    if (!s_split(token, len, &hlen, &p64, &plen, &s64, &slen)) {
        *why = "token is not three dot-separated parts";
        return AUTH_JWT_MALFORMED;
    }
    msgpack_object hdr, pay;
    size_t psize = 0; /* a part's msgpack length: the zone's objects are what is read */
    int prc = auth_jws_part(token, hlen, zone, hmp, &psize, &hdr);
    if (prc != 0) {
        *why = prc == -1 ? "header is not base64url" : "header is not a JSON object";
        return AUTH_JWT_MALFORMED;
    }
    const auth_key_t *key = NULL;
    auth_jwt_err_t err = s_header_key(&hdr, ks, o->now, &key, why);
    if (err != AUTH_JWT_OK) {
        return err;
    }
    memcpy(out->kid, key->kid, strlen(key->kid) + 1);
    unsigned char *sig = NULL;
    size_t siglen = 0;
    if (auth_b64url_decode(s64, slen, &sig, &siglen) != 0) {
        *why = "signature is not base64url";
        return AUTH_JWT_MALFORMED;
    }
    bool sig_ok = s_signature_ok(key, token, (size_t)(s64 - 1 - token), sig, siglen);
    free(sig);
    if (!sig_ok) {
        *why = "signature does not match";
        return AUTH_JWT_BAD_SIGNATURE;
    }
    prc = auth_jws_part(p64, plen, zone, pmp, &psize, &pay);
    if (prc != 0) {
        *why = prc == -1 ? "payload is not base64url" : "payload is not JSON (or repeats a member)";
        return AUTH_JWT_MALFORMED;
    }
    return s_claims(&pay, zone, o, out, why);
}

auth_jwt_err_t
auth_jwt_verify(const auth_keyset_t *ks, const char *token, const auth_verify_opts_t *o,
                auth_claims_t *out, char *why, size_t whylen)
{
    YARD_ASSERT(ks && o && o->iss && o->aud);
    auth_claims_t scratch;
    if (!out) {
        out = &scratch;
    }
    memset(out, 0, sizeof *out);
    const char *msg = "";
    void *hmp = NULL, *pmp = NULL; /* the msgpack of header and payload: zone strings point in */
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 1024)) {
        abort();
    }
    auth_jwt_err_t err = s_verify(ks, token, o, &zone, &hmp, &pmp, out, &msg);
    if (err != AUTH_JWT_OK) {
        /* A refused token leaves nothing half-read behind. */
        memset(out, 0, sizeof *out);
    }
    if (why && whylen > 0) {
        snprintf(why, whylen, "%s", err == AUTH_JWT_OK ? "" : msg);
    }
    msgpack_zone_destroy(&zone);
    free(hmp);
    free(pmp);
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
