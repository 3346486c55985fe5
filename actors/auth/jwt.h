/* JSON Web Tokens for the auth actor: compact JWS (RFC 7515) with EdDSA over Ed25519
 * (RFC 8037) or HS256 (RFC 7518), signed and checked with libsodium; header and claims are
 * JSON written and read through msgpack (yard/json.h, yard/mp.h), and a header or payload
 * that repeats a member is refused.
 *
 * Verification never trusts the token's header to choose how to check it: the header's kid
 * picks a key from the key set, and the header's alg must equal that key's algorithm ("none",
 * a missing kid, or an alg that differs from the key's is rejected before any signature
 * work). exp, iat, iss and aud are required; nbf is checked when present; all times with the
 * caller's leeway. */
#ifndef AUTH_JWT_H
#define AUTH_JWT_H

#include "keyset.h"
#include "yard/wire.h"

#include <stddef.h>
#include <stdint.h>

#define AUTH_JWT_MAX    YARD_BEARER_MAX /* longest token accepted: the gateway's limit too */
#define AUTH_SCOPES_MAX 32              /* scopes per token */
#define AUTH_SCOPE_MAX  64              /* bytes per scope */
#define AUTH_SUB_MAX    255             /* bytes in sub */
#define AUTH_ID_MAX     64              /* bytes in jti and fam */

/* Why a token was refused. Every one of them means UNAUTHENTICATED to a caller; the
 * distinction is for logs and tests. */
typedef enum {
    AUTH_JWT_OK = 0,
    AUTH_JWT_MALFORMED,     /* not three base64url parts, bad JSON, too long, wrong types */
    AUTH_JWT_BAD_ALG,       /* alg missing, "none", unknown, or not the key's algorithm */
    AUTH_JWT_UNKNOWN_KID,   /* kid missing or not in the key set (or retired) */
    AUTH_JWT_BAD_SIGNATURE, /* the signature does not match */
    AUTH_JWT_MISSING_CLAIM, /* exp, iat, iss, aud, sub or jti absent */
    AUTH_JWT_EXPIRED,       /* now > exp + leeway */
    AUTH_JWT_NOT_YET,       /* now < nbf - leeway, or now < iat - leeway */
    AUTH_JWT_WRONG_ISS,
    AUTH_JWT_WRONG_AUD,
    AUTH_JWT_WRONG_TYP /* typ is not the one the caller asked for */
} auth_jwt_err_t;

/* What to put in a token. Strings are borrowed for the call. */
typedef struct {
    const char *iss, *aud, *sub, *jti;
    const char *typ;           /* "access" or "refresh" (claim "typ") */
    const char *fam;           /* session family id (claim "fam"), or NULL */
    const char *const *scopes; /* claim "scopes": array of strings */
    size_t nscopes;
    int64_t iat, exp, nbf; /* unix seconds; nbf 0: no nbf claim */
    int64_t gen;           /* claim "gen": the user's token generation; 0: none */
} auth_claims_in_t;

/* What a verified token said. */
typedef struct {
    char sub[AUTH_SUB_MAX + 1];
    char jti[AUTH_ID_MAX + 1];
    char fam[AUTH_ID_MAX + 1]; /* "" when absent */
    char typ[16];
    char kid[AUTH_KID_MAX + 1];
    char scopes[AUTH_SCOPES_MAX][AUTH_SCOPE_MAX + 1];
    size_t nscopes;
    int64_t iat, exp, nbf;
    int64_t gen; /* 0 when absent */
} auth_claims_t;

typedef struct {
    const char *iss;  /* required value of iss */
    const char *aud;  /* required: aud equals it, or is an array containing it */
    const char *typ;  /* required value of typ, or NULL for any */
    int64_t now;      /* unix seconds */
    int64_t leeway_s; /* allowed clock skew */
} auth_verify_opts_t;

/* Signs c with key (the key set's current one, normally). Returns 0 and sets *out (caller
 * frees with free()), or -1 when a claim is missing or too long. */
int auth_jwt_sign(const auth_key_t *key, const auth_claims_in_t *c, char **out);

/* Checks token against ks and o. Returns AUTH_JWT_OK and fills *out, or the reason it was
 * refused with why (a short message naming what was wrong, never the token or a key). */
auth_jwt_err_t auth_jwt_verify(const auth_keyset_t *ks, const char *token,
                               const auth_verify_opts_t *o, auth_claims_t *out, char *why,
                               size_t whylen);

/* A short name for an error ("expired", "bad signature", ...). Static. */
const char *auth_jwt_strerror(auth_jwt_err_t err);

#endif
