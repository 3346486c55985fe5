/* Password hashing for the auth actor: argon2id through libsodium's crypto_pwhash_str_alg,
 * at OWASP's recommended minimum (Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1),
 * in libsodium's self-describing string form, so a stronger cost can be set later and old
 * hashes still verify. */
#ifndef AUTH_PASSWORD_H
#define AUTH_PASSWORD_H

#include <sodium.h>

#include <stdbool.h>
#include <stddef.h>

#define AUTH_PASSWORD_MIN 8   /* bytes */
#define AUTH_PASSWORD_MAX 256 /* bytes (argon2 takes any length; this bounds the work) */
#define AUTH_HASH_MAX     crypto_pwhash_STRBYTES

/* Hashes password into out. Returns 0, or -1 when libsodium could not (out of memory). */
int auth_password_hash(const char *password, char out[AUTH_HASH_MAX]);

/* True when password matches stored (constant time in the password). A NULL stored checks
 * against a fixed dummy hash and returns false, so that an unknown user costs a login the
 * same time as a wrong password. */
bool auth_password_verify(const char *stored, const char *password);

/* NULL when password is acceptable, else why not (static text). */
const char *auth_password_check(const char *password, size_t len);

/* A random id of n bytes of entropy, base64url without padding, into out (at least
 * sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) bytes). */
void auth_random_id(char *out, size_t outlen, size_t n);

#endif
