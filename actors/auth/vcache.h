/* A cache of tokens that passed auth_jwt_verify(), so that a client presenting the same token
 * on every request pays for the signature check once. Keyed by a BLAKE2b hash of the whole
 * token (header, payload and signature), so a hit is the very bytes that verified. A hit is
 * re-checked for what time or a rotation can change: exp (with the leeway), the token type
 * asked for, and that its kid is still in the key set. Revocation is not cached: callers
 * check it on every use.
 *
 * Not thread-safe: one per replica. */
#ifndef AUTH_VCACHE_H
#define AUTH_VCACHE_H

#include "jwt.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct auth_vcache auth_vcache_t;

/* A cache of slots entries (direct-mapped). Caller owns it; free with auth_vcache_destroy(). */
auth_vcache_t *auth_vcache_new(size_t slots);
void auth_vcache_destroy(auth_vcache_t **self_p);

/* True, with the token's claims in *out, when token verified before and still holds at o->now
 * against ks; false otherwise (verify it then). */
bool auth_vcache_get(auth_vcache_t *self, const auth_keyset_t *ks, const char *token,
                     const auth_verify_opts_t *o, auth_claims_t *out);
/* Remembers that token verified with claims c (copied). */
void auth_vcache_put(auth_vcache_t *self, const char *token, const auth_claims_t *c);

#endif
