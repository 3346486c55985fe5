/* ID tokens from an OpenID provider, checked against its JWKS (jwks.h, oidc_jwt.h), without
 * the actor. The provider's keys are made here with GnuTLS (tests/fakes/oidc_fake.h) and each
 * token of the table is written out by hand and signed (or forged) directly, so that each row
 * tests the one thing its name says. */
#include "jwks.h"
#include "oidc_fake.h"
#include "oidc_jwt.h"

#include "yard/json.h"
#include "yard/mp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW    1700000000
#define LEEWAY 60
#define ISS    "https://id.example.com/realms/yard"
#define CLIENT "switchyard-web"
#define NONCE  "n-0S6_WzA2Mj"

static const oidc_verify_opts_t s_opts = {
    .iss = ISS, .client_id = CLIENT, .nonce = NONCE, .now = NOW, .leeway_s = LEEWAY};

/* The provider's keys (rsa, ec, ed in its JWKS) and an attacker's RSA key named like rsa's. */
static struct {
    of_key_t *rsa, *ec, *ed, *evil;
    oidc_jwks_t *jwks;
} s_fix;

static char *
s_jwks_json(const of_key_t *const *keys, size_t n)
{
    size_t cap = 64;
    char *jwk[8];
    for (size_t i = 0; i < n; i++) {
        jwk[i] = of_key_jwk(keys[i], NULL);
        cap += strlen(jwk[i]) + 1;
    }
    char *out = calloc(1, cap);
    strcat(out, "{\"keys\":[");
    for (size_t i = 0; i < n; i++) {
        strcat(out, i ? "," : "");
        strcat(out, jwk[i]);
        free(jwk[i]);
    }
    strcat(out, "]}");
    return out;
}

static int
s_setup(void **state)
{
    (void)state;
    s_fix.rsa = of_key_new(OF_RS256, "rsa-1");
    s_fix.ec = of_key_new(OF_ES256, "ec-1");
    s_fix.ed = of_key_new(OF_EDDSA, "ed-1");
    s_fix.evil = of_key_new(OF_RS256, "rsa-1");
    const of_key_t *keys[] = {s_fix.rsa, s_fix.ec, s_fix.ed};
    char *json = s_jwks_json(keys, 3);
    char why[128];
    int rc = oidc_jwks_parse(json, strlen(json), &s_fix.jwks, why, sizeof why);
    free(json);
    return rc == 0 && oidc_jwks_count(s_fix.jwks) == 3 ? 0 : -1;
}

static int
s_teardown(void **state)
{
    (void)state;
    oidc_jwks_destroy(&s_fix.jwks);
    of_key_destroy(&s_fix.rsa);
    of_key_destroy(&s_fix.ec);
    of_key_destroy(&s_fix.ed);
    of_key_destroy(&s_fix.evil);
    return 0;
}

/* --- the table --------------------------------------------------------------------------- */

typedef enum { SIGN_KEY, SIGN_EVIL, SIGN_NONE, SIGN_HS_PEM, SIGN_HS_JWK, SIGN_TAMPER } sign_t;

typedef struct {
    const char *name;
    const char *header;  /* NULL: {"alg":<key's>,"kid":<key's>,"typ":"JWT"} */
    const char *payload; /* "%s" filled by nothing: written out in full */
    int key;             /* 0 rsa, 1 ec, 2 ed */
    sign_t sign;
    oidc_jwt_err_t want;
} row_t;

#define P(extra)                                                                                   \
    "{\"iss\":\"" ISS "\",\"aud\":\"" CLIENT "\",\"sub\":\"248289761001\",\"nonce\":\"" NONCE      \
    "\",\"iat\":1699999990,\"exp\":1700000600,\"email\":\"jane@example.com\","                     \
    "\"email_verified\":true" extra "}"
#define P_OK P("")

static const row_t s_rows[] = {
    {"RS256 signed by the provider", NULL, P_OK, 0, SIGN_KEY, OIDC_JWT_OK},
    {"ES256 signed by the provider", NULL, P_OK, 1, SIGN_KEY, OIDC_JWT_OK},
    {"EdDSA signed by the provider", NULL, P_OK, 2, SIGN_KEY, OIDC_JWT_OK},
    {"aud array with our client and azp", NULL,
     "{\"iss\":\"" ISS "\",\"aud\":[\"other\",\"" CLIENT "\"],\"azp\":\"" CLIENT
     "\",\"sub\":\"s\",\"nonce\":\"" NONCE "\",\"iat\":1700000000,\"exp\":1700000600}",
     0, SIGN_KEY, OIDC_JWT_OK},
    {"expired, but within the leeway", NULL,
     "{\"iss\":\"" ISS "\",\"aud\":\"" CLIENT "\",\"sub\":\"s\",\"nonce\":\"" NONCE
     "\",\"iat\":1699990000,\"exp\":1699999950}",
     0, SIGN_KEY, OIDC_JWT_OK},
    /* forgeries of the signature and the algorithm */
    {"wrong key (same kid, another RSA key)", NULL, P_OK, 0, SIGN_EVIL, OIDC_JWT_BAD_SIGNATURE},
    {"payload changed after signing", NULL, P_OK, 0, SIGN_TAMPER, OIDC_JWT_BAD_SIGNATURE},
    {"alg none with the RSA kid", "{\"alg\":\"none\",\"kid\":\"rsa-1\"}", P_OK, 0, SIGN_NONE,
     OIDC_JWT_BAD_ALG},
    {"alg none without a kid", "{\"alg\":\"none\"}", P_OK, 0, SIGN_NONE, OIDC_JWT_BAD_ALG},
    {"alg None", "{\"alg\":\"None\",\"kid\":\"rsa-1\"}", P_OK, 0, SIGN_NONE, OIDC_JWT_BAD_ALG},
    {"HS256 keyed with the RSA public key (PEM)", "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}", P_OK, 0,
     SIGN_HS_PEM, OIDC_JWT_BAD_ALG},
    {"HS256 keyed with the RSA public key (JWK)", "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}", P_OK, 0,
     SIGN_HS_JWK, OIDC_JWT_BAD_ALG},
    {"RS256 header on the EC key", "{\"alg\":\"RS256\",\"kid\":\"ec-1\"}", P_OK, 0, SIGN_KEY,
     OIDC_JWT_BAD_ALG},
    {"ES256 header on the RSA key", "{\"alg\":\"ES256\",\"kid\":\"rsa-1\"}", P_OK, 1, SIGN_KEY,
     OIDC_JWT_BAD_ALG},
    {"EdDSA header on the EC key", "{\"alg\":\"EdDSA\",\"kid\":\"ec-1\"}", P_OK, 2, SIGN_KEY,
     OIDC_JWT_BAD_ALG},
    {"RS512", "{\"alg\":\"RS512\",\"kid\":\"rsa-1\"}", P_OK, 0, SIGN_KEY, OIDC_JWT_BAD_ALG},
    {"alg missing", "{\"kid\":\"rsa-1\"}", P_OK, 0, SIGN_KEY, OIDC_JWT_BAD_ALG},
    {"kid missing", "{\"alg\":\"RS256\"}", P_OK, 0, SIGN_KEY, OIDC_JWT_UNKNOWN_KID},
    {"kid unknown", "{\"alg\":\"RS256\",\"kid\":\"rsa-2\"}", P_OK, 0, SIGN_KEY,
     OIDC_JWT_UNKNOWN_KID},
    {"kid not a string", "{\"alg\":\"RS256\",\"kid\":7}", P_OK, 0, SIGN_KEY, OIDC_JWT_UNKNOWN_KID},
    {"key embedded in the header (jwk) is never used",
     "{\"alg\":\"RS256\",\"kid\":\"evil\",\"jwk\":{\"kty\":\"RSA\",\"kid\":\"evil\"}}", P_OK, 0,
     SIGN_EVIL, OIDC_JWT_UNKNOWN_KID},
    {"jku in the header is never fetched",
     "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"jku\":"
     "\"https://evil.example/jwks\"}",
     P_OK, 0, SIGN_EVIL, OIDC_JWT_BAD_SIGNATURE},
    {"crit in the header", "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"crit\":[\"exp\"],\"exp\":1}",
     P_OK, 0, SIGN_KEY, OIDC_JWT_MALFORMED},
    {"alg repeated in the header", "{\"alg\":\"RS256\",\"alg\":\"none\",\"kid\":\"rsa-1\"}", P_OK,
     0, SIGN_KEY, OIDC_JWT_MALFORMED},
    /* claims */
    {"wrong aud", NULL,
     "{\"iss\":\"" ISS "\",\"aud\":\"another-client\",\"sub\":\"s\",\"nonce\":\"" NONCE
     "\",\"iat\":1700000000,\"exp\":1700000600}",
     0, SIGN_KEY, OIDC_JWT_WRONG_AUD},
    {"aud array without azp", NULL,
     "{\"iss\":\"" ISS "\",\"aud\":[\"" CLIENT "\",\"other\"],\"sub\":\"s\",\"nonce\":\"" NONCE
     "\",\"iat\":1700000000,\"exp\":1700000600}",
     0, SIGN_KEY, OIDC_JWT_WRONG_AUD},
    {"azp another client", NULL, P(",\"azp\":\"other\""), 0, SIGN_KEY, OIDC_JWT_WRONG_AUD},
    {"wrong iss", NULL,
     "{\"iss\":\"https://evil.example.com\",\"aud\":\"" CLIENT "\",\"sub\":\"s\",\"nonce\":\"" NONCE
     "\",\"iat\":1700000000,\"exp\":1700000600}",
     0, SIGN_KEY, OIDC_JWT_WRONG_ISS},
    {"iss with a trailing slash", NULL,
     "{\"iss\":\"" ISS "/\",\"aud\":\"" CLIENT "\",\"sub\":\"s\",\"nonce\":\"" NONCE
     "\",\"iat\":1700000000,\"exp\":1700000600}",
     0, SIGN_KEY, OIDC_JWT_WRONG_ISS},
    {"wrong nonce", NULL,
     "{\"iss\":\"" ISS "\",\"aud\":\"" CLIENT "\",\"sub\":\"s\",\"nonce\":\"replayed"
     "\",\"iat\":1700000000,\"exp\":1700000600}",
     0, SIGN_KEY, OIDC_JWT_WRONG_NONCE},
    {"nonce missing", NULL,
     "{\"iss\":\"" ISS "\",\"aud\":\"" CLIENT
     "\",\"sub\":\"s\",\"iat\":1700000000,\"exp\":1700000600}",
     0, SIGN_KEY, OIDC_JWT_MISSING_CLAIM},
    {"expired", NULL,
     "{\"iss\":\"" ISS "\",\"aud\":\"" CLIENT "\",\"sub\":\"s\",\"nonce\":\"" NONCE
     "\",\"iat\":1699990000,\"exp\":1699999939}",
     0, SIGN_KEY, OIDC_JWT_EXPIRED},
    {"exp missing", NULL,
     "{\"iss\":\"" ISS "\",\"aud\":\"" CLIENT "\",\"sub\":\"s\",\"nonce\":\"" NONCE
     "\",\"iat\":1700000000}",
     0, SIGN_KEY, OIDC_JWT_MISSING_CLAIM},
    {"iat missing", NULL,
     "{\"iss\":\"" ISS "\",\"aud\":\"" CLIENT "\",\"sub\":\"s\",\"nonce\":\"" NONCE
     "\",\"exp\":1700000600}",
     0, SIGN_KEY, OIDC_JWT_MISSING_CLAIM},
    {"iat in the future", NULL,
     "{\"iss\":\"" ISS "\",\"aud\":\"" CLIENT "\",\"sub\":\"s\",\"nonce\":\"" NONCE
     "\",\"iat\":1700000061,\"exp\":1700000600}",
     0, SIGN_KEY, OIDC_JWT_NOT_YET},
    {"nbf in the future", NULL, P(",\"nbf\":1700000100"), 0, SIGN_KEY, OIDC_JWT_NOT_YET},
    {"exp a string", NULL,
     "{\"iss\":\"" ISS "\",\"aud\":\"" CLIENT "\",\"sub\":\"s\",\"nonce\":\"" NONCE
     "\",\"iat\":1700000000,\"exp\":\"1700000600\"}",
     0, SIGN_KEY, OIDC_JWT_MALFORMED},
    {"exp huge", NULL,
     "{\"iss\":\"" ISS "\",\"aud\":\"" CLIENT "\",\"sub\":\"s\",\"nonce\":\"" NONCE
     "\",\"iat\":-9223372036854775808,\"exp\":9223372036854775807}",
     0, SIGN_KEY, OIDC_JWT_OK},
    {"sub missing", NULL,
     "{\"iss\":\"" ISS "\",\"aud\":\"" CLIENT "\",\"nonce\":\"" NONCE
     "\",\"iat\":1700000000,\"exp\":1700000600}",
     0, SIGN_KEY, OIDC_JWT_MISSING_CLAIM},
    {"sub empty", NULL,
     "{\"iss\":\"" ISS "\",\"aud\":\"" CLIENT "\",\"sub\":\"\",\"nonce\":\"" NONCE
     "\",\"iat\":1700000000,\"exp\":1700000600}",
     0, SIGN_KEY, OIDC_JWT_MALFORMED},
    {"sub repeated", NULL, P(",\"sub\":\"admin\""), 0, SIGN_KEY, OIDC_JWT_MALFORMED},
    {"payload not an object", NULL, "[1,2]", 0, SIGN_KEY, OIDC_JWT_MALFORMED},
};

static const of_key_t *
s_key(int i)
{
    return i == 0 ? s_fix.rsa : i == 1 ? s_fix.ec : s_fix.ed;
}

static char *
s_build(const row_t *r)
{
    const of_key_t *k = s_key(r->key);
    char hdr[256];
    if (r->header) {
        snprintf(hdr, sizeof hdr, "%s", r->header);
    } else {
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", of_key_alg(k),
                 of_key_kid(k));
    }
    switch (r->sign) {
    case SIGN_KEY:
        return of_jws_sign(k, hdr, r->payload);
    case SIGN_EVIL:
        return of_jws_sign(s_fix.evil, hdr, r->payload);
    case SIGN_NONE:
        return of_jws_raw(hdr, r->payload, NULL, 0);
    case SIGN_HS_PEM: {
        char *pem = of_key_pem(s_fix.rsa);
        char *t = of_jws_hs256(hdr, r->payload, pem, strlen(pem));
        free(pem);
        return t;
    }
    case SIGN_HS_JWK: {
        char *jwk = of_key_jwk(s_fix.rsa, NULL);
        char *t = of_jws_hs256(hdr, r->payload, jwk, strlen(jwk));
        free(jwk);
        return t;
    }
    case SIGN_TAMPER: {
        /* Signed over the payload, then the payload part swapped for another subject's. */
        char *good = of_jws_sign(k, hdr, r->payload);
        char *other = of_jws_sign(k, hdr, P(",\"groups\":[\"admin\"]"));
        char *d1 = strchr(good, '.'), *d2 = strchr(d1 + 1, '.');
        char *o1 = strchr(other, '.'), *o2 = strchr(o1 + 1, '.');
        char *t = calloc(1, strlen(good) + strlen(other) + 1);
        memcpy(t, good, (size_t)(d1 + 1 - good));
        memcpy(t + strlen(t), o1 + 1, (size_t)(o2 - o1 - 1));
        strcat(t, d2);
        free(good);
        free(other);
        return t;
    }
    }
    return NULL;
}

static void
test_oidc_jwt_table(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < sizeof s_rows / sizeof s_rows[0]; i++) {
        const row_t *r = &s_rows[i];
        char *tok = s_build(r);
        assert_non_null(tok);
        oidc_id_token_t out;
        char why[128];
        oidc_jwt_err_t e = oidc_jwt_verify(s_fix.jwks, tok, &s_opts, &out, why, sizeof why);
        if (e != r->want) {
            fprintf(stderr, "row '%s': got %s (%s), want %s\n", r->name, oidc_jwt_strerror(e), why,
                    oidc_jwt_strerror(r->want));
            failed++;
        }
        if (e == OIDC_JWT_OK) {
            assert_non_null(out.claims);
            assert_string_equal(out.kid, of_key_kid(s_key(r->key)));
            assert_true(out.sub[0] != '\0');
        } else {
            assert_null(out.claims);
            assert_string_equal(out.sub, "");
            assert_true(why[0] != '\0');
            assert_null(strstr(why, "eyJ")); /* never token bytes */
        }
        oidc_id_token_clear(&out);
        free(tok);
    }
    assert_int_equal(failed, 0);
}

/* A good token's claims: sub, email, email_verified, the times, and the whole payload. */
static void
test_oidc_jwt_claims(void **state)
{
    (void)state;
    char *tok = of_jws_sign(s_fix.ec, "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}",
                            P(",\"groups\":[\"ops\",\"dev\"]"));
    oidc_id_token_t out;
    assert_int_equal(oidc_jwt_verify(s_fix.jwks, tok, &s_opts, &out, NULL, 0), OIDC_JWT_OK);
    assert_string_equal(out.sub, "248289761001");
    assert_string_equal(out.email, "jane@example.com");
    assert_true(out.email_verified);
    assert_int_equal(out.iat, 1699999990);
    assert_int_equal(out.exp, 1700000600);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object obj;
    assert_int_equal(yard_mp_decode(out.claims, out.claims_size, &zone, &obj, NULL, 0), 0);
    const char *const *groups = NULL;
    size_t n = 0;
    assert_int_equal(yard_mp_get_strs(&obj, "groups", &zone, 8, &groups, &n, NULL, 0), 0);
    assert_int_equal(n, 2);
    assert_string_equal(groups[1], "dev");
    msgpack_zone_destroy(&zone);
    oidc_id_token_clear(&out);
    assert_null(out.claims);
    /* Without a nonce to check (the caller gives none), the same token passes too; with
     * another, it does not. */
    oidc_verify_opts_t o = s_opts;
    o.nonce = NULL;
    assert_int_equal(oidc_jwt_verify(s_fix.jwks, tok, &o, &out, NULL, 0), OIDC_JWT_OK);
    oidc_id_token_clear(&out);
    o.nonce = "another";
    assert_int_equal(oidc_jwt_verify(s_fix.jwks, tok, &o, &out, NULL, 0), OIDC_JWT_WRONG_NONCE);
    free(tok);
}

static void
test_oidc_jwt_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "a",
        "a.b",
        "a.b.c.d",
        "..",
        "eyJhbGciOiJSUzI1NiJ9..", /* {"alg":"RS256"} */
        "eyJhbGciOiJSUzI1NiJ9.e30.!!",
        "e30=.e30.e30",
        "bm90IGpzb24.e30.e30",
    };
    oidc_id_token_t out;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        oidc_jwt_err_t e = oidc_jwt_verify(s_fix.jwks, bad[i], &s_opts, &out, NULL, 0);
        assert_true(e == OIDC_JWT_MALFORMED || e == OIDC_JWT_UNKNOWN_KID); /* header has no kid */
    }
    assert_int_equal(oidc_jwt_verify(s_fix.jwks, NULL, &s_opts, &out, NULL, 0), OIDC_JWT_MALFORMED);
    /* Over OIDC_ID_TOKEN_MAX: refused before any parsing. */
    char *big = malloc(OIDC_ID_TOKEN_MAX + 2);
    memset(big, 'A', OIDC_ID_TOKEN_MAX + 1);
    big[OIDC_ID_TOKEN_MAX + 1] = '\0';
    char why[64];
    assert_int_equal(oidc_jwt_verify(s_fix.jwks, big, &s_opts, &out, why, sizeof why),
                     OIDC_JWT_MALFORMED);
    assert_string_equal(why, "ID token is too long");
    free(big);
    /* An ES256 signature in DER (what GnuTLS makes) instead of JWS's raw r || s. */
    char *tok = of_jws_sign(s_fix.ec, "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", P_OK);
    char *dot = strrchr(tok, '.');
    strcpy(dot + 1, "MEUCIQDkZ2VyLXNpZ25hdHVyZS1ub3QtcmF3LXItcy1wYWlyAiA");
    assert_int_equal(oidc_jwt_verify(s_fix.jwks, tok, &s_opts, &out, NULL, 0),
                     OIDC_JWT_BAD_SIGNATURE);
    free(tok);
    /* No JWKS at all: every kid is unknown. */
    tok = of_jws_sign(s_fix.rsa, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", P_OK);
    assert_int_equal(oidc_jwt_verify(NULL, tok, &s_opts, &out, NULL, 0), OIDC_JWT_UNKNOWN_KID);
    free(tok);
}

/* --- the key set ------------------------------------------------------------------------- */

static void
test_jwks_parse(void **state)
{
    (void)state;
    of_key_t *small = of_key_new_rsa(1024, "small");
    char *rsa = of_key_jwk(s_fix.rsa, ""), *ec = of_key_jwk(s_fix.ec, NULL);
    char *ps = of_key_jwk(s_fix.rsa, "PS256"), *sm = of_key_jwk(small, NULL);
    char *ed_wrong = of_key_jwk(s_fix.ed, "ES256");
    size_t cap = strlen(rsa) + strlen(ec) + strlen(ps) + strlen(sm) + strlen(ed_wrong) + 512;
    char *json = malloc(cap);
    /* Kept: the RSA key without alg (RS256 by its type), the EC key. Skipped: an RSA key
     * declared for PS256, a 1024-bit RSA key, an Ed25519 key declared ES256, an oct key, an
     * encryption key, a key without kid, a second key with a kid already seen, junk. */
    snprintf(json, cap,
             "{\"keys\":[%s,%s,%s,%s,%s,"
             "{\"kty\":\"oct\",\"kid\":\"hs\",\"k\":\"c2VjcmV0\"},"
             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"enc\",\"use\":\"enc\",\"x\":\"AA\","
             "\"y\":\"AA\"},"
             "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"},"
             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec-1\",\"x\":\"AA\",\"y\":\"AA\"},"
             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"bad-point\",\"x\":\"!!\",\"y\":\"AA\"},"
             "7,\"x\",null]}",
             rsa, ec, ps, sm, ed_wrong);
    oidc_jwks_t *set = NULL;
    char why[128];
    assert_int_equal(oidc_jwks_parse(json, strlen(json), &set, why, sizeof why), 0);
    assert_int_equal(oidc_jwks_count(set), 2);
    assert_int_equal(oidc_jwks_find(set, "rsa-1")->alg, OIDC_ALG_RS256);
    assert_int_equal(oidc_jwks_find(set, "ec-1")->alg, OIDC_ALG_ES256);
    assert_null(oidc_jwks_find(set, "small"));
    assert_null(oidc_jwks_find(set, "hs"));
    assert_null(oidc_jwks_find(set, "enc"));
    oidc_jwks_destroy(&set);
    assert_null(set);
    oidc_jwks_destroy(&set); /* NULL is fine */
    static const char *const bad[] = {
        "", "[]", "{}", "{\"keys\":{}}", "{\"keys\":[]", "nope", "{\"keys\":[],\"keys\":[]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(oidc_jwks_parse(bad[i], strlen(bad[i]), &set, why, sizeof why), -1);
        assert_null(set);
        assert_string_equal(why, "the JWKS is not a JSON object with a 'keys' array");
    }
    assert_int_equal(oidc_jwks_parse(json, OIDC_JWKS_MAX_BYTES + 1, &set, why, sizeof why), -1);
    free(json);
    free(rsa);
    free(ec);
    free(ps);
    free(sm);
    free(ed_wrong);
    of_key_destroy(&small);
    assert_int_equal(oidc_alg_from_name("RS256"), OIDC_ALG_RS256);
    assert_int_equal(oidc_alg_from_name("rs256"), OIDC_ALG_NONE);
    assert_int_equal(oidc_alg_from_name("none"), OIDC_ALG_NONE);
    assert_null(oidc_alg_name(OIDC_ALG_NONE));
    assert_string_equal(oidc_jwt_strerror(OIDC_JWT_WRONG_NONCE), "wrong nonce");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oidc_jwt_table),
        cmocka_unit_test(test_oidc_jwt_claims),
        cmocka_unit_test(test_oidc_jwt_malformed),
        cmocka_unit_test(test_jwks_parse),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
