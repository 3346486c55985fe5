/* Fuzzes token verification (auth_jwt_verify) with a fixed key set: one HS256 and one
 * Ed25519 key, built from constant bytes so that every crash replays. The seeds are tokens
 * these keys signed (gen_seeds.c), so mutations reach the claims and signature checks. What
 * must hold: a refusal says why; an accepted token's claims are within their caps. */
#include "jwt.h"
#include "keyset.h"

#include <msgpack.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static auth_keyset_t *ks;
    if (!ks) {
        ks = fuzz_keyset();
    }
    if (size > AUTH_JWT_MAX + 64) {
        return 0;
    }
    char *token = malloc(size + 1);
    memcpy(token, data, size);
    token[size] = '\0';
    auth_verify_opts_t o = {.iss = FUZZ_ISS, .aud = FUZZ_AUD, .now = FUZZ_NOW, .leeway_s = 30};
    auth_claims_t claims;
    char why[256] = "";
    auth_jwt_err_t rc = auth_jwt_verify(ks, token, &o, &claims, why, sizeof why);
    if (rc == AUTH_JWT_OK) {
        if (claims.nscopes > AUTH_SCOPES_MAX || strlen(claims.sub) > AUTH_SUB_MAX) {
            abort();
        }
    } else if (why[0] == '\0' || auth_jwt_strerror(rc) == NULL) {
        abort();
    }
    o.typ = "access";
    (void)auth_jwt_verify(ks, token, &o, &claims, why, sizeof why);
    free(token);
    return 0;
}
