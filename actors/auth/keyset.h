/* The auth actor's signing keys: a set with one current key (which signs) and older keys that
 * still verify until they retire. Ed25519 (EdDSA) by default, or HS256 for simple setups;
 * keys come from libsodium's generators. The set travels through the state store as msgpack
 * so that every replica signs and verifies with the same keys (the store holds secret key
 * material: protect it as you would the keys themselves). */
#ifndef AUTH_KEYSET_H
#define AUTH_KEYSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_KID_MAX  32
#define AUTH_KEYS_MAX 16 /* keys kept in a set; the oldest retired ones are dropped first */

typedef enum { AUTH_ALG_EDDSA = 1, AUTH_ALG_HS256 = 2 } auth_alg_t;

typedef struct {
    char kid[AUTH_KID_MAX + 1]; /* random, base64url */
    auth_alg_t alg;
    unsigned char secret[64]; /* Ed25519: libsodium's 64-byte secret key; HS256: 32 bytes */
    unsigned char pub[32];    /* Ed25519 public key; unused for HS256 */
    int64_t created;          /* unix seconds */
    int64_t retire_at;        /* 0: no end; else tokens with this kid fail after it */
} auth_key_t;

typedef struct auth_keyset auth_keyset_t;

/* The algorithm for a name: "EdDSA" or "HS256" (as in a JWT header). Returns 0 when neither. */
auth_alg_t auth_alg_from_name(const char *name);
const char *auth_alg_name(auth_alg_t alg);

/* A set with one fresh current key. Returns 0 and sets *out (caller owns it; free with
 * auth_keyset_destroy()), or -1 for an unknown alg. */
int auth_keyset_new(auth_alg_t alg, int64_t now, auth_keyset_t **out);
void auth_keyset_destroy(auth_keyset_t **self_p);

/* Makes a fresh key of alg current. The previous current key keeps verifying until
 * now + keep_s (the longest lifetime of a token it signed), then retires. Keys already past
 * retire_at are dropped. Returns 0 or -1 (unknown alg). */
int auth_keyset_rotate(auth_keyset_t *self, auth_alg_t alg, int64_t now, int64_t keep_s);

/* The signing key. Borrowed; valid until the set changes. */
const auth_key_t *auth_keyset_current(const auth_keyset_t *self);
/* The key named kid that may still verify at now, or NULL. Borrowed, likewise. */
const auth_key_t *auth_keyset_find(const auth_keyset_t *self, const char *kid, int64_t now);
size_t auth_keyset_count(const auth_keyset_t *self);

/* msgpack form, for the store. pack: caller frees *out with free(). unpack: 0 and *out
 * (caller owns it), or -1 for bytes that are not a key set. */
int auth_keyset_pack(const auth_keyset_t *self, char **out, size_t *len);
int auth_keyset_unpack(const void *data, size_t len, auth_keyset_t **out);

#endif
