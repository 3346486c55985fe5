/* Sign-in with OpenID Connect providers (authorization code flow with PKCE) for the auth
 * actor: the configured providers (oidc_config.c), their discovery document and JWKS fetched
 * through the replica's HTTP engine and cached (oidc_provider.c), and the ops oidc.start and
 * oidc.callback (oidc.c). README.md, "Sign in with OpenID Connect", is the user's guide.
 *
 * Store layout (besides auth_internal.h's):
 *   auth:oidc:st:<state>   a started sign-in: {p: provider, n: nonce, v: verifier, i: the
 *                          invitation's id (a hash of the code, as invites.c stores it), when
 *                          one was given}, for OIDC_STATE_TTL_MS; the
 *                          callback deletes it before anything else (DEL answers 1 to exactly
 *                          one caller, on any replica), so a state works once. */
#ifndef AUTH_OIDC_H
#define AUTH_OIDC_H

#include "auth_internal.h"
#include "jwks.h"
#include "oidc_jwt.h"

#include "yard/options.h"

#include <stdbool.h>
#include <stdint.h>

#define OIDC_MAX_PROVIDERS    8
#define OIDC_NAME_MAX         32   /* provider names: letters, digits, '_' and '-' */
#define OIDC_MAX_MAPS         32   /* entries of a provider's group_scopes */
#define OIDC_URL_MAX          1024 /* issuer, endpoints, redirect_uri */
#define OIDC_DISCOVERY_TTL_MS (24 * 3600 * 1000LL) /* discovery is re-read after a day */
#define OIDC_JWKS_TTL_MS      (3600 * 1000LL)      /* the JWKS after an hour ... */
#define OIDC_JWKS_MISS_MS     (60 * 1000LL)        /* ... or on an unknown kid, once a minute */

typedef struct {
    char *group;
    char scopes[AUTH_SCOPES_MAX][AUTH_SCOPE_MAX + 1];
    size_t n;
} oidc_map_t;

typedef struct {
    /* from the config */
    char name[OIDC_NAME_MAX + 1];
    char *issuer, *client_id, *client_secret, *redirect_uri;
    char *scope;          /* space-separated, "openid" first */
    bool create_users;    /* an unknown user is created (else refused) */
    bool invite_required; /* ... only with an invitation code given to oidc.start */
    bool email_as_name;   /* username_claim: email (verified emails only); else "<name>:<sub>" */
    bool sync_scopes;     /* every sign-in sets the user's scopes from the claims */
    char *groups_claim;   /* default "groups" */
    oidc_map_t maps[OIDC_MAX_MAPS];
    size_t nmaps;
    char scopes[AUTH_SCOPES_MAX][AUTH_SCOPE_MAX + 1]; /* every mapped user gets these */
    size_t nscopes;
    /* discovered (oidc_provider.c) */
    char *authorization_endpoint, *token_endpoint, *jwks_uri;
    int64_t discovered_ms; /* yard_ctx_now_ms() of the fetch; 0: never */
    oidc_jwks_t *jwks;
    int64_t jwks_ms;        /* of the last JWKS fetch; 0: never */
    int64_t starts_per_min; /* oidc.start per source address a minute (and in a burst) */
    uint32_t jwks_min_ms;   /* jwks_refetch_min: the least time between two fetches for an
                             unknown kid (default OIDC_JWKS_MISS_MS) */
} oidc_provider_t;

typedef struct oidc {
    oidc_provider_t p[OIDC_MAX_PROVIDERS];
    size_t n;
} oidc_t;

/* --- oidc_config.c ---------------------------------------------------------------------- */

/* Reads auth.oidc_providers from cfg (NULL or absent: no providers). Returns 0 and sets *out
 * (caller owns it; free with oidc_destroy()), or YARD_E_CONFIG, logged with the file and line
 * of what was wrong (never a secret). */
int oidc_config_load(const yard_config_t *cfg, oidc_t **out);
void oidc_destroy(oidc_t **o_p);
/* The provider named name, or NULL. Borrowed. */
oidc_provider_t *oidc_find(oidc_t *o, const char *name);

/* --- oidc_provider.c ------------------------------------------------------------------- */

/* Calls cb(arg, 0) once p's discovery document is known (fetched now when missing or older
 * than OIDC_DISCOVERY_TTL_MS), or cb(arg, error) with a message in why. Calls cb exactly once,
 * possibly before this returns. */
typedef void(oidc_ready_fn)(void *arg, int err, const char *why);
void oidc_discover(yard_ctx_t *ctx, oidc_provider_t *p, oidc_ready_fn *cb, void *arg);

/* Calls cb(arg, 0) once p has a JWKS: fetched when missing or older than OIDC_JWKS_TTL_MS,
 * or, with refetch (a token named an unknown kid), when the last fetch is at least
 * p->jwks_min_ms old; else at once with the set as it is. Calls cb exactly once. */
void oidc_jwks_load(yard_ctx_t *ctx, oidc_provider_t *p, bool refetch, oidc_ready_fn *cb,
                    void *arg);

/* --- oidc_user.c ------------------------------------------------------------------------ */

/* Why a sign-in was refused: the yard error, the app code (NULL: none) and the message, which
 * names what was wrong and never a secret. Static strings. */
typedef struct {
    int err;
    const char *code;
    const char *msg;
} oidc_refusal_t;

/* The local user for t, a verified ID token of p: found, or created where p allows it (with one
 * use of the invitation whose id is invite, "" when none); with sync_scopes its scopes set
 * from the claims. Returns 0 with *u, or the error with *why filled. */
int oidc_user_for(auth_state_t *st, const oidc_provider_t *p, const oidc_id_token_t *t,
                  const char *invite, auth_user_t *u, oidc_refusal_t *why);

/* --- oidc.c ------------------------------------------------------------------------------- */

int auth_oidc_start(yard_request_t *req, void *state);
int auth_oidc_callback(yard_request_t *req, void *state);

#endif
