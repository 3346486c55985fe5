/* The pieces of a JWS compact token (RFC 7515) that our own tokens (jwt.c) and OpenID ID
 * tokens (oidc_jwt.c, jwks.c) read alike: strict base64url, a part parsed as strict JSON, and
 * msgpack string checks that compare lengths. One definition, so the two verifiers can never
 * disagree on what a well-formed part is. */
#ifndef AUTH_JWS_H
#define AUTH_JWS_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

/* Decodes exactly b64[0..len) (URL-safe alphabet, no padding) into a fresh buffer (caller
 * frees). Returns 0, or -1 with *out NULL for a character outside the alphabet, trailing data,
 * or a final character with bits that a canonical encoder would have left zero. */
int auth_b64url_decode(const char *b64, size_t len, unsigned char **out, size_t *outlen);

/* Decodes one base64url part and parses it as strict JSON into *obj, allocated from zone;
 * *mp holds its msgpack (caller frees, also on failure; may be NULL then) and *size its
 * length. Returns 0; -1 when it is not base64url; -2 when it is not JSON (a repeated member
 * included). */
int auth_jws_part(const char *b64, size_t len, msgpack_zone *zone, void **mp, size_t *size,
                  msgpack_object *obj);

/* Whether v is a msgpack string; and one holding exactly want (lengths compared, so
 * "iss\u0000x" is not "iss"). */
bool auth_mp_is_str(const msgpack_object *v);
bool auth_mp_str_equals(const msgpack_object *v, const char *want);

#endif
