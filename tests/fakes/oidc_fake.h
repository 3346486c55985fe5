/* A fake OpenID provider for the auth actor's tests, on tests/harness/http_fake.h: its signing
 * keys (made with GnuTLS in the test, as a provider makes its own), the compact JWS it signs ID
 * tokens with, and its endpoints, as OpenID Connect Core 1.0 / Discovery 1.0, RFC 6749 (OAuth
 * 2.0) and RFC 7636 (PKCE) define them:
 *
 *   GET  /.well-known/openid-configuration  issuer, authorization_endpoint, token_endpoint,
 *        jwks_uri, response_types_supported ["code"], code_challenge_methods_supported
 *        ["S256"], id_token_signing_alg_values_supported, token_endpoint_auth_methods_supported
 *        ["client_secret_basic", "client_secret_post"], ...
 *   GET  /jwks  {"keys": [...]}: the public keys, which the test can rotate (add, remove).
 *   GET  /authorize?response_type=code&client_id&redirect_uri&scope&state&nonce
 *        &code_challenge&code_challenge_method=S256: with no browser, it signs in the user the
 *        test chose and answers 302 to redirect_uri?code=...&state=... An unknown client_id or
 *        a redirect_uri not registered is a 400 page, never a redirect (RFC 6749 4.1.2.1);
 *        other faults (response_type not code, scope without openid, no S256 challenge)
 *        redirect with error=invalid_request (or unsupported_response_type) and the state.
 *   POST /token  form grant_type=authorization_code, code, redirect_uri, code_verifier; the
 *        client authenticated by HTTP Basic (client_secret_basic) or client_id and
 *        client_secret in the form (client_secret_post). 200 {"access_token","token_type":
 *        "Bearer","expires_in","id_token","scope"} with Cache-Control: no-store; errors as
 *        RFC 6749 5.2: 401 invalid_client (with WWW-Authenticate when Basic was used), 400
 *        unsupported_grant_type, invalid_request (a parameter missing), invalid_grant (code
 *        unknown, used before, expired (60 s), issued to another client or redirect_uri, or
 *        a code_verifier whose S256 is not the challenge (RFC 7636 4.6)).
 *
 * The test can make the next ID token a forgery (signed by another key under a published kid,
 * alg none, HS256 keyed with the public key, wrong aud/iss/nonce, expired).
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

/* --- the provider ----------------------------------------------------------------------- */

typedef struct of_fake of_fake_t;

/* Starts a provider for one registered client (strings copied), with one RS256 key "k1" in its
 * JWKS. Caller owns the result; free with of_fake_stop(). Aborts the test program when the
 * server cannot start. */
of_fake_t *of_fake_start(const char *client_id, const char *client_secret,
                         const char *redirect_uri);
void of_fake_stop(of_fake_t **f_p);

/* "http://127.0.0.1:<port>": the issuer (also the base of every endpoint). Borrowed. */
const char *of_fake_issuer(of_fake_t *f);

/* The user the next authorizations sign in (copied): sub, email (NULL: none) and groups, a
 * JSON array text or NULL. Default: sub "u-1001", email "jane@example.com", no groups. */
void of_fake_user(of_fake_t *f, const char *sub, const char *email, const char *groups_json);

/* Key rotation: adds a new key to the JWKS and signs with it from now on; removes a key. */
void of_fake_add_key(of_fake_t *f, of_alg_t alg, const char *kid);
void of_fake_remove_key(of_fake_t *f, const char *kid);

typedef enum {
    OF_FORGE_NONE = 0,
    OF_FORGE_WRONG_KEY,   /* signed by a key not in the JWKS, under the signing kid */
    OF_FORGE_ALG_NONE,    /* "alg": "none", empty signature */
    OF_FORGE_HS256_PUB,   /* HS256 keyed with the signing key's public PEM */
    OF_FORGE_WRONG_AUD,   /* aud another client */
    OF_FORGE_WRONG_ISS,   /* iss another issuer */
    OF_FORGE_WRONG_NONCE, /* nonce not the one in the authorization request */
    OF_FORGE_EXPIRED,     /* exp an hour ago */
} of_forge_t;

/* The ID token of every later code exchange is forged so (OF_FORGE_NONE: honest again). */
void of_fake_forge(of_fake_t *f, of_forge_t forge);

/* Every forgery, with the reason a verifier names for refusing it: the table the OpenID tests
 * at each level (the actor, through the gateway) walk. */
typedef struct {
    of_forge_t forge;
    const char *why;
} of_forgery_t;
extern const of_forgery_t of_forgeries[];
extern const size_t of_forgeries_count;

/* Requests to path (NULL: all). */
size_t of_fake_requests(of_fake_t *f, const char *path);

/* The last /authorize query as received ("" when none), into buf. */
void of_fake_last_authorize(of_fake_t *f, char *buf, size_t cap);

#endif
