/* ID tokens from an OpenID provider (OpenID Connect Core 1.0, 3.1.3.7): a compact JWS checked
 * against the provider's JWKS (jwks.h) with GnuTLS, then its claims.
 *
 * A token never chooses how it is checked: the header's kid picks the JWKS key, and the
 * header's alg must equal the algorithm that key is pinned to (RS256, ES256 or EdDSA). So
 * "alg": "none", HS256 "signed" with the RSA public key as the HMAC secret, an alg that
 * differs from the key's, a missing or unknown kid, and keys embedded in the header ("jwk",
 * "jku", "x5u", "x5c": never read) all fail before or at the signature. Only then is the
 * payload parsed, and:
 *   iss   must equal the provider's issuer exactly;
 *   aud   must be client_id, or an array holding it (then, with more than one audience, azp
 *         must be present); azp, when present, must be client_id;
 *   exp   now <= exp + leeway;  iat  required, not after now + leeway;  nbf  when present,
 *         now >= nbf - leeway;
 *   nonce must equal the one sent with the authorization request (when the caller gives one);
 *   sub   required, 1..255 bytes.
 * Header and payload that repeat a member are refused (strict JSON), and so is a header with
 * "crit". */
#ifndef AUTH_OIDC_JWT_H
#define AUTH_OIDC_JWT_H

#include "jwks.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OIDC_ID_TOKEN_MAX (16 * 1024) /* longest ID token accepted, bytes */
#define OIDC_SUB_MAX      255
#define OIDC_EMAIL_MAX    254

typedef enum {
    OIDC_JWT_OK = 0,
    OIDC_JWT_MALFORMED,     /* not three base64url parts, not JSON, wrong types, too long */
    OIDC_JWT_BAD_ALG,       /* alg missing, "none", unknown, or not the key's algorithm */
    OIDC_JWT_UNKNOWN_KID,   /* kid missing or not in the JWKS: the caller may refetch it */
    OIDC_JWT_BAD_SIGNATURE, /* the signature does not verify with the kid's key */
    OIDC_JWT_MISSING_CLAIM, /* iss, aud, exp, iat, sub, or nonce (when one was sent) absent */
    OIDC_JWT_EXPIRED,
    OIDC_JWT_NOT_YET, /* iat in the future, or nbf not reached */
    OIDC_JWT_WRONG_ISS,
    OIDC_JWT_WRONG_AUD, /* aud or azp */
    OIDC_JWT_WRONG_NONCE,
} oidc_jwt_err_t;

typedef struct {
    const char *iss;       /* the provider's issuer (required) */
    const char *client_id; /* our client id: the audience (required) */
    const char *nonce;     /* the nonce sent, or NULL to not check it */
    int64_t now;           /* unix seconds */
    int64_t leeway_s;      /* clock skew allowed */
} oidc_verify_opts_t;

/* What a verified ID token said. claims is the whole payload as msgpack (a map), for claim
 * mapping (groups, roles, ...): read it with yard_mp_decode(). */
typedef struct {
    char sub[OIDC_SUB_MAX + 1];
    char email[OIDC_EMAIL_MAX + 1]; /* "" when absent (or not a string that fits) */
    bool email_verified;
    char kid[OIDC_KID_MAX + 1];
    int64_t iat, exp;
    void *claims; /* owned: free with oidc_id_token_clear() */
    size_t claims_size;
} oidc_id_token_t;

/* Checks token against jwks and o. Returns OIDC_JWT_OK and fills *out (caller owns out->claims;
 * free with oidc_id_token_clear()), or the reason it was refused, with out zeroed (nothing to
 * free) and a short message in why that names what was wrong, never token or key bytes. */
oidc_jwt_err_t oidc_jwt_verify(const oidc_jwks_t *jwks, const char *token,
                               const oidc_verify_opts_t *o, oidc_id_token_t *out, char *why,
                               size_t whylen);

/* Frees what oidc_jwt_verify put in t and zeroes it. Fine on a zeroed t. */
void oidc_id_token_clear(oidc_id_token_t *t);

/* A short name for an error ("expired", "bad signature", ...). Static. */
const char *oidc_jwt_strerror(oidc_jwt_err_t err);

#endif
