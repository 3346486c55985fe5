/* The auth actor's tokens, key sets and password hashes, tested without the actor.
 *
 * Bad tokens are built here by hand: the header and payload JSON are written out, encoded
 * with libsodium's base64url and signed with libsodium directly, so that each row of the
 * table tests the one thing its name says (a payload changed after signing, an HMAC keyed
 * with an Ed25519 public key, ...) and not whatever auth_jwt_sign happens to produce. */
#include "jwt.h"
#include "keyset.h"
#include "password.h"
#include "vcache.h"

#include <msgpack.h>
#include <sodium.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW    1700000000
#define LEEWAY 60
#define B64    sodium_base64_VARIANT_URLSAFE_NO_PADDING

static const auth_verify_opts_t s_opts = {
    .iss = "yard", .aud = "yard-api", .typ = "access", .now = NOW, .leeway_s = LEEWAY};

/* Two key sets shared by the table: an EdDSA one whose first key was rotated out at
 * NOW - 2000 and retires at NOW - 500, and an HS256 one. */
typedef struct {
    auth_keyset_t *ed;
    auth_keyset_t *hs;
    auth_key_t ed_old; /* a copy of the retiring key */
} fix_t;

static fix_t s_fix;

static int
s_setup(void **state)
{
    (void)state;
    if (auth_keyset_new(AUTH_ALG_EDDSA, NOW - 5000, &s_fix.ed) != 0 ||
        auth_keyset_new(AUTH_ALG_HS256, NOW - 5000, &s_fix.hs) != 0) {
        return -1;
    }
    char old_kid[AUTH_KID_MAX + 1];
    strcpy(old_kid, auth_keyset_current(s_fix.ed)->kid);
    if (auth_keyset_rotate(s_fix.ed, AUTH_ALG_EDDSA, NOW - 2000, 1500) != 0) {
        return -1;
    }
    const auth_key_t *old = auth_keyset_find(s_fix.ed, old_kid, NOW - 600);
    if (!old || old->retire_at != NOW - 500) {
        return -1;
    }
    s_fix.ed_old = *old;
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    auth_keyset_destroy(&s_fix.ed);
    auth_keyset_destroy(&s_fix.hs);
    sodium_memzero(&s_fix.ed_old, sizeof s_fix.ed_old);
    return 0;
}

/* ---- building tokens by hand ------------------------------------------------------------ */

enum { KID_ED, KID_ED_OLD, KID_HS, KID_UNKNOWN };
enum {
    SIG_ED,         /* Ed25519 with the EdDSA set's current key */
    SIG_ED_OLD,     /* Ed25519 with the retiring key */
    SIG_HS,         /* HMAC-SHA256 with the HS256 set's key */
    SIG_HMAC_EDPUB, /* HMAC-SHA256 keyed with the EdDSA set's PUBLIC key bytes */
    SIG_EMPTY,      /* no signature at all */
    SIG_JUNK,       /* 64 bytes that sign nothing */
};

static char *
s_b64(const void *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, B64);
    char *s = malloc(cap);
    assert_non_null(s);
    sodium_bin2base64(s, cap, p, n, B64);
    return s;
}

static const char *
s_kid(int which)
{
    switch (which) {
    case KID_ED:
        return auth_keyset_current(s_fix.ed)->kid;
    case KID_ED_OLD:
        return s_fix.ed_old.kid;
    case KID_HS:
        return auth_keyset_current(s_fix.hs)->kid;
    default:
        return "AAAAAAAAAAAAAAAA";
    }
}

/* "b64(header).b64(payload)<p64_suffix>.b64(signature)". hdr_fmt's %s becomes the kid; the
 * signature covers exactly the text before the second dot; flip flips one bit of it. */
static char *
s_token(const char *hdr_fmt, int kid, const char *pay, const char *p64_suffix, int sig, bool flip)
{
    char hdr[512];
    snprintf(hdr, sizeof hdr, hdr_fmt, s_kid(kid));
    char *h64 = s_b64(hdr, strlen(hdr));
    char *p64 = s_b64(pay, strlen(pay));
    char *input = NULL;
    assert_true(asprintf(&input, "%s.%s%s", h64, p64, p64_suffix ? p64_suffix : "") > 0);
    const unsigned char *in = (const unsigned char *)input;
    size_t inlen = strlen(input);

    unsigned char s[64];
    size_t slen = 0;
    switch (sig) {
    case SIG_ED:
        crypto_sign_detached(s, NULL, in, inlen, auth_keyset_current(s_fix.ed)->secret);
        slen = 64;
        break;
    case SIG_ED_OLD:
        crypto_sign_detached(s, NULL, in, inlen, s_fix.ed_old.secret);
        slen = 64;
        break;
    case SIG_HS:
        crypto_auth_hmacsha256(s, in, inlen, auth_keyset_current(s_fix.hs)->secret);
        slen = 32;
        break;
    case SIG_HMAC_EDPUB:
        crypto_auth_hmacsha256(s, in, inlen, auth_keyset_current(s_fix.ed)->pub);
        slen = 32;
        break;
    case SIG_JUNK:
        memset(s, 0x41, sizeof s);
        slen = 64;
        break;
    default:
        slen = 0;
    }
    if (flip) {
        s[slen / 2] ^= 0x10;
    }
    char *s64 = s_b64(s, slen);
    char *tok = NULL;
    assert_true(asprintf(&tok, "%s.%s", input, s64) > 0);
    free(h64);
    free(p64);
    free(input);
    free(s64);
    return tok;
}

/* ---- the table ------------------------------------------------------------------------- */

#define H_ED   "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"%s\"}"
#define H_HS   "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}"
#define H_NONE "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"%s\"}"
#define ISS    "\"iss\":\"yard\""
#define AUD    "\"aud\":\"yard-api\""
#define SUBJ   "\"sub\":\"u1\",\"jti\":\"j1\",\"typ\":\"access\""
#define IAT    "\"iat\":1699999000" /* NOW - 1000 */
#define EXP    "\"exp\":1700003600" /* NOW + 3600 */
#define P_OK   "{" ISS "," AUD "," SUBJ "," IAT "," EXP "}"
#define P_ADMIN                                                                                    \
    "{" ISS "," AUD ",\"sub\":\"admin\",\"jti\":\"j1\",\"typ\":\"access\"," IAT "," EXP "}"
#define P_NO(x) "{" x "}"

typedef struct {
    const char *name;
    const char *hdr; /* header JSON; %s is the kid */
    int kid;         /* KID_* */
    const char *pay; /* payload JSON */
    int sig;         /* SIG_* */
    auth_jwt_err_t want;
    const char *swap_pay; /* when set, the payload is replaced by this after signing */
    bool flip;            /* flip a bit of the signature */
    bool hs_set;          /* verify against the HS256 set (else the EdDSA one) */
    int64_t now;          /* 0: NOW */
    const char *p64_suffix;
} row_t;

/* Designated initializers: a row names only what it sets. */
#define ROW(n, h, k, p, s, w, ...)                                                                 \
    {                                                                                              \
        .name = (n), .hdr = (h), .kid = (k), .pay = (p), .sig = (s), .want = (w), __VA_ARGS__      \
    }

static const row_t s_rows[] = {
    /* controls: the builder makes tokens that pass */
    ROW("fresh EdDSA (control)", H_ED, KID_ED, P_OK, SIG_ED, AUTH_JWT_OK),
    ROW("fresh HS256 (control)", H_HS, KID_HS, P_OK, SIG_HS, AUTH_JWT_OK, .hs_set = true),

    /* signatures */
    ROW("tampered payload, EdDSA", H_ED, KID_ED, P_OK, SIG_ED, AUTH_JWT_BAD_SIGNATURE,
        .swap_pay = P_ADMIN),
    ROW("tampered payload, HS256", H_HS, KID_HS, P_OK, SIG_HS, AUTH_JWT_BAD_SIGNATURE,
        .swap_pay = P_ADMIN, .hs_set = true),
    ROW("signature bit flipped, EdDSA", H_ED, KID_ED, P_OK, SIG_ED, AUTH_JWT_BAD_SIGNATURE,
        .flip = true),
    ROW("signature bit flipped, HS256", H_HS, KID_HS, P_OK, SIG_HS, AUTH_JWT_BAD_SIGNATURE,
        .flip = true, .hs_set = true),
    ROW("empty signature, EdDSA", H_ED, KID_ED, P_OK, SIG_EMPTY, AUTH_JWT_BAD_SIGNATURE),
    ROW("junk signature, EdDSA", H_ED, KID_ED, P_OK, SIG_JUNK, AUTH_JWT_BAD_SIGNATURE),
    ROW("32-byte signature on an EdDSA key", H_ED, KID_ED, P_OK, SIG_HS, AUTH_JWT_BAD_SIGNATURE),

    /* algorithms */
    ROW("alg none, empty signature", H_NONE, KID_ED, P_OK, SIG_EMPTY, AUTH_JWT_BAD_ALG),
    ROW("alg none, valid-looking signature", H_NONE, KID_ED, P_OK, SIG_ED, AUTH_JWT_BAD_ALG),
    ROW("alg NONE", "{\"alg\":\"NONE\",\"kid\":\"%s\"}", KID_ED, P_OK, SIG_EMPTY, AUTH_JWT_BAD_ALG),
    ROW("alg missing", "{\"typ\":\"JWT\",\"kid\":\"%s\"}", KID_ED, P_OK, SIG_ED, AUTH_JWT_BAD_ALG),
    ROW("alg RS256", "{\"alg\":\"RS256\",\"kid\":\"%s\"}", KID_ED, P_OK, SIG_ED, AUTH_JWT_BAD_ALG),
    ROW("alg eddsa (case matters)", "{\"alg\":\"eddsa\",\"kid\":\"%s\"}", KID_ED, P_OK, SIG_ED,
        AUTH_JWT_BAD_ALG),
    ROW("alg not a string", "{\"alg\":1,\"kid\":\"%s\"}", KID_ED, P_OK, SIG_ED, AUTH_JWT_MALFORMED),
    ROW("HS256 header, HMAC keyed by the Ed25519 public key", H_HS, KID_ED, P_OK, SIG_HMAC_EDPUB,
        AUTH_JWT_BAD_ALG),
    ROW("EdDSA header against an HS256 kid", H_ED, KID_HS, P_OK, SIG_ED, AUTH_JWT_BAD_ALG,
        .hs_set = true),
    ROW("crit header", "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"crit\":[\"x\"],\"x\":1}", KID_ED, P_OK,
        SIG_ED, AUTH_JWT_MALFORMED),

    /* kids */
    ROW("unknown kid", H_ED, KID_UNKNOWN, P_OK, SIG_ED, AUTH_JWT_UNKNOWN_KID),
    ROW("missing kid", "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", KID_ED, P_OK, SIG_ED,
        AUTH_JWT_UNKNOWN_KID),
    ROW("kid not a string", "{\"alg\":\"EdDSA\",\"kid\":7}", KID_ED, P_OK, SIG_ED,
        AUTH_JWT_MALFORMED),
    ROW("over-long kid", "{\"alg\":\"EdDSA\",\"kid\":\"%s%s%s\"}", KID_ED, P_OK, SIG_ED,
        AUTH_JWT_UNKNOWN_KID),
    ROW("retired key after its retire_at", H_ED, KID_ED_OLD, P_OK, SIG_ED_OLD,
        AUTH_JWT_UNKNOWN_KID),
    ROW("retired key before its retire_at", H_ED, KID_ED_OLD, P_OK, SIG_ED_OLD, AUTH_JWT_OK,
        .now = NOW - 600),

    /* times: NOW = 1700000000, leeway 60 */
    ROW("expired beyond leeway", H_ED, KID_ED,
        "{" ISS "," AUD "," SUBJ "," IAT ",\"exp\":1699999939}", SIG_ED, AUTH_JWT_EXPIRED),
    ROW("expired within leeway", H_ED, KID_ED,
        "{" ISS "," AUD "," SUBJ "," IAT ",\"exp\":1699999970}", SIG_ED, AUTH_JWT_OK),
    ROW("expired exactly at leeway", H_ED, KID_ED,
        "{" ISS "," AUD "," SUBJ "," IAT ",\"exp\":1699999940}", SIG_ED, AUTH_JWT_OK),
    ROW("nbf in the future", H_ED, KID_ED,
        "{" ISS "," AUD "," SUBJ "," IAT "," EXP ",\"nbf\":1700000061}", SIG_ED, AUTH_JWT_NOT_YET),
    ROW("nbf within leeway", H_ED, KID_ED,
        "{" ISS "," AUD "," SUBJ "," IAT "," EXP ",\"nbf\":1700000030}", SIG_ED, AUTH_JWT_OK),
    ROW("iat in the future", H_ED, KID_ED, "{" ISS "," AUD "," SUBJ ",\"iat\":1700000061," EXP "}",
        SIG_ED, AUTH_JWT_NOT_YET),
    ROW("exp at INT64_MAX (no overflow)", H_ED, KID_ED,
        "{" ISS "," AUD "," SUBJ "," IAT ",\"exp\":9223372036854775807}", SIG_ED, AUTH_JWT_OK),
    ROW("nbf at INT64_MAX (no overflow)", H_ED, KID_ED,
        "{" ISS "," AUD "," SUBJ "," IAT "," EXP ",\"nbf\":9223372036854775807}", SIG_ED,
        AUTH_JWT_NOT_YET),
    ROW("exp beyond int64", H_ED, KID_ED,
        "{" ISS "," AUD "," SUBJ "," IAT ",\"exp\":99999999999999999999}", SIG_ED,
        AUTH_JWT_MALFORMED),

    /* audience, issuer, type */
    ROW("wrong aud", H_ED, KID_ED, "{" ISS ",\"aud\":\"other\"," SUBJ "," IAT "," EXP "}", SIG_ED,
        AUTH_JWT_WRONG_AUD),
    ROW("aud array without ours", H_ED, KID_ED,
        "{" ISS ",\"aud\":[\"a\",\"b\"]," SUBJ "," IAT "," EXP "}", SIG_ED, AUTH_JWT_WRONG_AUD),
    ROW("aud array with ours", H_ED, KID_ED,
        "{" ISS ",\"aud\":[\"a\",\"yard-api\"]," SUBJ "," IAT "," EXP "}", SIG_ED, AUTH_JWT_OK),
    ROW("aud array with a number", H_ED, KID_ED,
        "{" ISS ",\"aud\":[1,\"yard-api\"]," SUBJ "," IAT "," EXP "}", SIG_ED, AUTH_JWT_MALFORMED),
    ROW("wrong iss", H_ED, KID_ED, "{\"iss\":\"evil\"," AUD "," SUBJ "," IAT "," EXP "}", SIG_ED,
        AUTH_JWT_WRONG_ISS),
    ROW("wrong typ", H_ED, KID_ED,
        "{" ISS "," AUD ",\"sub\":\"u1\",\"jti\":\"j1\",\"typ\":\"refresh\"," IAT "," EXP "}",
        SIG_ED, AUTH_JWT_WRONG_TYP),
    ROW("typ missing when one is asked for", H_ED, KID_ED,
        "{" ISS "," AUD ",\"sub\":\"u1\",\"jti\":\"j1\"," IAT "," EXP "}", SIG_ED,
        AUTH_JWT_WRONG_TYP),

    /* required claims */
    ROW("missing exp", H_ED, KID_ED, P_NO(ISS "," AUD "," SUBJ "," IAT), SIG_ED,
        AUTH_JWT_MISSING_CLAIM),
    ROW("missing iat", H_ED, KID_ED, P_NO(ISS "," AUD "," SUBJ "," EXP), SIG_ED,
        AUTH_JWT_MISSING_CLAIM),
    ROW("missing iss", H_ED, KID_ED, P_NO(AUD "," SUBJ "," IAT "," EXP), SIG_ED,
        AUTH_JWT_MISSING_CLAIM),
    ROW("missing aud", H_ED, KID_ED, P_NO(ISS "," SUBJ "," IAT "," EXP), SIG_ED,
        AUTH_JWT_MISSING_CLAIM),
    ROW("missing sub", H_ED, KID_ED,
        P_NO(ISS "," AUD ",\"jti\":\"j1\",\"typ\":\"access\"," IAT "," EXP), SIG_ED,
        AUTH_JWT_MISSING_CLAIM),
    ROW("missing jti", H_ED, KID_ED,
        P_NO(ISS "," AUD ",\"sub\":\"u1\",\"typ\":\"access\"," IAT "," EXP), SIG_ED,
        AUTH_JWT_MISSING_CLAIM),

    /* types and shapes */
    ROW("gen as a string", H_ED, KID_ED, "{" ISS "," AUD "," SUBJ "," IAT "," EXP ",\"gen\":\"3\"}",
        SIG_ED, AUTH_JWT_MALFORMED),
    ROW("gen negative", H_ED, KID_ED, "{" ISS "," AUD "," SUBJ "," IAT "," EXP ",\"gen\":-1}",
        SIG_ED, AUTH_JWT_MALFORMED),
    ROW("gen 3 (control)", H_ED, KID_ED, "{" ISS "," AUD "," SUBJ "," IAT "," EXP ",\"gen\":3}",
        SIG_ED, AUTH_JWT_OK),
    ROW("exp as a string", H_ED, KID_ED,
        "{" ISS "," AUD "," SUBJ "," IAT ",\"exp\":\"1700003600\"}", SIG_ED, AUTH_JWT_MALFORMED),
    ROW("exp as a real", H_ED, KID_ED, "{" ISS "," AUD "," SUBJ "," IAT ",\"exp\":1700003600.0}",
        SIG_ED, AUTH_JWT_MALFORMED),
    ROW("sub as a number", H_ED, KID_ED,
        "{" ISS "," AUD ",\"sub\":1,\"jti\":\"j1\",\"typ\":\"access\"," IAT "," EXP "}", SIG_ED,
        AUTH_JWT_MALFORMED),
    ROW("scopes not an array", H_ED, KID_ED,
        "{" ISS "," AUD "," SUBJ "," IAT "," EXP ",\"scopes\":\"admin\"}", SIG_ED,
        AUTH_JWT_MALFORMED),
    ROW("scope longer than AUTH_SCOPE_MAX", H_ED, KID_ED,
        "{" ISS "," AUD "," SUBJ "," IAT "," EXP
        ",\"scopes\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}",
        SIG_ED, AUTH_JWT_MALFORMED),
    ROW("duplicate keys in the payload", H_ED, KID_ED,
        "{" ISS "," AUD "," SUBJ "," IAT "," EXP ",\"sub\":\"admin\"}", SIG_ED, AUTH_JWT_MALFORMED),
    ROW("duplicate keys in the header", "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"alg\":\"none\"}",
        KID_ED, P_OK, SIG_ED, AUTH_JWT_MALFORMED),
    ROW("a NUL inside iss", H_ED, KID_ED,
        "{\"iss\":\"yard\\u0000evil\"," AUD "," SUBJ "," IAT "," EXP "}", SIG_ED,
        AUTH_JWT_WRONG_ISS),
    ROW("a NUL inside aud", H_ED, KID_ED,
        "{" ISS ",\"aud\":\"yard-api\\u0000x\"," SUBJ "," IAT "," EXP "}", SIG_ED,
        AUTH_JWT_WRONG_AUD),
    ROW("a NUL inside sub", H_ED, KID_ED,
        "{" ISS "," AUD ",\"sub\":\"u1\\u0000admin\",\"jti\":\"j1\",\"typ\":\"access\"," IAT "," EXP
        "}",
        SIG_ED, AUTH_JWT_MALFORMED),
    ROW("a NUL inside alg", "{\"alg\":\"EdDSA\\u0000\",\"kid\":\"%s\"}", KID_ED, P_OK, SIG_ED,
        AUTH_JWT_BAD_ALG),
    ROW("exp above INT64_MAX, within uint64", H_ED, KID_ED,
        "{" ISS "," AUD "," SUBJ "," IAT ",\"exp\":18446744073709551615}", SIG_ED,
        AUTH_JWT_MALFORMED),
    ROW("exp null", H_ED, KID_ED, "{" ISS "," AUD "," SUBJ "," IAT ",\"exp\":null}", SIG_ED,
        AUTH_JWT_MALFORMED),
    ROW("nbf null", H_ED, KID_ED, "{" ISS "," AUD "," SUBJ "," IAT "," EXP ",\"nbf\":null}", SIG_ED,
        AUTH_JWT_MALFORMED),
    ROW("duplicate keys nested in the payload", H_ED, KID_ED,
        "{" ISS ",\"aud\":[\"yard-api\"]," SUBJ "," IAT "," EXP ",\"x\":{\"a\":1,\"a\":2}}", SIG_ED,
        AUTH_JWT_MALFORMED),
    ROW("header not JSON", "not json %s", KID_ED, P_OK, SIG_ED, AUTH_JWT_MALFORMED),
    ROW("header a JSON array", "[\"EdDSA\",\"%s\"]", KID_ED, P_OK, SIG_ED, AUTH_JWT_MALFORMED),
    ROW("payload a JSON array", H_ED, KID_ED, "[" ISS "]", SIG_ED, AUTH_JWT_MALFORMED),
    ROW("payload not JSON", H_ED, KID_ED, "hello", SIG_ED, AUTH_JWT_MALFORMED),
    ROW("signed payload with padding", H_ED, KID_ED, P_OK, SIG_ED, AUTH_JWT_MALFORMED,
        .p64_suffix = "="),
    ROW("signed payload with a non-base64url char", H_ED, KID_ED, P_OK, SIG_ED, AUTH_JWT_MALFORMED,
        .p64_suffix = "+A"),
};

static char *
s_row_token(const row_t *r)
{
    char *tok = s_token(r->hdr, r->kid, r->pay, r->p64_suffix, r->sig, r->flip);
    if (!r->swap_pay) {
        return tok;
    }
    /* Keep the signature, change the claims under it. */
    char *other = s_token(r->hdr, r->kid, r->swap_pay, r->p64_suffix, r->sig, false);
    char *spliced = NULL;
    int head = (int)(strrchr(other, '.') - other);
    assert_true(asprintf(&spliced, "%.*s%s", head, other, strrchr(tok, '.')) > 0);
    free(tok);
    free(other);
    return spliced;
}

static void
test_jwt_table(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof s_rows / sizeof s_rows[0]; i++) {
        const row_t *r = &s_rows[i];
        char *tok = s_row_token(r);
        auth_verify_opts_t o = s_opts;
        if (r->now) {
            o.now = r->now;
        }
        auth_claims_t c;
        char why[128] = "untouched";
        auth_jwt_err_t got =
            auth_jwt_verify(r->hs_set ? s_fix.hs : s_fix.ed, tok, &o, &c, why, sizeof why);
        if (got != r->want) {
            print_error("row \"%s\": want %s, got %s (%s)\n", r->name, auth_jwt_strerror(r->want),
                        auth_jwt_strerror(got), why);
            failures++;
        } else if (got != AUTH_JWT_OK && (why[0] == '\0' || strstr(why, tok) != NULL)) {
            print_error("row \"%s\": why \"%s\" is empty or quotes the token\n", r->name, why);
            failures++;
        } else if (got == AUTH_JWT_OK && strcmp(c.sub, "u1") != 0) {
            print_error("row \"%s\": sub \"%s\"\n", r->name, c.sub);
            failures++;
        }
        free(tok);
    }
    assert_int_equal(failures, 0);
}

/* ---- strings that are not tokens ------------------------------------------------------- */

static auth_jwt_err_t
s_verify_ed(const char *tok)
{
    char why[128];
    return auth_jwt_verify(s_fix.ed, tok, &s_opts, NULL, why, sizeof why);
}

static void
test_jwt_malformed_strings(void **state)
{
    (void)state;
    char *tok = s_token(H_ED, KID_ED, P_OK, NULL, SIG_ED, false);
    assert_int_equal(s_verify_ed(tok), AUTH_JWT_OK);
    size_t len = strlen(tok);
    const char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    char *t = NULL;

    assert_int_equal(s_verify_ed(""), AUTH_JWT_MALFORMED);
    assert_int_equal(s_verify_ed(NULL), AUTH_JWT_MALFORMED);
    assert_int_equal(s_verify_ed("garbage"), AUTH_JWT_MALFORMED);
    assert_int_equal(s_verify_ed(".."), AUTH_JWT_MALFORMED);
    assert_int_equal(s_verify_ed("a.b"), AUTH_JWT_MALFORMED);
    assert_int_equal(s_verify_ed("\xff\xfe.\x01.\x80"), AUTH_JWT_MALFORMED);

    /* an extra dot part */
    assert_true(asprintf(&t, "%s.x", tok) > 0);
    assert_int_equal(s_verify_ed(t), AUTH_JWT_MALFORMED);
    free(t);
    assert_true(asprintf(&t, "%s.", tok) > 0);
    assert_int_equal(s_verify_ed(t), AUTH_JWT_MALFORMED);
    free(t);

    /* characters outside the URL-safe alphabet, in each part */
    const size_t at[] = {0, (size_t)(dot1 - tok) + 1, (size_t)(dot2 - tok) + 1};
    const char bad[] = {'+', '/', '=', ' ', '*', '\n'};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        for (size_t j = 0; j < sizeof bad; j++) {
            t = strdup(tok);
            t[at[i]] = bad[j];
            /* the header and the signature are read before anything is trusted; a payload
             * char changes what was signed */
            assert_int_equal(s_verify_ed(t), i == 1 ? AUTH_JWT_BAD_SIGNATURE : AUTH_JWT_MALFORMED);
            free(t);
        }
    }

    /* padding after the header, the signature */
    assert_true(asprintf(&t, "%.*s=%s", (int)(dot1 - tok), tok, dot1) > 0);
    assert_int_equal(s_verify_ed(t), AUTH_JWT_MALFORMED);
    free(t);
    assert_true(asprintf(&t, "%s==", tok) > 0);
    assert_int_equal(s_verify_ed(t), AUTH_JWT_MALFORMED);
    free(t);

    /* a signature whose last character has bits a canonical encoder leaves zero (86
     * characters carry 516 bits for 512) */
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    t = strdup(tok);
    size_t last = (size_t)(strchr(alphabet, t[len - 1]) - alphabet);
    assert_int_equal(last & 0x0f, 0);
    t[len - 1] = alphabet[last | 1];
    assert_int_equal(s_verify_ed(t), AUTH_JWT_MALFORMED);
    free(t);

    /* every truncation */
    for (size_t cut = 0; cut < len; cut++) {
        t = strndup(tok, cut);
        if (s_verify_ed(t) == AUTH_JWT_OK) {
            fail_msg("a token cut to %zu of %zu bytes verified", cut, len);
        }
        free(t);
    }
    free(tok);
}

static void
test_jwt_oversize(void **state)
{
    (void)state;
    /* A validly signed token that is only too long: the same shape one size down passes. */
    const size_t pads[] = {7000, 5000};
    const auth_jwt_err_t want[] = {AUTH_JWT_MALFORMED, AUTH_JWT_OK};
    for (size_t i = 0; i < 2; i++) {
        char *pad = malloc(pads[i] + 1);
        memset(pad, 'x', pads[i]);
        pad[pads[i]] = '\0';
        char *pay = NULL;
        assert_true(
            asprintf(&pay, "{" ISS "," AUD "," SUBJ "," IAT "," EXP ",\"pad\":\"%s\"}", pad) > 0);
        char *tok = s_token(H_ED, KID_ED, pay, NULL, SIG_ED, false);
        assert_true((strlen(tok) > AUTH_JWT_MAX) == (want[i] != AUTH_JWT_OK));
        assert_int_equal(s_verify_ed(tok), want[i]);
        free(pad);
        free(pay);
        free(tok);
    }
    char *junk = malloc(AUTH_JWT_MAX * 2);
    memset(junk, 'a', AUTH_JWT_MAX * 2 - 1);
    junk[AUTH_JWT_MAX * 2 - 1] = '\0';
    junk[10] = junk[20] = '.';
    assert_int_equal(s_verify_ed(junk), AUTH_JWT_MALFORMED);
    free(junk);
}

/* ---- tokens that pass --------------------------------------------------------------- */

static const char *const s_scopes[] = {"echo:call", "auth:admin"};

static auth_claims_in_t
s_claims_in(void)
{
    return (auth_claims_in_t){.iss = "yard",
                              .aud = "yard-api",
                              .sub = "user-42",
                              .jti = "jti-1",
                              .typ = "access",
                              .fam = "fam-1",
                              .scopes = s_scopes,
                              .nscopes = 2,
                              .iat = NOW - 10,
                              .exp = NOW + 900,
                              .gen = 5};
}

static void
s_sign_and_check(auth_keyset_t *ks)
{
    auth_claims_in_t in = s_claims_in();
    char *tok = NULL;
    assert_int_equal(auth_jwt_sign(auth_keyset_current(ks), &in, &tok), 0);
    assert_non_null(tok);
    auth_claims_t c;
    char why[128] = "untouched";
    assert_int_equal(auth_jwt_verify(ks, tok, &s_opts, &c, why, sizeof why), AUTH_JWT_OK);
    assert_string_equal(why, "");
    assert_string_equal(c.sub, "user-42");
    assert_string_equal(c.jti, "jti-1");
    assert_string_equal(c.fam, "fam-1");
    assert_string_equal(c.typ, "access");
    assert_string_equal(c.kid, auth_keyset_current(ks)->kid);
    assert_int_equal(c.nscopes, 2);
    assert_string_equal(c.scopes[0], "echo:call");
    assert_string_equal(c.scopes[1], "auth:admin");
    assert_int_equal(c.iat, NOW - 10);
    assert_int_equal(c.exp, NOW + 900);
    assert_int_equal(c.nbf, 0);
    assert_int_equal(c.gen, 5);

    /* the header is what the contract says */
    size_t hlen = (size_t)(strchr(tok, '.') - tok);
    char hdr[256];
    size_t n = 0;
    assert_int_equal(
        sodium_base642bin((unsigned char *)hdr, sizeof hdr - 1, tok, hlen, NULL, &n, NULL, B64), 0);
    hdr[n] = '\0';
    char want[256];
    snprintf(want, sizeof want, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             auth_alg_name(auth_keyset_current(ks)->alg), auth_keyset_current(ks)->kid);
    assert_string_equal(hdr, want);

    /* a refresh token is not an access token */
    auth_verify_opts_t o = s_opts;
    o.typ = "refresh";
    assert_int_equal(auth_jwt_verify(ks, tok, &o, &c, NULL, 0), AUTH_JWT_WRONG_TYP);
    o.typ = NULL;
    assert_int_equal(auth_jwt_verify(ks, tok, &o, NULL, NULL, 0), AUTH_JWT_OK);
    free(tok);
}

static void
test_jwt_sign_verify_eddsa(void **state)
{
    (void)state;
    s_sign_and_check(s_fix.ed);
}

static void
test_jwt_sign_verify_hs256(void **state)
{
    (void)state;
    s_sign_and_check(s_fix.hs);
}

static void
test_jwt_sign_refuses_bad_claims(void **state)
{
    (void)state;
    const auth_key_t *k = auth_keyset_current(s_fix.ed);
    char long_sub[AUTH_SUB_MAX + 2], long_scope[AUTH_SCOPE_MAX + 2];
    memset(long_sub, 'a', sizeof long_sub - 1);
    long_sub[sizeof long_sub - 1] = '\0';
    memset(long_scope, 'b', sizeof long_scope - 1);
    long_scope[sizeof long_scope - 1] = '\0';
    const char *scopes[AUTH_SCOPES_MAX + 1];
    for (size_t i = 0; i <= AUTH_SCOPES_MAX; i++) {
        scopes[i] = "s";
    }
    const char *one_long[] = {long_scope};

    for (int i = 0; i < 6; i++) {
        auth_claims_in_t in = s_claims_in();
        switch (i) {
        case 0:
            in.sub = long_sub;
            break;
        case 1:
            in.iss = NULL;
            break;
        case 2:
            in.scopes = scopes;
            in.nscopes = AUTH_SCOPES_MAX + 1;
            break;
        case 3:
            in.scopes = one_long;
            in.nscopes = 1;
            break;
        case 4:
            in.sub = "\xff\xfe not UTF-8";
            break;
        default:
            in.jti = NULL;
        }
        char *tok = (char *)"untouched";
        assert_int_equal(auth_jwt_sign(k, &in, &tok), -1);
        assert_null(tok);
    }
    /* the longest sub is fine */
    long_sub[AUTH_SUB_MAX] = '\0';
    auth_claims_in_t in = s_claims_in();
    in.sub = long_sub;
    char *tok = NULL;
    assert_int_equal(auth_jwt_sign(k, &in, &tok), 0);
    auth_claims_t c;
    assert_int_equal(auth_jwt_verify(s_fix.ed, tok, &s_opts, &c, NULL, 0), AUTH_JWT_OK);
    assert_string_equal(c.sub, long_sub);
    free(tok);
}

static void
test_keyset_rotation(void **state)
{
    (void)state;
    auth_keyset_t *ks = NULL;
    assert_int_equal(auth_keyset_new(AUTH_ALG_EDDSA, NOW - 100, &ks), 0);
    assert_int_equal(auth_keyset_count(ks), 1);
    assert_int_equal(auth_keyset_new(7, NOW, &(auth_keyset_t *){NULL}), -1);

    auth_claims_in_t in = s_claims_in();
    in.exp = NOW + 7200;
    char *old_tok = NULL, *new_tok = NULL;
    assert_int_equal(auth_jwt_sign(auth_keyset_current(ks), &in, &old_tok), 0);
    char old_kid[AUTH_KID_MAX + 1];
    strcpy(old_kid, auth_keyset_current(ks)->kid);
    assert_int_equal(strlen(old_kid), 16);

    assert_int_equal(auth_keyset_rotate(ks, AUTH_ALG_EDDSA, NOW, 3600), 0);
    assert_int_equal(auth_keyset_count(ks), 2);
    assert_string_not_equal(auth_keyset_current(ks)->kid, old_kid);
    assert_int_equal(auth_jwt_sign(auth_keyset_current(ks), &in, &new_tok), 0);

    auth_claims_t c;
    auth_verify_opts_t o = s_opts;
    o.now = NOW + 10;
    assert_int_equal(auth_jwt_verify(ks, old_tok, &o, &c, NULL, 0), AUTH_JWT_OK);
    assert_string_equal(c.kid, old_kid);
    assert_int_equal(auth_jwt_verify(ks, new_tok, &o, &c, NULL, 0), AUTH_JWT_OK);
    assert_string_equal(c.kid, auth_keyset_current(ks)->kid);

    /* past the old key's retire_at its tokens fail, the new key's still pass */
    o.now = NOW + 3601;
    assert_int_equal(auth_jwt_verify(ks, old_tok, &o, &c, NULL, 0), AUTH_JWT_UNKNOWN_KID);
    assert_int_equal(auth_jwt_verify(ks, new_tok, &o, &c, NULL, 0), AUTH_JWT_OK);

    /* the next rotation drops it; HS256 can follow EdDSA */
    assert_int_equal(auth_keyset_rotate(ks, AUTH_ALG_HS256, NOW + 4000, 3600), 0);
    assert_int_equal(auth_keyset_count(ks), 2);
    assert_null(auth_keyset_find(ks, old_kid, NOW));
    assert_int_equal(auth_keyset_current(ks)->alg, AUTH_ALG_HS256);
    assert_int_equal(auth_keyset_rotate(ks, 0, NOW + 4000, 3600), -1);

    /* a set never grows past AUTH_KEYS_MAX, and its current key always works */
    for (int i = 0; i < 3 * AUTH_KEYS_MAX; i++) {
        assert_int_equal(auth_keyset_rotate(ks, AUTH_ALG_EDDSA, NOW + 5000 + i, 1000000), 0);
        assert_true(auth_keyset_count(ks) <= AUTH_KEYS_MAX);
    }
    assert_int_equal(auth_keyset_count(ks), AUTH_KEYS_MAX);
    assert_non_null(auth_keyset_find(ks, auth_keyset_current(ks)->kid, NOW + 999999));

    free(old_tok);
    free(new_tok);
    auth_keyset_destroy(&ks);
    assert_null(ks);
    auth_keyset_destroy(&ks);
}

/* ---- key sets in msgpack --------------------------------------------------------------- */

static void
s_roundtrip(auth_keyset_t *ks)
{
    char *packed = NULL;
    size_t len = 0;
    assert_int_equal(auth_keyset_pack(ks, &packed, &len), 0);
    auth_keyset_t *copy = NULL;
    assert_int_equal(auth_keyset_unpack(packed, len, &copy), 0);
    assert_int_equal(auth_keyset_count(copy), auth_keyset_count(ks));
    const auth_key_t *a = auth_keyset_current(ks), *b = auth_keyset_current(copy);
    assert_string_equal(a->kid, b->kid);
    assert_int_equal(a->alg, b->alg);
    assert_memory_equal(a->secret, b->secret, sizeof a->secret);
    assert_memory_equal(a->pub, b->pub, sizeof a->pub);
    assert_int_equal(a->created, b->created);

    /* a token from either verifies with the other */
    auth_claims_in_t in = s_claims_in();
    char *t1 = NULL, *t2 = NULL;
    assert_int_equal(auth_jwt_sign(a, &in, &t1), 0);
    assert_int_equal(auth_jwt_sign(b, &in, &t2), 0);
    assert_int_equal(auth_jwt_verify(copy, t1, &s_opts, NULL, NULL, 0), AUTH_JWT_OK);
    assert_int_equal(auth_jwt_verify(ks, t2, &s_opts, NULL, NULL, 0), AUTH_JWT_OK);
    free(t1);
    free(t2);
    auth_keyset_destroy(&copy);

    /* every truncation, and a trailing byte, is refused */
    for (size_t cut = 0; cut < len; cut++) {
        copy = (auth_keyset_t *)1;
        if (auth_keyset_unpack(packed, cut, &copy) != -1 || copy != NULL) {
            fail_msg("a key set cut to %zu of %zu bytes unpacked", cut, len);
        }
    }
    char *longer = malloc(len + 1);
    memcpy(longer, packed, len);
    longer[len] = '\0';
    assert_int_equal(auth_keyset_unpack(longer, len + 1, &copy), -1);

    /* every byte changed a few ways: never a crash (ASan watches), and a set that does
     * unpack still has a usable current key */
    const unsigned char subst[] = {0x00, 0xff, 0xc1, 0xdd, 0xdf, 0xc6, 0x7f};
    for (size_t i = 0; i < len; i++) {
        for (size_t j = 0; j <= sizeof subst; j++) {
            memcpy(longer, packed, len);
            longer[i] = (char)(j < sizeof subst ? subst[j] : (unsigned char)longer[i] ^ 0x01);
            if (auth_keyset_unpack(longer, len, &copy) == 0) {
                assert_true(auth_keyset_count(copy) >= 1);
                assert_non_null(auth_keyset_current(copy));
                auth_keyset_destroy(&copy);
            }
        }
    }
    sodium_memzero(longer, len + 1);
    free(longer);
    sodium_memzero(packed, len);
    free(packed);
}

static void
test_keyset_pack_roundtrip(void **state)
{
    (void)state;
    s_roundtrip(s_fix.ed);
    s_roundtrip(s_fix.hs);
}

/* A one-key set packed like keyset.c does, with one thing wrong (or nothing: case 0). */
static void
s_pack_hostile(int what, msgpack_sbuffer *sb)
{
    unsigned char pk_[32], sk[64];
    crypto_sign_keypair(pk_, sk);
    msgpack_sbuffer_init(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
#define STR(s) (msgpack_pack_str(&pk, strlen(s)), msgpack_pack_str_body(&pk, s, strlen(s)))
    msgpack_pack_map(&pk, 2);
    STR("v");
    msgpack_pack_int(&pk, what == 1 ? 2 : 1);
    STR("keys");
    msgpack_pack_array(&pk, what == 2 ? 0 : 1);
    if (what != 2) {
        msgpack_pack_map(&pk, what == 3 ? 7 : what == 4 ? 5 : 6);
        STR("kid");
        if (what == 5) {
            STR("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); /* 33 characters */
        } else if (what == 6) {
            STR("bad kid!");
        } else if (what == 7) {
            msgpack_pack_int(&pk, 12);
        } else {
            STR("AAAAAAAAAAAAAAAA");
        }
        STR("alg");
        if (what == 8) {
            STR("EdDSA");
        } else {
            msgpack_pack_int(&pk, what == 9 ? 3 : what == 10 ? 2 : 1);
        }
        STR("secret");
        if (what == 11) {
            msgpack_pack_str(&pk, 64);
            msgpack_pack_str_body(&pk, sk, 64);
        } else {
            size_t n = what == 12 ? 31 : 64;
            msgpack_pack_bin(&pk, n);
            msgpack_pack_bin_body(&pk, sk, n);
        }
        STR("pub");
        if (what == 13) {
            pk_[0] ^= 1; /* not the key's own public key */
        }
        msgpack_pack_bin(&pk, what == 14 ? 16 : 32);
        msgpack_pack_bin_body(&pk, pk_, what == 14 ? 16 : 32);
        STR("created");
        if (what == 15) {
            msgpack_pack_double(&pk, 1.5);
        } else {
            msgpack_pack_int64(&pk, NOW);
        }
        if (what != 4) {
            STR(what == 16 ? "retire" : "retire_at");
            msgpack_pack_int64(&pk, what == 17 ? -1 : 0);
        }
        if (what == 3) {
            STR("kid"); /* a repeated field */
            STR("BBBBBBBBBBBBBBBB");
        }
    }
#undef STR
    sodium_memzero(sk, sizeof sk);
}

static void
test_keyset_unpack_hostile(void **state)
{
    (void)state;
    auth_keyset_t *ks = NULL;
    for (int what = 0; what <= 17; what++) {
        msgpack_sbuffer sb;
        s_pack_hostile(what, &sb);
        int rc = auth_keyset_unpack(sb.data, sb.size, &ks);
        if (rc != (what == 0 ? 0 : -1)) {
            fail_msg("hostile key set %d: unpack returned %d", what, rc);
        }
        if (what == 0) {
            assert_string_equal(auth_keyset_current(ks)->kid, "AAAAAAAAAAAAAAAA");
            auth_keyset_destroy(&ks);
        }
        msgpack_sbuffer_destroy(&sb);
    }
    /* Counts that promise more elements than there are bytes must not become allocations. */
    static const struct {
        const char *bytes;
        size_t len;
    } junk[] = {
        {"\xdd\xff\xff\xff\xff", 5},
        {"\xdf\xff\xff\xff\xff", 5},
        {"\x82\xa1v\x01\xa4keys\xdd\x7f\xff\xff\xff", 14},
        {"\xc6\xff\xff\xff\xff", 5},
        {"\x80", 1},
        {"\xc0", 1},
        {"\xc1", 1},
        {"{\"v\":1}", 7},
        {"\x82\xa1v\x01\xa1v\x01", 7},
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        assert_int_equal(auth_keyset_unpack(junk[i].bytes, junk[i].len, &ks), -1);
        assert_null(ks);
    }
    assert_int_equal(auth_keyset_unpack(NULL, 0, &ks), -1);
}

/* ---- passwords ------------------------------------------------------------------------- */

static void
test_password_hash_verify(void **state)
{
    (void)state;
    char hash[AUTH_HASH_MAX];
    assert_int_equal(auth_password_hash("correct horse battery", hash), 0);
    assert_memory_equal(hash, "$argon2id$", 10);
    assert_non_null(strstr(hash, "m=19456,t=2,p=1"));
    assert_true(auth_password_verify(hash, "correct horse battery"));
    assert_false(auth_password_verify(hash, "correct horse battery!"));
    assert_false(auth_password_verify(NULL, "correct horse battery"));
    assert_false(auth_password_verify("not a hash", "correct horse battery"));
}

static void
test_password_check(void **state)
{
    (void)state;
    char buf[AUTH_PASSWORD_MAX + 2];
    memset(buf, 'p', sizeof buf);
    assert_non_null(auth_password_check(buf, AUTH_PASSWORD_MIN - 1));
    assert_null(auth_password_check(buf, AUTH_PASSWORD_MIN));
    assert_null(auth_password_check(buf, AUTH_PASSWORD_MAX));
    assert_non_null(auth_password_check(buf, AUTH_PASSWORD_MAX + 1));
    assert_non_null(auth_password_check(NULL, 10));
    assert_non_null(auth_password_check("", 0));
    assert_non_null(auth_password_check("abcd\0efgh", 9));
}

static void
test_random_id(void **state)
{
    (void)state;
    char a[sodium_base64_ENCODED_LEN(16, B64)], b[sizeof a];
    auth_random_id(a, sizeof a, 16);
    auth_random_id(b, sizeof b, 16);
    assert_int_equal(strlen(a), 22);
    assert_string_not_equal(a, b);
    assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     22);
}

static void
test_strerror(void **state)
{
    (void)state;
    assert_string_equal(auth_jwt_strerror(AUTH_JWT_EXPIRED), "expired");
    for (int e = AUTH_JWT_OK; e <= AUTH_JWT_WRONG_TYP; e++) {
        assert_non_null(auth_jwt_strerror((auth_jwt_err_t)e));
    }
    assert_int_equal(auth_alg_from_name("EdDSA"), AUTH_ALG_EDDSA);
    assert_int_equal(auth_alg_from_name("HS256"), AUTH_ALG_HS256);
    assert_int_equal(auth_alg_from_name("none"), 0);
    assert_int_equal(auth_alg_from_name(NULL), 0);
}

/* The verified-token cache: a hit only for the same bytes, still in time, of the type asked
 * for, with its key still in the set. */
static void
test_vcache(void **state)
{
    (void)state;
    auth_keyset_t *ks = NULL;
    assert_int_equal(auth_keyset_new(AUTH_ALG_EDDSA, NOW - 100, &ks), 0);
    auth_claims_in_t in = s_claims_in();
    char *tok = NULL, *other = NULL;
    assert_int_equal(auth_jwt_sign(auth_keyset_current(ks), &in, &tok), 0);
    in.jti = "jti-2";
    assert_int_equal(auth_jwt_sign(auth_keyset_current(ks), &in, &other), 0);
    auth_claims_t c, hit;
    char why[128];
    assert_int_equal(auth_jwt_verify(ks, tok, &s_opts, &c, why, sizeof why), AUTH_JWT_OK);
    auth_vcache_t *vc = auth_vcache_new(64);
    assert_false(auth_vcache_get(vc, ks, tok, &s_opts, &hit)); /* empty */
    auth_vcache_put(vc, tok, &c);
    assert_true(auth_vcache_get(vc, ks, tok, &s_opts, &hit));
    assert_string_equal(hit.jti, "jti-1");
    assert_int_equal(hit.nscopes, 2);
    assert_false(auth_vcache_get(vc, ks, other, &s_opts, &hit)); /* other bytes */
    tok[strlen(tok) - 1] ^= 1; /* the same token with its signature changed: a miss */
    assert_false(auth_vcache_get(vc, ks, tok, &s_opts, &hit));
    tok[strlen(tok) - 1] ^= 1;
    auth_verify_opts_t late = s_opts;
    late.now = NOW + 900 + LEEWAY + 1; /* past exp + leeway */
    assert_false(auth_vcache_get(vc, ks, tok, &late, &hit));
    auth_verify_opts_t refresh = s_opts;
    refresh.typ = "refresh";
    assert_false(auth_vcache_get(vc, ks, tok, &refresh, &hit));
    /* Its key rotated out and retired: a miss even though the bytes match. */
    assert_int_equal(auth_keyset_rotate(ks, AUTH_ALG_EDDSA, NOW, 10), 0);
    assert_true(auth_vcache_get(vc, ks, tok, &s_opts, &hit)); /* still retiring */
    late = s_opts;
    late.now = NOW + 11;
    assert_false(auth_vcache_get(vc, ks, tok, &late, &hit));
    auth_vcache_destroy(&vc);
    assert_null(vc);
    free(tok);
    free(other);
    auth_keyset_destroy(&ks);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwt_table),
        cmocka_unit_test(test_jwt_malformed_strings),
        cmocka_unit_test(test_jwt_oversize),
        cmocka_unit_test(test_jwt_sign_verify_eddsa),
        cmocka_unit_test(test_jwt_sign_verify_hs256),
        cmocka_unit_test(test_jwt_sign_refuses_bad_claims),
        cmocka_unit_test(test_keyset_rotation),
        cmocka_unit_test(test_keyset_pack_roundtrip),
        cmocka_unit_test(test_keyset_unpack_hostile),
        cmocka_unit_test(test_password_hash_verify),
        cmocka_unit_test(test_password_check),
        cmocka_unit_test(test_vcache),
        cmocka_unit_test(test_random_id),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
