/* Private to the auth actor: its options, the per-replica state, and the helpers its handler
 * files (auth.c, tokens.c, users.c, invites.c) share.
 *
 * Store layout (every key under "auth:"; values are msgpack):
 *   auth:keys                the key set (keyset.h)
 *   auth:user:<name>         a user: {hash, scopes, created, telegram_id}
 *   auth:users               set of user names
 *   auth:inv:<id>            an invitation: {id, scopes, uses, expires_at, note, created, by}
 *                            where id is derived from the code by a hash (codes are not stored)
 *   auth:inv:<id>:used       how many times it was redeemed (INCR: atomic across replicas)
 *   auth:invites             set of invitation ids
 *   auth:rt:<jti>            a refresh token was used (SET NX: the first use wins)
 *   auth:rev:<jti>           a revoked token, until it would have expired
 *   auth:fam:<fam>           a revoked session (every token of a login and its refreshes)
 *   auth:gen:<name>          the user's token generation (INCR): a token whose "gen" claim is
 *                            not the current one is void, so "revoke every token of a user"
 *                            is one atomic increment, exact to the request
 *   auth:rl:u:<name>, auth:rl:s:<source>   login rate-limit buckets */
#ifndef AUTH_INTERNAL_H
#define AUTH_INTERNAL_H

#include "jwt.h"
#include "keyset.h"
#include "password.h"
#include "vcache.h"
#include "yard/actor.h"
#include "yard/mp.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#define AUTH_NAME_MAX 64 /* user names */

typedef struct {
    char *issuer;
    char *audience;
    char *alg;            /* "EdDSA" or "HS256" */
    uint32_t access_ttl;  /* ms */
    uint32_t refresh_ttl; /* ms */
    uint32_t leeway;      /* ms */
    uint32_t key_reload;  /* ms: how often a replica re-reads the key set */
    char *admin_user;
    char *admin_password;
    char *admin_scope; /* the scope admin operations require */
    int64_t login_burst_user, login_per_min_user;
    int64_t login_burst_source, login_per_min_source;
    /* two-factor (mfa.c) */
    char *mfa_issuer;           /* the issuer authenticator apps show ("" or unset: issuer) */
    uint32_t mfa_period;        /* ms, whole seconds */
    int64_t mfa_digits;         /* 6..8 */
    uint32_t mfa_challenge_ttl; /* ms */
    int64_t mfa_burst_user, mfa_per_min_user;
} auth_opts_t;

typedef struct {
    const auth_opts_t *o;
    yard_store_t *store;
    auth_keyset_t *keys;
    int64_t keys_loaded_ms; /* monotonic */
    int64_t keys_miss_ms;   /* the last reload for an unknown kid */
    auth_vcache_t *vcache;  /* tokens that verified (revocation is still checked each time) */
    /* auth.mfa_required_scopes: holders of any of these cannot log in without MFA (mfa.c) */
    char mfa_scopes[AUTH_SCOPES_MAX][AUTH_SCOPE_MAX + 1];
    size_t n_mfa_scopes;
    struct oidc *oidc; /* the OpenID providers and their cached discovery and keys (oidc.h) */
} auth_state_t;

/* --- auth.c ----------------------------------------------------------------------------- */

int64_t auth_now(void);     /* unix seconds */
int64_t auth_mono_ms(void); /* monotonic ms */

/* The key set, re-read from the store when older than key_reload (or force). */
const auth_keyset_t *auth_keys(auth_state_t *st, bool force);
/* Writes ks to the store and makes it this replica's. Takes ownership of ks. */
int auth_keys_replace(auth_state_t *st, auth_keyset_t *ks);

/* Verifies an access or refresh token (typ) fully: signature, claims, revocation. Returns 0,
 * or a yard error after failing req with a message (UNAUTHENTICATED, or UNREACHABLE when the
 * store is down). */
int auth_check_token(auth_state_t *st, yard_request_t *req, const char *token, const char *typ,
                     auth_claims_t *out);
/* For admin operations: the caller's access token (bus header "auth.token", which the
 * gateway sets on bearer routes) must carry the admin scope. Returns 0 (with the caller's
 * claims in *caller when not NULL), or fails req and returns the error. */
int auth_require_admin(auth_state_t *st, yard_request_t *req, auth_claims_t *caller);

/* Fails req with a service error the gateway maps to status (with app code). Returns the
 * negative of nothing: always YARD_E_SERVICE, so handlers can `return auth_fail(...)`. */
int auth_fail(yard_request_t *req, int status, const char *code, const char *msg);
/* Fails req for a store error (UNREACHABLE). */
int auth_fail_store(yard_request_t *req, int rc);

/* --- fields and replies (on yard/mp.h) -------------------------------------------------- */

/* Reads key, an array of scopes (each 1..64 printable characters, no spaces or ','; at most
 * AUTH_SCOPES_MAX), from map into scopes. Returns 0, YARD_E_NOT_FOUND when absent or nil, or
 * YARD_E_BAD_REQUEST with err naming the field. zone holds the reader's copies. */
int auth_scopes_read(const msgpack_object *map, const char *key, msgpack_zone *zone,
                     char scopes[][AUTH_SCOPE_MAX + 1], size_t *n, char *err, size_t errlen);
/* The request's scopes field, as auth_scopes_read; absent gives *n = 0 unless required.
 * Returns 0, or fails req (BAD_REQUEST naming the field) and returns the error. */
int auth_req_scopes(yard_request_t *req, const char *key, bool required,
                    char scopes[][AUTH_SCOPE_MAX + 1], size_t *n);
/* A secret string field (a password) copied into buf (cap bytes) rather than into the
 * request's memory, so that the caller can wipe it. Returns 0, or fails req (BAD_REQUEST
 * naming the field: absent, not a string, longer than cap - 1) and returns the error. */
int auth_req_secret(yard_request_t *req, const char *key, char *buf, size_t cap);
/* The "password" field of a new password: checked (auth_password_check) and hashed into hash;
 * the plain text is wiped. Returns 0, or fails req and returns the error. */
int auth_req_new_password(yard_request_t *req, char hash[AUTH_HASH_MAX]);
/* The "username" field, checked (1..64 characters of letters, digits and ._@:-) and copied
 * into name. Returns 0, or fails req and returns the error. */
int auth_req_name(yard_request_t *req, char name[AUTH_NAME_MAX + 1]);
/* 0 when name is a valid user name; else fails req and returns YARD_E_BAD_REQUEST. */
int auth_name_check(yard_request_t *req, const char *name);

/* Writes key and the scopes as an array of strings. */
void auth_put_scopes(yard_mpw_t *w, const char *key, char scopes[][AUTH_SCOPE_MAX + 1], size_t n);

/* --- users.c ---------------------------------------------------------------------------- */

typedef struct {
    char name[AUTH_NAME_MAX + 1];
    char hash[AUTH_HASH_MAX]; /* "" when the user has no password (Telegram users) */
    char scopes[AUTH_SCOPES_MAX][AUTH_SCOPE_MAX + 1];
    size_t nscopes;
    int64_t created;
    int64_t telegram_id; /* 0: none */
} auth_user_t;

/* Loads a user. Returns 0, YARD_E_NOT_FOUND, YARD_E_UNREACHABLE, or YARD_E_INTERNAL for a
 * record that does not decode. */
int auth_user_load(auth_state_t *st, const char *name, auth_user_t *u);
/* Writes u; create: only when absent (returns 0, or 1 when the name was taken). */
int auth_user_save(auth_state_t *st, const auth_user_t *u, bool create);
/* Voids every token of name issued so far (bumps the generation). */
int auth_user_revoke_all(auth_state_t *st, const char *name);
/* The user's current token generation (0 when never bumped). Returns 0 or a store error. */
int auth_user_gen(auth_state_t *st, const char *name, int64_t *gen);
/* Creates the first admin from admin_user/admin_password when that user does not exist. */
int auth_users_bootstrap(auth_state_t *st);

int auth_user_create(yard_request_t *req, void *state);
int auth_user_get(yard_request_t *req, void *state);
int auth_user_list(yard_request_t *req, void *state);
int auth_user_delete(yard_request_t *req, void *state);
int auth_user_set_scopes(yard_request_t *req, void *state);
int auth_user_set_password(yard_request_t *req, void *state);
int auth_telegram_check(yard_request_t *req, void *state);

/* --- tokens.c --------------------------------------------------------------------------- */

int auth_login(yard_request_t *req, void *state);
int auth_verify(yard_request_t *req, void *state);
int auth_refresh(yard_request_t *req, void *state);
int auth_revoke(yard_request_t *req, void *state);
int auth_logout(yard_request_t *req, void *state);
int auth_key_rotate(yard_request_t *req, void *state);
/* Takes a token from the rate-limit bucket auth:rl:<kind>:<id> (burst, per_min sustained;
 * shared by replicas through the store). 0 when the attempt may go on; else req was failed
 * (RATE_LIMITED, HTTP 429 with Retry-After, with msg; or the store's error) and the error is
 * returned. */
int auth_rate_take(auth_state_t *st, yard_request_t *req, const char *kind, const char *id,
                   int64_t burst, int64_t per_min, const char *msg);
/* Issues an access/refresh pair for u in session fam and replies with it. */
int auth_issue(auth_state_t *st, yard_request_t *req, const auth_user_t *u, const char *fam);
/* The same pair as a reply body in *out (caller owns it; free with yard_mpw_destroy()), for a
 * deferred answer (oidc.callback). Returns 0, a store error, or YARD_E_INTERNAL. */
int auth_issue_mpw(auth_state_t *st, const auth_user_t *u, const char *fam, yard_mpw_t **out);

/* --- invites.c -------------------------------------------------------------------------- */

int auth_invite_create(yard_request_t *req, void *state);
int auth_invite_redeem(yard_request_t *req, void *state);
int auth_invite_list(yard_request_t *req, void *state);
int auth_invite_revoke(yard_request_t *req, void *state);

#define AUTH_INVITE_ID_MAX 32
/* The store id of an invitation code (a hash: codes are not stored) into id. 0, or -1 for a
 * code that cannot be one (empty, over 64 bytes). */
int auth_invite_id(const char *code, char id[AUTH_INVITE_ID_MAX + 1]);
/* For a sign-in that creates u (oidc.callback): claims one use of invitation id, as
 * invite.redeem does (INCR: exactly as many winners as uses, across replicas), and sets u's
 * scopes to the invitation's. Returns 1 when claimed, 0 when the invitation is unknown,
 * expired, revoked or used up, or a store error. */
int auth_invite_take(auth_state_t *st, const char *id, auth_user_t *u);
/* Gives a use claimed by auth_invite_take back (the user could not be created). */
void auth_invite_give_back(auth_state_t *st, const char *id);

#endif
