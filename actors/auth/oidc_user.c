/* The local user for an OpenID sign-in (oidc.h): the name from the claims (<provider>:<sub>, or
 * a verified email), found, or created where the provider allows it (with an invitation's use
 * where it needs one), and its scopes from user_scopes and the groups claim. */
#include "oidc.h"

#include "yard/error.h"
#include "yard/log.h"
#include "yard/mp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_GROUPS_MAX 256 /* entries of the groups claim read */

static int
s_refuse(oidc_refusal_t *why, int err, const char *code, const char *msg)
{
    why->err = err;
    why->code = code;
    why->msg = msg;
    return err;
}

static bool
s_name_valid(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= AUTH_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@:-") == n;
}

static void
s_add_scope(auth_user_t *u, const char *scope)
{
    for (size_t i = 0; i < u->nscopes; i++) {
        if (strcmp(u->scopes[i], scope) == 0) {
            return;
        }
    }
    if (u->nscopes < AUTH_SCOPES_MAX) {
        snprintf(u->scopes[u->nscopes++], AUTH_SCOPE_MAX + 1, "%s", scope);
    }
}

/* The scopes the claims give: the provider's user_scopes, plus those of each group in the
 * groups claim that group_scopes maps. */
static void
s_mapped_scopes(const oidc_provider_t *p, const oidc_id_token_t *t, auth_user_t *u)
{
    u->nscopes = 0;
    for (size_t i = 0; i < p->nscopes; i++) {
        s_add_scope(u, p->scopes[i]);
    }
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 2048)) {
        abort();
    }
    msgpack_object claims;
    const char *const *groups = NULL;
    size_t n = 0;
    if (p->nmaps > 0 && yard_mp_decode(t->claims, t->claims_size, &zone, &claims, NULL, 0) == 0 &&
        yard_mp_get_strs(&claims, p->groups_claim, &zone, S_GROUPS_MAX, &groups, &n, NULL, 0) ==
            0) {
        for (size_t g = 0; g < n; g++) {
            for (size_t m = 0; m < p->nmaps; m++) {
                if (strcmp(groups[g], p->maps[m].group) != 0) {
                    continue;
                }
                for (size_t k = 0; k < p->maps[m].n; k++) {
                    s_add_scope(u, p->maps[m].scopes[k]);
                }
            }
        }
    }
    msgpack_zone_destroy(&zone);
}

static bool
s_same_scopes(const auth_user_t *a, const auth_user_t *b)
{
    if (a->nscopes != b->nscopes) {
        return false;
    }
    for (size_t i = 0; i < a->nscopes; i++) {
        if (strcmp(a->scopes[i], b->scopes[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* Creates want (an unknown user; the provider creates users), with one use of the
 * invitation given to oidc.start when there is one (then with its scopes too), or refuses
 * when the provider needs one. 0, or the flow was failed and freed. */
static int
s_create(auth_state_t *st, const oidc_provider_t *p, const char *invite, auth_user_t *want,
         oidc_refusal_t *why)
{
    auth_user_t inv;
    memset(&inv, 0, sizeof inv);
    snprintf(inv.name, sizeof inv.name, "%s", want->name);
    if (p->invite_required && !invite[0]) {
        return s_refuse(why, YARD_E_FORBIDDEN, "INVITE_REQUIRED",
                        "signing up through this provider needs an invitation code (oidc.start "
                        "with 'invite')");
    }
    int rc = invite[0] ? auth_invite_take(st, invite, &inv) : 1;
    if (rc == 0) {
        return s_refuse(why, YARD_E_FORBIDDEN, "INVALID_CODE",
                        "the invitation code is invalid, expired or used up");
    }
    for (size_t i = 0; rc > 0 && i < inv.nscopes; i++) {
        s_add_scope(want, inv.scopes[i]);
    }
    want->created = auth_now();
    int saved = rc > 0 ? auth_user_save(st, want, true) : rc;
    if (invite[0] && rc > 0 && saved != 0) {
        auth_invite_give_back(st, invite); /* nobody was admitted with it */
    }
    if (saved < 0) {
        return s_refuse(why, YARD_E_UNREACHABLE, NULL, "the state store is not reachable");
    }
    if (saved == 0) {
        yard_log(YARD_LOG_INFO, "auth: user created by OpenID sign-in", YF_STR("user", want->name),
                 YF_STR("provider", p->name));
    }
    return 0;
}

int
oidc_user_for(auth_state_t *st, const oidc_provider_t *p, const oidc_id_token_t *t,
              const char *invite, auth_user_t *u, oidc_refusal_t *why)
{
    auth_user_t want;
    memset(u, 0, sizeof *u);
    memset(&want, 0, sizeof want);
    if (p->email_as_name && (!t->email[0] || !t->email_verified)) {
        return s_refuse(why, YARD_E_FORBIDDEN, "FORBIDDEN",
                        "the provider gave no verified email, which names users here");
    }
    /* Built in a larger buffer first: a name that would not fit is refused, never cut. */
    char name[OIDC_NAME_MAX + OIDC_SUB_MAX + OIDC_EMAIL_MAX + 4];
    if (p->email_as_name) {
        snprintf(name, sizeof name, "%s", t->email);
    } else {
        snprintf(name, sizeof name, "%s:%s", p->name, t->sub);
    }
    if (!s_name_valid(name)) {
        return s_refuse(why, YARD_E_FORBIDDEN, "FORBIDDEN",
                        "the provider's user id does not make a valid user name here (1..64 "
                        "letters, digits and ._@:-)");
    }
    memcpy(want.name, name, strlen(name) + 1);
    s_mapped_scopes(p, t, &want);
    int rc = auth_user_load(st, want.name, u);
    if (rc == YARD_E_NOT_FOUND && p->create_users) {
        if ((rc = s_create(st, p, invite, &want, why)) != 0) {
            return rc;
        }
        rc = auth_user_load(st, want.name, u); /* ours, or a racing replica's */
    } else if (rc == YARD_E_NOT_FOUND) {
        return s_refuse(why, YARD_E_FORBIDDEN, "UNKNOWN_USER",
                        "no local user for this sign-in, and this provider does not create users");
    }
    if (rc == 0 && p->sync_scopes && !s_same_scopes(u, &want)) {
        memcpy(u->scopes, want.scopes, sizeof u->scopes);
        u->nscopes = want.nscopes;
        rc = auth_user_save(st, u, false);
    }
    if (rc != 0) {
        return s_refuse(why, YARD_E_UNREACHABLE, NULL, "the state store is not reachable");
    }
    return 0;
}
