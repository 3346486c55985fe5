/* auth: the two-factor state in the store (mfa_store.h). A code is accepted once: the step it
 * matched is claimed with SET NX (so two replicas cannot both take it) and remembered as the
 * user's last step (so an older code is refused afterwards, RFC 6238 section 5.2). Recovery
 * codes are stored as hashes in a set and spent with SREM, which exactly one replica wins.
 * Challenges are kept under a hash of their id, with their expiry in the record (the actor's
 * clock) and a TTL (the store's). */
#include "mfa_store.h"

#include "mfa.h"

#include "yard/error.h"
#include "yard/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DRIFT    1                           /* steps either way (RFC 6238 section 5.2) */
#define S_RC_BYTES 10                          /* 80 random bits per recovery code */
#define S_RC_CHARS AUTH_BASE32_LEN(S_RC_BYTES) /* 16 */

/* --- records ------------------------------------------------------------------------------ */

int
auth_mfa_rec_save(auth_state_t *st, const char *key, const auth_mfa_rec_t *r, bool nx,
                  uint32_t ttl_ms)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "secret", r->secret);
    yard_mpw_kint(w, "digits", r->digits);
    yard_mpw_kint(w, "period", r->period);
    yard_mpw_kint(w, "since", r->since);
    yard_mpw_end(w);
    const void *rec = NULL;
    size_t size = 0;
    int rc = yard_mpw_finish(w, &rec, &size);
    if (rc == 0) {
        rc = nx ? yard_store_set_nx(st->store, key, rec, size, ttl_ms)
                : yard_store_set(st->store, key, rec, size, ttl_ms);
    }
    sodium_memzero((void *)rec, size);
    yard_mpw_destroy(&w);
    return rc;
}

int
auth_mfa_rec_load(auth_state_t *st, const char *key, auth_mfa_rec_t *r)
{
    char *val = NULL;
    size_t len = 0;
    int rc = yard_store_get(st->store, key, &val, &len);
    if (rc != 0) {
        return rc;
    }
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 512)) {
        abort();
    }
    msgpack_object o;
    memset(r, 0, sizeof *r);
    bool ok = yard_mp_decode(val, len, &zone, &o, NULL, 0) == 0 &&
              yard_mp_get_strbuf(&o, "secret", r->secret, sizeof r->secret, NULL, 0) == 0 &&
              yard_mp_get_int(&o, "digits", &r->digits, NULL, 0) == 0 &&
              yard_mp_get_int(&o, "period", &r->period, NULL, 0) == 0 &&
              r->digits >= AUTH_TOTP_DIGITS_MIN && r->digits <= AUTH_TOTP_DIGITS_MAX &&
              r->period > 0 && r->period <= 3600;
    yard_mp_get_int(&o, "since", &r->since, NULL, 0);
    msgpack_zone_destroy(&zone);
    sodium_memzero(val, len);
    free(val);
    if (!ok) {
        yard_log(YARD_LOG_ERROR, "a stored MFA record does not decode", YF_STR("key", key));
        return YARD_E_INTERNAL;
    }
    return 0;
}

void
auth_mfa_key(char *out, const char *what, const char *name)
{
    snprintf(out, AUTH_MFA_KEY_MAX, "auth:mfa:%s%s", what, name);
}

/* --- challenges --------------------------------------------------------------------------- */

static void
s_chal_key(char *out, const char *id)
{
    unsigned char h[16];
    char hex[sizeof h * 2 + 1];
    crypto_generichash(h, sizeof h, (const unsigned char *)id, strlen(id), NULL, 0);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    snprintf(out, AUTH_MFA_KEY_MAX, "auth:mfa:ch:%s", hex);
}

int
auth_mfa_chal_new(auth_state_t *st, const char *name, const char *kind, int64_t now_ms,
                  char id[AUTH_MFA_CHAL_MAX])
{
    char key[AUTH_MFA_KEY_MAX];
    auth_random_id(id, AUTH_MFA_CHAL_MAX, 32);
    s_chal_key(key, id);
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "user", name);
    yard_mpw_kstr(w, "kind", kind);
    yard_mpw_kint(w, "exp", now_ms + st->o->mfa_challenge_ttl);
    yard_mpw_end(w);
    const void *rec = NULL;
    size_t size = 0;
    int rc = yard_mpw_finish(w, &rec, &size);
    if (rc == 0) {
        rc = yard_store_set(st->store, key, rec, size, st->o->mfa_challenge_ttl + 1000);
    }
    yard_mpw_destroy(&w);
    if (rc != 0) {
        sodium_memzero(id, AUTH_MFA_CHAL_MAX);
    }
    return rc;
}

int
auth_mfa_chal_load(auth_state_t *st, const char *id, const char *kind, int64_t now_ms,
                   auth_mfa_chal_t *c)
{
    memset(c, 0, sizeof *c);
    s_chal_key(c->key, id);
    char *val = NULL;
    size_t len = 0;
    int rc = yard_store_get(st->store, c->key, &val, &len);
    if (rc == YARD_E_NOT_FOUND) {
        return 1;
    }
    if (rc != 0) {
        return rc;
    }
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 256)) {
        abort();
    }
    msgpack_object o;
    bool ok = yard_mp_decode(val, len, &zone, &o, NULL, 0) == 0 &&
              yard_mp_get_strbuf(&o, "user", c->user, sizeof c->user, NULL, 0) == 0 &&
              yard_mp_get_strbuf(&o, "kind", c->kind, sizeof c->kind, NULL, 0) == 0 &&
              yard_mp_get_int(&o, "exp", &c->exp, NULL, 0) == 0;
    msgpack_zone_destroy(&zone);
    free(val);
    if (!ok || strcmp(c->kind, kind) != 0 || now_ms >= c->exp) {
        return 1;
    }
    return 0;
}

/* --- codes -------------------------------------------------------------------------------- */

/* The recovery code's stored form: BLAKE2b over the user's name and the normalised code, hex.
 * The code carries 80 random bits, so a slow password hash would add nothing but work. */
static void
s_rc_hash(const char *name, const char *norm, char out[65])
{
    unsigned char h[32];
    crypto_generichash_state gs;
    crypto_generichash_init(&gs, NULL, 0, sizeof h);
    crypto_generichash_update(&gs, (const unsigned char *)"switchyard mfa recovery", 24);
    crypto_generichash_update(&gs, (const unsigned char *)name, strlen(name) + 1);
    crypto_generichash_update(&gs, (const unsigned char *)norm, strlen(norm));
    crypto_generichash_final(&gs, h, sizeof h);
    sodium_bin2hex(out, 65, h, sizeof h);
}

/* A recovery code as typed (either case, with or without dashes and spaces) in the form it
 * was hashed in: 16 upper-case base32 characters. False when it cannot be one. */
static bool
s_rc_norm(const char *code, char out[S_RC_CHARS + 1])
{
    size_t n = 0;
    for (const char *p = code; *p; p++) {
        char c = *p;
        if (c == '-' || c == ' ') {
            continue;
        }
        if (c >= 'a' && c <= 'z') {
            c = (char)(c - 'a' + 'A');
        }
        if (!((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7')) || n == S_RC_CHARS) {
            return false;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return n == S_RC_CHARS;
}

/* Checks a TOTP code against r for name at now_ms and, when right, spends its step. */
static int
s_totp_check(auth_state_t *st, const char *name, const auth_mfa_rec_t *r, const char *code,
             int64_t now_ms, auth_mfa_verdict_t *v)
{
    uint8_t key[AUTH_TOTP_SECRET_MAX];
    size_t klen = 0;
    if (auth_base32_decode(r->secret, key, sizeof key, &klen) != 0) {
        return YARD_E_INTERNAL;
    }
    char lkey[AUTH_MFA_KEY_MAX], *val = NULL;
    size_t len = 0;
    auth_mfa_key(lkey, "last:", name);
    int rc = yard_store_get(st->store, lkey, &val, &len);
    if (rc != 0 && rc != YARD_E_NOT_FOUND) {
        sodium_memzero(key, sizeof key);
        return rc;
    }
    int64_t last = val ? strtoll(val, NULL, 10) : -1, step = 0;
    free(val);
    int64_t now = auth_totp_step(now_ms / 1000, (uint32_t)r->period);
    int digits = (int)r->digits;
    bool fresh = auth_totp_match(key, klen, now, S_DRIFT, digits, code, last + 1, &step);
    bool any = fresh || auth_totp_match(key, klen, now, S_DRIFT, digits, code, 0, &step);
    sodium_memzero(key, sizeof key);
    *v = fresh ? AUTH_MFA_OK : any ? AUTH_MFA_REPLAYED : AUTH_MFA_WRONG;
    if (!fresh) {
        return 0;
    }
    char ukey[AUTH_MFA_KEY_MAX + 24], num[24];
    snprintf(ukey, sizeof ukey, "auth:mfa:used:%s:%lld", name, (long long)step);
    uint32_t keep_ms = (uint32_t)((2 * S_DRIFT + 2) * r->period * 1000);
    rc = yard_store_set_nx(st->store, ukey, "1", 1, keep_ms);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0) {
        *v = AUTH_MFA_REPLAYED; /* another replica took this step first */
        return 0;
    }
    snprintf(num, sizeof num, "%lld", (long long)step);
    return yard_store_set(st->store, lkey, num, strlen(num), 0);
}

int
auth_mfa_code_check(auth_state_t *st, const char *name, const auth_mfa_rec_t *r, const char *code,
                    bool recovery, int64_t now_ms, auth_mfa_verdict_t *v, bool *used_recovery)
{
    *v = AUTH_MFA_WRONG;
    *used_recovery = false;
    size_t n = strlen(code);
    bool numeric = n == (size_t)r->digits && strspn(code, "0123456789") == n;
    if (numeric) {
        return s_totp_check(st, name, r, code, now_ms, v);
    }
    char norm[S_RC_CHARS + 1], hash[65], key[AUTH_MFA_KEY_MAX];
    if (!recovery || !s_rc_norm(code, norm)) {
        return 0;
    }
    s_rc_hash(name, norm, hash);
    sodium_memzero(norm, sizeof norm);
    auth_mfa_key(key, "rc:", name);
    int rc = yard_store_srem(st->store, key, hash);
    if (rc < 0) {
        return rc;
    }
    *v = rc == 1 ? AUTH_MFA_OK : AUTH_MFA_WRONG;
    *used_recovery = rc == 1;
    return 0;
}

int
auth_mfa_rc_new(auth_state_t *st, const char *name, yard_mpw_t *w)
{
    char key[AUTH_MFA_KEY_MAX];
    auth_mfa_key(key, "rc:", name);
    int rc = yard_store_del(st->store, key);
    yard_mpw_key(w, "recovery_codes");
    yard_mpw_array(w);
    for (int i = 0; rc >= 0 && i < AUTH_MFA_RECOVERY_CODES; i++) {
        uint8_t raw[S_RC_BYTES];
        char b32[S_RC_CHARS + 1], shown[S_RC_CHARS + 4], hash[65];
        randombytes_buf(raw, sizeof raw);
        auth_base32_encode(raw, sizeof raw, b32, sizeof b32);
        s_rc_hash(name, b32, hash);
        rc = yard_store_sadd(st->store, key, hash);
        size_t o = 0;
        for (int j = 0; j < S_RC_CHARS; j++) { /* xxxx-xxxx-xxxx-xxxx, lower case */
            if (j && j % 4 == 0) {
                shown[o++] = '-';
            }
            char c = b32[j];
            shown[o++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
        shown[o] = '\0';
        yard_mpw_str(w, shown);
        sodium_memzero(raw, sizeof raw);
        sodium_memzero(b32, sizeof b32);
        sodium_memzero(shown, sizeof shown);
    }
    yard_mpw_end(w);
    return rc < 0 ? rc : 0;
}

int
auth_mfa_forget(auth_state_t *st, const char *name)
{
    static const char *const what[] = {"", "pend:", "last:", "rc:"};
    for (size_t i = 0; i < sizeof what / sizeof what[0]; i++) {
        char key[AUTH_MFA_KEY_MAX];
        auth_mfa_key(key, what[i], name);
        int rc = yard_store_del(st->store, key);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}
