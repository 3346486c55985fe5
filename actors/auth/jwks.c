/* A provider's JSON Web Key Set, imported into GnuTLS public keys (jwks.h says which keys are
 * kept and which algorithm each is pinned to).
 *
 * The JSON is read with libyard's strict parser (a member repeated in one object is refused,
 * as for tokens) and walked as msgpack. Base64url is jws.h's, the one our own tokens use. */
#include "jwks.h"
#include "jws.h"

#include "yard/json.h"
#include "yard/mp.h"

#include <msgpack.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct oidc_jwks {
    oidc_jwk_t keys[OIDC_JWKS_MAX_KEYS];
    size_t n;
};

const char *
oidc_alg_name(oidc_alg_t alg)
{
    switch (alg) {
    case OIDC_ALG_RS256:
        return "RS256";
    case OIDC_ALG_ES256:
        return "ES256";
    case OIDC_ALG_EDDSA:
        return "EdDSA";
    case OIDC_ALG_NONE:
        break;
    }
    return NULL;
}

oidc_alg_t
oidc_alg_from_name(const char *name)
{
    for (oidc_alg_t a = OIDC_ALG_RS256; a <= OIDC_ALG_EDDSA; a++) {
        if (name && strcmp(name, oidc_alg_name(a)) == 0) {
            return a;
        }
    }
    return OIDC_ALG_NONE;
}

/* A base64url member of a JWK as a datum (data malloc'd; caller frees). -1 when absent, not
 * a string, or not base64url. */
static int
s_member_bin(const msgpack_object *jwk, const char *name, gnutls_datum_t *d)
{
    yard_str_t s;
    if (yard_mp_get_str(jwk, name, &s, NULL, 0) != 0 || s.len == 0 || s.len > 4096) {
        return -1;
    }
    unsigned char *bin = NULL;
    size_t n = 0;
    if (auth_b64url_decode(s.ptr, s.len, &bin, &n) != 0 || n == 0) {
        free(bin);
        return -1;
    }
    d->data = bin;
    d->size = (unsigned)n;
    return 0;
}

static bool
s_member_is(const msgpack_object *jwk, const char *name, const char *want)
{
    char buf[32];
    return yard_mp_get_strbuf(jwk, name, buf, sizeof buf, NULL, 0) == 0 && strcmp(buf, want) == 0;
}

/* The algorithm a JWK is pinned to, from kty and crv; OIDC_ALG_NONE for a key we do not use. */
static oidc_alg_t
s_key_alg(const msgpack_object *jwk)
{
    oidc_alg_t alg = OIDC_ALG_NONE;
    if (s_member_is(jwk, "kty", "RSA")) {
        alg = OIDC_ALG_RS256;
    } else if (s_member_is(jwk, "kty", "EC") && s_member_is(jwk, "crv", "P-256")) {
        alg = OIDC_ALG_ES256;
    } else if (s_member_is(jwk, "kty", "OKP") && s_member_is(jwk, "crv", "Ed25519")) {
        alg = OIDC_ALG_EDDSA;
    }
    if (yard_mp_find(jwk, "alg") &&
        !s_member_is(jwk, "alg", oidc_alg_name(alg) ? oidc_alg_name(alg) : "")) {
        return OIDC_ALG_NONE; /* e.g. an RSA key declared for RS384 or PS256 */
    }
    if (yard_mp_find(jwk, "use") && !s_member_is(jwk, "use", "sig")) {
        return OIDC_ALG_NONE;
    }
    return alg;
}

static int
s_import_rsa(const msgpack_object *jwk, gnutls_pubkey_t pub)
{
    gnutls_datum_t n = {0}, e = {0};
    int rc = -1;
    if (s_member_bin(jwk, "n", &n) == 0 && s_member_bin(jwk, "e", &e) == 0 && e.size <= 8) {
        /* Leading zero bytes do not count: the modulus's real size is what is bounded. */
        unsigned off = 0;
        while (off < n.size && n.data[off] == 0) {
            off++;
        }
        unsigned bits = (n.size - off) * 8;
        if (bits >= 2048 && bits <= 8192) {
            rc = gnutls_pubkey_import_rsa_raw(pub, &n, &e) == 0 ? 0 : -1;
        }
    }
    free(n.data);
    free(e.data);
    return rc;
}

static int
s_import_ec(const msgpack_object *jwk, oidc_alg_t alg, gnutls_pubkey_t pub)
{
    gnutls_datum_t x = {0}, y = {0};
    int rc = -1;
    if (alg == OIDC_ALG_ES256) {
        if (s_member_bin(jwk, "x", &x) == 0 && s_member_bin(jwk, "y", &y) == 0 && x.size == 32 &&
            y.size == 32) {
            rc =
                gnutls_pubkey_import_ecc_raw(pub, GNUTLS_ECC_CURVE_SECP256R1, &x, &y) == 0 ? 0 : -1;
        }
    } else if (s_member_bin(jwk, "x", &x) == 0 && x.size == 32) {
        rc = gnutls_pubkey_import_ecc_raw(pub, GNUTLS_ECC_CURVE_ED25519, &x, NULL) == 0 ? 0 : -1;
    }
    free(x.data);
    free(y.data);
    return rc;
}

/* Adds jwk to the set when it is one we use; anything else is skipped. */
static void
s_add(oidc_jwks_t *set, const msgpack_object *jwk)
{
    oidc_jwk_t *k = &set->keys[set->n];
    if (jwk->type != MSGPACK_OBJECT_MAP ||
        yard_mp_get_strbuf(jwk, "kid", k->kid, sizeof k->kid, NULL, 0) != 0 || !k->kid[0] ||
        oidc_jwks_find(set, k->kid)) {
        return; /* no kid, or one we already have: a kid must name one key */
    }
    k->alg = s_key_alg(jwk);
    if (k->alg == OIDC_ALG_NONE || gnutls_pubkey_init(&k->pub) != 0) {
        return;
    }
    int rc =
        k->alg == OIDC_ALG_RS256 ? s_import_rsa(jwk, k->pub) : s_import_ec(jwk, k->alg, k->pub);
    if (rc != 0) {
        gnutls_pubkey_deinit(k->pub);
        k->pub = NULL;
        return;
    }
    set->n++;
}

int
oidc_jwks_parse(const char *json, size_t len, oidc_jwks_t **out, char *why, size_t whylen)
{
    *out = NULL;
    if (len > OIDC_JWKS_MAX_BYTES) {
        snprintf(why, whylen, "the JWKS is larger than %d bytes", OIDC_JWKS_MAX_BYTES);
        return -1;
    }
    void *mp = NULL;
    size_t size = 0;
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 4096)) {
        abort();
    }
    msgpack_object doc;
    const msgpack_object *keys = NULL;
    int rc = yard_json_to_msgpack_strict(json, len, &mp, &size, NULL, 0);
    if (rc == 0) {
        rc = yard_mp_decode(mp, size, &zone, &doc, NULL, 0);
    }
    if (rc != 0 || yard_mp_get_array(&doc, "keys", &keys, NULL, 0) != 0) {
        snprintf(why, whylen, "the JWKS is not a JSON object with a 'keys' array");
        msgpack_zone_destroy(&zone);
        free(mp);
        return -1;
    }
    oidc_jwks_t *set = calloc(1, sizeof *set);
    if (!set) {
        abort();
    }
    for (uint32_t i = 0; i < keys->via.array.size && set->n < OIDC_JWKS_MAX_KEYS; i++) {
        s_add(set, &keys->via.array.ptr[i]);
    }
    msgpack_zone_destroy(&zone);
    free(mp);
    *out = set;
    return 0;
}

void
oidc_jwks_destroy(oidc_jwks_t **jwks_p)
{
    oidc_jwks_t *set = jwks_p ? *jwks_p : NULL;
    if (!set) {
        return;
    }
    for (size_t i = 0; i < set->n; i++) {
        gnutls_pubkey_deinit(set->keys[i].pub);
    }
    free(set);
    *jwks_p = NULL;
}

const oidc_jwk_t *
oidc_jwks_find(const oidc_jwks_t *jwks, const char *kid)
{
    for (size_t i = 0; jwks && kid && i < jwks->n; i++) {
        if (strcmp(jwks->keys[i].kid, kid) == 0) {
            return &jwks->keys[i];
        }
    }
    return NULL;
}

size_t
oidc_jwks_count(const oidc_jwks_t *jwks)
{
    return jwks ? jwks->n : 0;
}
