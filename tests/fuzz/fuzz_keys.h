/* The fuzzers' fixed key set (fuzz_jwt.c and the seed generator): one HS256 and one Ed25519
 * key made from constant bytes, so that tokens in the seed corpus verify and every crash
 * replays. Test keys only: they sign nothing outside tests/fuzz. */
#ifndef FUZZ_KEYS_H
#define FUZZ_KEYS_H

#include "keyset.h"

#include <msgpack.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ISS "yard-fuzz"
#define FUZZ_AUD "yard"
#define FUZZ_NOW 1790000000 /* the verifier's clock: fixed, so expiry is deterministic */

static void
fuzz_pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void
fuzz_pack_key(msgpack_packer *pk, const char *kid, int alg, const void *secret, size_t sn,
              const void *pub, size_t pn)
{
    msgpack_pack_map(pk, 6);
    fuzz_pack_str(pk, "kid");
    fuzz_pack_str(pk, kid);
    fuzz_pack_str(pk, "alg");
    msgpack_pack_int(pk, alg);
    fuzz_pack_str(pk, "secret");
    msgpack_pack_bin(pk, sn);
    msgpack_pack_bin_body(pk, secret, sn);
    fuzz_pack_str(pk, "pub");
    msgpack_pack_bin(pk, pn);
    msgpack_pack_bin_body(pk, pub, pn);
    fuzz_pack_str(pk, "created");
    msgpack_pack_int64(pk, FUZZ_NOW - 86400);
    fuzz_pack_str(pk, "retire_at");
    msgpack_pack_int64(pk, 0);
}

/* The set: "fuzz-hs" (HS256, older) and "fuzz-ed" (EdDSA, current). Aborts on failure. */
static inline auth_keyset_t *
fuzz_keyset(void)
{
    if (sodium_init() < 0) {
        abort();
    }
    unsigned char hs[32], seed[32], pub[32], sk[64];
    for (int i = 0; i < 32; i++) {
        hs[i] = (unsigned char)(i * 7 + 1);
        seed[i] = (unsigned char)(i * 13 + 5);
    }
    crypto_sign_seed_keypair(pub, sk, seed);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    fuzz_pack_str(&pk, "v");
    msgpack_pack_int(&pk, 1);
    fuzz_pack_str(&pk, "keys");
    msgpack_pack_array(&pk, 2);
    fuzz_pack_key(&pk, "fuzz-hs", AUTH_ALG_HS256, hs, 32, pub, 0);
    fuzz_pack_key(&pk, "fuzz-ed", AUTH_ALG_EDDSA, sk, 64, pub, 32);
    auth_keyset_t *ks = NULL;
    if (auth_keyset_unpack(sb.data, sb.size, &ks) != 0) {
        abort();
    }
    msgpack_sbuffer_destroy(&sb);
    return ks;
}

#endif
