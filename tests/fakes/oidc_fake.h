/* A fake OpenID provider for the auth actor's tests: its signing keys (made with GnuTLS in
 * the test, as a provider makes its own) and the compact JWS it signs ID tokens with.
 *
 * The key half is also what a test uses to forge tokens by hand: sign a header and payload
 * exactly as written (alg "none", HS256 keyed with the public key, a kid that names another
 * key, ...), so that each case tests the one thing its name says.
 * Every function is thread-safe. */
#ifndef OIDC_FAKE_H
#define OIDC_FAKE_H

#include <stdbool.h>
#include <stddef.h>

/* --- keys and signatures ----------------------------------------------------------------- */

typedef enum { OF_RS256, OF_ES256, OF_EDDSA } of_alg_t;

typedef struct of_key of_key_t;

/* A new key pair (RSA 2048, P-256 or Ed25519) named kid (copied). Caller owns the result; free
 * with of_key_destroy(). Aborts the test program when GnuTLS cannot make one. */
of_key_t *of_key_new(of_alg_t alg, const char *kid);
/* The same, RSA with the given modulus size (a key too small to be accepted). */
of_key_t *of_key_new_rsa(unsigned bits, const char *kid);
void of_key_destroy(of_key_t **k_p);

const char *of_key_kid(const of_key_t *k);
/* "RS256", "ES256" or "EdDSA". Static. */
const char *of_key_alg(const of_key_t *k);

/* The key's public JWK as JSON text: {"kty",...,"kid","use":"sig","alg"} with alg as given
 * (NULL: the key's own; "" leaves the member out). Caller frees with free(). */
char *of_key_jwk(const of_key_t *k, const char *alg);
/* The public key as PEM (SubjectPublicKeyInfo), as a provider might publish it: what an
 * attacker would use as an HMAC secret. Caller frees with free(). */
char *of_key_pem(const of_key_t *k);

/* "b64url(header).b64url(payload).b64url(signature)", the header and payload JSON taken as
 * written, signed by k with its algorithm (ES256 as raw r || s). Caller frees with free(). */
char *of_jws_sign(const of_key_t *k, const char *header, const char *payload);
/* The same with a given signature (siglen 0: an empty third part). */
char *of_jws_raw(const char *header, const char *payload, const void *sig, size_t siglen);
/* The same, "signed" with HMAC-SHA256 keyed by secret (secretlen bytes). */
char *of_jws_hs256(const char *header, const char *payload, const void *secret, size_t secretlen);

#endif
