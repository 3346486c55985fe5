/* Two-factor login for the auth actor: TOTP (totp.h) enrolment, confirmation, recovery codes,
 * the login challenge and the admin policy that requires it for given scopes (README.md,
 * "Two-factor (TOTP)").
 *
 * The state in the store, and what makes a code work once: mfa_store.h. */
#ifndef AUTH_MFA_H
#define AUTH_MFA_H

#include "auth_internal.h"
#include "mfa_store.h"

/* Reads the policy (auth.mfa_required_scopes, a list of scopes) from cfg (may be NULL) and
 * checks the mfa_* options. Returns 0, or YARD_E_CONFIG with the reason logged (file and
 * line). */
int auth_mfa_init(auth_state_t *st, const yard_config_t *cfg);

/* What a sign-in must still do before u gets tokens, whatever proved who u is (a password,
 * an OpenID provider): filled by auth_mfa_gate when it is closed. */
typedef struct {
    int status;       /* HTTP: 401 (a code is needed) or 403 (enrol first) */
    const char *code; /* MFA_REQUIRED or MFA_ENROLL_REQUIRED (static) */
    char msg[256];
    char challenge[AUTH_MFA_CHAL_MAX]; /* single-use: travels only in answer headers */
} auth_mfa_gate_t;

/* Returns 0 when u may have tokens now, 1 when the gate is closed (*g filled, a challenge
 * issued: the caller puts g->challenge in the answer's auth.mfa_challenge and
 * X-MFA-Challenge headers, never in a body or a text), or a store error. now_ms: wall clock. */
int auth_mfa_gate(auth_state_t *st, const auth_user_t *u, int64_t now_ms, auth_mfa_gate_t *g);

/* auth_mfa_gate for login, after the password was right: 0 when u may have tokens now; else
 * req was failed (MFA_REQUIRED with a login challenge, MFA_ENROLL_REQUIRED with an enrolment
 * challenge, or a store error) and the error is returned. */
int auth_mfa_login_gate(auth_state_t *st, yard_request_t *req, const auth_user_t *u);

/* Removes every MFA key of name (user.delete: a new user of that name starts without). */
int auth_mfa_forget(auth_state_t *st, const char *name);

int auth_mfa_enroll(yard_request_t *req, void *state);
int auth_mfa_confirm(yard_request_t *req, void *state);
int auth_mfa_disable(yard_request_t *req, void *state);
int auth_mfa_status(yard_request_t *req, void *state);
int auth_login_mfa(yard_request_t *req, void *state);

#endif
