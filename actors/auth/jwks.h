/* A JSON Web Key Set (RFC 7517) as an OpenID provider publishes it at its jwks_uri: the
 * public keys its ID tokens are signed with, imported into GnuTLS for verification.
 *
 * Each key is pinned to one algorithm when the set is parsed, and a token is checked only
 * with that algorithm (oidc_jwt.h):
 *   kty "RSA" (n, e; modulus 2048..8192 bits)  -> RS256
 *   kty "EC", crv "P-256" (x, y)               -> ES256
 *   kty "OKP", crv "Ed25519" (x)               -> EdDSA
 * A key's own "alg" member, when present, must be that algorithm (RFC 7517 4.4 makes it
 * optional: Google and Keycloak send it, some providers do not; without it the key type
 * decides, since we accept one algorithm per key type). Keys we cannot use are skipped, not
 * errors: symmetric ("oct") keys, other curves or algorithms (RS384, PS256, ES384, ...), keys
 * for encryption ("use": "enc"), keys without a kid, keys whose numbers do not decode. A set
 * whose JSON is not a {"keys": [...]} object is an error. */
#ifndef AUTH_JWKS_H
#define AUTH_JWKS_H

#include <gnutls/abstract.h>
#include <stddef.h>

#define OIDC_JWKS_MAX_KEYS  32           /* keys kept from one set; the rest are ignored */
#define OIDC_JWKS_MAX_BYTES (256 * 1024) /* the largest JWKS document accepted */
#define OIDC_KID_MAX        128          /* bytes in a kid */

typedef enum {
    OIDC_ALG_NONE = 0, /* never a key's algorithm: the value of "not one we accept" */
    OIDC_ALG_RS256,
    OIDC_ALG_ES256,
    OIDC_ALG_EDDSA,
} oidc_alg_t;

typedef struct {
    char kid[OIDC_KID_MAX + 1];
    oidc_alg_t alg;
    gnutls_pubkey_t pub;
} oidc_jwk_t;

typedef struct oidc_jwks oidc_jwks_t;

/* Parses len bytes of JWKS JSON. Returns 0 and sets *out (caller owns it; free with
 * oidc_jwks_destroy()), possibly with no usable key; or -1 with the reason in why (never key
 * material) for a document that is not JSON, not an object with a "keys" array, or larger
 * than OIDC_JWKS_MAX_BYTES. */
int oidc_jwks_parse(const char *json, size_t len, oidc_jwks_t **out, char *why, size_t whylen);

void oidc_jwks_destroy(oidc_jwks_t **jwks_p);

/* The key whose kid is kid, or NULL. Borrowed; valid until the set is destroyed. */
const oidc_jwk_t *oidc_jwks_find(const oidc_jwks_t *jwks, const char *kid);

/* Usable keys in the set. */
size_t oidc_jwks_count(const oidc_jwks_t *jwks);

/* "RS256", "ES256", "EdDSA", or NULL for OIDC_ALG_NONE. Static. */
const char *oidc_alg_name(oidc_alg_t alg);
/* The algorithm named name (exact, case-sensitive), or OIDC_ALG_NONE. */
oidc_alg_t oidc_alg_from_name(const char *name);

#endif
