/* A fake OpenID provider (oidc_fake.h): keys and JWS signing with GnuTLS. */
#include "oidc_fake.h"

#include "http_fake.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct of_key {
    of_alg_t alg;
    char kid[128];
    gnutls_privkey_t priv;
    gnutls_pubkey_t pub;
};

static void
s_check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "oidc_fake: %s: %s\n", what, gnutls_strerror(rc));
        abort();
    }
}

static of_key_t *
s_key_new(of_alg_t alg, gnutls_pk_algorithm_t pk, unsigned bits, const char *kid)
{
    of_key_t *k = yh_http_fake_xcalloc(sizeof *k);
    k->alg = alg;
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    s_check(gnutls_privkey_init(&k->priv), "privkey_init");
    s_check(gnutls_privkey_generate2(k->priv, pk, bits, 0, NULL, 0), "privkey_generate2");
    s_check(gnutls_pubkey_init(&k->pub), "pubkey_init");
    s_check(gnutls_pubkey_import_privkey(k->pub, k->priv, 0, 0), "pubkey_import_privkey");
    return k;
}

of_key_t *
of_key_new(of_alg_t alg, const char *kid)
{
    switch (alg) {
    case OF_RS256:
        return s_key_new(alg, GNUTLS_PK_RSA, 2048, kid);
    case OF_ES256:
        return s_key_new(alg, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
                         kid);
    case OF_EDDSA:
        break;
    }
    return s_key_new(alg, GNUTLS_PK_EDDSA_ED25519, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519),
                     kid);
}

of_key_t *
of_key_new_rsa(unsigned bits, const char *kid)
{
    return s_key_new(OF_RS256, GNUTLS_PK_RSA, bits, kid);
}

void
of_key_destroy(of_key_t **k_p)
{
    of_key_t *k = k_p ? *k_p : NULL;
    if (!k) {
        return;
    }
    gnutls_privkey_deinit(k->priv);
    gnutls_pubkey_deinit(k->pub);
    free(k);
    *k_p = NULL;
}

const char *
of_key_kid(const of_key_t *k)
{
    return k->kid;
}

const char *
of_key_alg(const of_key_t *k)
{
    return k->alg == OF_RS256 ? "RS256" : k->alg == OF_ES256 ? "ES256" : "EdDSA";
}

/* Appends base64url (no padding) of n bytes, left-padded with zeros to width bytes. */
static void
s_add_b64(yh_text_t *t, const unsigned char *p, size_t n, size_t width)
{
    size_t pad = width > n ? width - n : 0;
    unsigned char *buf = yh_http_fake_xcalloc(n + pad + 1);
    memcpy(buf + pad, p, n);
    size_t cap = (n + pad) / 3 * 4 + 8;
    char *out = yh_http_fake_xcalloc(cap);
    yh_text_add(t, "%s", yh_base64(buf, n + pad, true, out, cap));
    free(out);
    free(buf);
}

char *
of_key_jwk(const of_key_t *k, const char *alg)
{
    yh_text_t t = {0};
    gnutls_datum_t a = {0}, b = {0};
    if (k->alg == OF_RS256) {
        s_check(gnutls_pubkey_export_rsa_raw2(k->pub, &a, &b, GNUTLS_EXPORT_FLAG_NO_LZ),
                "export_rsa_raw2");
        yh_text_add(&t, "{\"kty\":\"RSA\",\"n\":\"");
        s_add_b64(&t, a.data, a.size, 0);
        yh_text_add(&t, "\",\"e\":\"");
        s_add_b64(&t, b.data, b.size, 0);
    } else {
        gnutls_ecc_curve_t curve;
        s_check(gnutls_pubkey_export_ecc_raw2(k->pub, &curve, &a, k->alg == OF_ES256 ? &b : NULL,
                                              GNUTLS_EXPORT_FLAG_NO_LZ),
                "export_ecc_raw2");
        yh_text_add(&t, "{\"kty\":\"%s\",\"crv\":\"%s\",\"x\":\"",
                    k->alg == OF_ES256 ? "EC" : "OKP", k->alg == OF_ES256 ? "P-256" : "Ed25519");
        s_add_b64(&t, a.data, a.size, 32);
        if (k->alg == OF_ES256) {
            yh_text_add(&t, "\",\"y\":\"");
            s_add_b64(&t, b.data, b.size, 32);
        }
    }
    gnutls_free(a.data);
    gnutls_free(b.data);
    yh_text_add(&t, "\",\"kid\":");
    yh_text_json_str(&t, k->kid);
    yh_text_add(&t, ",\"use\":\"sig\"");
    if (!alg || alg[0]) {
        yh_text_add(&t, ",\"alg\":\"%s\"", alg ? alg : of_key_alg(k));
    }
    yh_text_add(&t, "}");
    return t.s;
}

char *
of_key_pem(const of_key_t *k)
{
    gnutls_datum_t pem = {0};
    s_check(gnutls_pubkey_export2(k->pub, GNUTLS_X509_FMT_PEM, &pem), "pubkey_export2");
    char *s = yh_http_fake_xcalloc(pem.size + 1);
    memcpy(s, pem.data, pem.size);
    gnutls_free(pem.data);
    return s;
}

/* "b64(header).b64(payload)" */
static yh_text_t
s_signing_input(const char *header, const char *payload)
{
    yh_text_t t = {0};
    s_add_b64(&t, (const unsigned char *)header, strlen(header), 0);
    yh_text_add(&t, ".");
    s_add_b64(&t, (const unsigned char *)payload, strlen(payload), 0);
    return t;
}

char *
of_jws_raw(const char *header, const char *payload, const void *sig, size_t siglen)
{
    yh_text_t t = s_signing_input(header, payload);
    yh_text_add(&t, ".");
    s_add_b64(&t, sig, siglen, 0);
    return t.s;
}

char *
of_jws_hs256(const char *header, const char *payload, const void *secret, size_t secretlen)
{
    yh_text_t t = s_signing_input(header, payload);
    unsigned char mac[32];
    s_check(gnutls_hmac_fast(GNUTLS_MAC_SHA256, secret, secretlen, t.s, t.n, mac), "hmac_fast");
    yh_text_add(&t, ".");
    s_add_b64(&t, mac, sizeof mac, 0);
    return t.s;
}

/* An ECDSA DER signature as JWS wants it: r and s, each left-padded to 32 bytes. */
static void
s_raw_rs(const gnutls_datum_t *der, unsigned char out[64])
{
    gnutls_datum_t r = {0}, s = {0};
    s_check(gnutls_decode_rs_value(der, &r, &s), "decode_rs_value");
    const gnutls_datum_t *v[2] = {&r, &s};
    for (int i = 0; i < 2; i++) {
        const unsigned char *p = v[i]->data;
        size_t n = v[i]->size;
        while (n > 32 && *p == 0) {
            p++;
            n--;
        }
        memset(out + 32 * i, 0, 32 - n);
        memcpy(out + 32 * i + (32 - n), p, n);
    }
    gnutls_free(r.data);
    gnutls_free(s.data);
}

char *
of_jws_sign(const of_key_t *k, const char *header, const char *payload)
{
    yh_text_t t = s_signing_input(header, payload);
    gnutls_datum_t data = {(unsigned char *)t.s, (unsigned)t.n}, sig = {0};
    gnutls_sign_algorithm_t algo = k->alg == OF_RS256   ? GNUTLS_SIGN_RSA_SHA256
                                   : k->alg == OF_ES256 ? GNUTLS_SIGN_ECDSA_SHA256
                                                        : GNUTLS_SIGN_EDDSA_ED25519;
    s_check(gnutls_privkey_sign_data2(k->priv, algo, 0, &data, &sig), "privkey_sign_data2");
    yh_text_add(&t, ".");
    if (k->alg == OF_ES256) {
        unsigned char rs[64];
        s_raw_rs(&sig, rs);
        s_add_b64(&t, rs, sizeof rs, 0);
    } else {
        s_add_b64(&t, sig.data, sig.size, 0);
    }
    gnutls_free(sig.data);
    return t.s;
}
