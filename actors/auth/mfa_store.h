/* The two-factor state of the auth actor in the state store (mfa.c holds the operations):
 * TOTP records, login and enrolment challenges, and spending codes so that each works once
 * on every replica.
 *
 * Store layout (under "auth:mfa:"; records are msgpack maps):
 *   auth:mfa:<name>            MFA is on: {secret (base32), digits, period, since}
 *   auth:mfa:pend:<name>       an enrolment waiting for mfa.confirm (same fields; with a TTL)
 *   auth:mfa:last:<name>       the last time step a code was accepted at (decimal)
 *   auth:mfa:used:<name>:<T>   step T was used (SET NX: one replica wins; TTL past the window)
 *   auth:mfa:rc:<name>         set of the recovery codes' hashes (SREM: one replica wins)
 *   auth:mfa:ch:<hash>         a challenge {user, kind, exp}, keyed by a hash of its id
 *
 * Secrets pass through these functions in caller buffers; none of them logs one. */
#ifndef AUTH_MFA_STORE_H
#define AUTH_MFA_STORE_H

#include "auth_internal.h"
#include "totp.h"

#define AUTH_MFA_KEY_MAX        160 /* bytes of a store key */
#define AUTH_MFA_CHAL_MAX       64  /* bytes of a challenge id (with its NUL) */
#define AUTH_MFA_RECOVERY_CODES 10

typedef struct {
    char secret[AUTH_BASE32_LEN(AUTH_TOTP_SECRET_MAX) + 1]; /* base32 */
    int64_t digits, period, since;                          /* period in seconds */
} auth_mfa_rec_t;

typedef struct {
    char user[AUTH_NAME_MAX + 1];
    char kind[16]; /* "login" or "enroll" */
    int64_t exp;   /* wall ms */
    char key[AUTH_MFA_KEY_MAX];
} auth_mfa_chal_t;

typedef enum { AUTH_MFA_OK, AUTH_MFA_WRONG, AUTH_MFA_REPLAYED } auth_mfa_verdict_t;

/* "auth:mfa:<what><name>" into out (AUTH_MFA_KEY_MAX bytes). */
void auth_mfa_key(char *out, const char *what, const char *name);

/* Writes r at key (nx: only when absent; ttl_ms 0: none). Returns as yard_store_set (0) or
 * yard_store_set_nx (1 set, 0 existed), or a store error. */
int auth_mfa_rec_save(auth_state_t *st, const char *key, const auth_mfa_rec_t *r, bool nx,
                      uint32_t ttl_ms);
/* Loads the record at key: 0, YARD_E_NOT_FOUND, or a store error (YARD_E_INTERNAL for one
 * that does not decode). The caller wipes r after use. */
int auth_mfa_rec_load(auth_state_t *st, const char *key, auth_mfa_rec_t *r);

/* A new challenge of kind for name, valid until now_ms + mfa_challenge_ttl; its id (256
 * random bits, base64url) into id. Only a hash of the id is stored. Returns 0 or a store
 * error. */
int auth_mfa_chal_new(auth_state_t *st, const char *name, const char *kind, int64_t now_ms,
                      char id[AUTH_MFA_CHAL_MAX]);
/* Loads challenge id of kind at now_ms. Returns 0; 1 when it is unknown, expired or of
 * another kind; or a store error. c->key is its store key (DEL it to spend it). */
int auth_mfa_chal_load(auth_state_t *st, const char *id, const char *kind, int64_t now_ms,
                       auth_mfa_chal_t *c);

/* Checks code for name against r at now_ms: a TOTP code (r's digits, one step of drift;
 * a step already used, or older than the last used, is AUTH_MFA_REPLAYED), or, when recovery,
 * a recovery code. A right code is spent (its step claimed; the recovery code removed) before
 * this returns AUTH_MFA_OK in *v; *used_recovery says which kind it was. Returns 0 or a store
 * error. */
int auth_mfa_code_check(auth_state_t *st, const char *name, const auth_mfa_rec_t *r,
                        const char *code, bool recovery, int64_t now_ms, auth_mfa_verdict_t *v,
                        bool *used_recovery);

/* Replaces name's recovery codes with AUTH_MFA_RECOVERY_CODES new ones and writes them to w as
 * the array "recovery_codes" (the only time they are shown). Returns 0 or a store error. */
int auth_mfa_rc_new(auth_state_t *st, const char *name, yard_mpw_t *w);

#endif
