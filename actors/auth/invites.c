/* auth: invitation codes. A code is 128 random bits (base64url); the store never holds it,
 * only an id derived from it by BLAKE2b, so reading the store does not hand out invitations.
 * Redeeming counts uses with INCR on auth:inv:<id>:used: atomic on Redis, so however many
 * replicas race for the last use of a code, exactly one gets it (a loser's INCR goes past
 * the limit and is given back). */
#include "auth_internal.h"

#include "yard/error.h"
#include "yard/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CODE_BYTES 16
#define S_CODE_MAX   64
#define S_ID_MAX     32
#define S_NOTE_MAX   256
#define S_INVALID    "the invitation code is invalid, expired or used up"

typedef struct {
    char id[S_ID_MAX + 1];
    char scopes[AUTH_SCOPES_MAX][AUTH_SCOPE_MAX + 1];
    size_t nscopes;
    int64_t uses, expires_at, created;
    char note[S_NOTE_MAX + 1];
    char by[AUTH_NAME_MAX + 1];
} s_invite_t;

/* The id for a code: 12 bytes of its BLAKE2b hash, base64url. */
static void
s_code_id(const char *code, char id[S_ID_MAX + 1])
{
    unsigned char h[12];
    crypto_generichash(h, sizeof h, (const unsigned char *)code, strlen(code), NULL, 0);
    sodium_bin2base64(id, S_ID_MAX + 1, h, sizeof h, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void
s_key(char *key, size_t cap, const char *id, const char *suffix)
{
    snprintf(key, cap, "auth:inv:%s%s", id, suffix);
}

/* {id, scopes, uses, expires_at, note, by}, plus used when not negative: the stored record and
 * what invite.list shows. */
static void
s_put(yard_mpw_t *w, const s_invite_t *inv, int64_t used)
{
    yard_mpw_map(w);
    yard_mpw_kstr(w, "id", inv->id);
    auth_put_scopes(w, "scopes", (char(*)[AUTH_SCOPE_MAX + 1]) inv->scopes, inv->nscopes);
    yard_mpw_kint(w, "uses", inv->uses);
    if (used >= 0) {
        yard_mpw_kint(w, "used", used);
    }
    yard_mpw_kint(w, "expires_at", inv->expires_at);
    if (used < 0) {
        yard_mpw_kint(w, "created", inv->created);
    }
    yard_mpw_kstr(w, "note", inv->note);
    yard_mpw_kstr(w, "by", inv->by);
    yard_mpw_end(w);
}

static int
s_save(auth_state_t *st, const s_invite_t *inv, uint32_t ttl_ms)
{
    yard_mpw_t *w = yard_mpw_new();
    s_put(w, inv, -1);
    char key[96];
    s_key(key, sizeof key, inv->id, "");
    const void *rec = NULL;
    size_t size = 0;
    int rc = yard_mpw_finish(w, &rec, &size);
    if (rc == 0) {
        rc = yard_store_set(st->store, key, rec, size, ttl_ms);
    }
    yard_mpw_destroy(&w);
    if (rc == 0) {
        rc = yard_store_sadd(st->store, "auth:invites", inv->id);
    }
    return rc < 0 ? rc : 0;
}

/* Reads a stored invitation (map) into inv. Returns 0, or -1 when a field is missing or bad. */
static int
s_decode(const msgpack_object *o, msgpack_zone *zone, s_invite_t *inv)
{
    if (yard_mp_get_strbuf(o, "id", inv->id, sizeof inv->id, NULL, 0) ||
        yard_mp_get_strbuf(o, "note", inv->note, sizeof inv->note, NULL, 0) ||
        yard_mp_get_strbuf(o, "by", inv->by, sizeof inv->by, NULL, 0) ||
        auth_scopes_read(o, "scopes", zone, inv->scopes, &inv->nscopes, NULL, 0) ||
        yard_mp_get_int_range(o, "uses", 1, INT64_MAX, &inv->uses, NULL, 0) ||
        yard_mp_get_int_range(o, "expires_at", 0, INT64_MAX, &inv->expires_at, NULL, 0)) {
        return -1;
    }
    yard_mp_get_int(o, "created", &inv->created, NULL, 0);
    return 0;
}

/* Returns 0, YARD_E_NOT_FOUND (absent or undecodable), or a store error. */
static int
s_load(auth_state_t *st, const char *id, s_invite_t *inv)
{
    char key[96], *val = NULL;
    size_t len = 0;
    s_key(key, sizeof key, id, "");
    int rc = yard_store_get(st->store, key, &val, &len);
    if (rc != 0) {
        return rc;
    }
    memset(inv, 0, sizeof *inv);
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 1024)) {
        abort();
    }
    msgpack_object o;
    bool ok = yard_mp_decode(val, len, &zone, &o, NULL, 0) == 0 && s_decode(&o, &zone, inv) == 0;
    msgpack_zone_destroy(&zone);
    free(val);
    if (!ok) {
        yard_log(YARD_LOG_ERROR, "a stored invitation does not decode", YF_STR("id", id));
        return YARD_E_NOT_FOUND;
    }
    return 0;
}

static int64_t
s_used(auth_state_t *st, const char *id)
{
    char key[96], *val = NULL;
    size_t len = 0;
    s_key(key, sizeof key, id, ":used");
    if (yard_store_get(st->store, key, &val, &len) != 0) {
        return 0;
    }
    int64_t n = strtoll(val, NULL, 10);
    free(val);
    return n;
}

int
auth_invite_create(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    auth_claims_t caller;
    if (auth_require_admin(st, req, &caller) != 0) {
        return 0;
    }
    s_invite_t inv = {0};
    int64_t expires_in = 0;
    const char *note = NULL;
    int rc;
    if ((rc = auth_req_scopes(req, "scopes", false, inv.scopes, &inv.nscopes)) ||
        (rc = yard_req_int_range_or(req, "uses", 1, 1000000, 1, &inv.uses)) ||
        (rc = yard_req_int_range_or(req, "expires_in", 60, 90 * 86400, 86400, &expires_in)) ||
        (rc = yard_req_str_max_or(req, "note", S_NOTE_MAX, "", &note))) {
        return rc;
    }
    snprintf(inv.note, sizeof inv.note, "%s", note);
    char code[S_CODE_MAX];
    auth_random_id(code, sizeof code, S_CODE_BYTES);
    s_code_id(code, inv.id);
    inv.created = auth_now();
    inv.expires_at = inv.created + expires_in;
    snprintf(inv.by, sizeof inv.by, "%.64s", caller.sub);
    rc = s_save(st, &inv, (uint32_t)(expires_in * 1000));
    if (rc != 0) {
        return auth_fail_store(req, rc);
    }
    yard_log(YARD_LOG_INFO, "auth: invitation created", YF_STR("id", inv.id),
             YF_INT("uses", inv.uses));
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "code", code);
    yard_mpw_kstr(w, "id", inv.id);
    yard_mpw_kint(w, "uses", inv.uses);
    yard_mpw_kint(w, "expires_at", inv.expires_at);
    yard_mpw_end(w);
    sodium_memzero(code, sizeof code);
    return yard_request_reply_mpw(req, &w);
}

/* Claims one use of inv. 1 when claimed, 0 when used up (nothing taken), or a store error. */
static int
s_claim(auth_state_t *st, const s_invite_t *inv)
{
    char key[96];
    s_key(key, sizeof key, inv->id, ":used");
    int64_t n = 0;
    int rc = yard_store_incr(st->store, key, 1, &n);
    if (rc != 0) {
        return rc;
    }
    if (n > inv->uses) {
        yard_store_incr(st->store, key, -1, &n);
        return 0;
    }
    return 1;
}

static void
s_unclaim(auth_state_t *st, const s_invite_t *inv)
{
    char key[96];
    int64_t n = 0;
    s_key(key, sizeof key, inv->id, ":used");
    yard_store_incr(st->store, key, -1, &n);
}

int
auth_invite_redeem(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    char code[S_CODE_MAX + 1];
    auth_user_t u = {0};
    int rc;
    if ((rc = auth_req_secret(req, "code", code, sizeof code))) {
        return rc;
    }
    bool by_name = yard_req_has(req, "username");
    if (by_name) {
        if ((rc = auth_req_name(req, u.name))) {
            return rc;
        }
        if (strncmp(u.name, "tg:", 3) == 0) {
            return yard_req_fail_field(req, "username",
                                       "must not start with 'tg:' (Telegram users' names)");
        }
        if ((rc = auth_req_new_password(req, u.hash))) {
            return rc;
        }
    } else if (yard_req_has(req, "telegram_id")) {
        if ((rc = yard_req_int_range(req, "telegram_id", 1, INT64_MAX, &u.telegram_id))) {
            return rc;
        }
        snprintf(u.name, sizeof u.name, "tg:%lld", (long long)u.telegram_id);
    } else {
        yard_request_fail(req, YARD_E_BAD_REQUEST, NULL,
                          "'username' and 'password', or 'telegram_id', are required");
        return YARD_E_BAD_REQUEST;
    }
    s_invite_t inv;
    char id[S_ID_MAX + 1];
    s_code_id(code, id);
    sodium_memzero(code, sizeof code);
    rc = s_load(st, id, &inv);
    if (rc == YARD_E_NOT_FOUND || (rc == 0 && auth_now() >= inv.expires_at)) {
        return auth_fail(req, 403, "INVALID_CODE", S_INVALID);
    }
    if (rc != 0) {
        return auth_fail_store(req, rc);
    }
    rc = s_claim(st, &inv);
    if (rc == 0) {
        return auth_fail(req, 403, "INVALID_CODE", S_INVALID);
    }
    if (rc < 0) {
        return auth_fail_store(req, rc);
    }
    memcpy(u.scopes, inv.scopes, sizeof u.scopes);
    u.nscopes = inv.nscopes;
    u.created = auth_now();
    rc = auth_user_save(st, &u, true);
    if (rc != 0) {
        s_unclaim(st, &inv); /* the use goes back: nobody was admitted with it */
        if (rc == 1) {       /* as user.create says it: the gateway maps CONFLICT to 409 */
            yard_request_fail(req, YARD_E_SERVICE, "CONFLICT",
                              u.telegram_id ? "this Telegram user is already registered"
                                            : "a user with that name exists");
            return YARD_E_SERVICE;
        }
        return auth_fail_store(req, rc);
    }
    yard_log(YARD_LOG_INFO, "auth: invitation redeemed", YF_STR("id", inv.id),
             YF_STR("user", u.name));
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "username", u.name);
    auth_put_scopes(w, "scopes", u.scopes, u.nscopes);
    yard_mpw_kint(w, "created", u.created);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}

int
auth_invite_list(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    if (auth_require_admin(st, req, NULL) != 0) {
        return 0;
    }
    char **ids = NULL;
    size_t n = 0;
    int rc = yard_store_smembers(st->store, "auth:invites", &ids, &n);
    if (rc != 0) {
        return auth_fail_store(req, rc);
    }
    s_invite_t *all = calloc(n ? n : 1, sizeof *all);
    if (!all) {
        abort();
    }
    size_t live = 0;
    int64_t now = auth_now();
    for (size_t i = 0; i < n; i++) {
        if (s_load(st, ids[i], &all[live]) == 0 && now < all[live].expires_at) {
            live++;
        } else {
            yard_store_srem(st->store, "auth:invites", ids[i]); /* expired: forget it */
        }
    }
    yard_store_members_free(&ids);
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_key(w, "invites");
    yard_mpw_array(w);
    for (size_t i = 0; i < live; i++) {
        s_put(w, &all[i], s_used(st, all[i].id));
    }
    yard_mpw_end(w);
    yard_mpw_end(w);
    free(all);
    return yard_request_reply_mpw(req, &w);
}

int
auth_invite_revoke(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    if (auth_require_admin(st, req, NULL) != 0) {
        return 0;
    }
    const char *id;
    char key[96];
    int rc = yard_req_str_max(req, "id", S_ID_MAX, &id);
    if (rc) {
        return rc;
    }
    s_key(key, sizeof key, id, "");
    rc = yard_store_del(st->store, key);
    if (rc < 0) {
        return auth_fail_store(req, rc);
    }
    yard_store_srem(st->store, "auth:invites", id);
    if (rc == 0) {
        yard_request_fail(req, YARD_E_NOT_FOUND, "NOT_FOUND", "no such invitation");
        return 0;
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "revoked", id);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}

/* --- for sign-ins that create users (oidc.c) --------------------------------------------- */

_Static_assert(S_ID_MAX == AUTH_INVITE_ID_MAX, "auth_internal.h's id size is this file's");

int
auth_invite_id(const char *code, char id[AUTH_INVITE_ID_MAX + 1])
{
    if (!code || !code[0] || strlen(code) > S_CODE_MAX) {
        return -1;
    }
    s_code_id(code, id);
    return 0;
}

int
auth_invite_take(auth_state_t *st, const char *id, auth_user_t *u)
{
    s_invite_t inv;
    int rc = s_load(st, id, &inv);
    if (rc == YARD_E_NOT_FOUND || (rc == 0 && auth_now() >= inv.expires_at)) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    rc = s_claim(st, &inv);
    if (rc == 1) {
        memcpy(u->scopes, inv.scopes, sizeof u->scopes);
        u->nscopes = inv.nscopes;
        yard_log(YARD_LOG_INFO, "auth: invitation used", YF_STR("id", inv.id),
                 YF_STR("user", u->name));
    }
    return rc;
}

void
auth_invite_give_back(auth_state_t *st, const char *id)
{
    s_invite_t inv = {0};
    snprintf(inv.id, sizeof inv.id, "%s", id);
    s_unclaim(st, &inv);
}
