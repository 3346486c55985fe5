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

static int
s_save(auth_state_t *st, const s_invite_t *inv, uint32_t ttl_ms)
{
    auth_out_t o;
    auth_out_init(&o);
    msgpack_pack_map(&o.pk, 7);
    auth_out_kstr(&o, "id", inv->id);
    auth_out_str(&o, "scopes");
    auth_out_scopes(&o, (char(*)[AUTH_SCOPE_MAX + 1]) inv->scopes, inv->nscopes);
    auth_out_kint(&o, "uses", inv->uses);
    auth_out_kint(&o, "expires_at", inv->expires_at);
    auth_out_kint(&o, "created", inv->created);
    auth_out_kstr(&o, "note", inv->note);
    auth_out_kstr(&o, "by", inv->by);
    char key[96];
    s_key(key, sizeof key, inv->id, "");
    int rc = yard_store_set(st->store, key, o.sb.data, o.sb.size, ttl_ms);
    msgpack_sbuffer_destroy(&o.sb);
    if (rc == 0) {
        rc = yard_store_sadd(st->store, "auth:invites", inv->id);
    }
    return rc < 0 ? rc : 0;
}

static bool
s_copy(const msgpack_object *v, char *buf, size_t cap)
{
    if (!v || v->type != MSGPACK_OBJECT_STR || v->via.str.size >= cap) {
        return false;
    }
    memcpy(buf, v->via.str.ptr, v->via.str.size);
    buf[v->via.str.size] = '\0';
    return true;
}

static int64_t
s_uint(const msgpack_object *v)
{
    return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX
               ? (int64_t)v->via.u64
               : -1;
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
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    bool ok = msgpack_unpack_next(&up, val, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
              up.data.type == MSGPACK_OBJECT_MAP;
    const msgpack_object_map *m = ok ? &up.data.via.map : NULL;
    const msgpack_object *sc = m ? auth_field(m, "scopes") : NULL;
    ok = ok && s_copy(auth_field(m, "id"), inv->id, sizeof inv->id) &&
         s_copy(auth_field(m, "note"), inv->note, sizeof inv->note) &&
         s_copy(auth_field(m, "by"), inv->by, sizeof inv->by) && sc &&
         sc->type == MSGPACK_OBJECT_ARRAY && sc->via.array.size <= AUTH_SCOPES_MAX;
    for (uint32_t i = 0; ok && i < sc->via.array.size; i++) {
        ok = s_copy(&sc->via.array.ptr[i], inv->scopes[inv->nscopes++], AUTH_SCOPE_MAX + 1);
    }
    if (ok) {
        inv->uses = s_uint(auth_field(m, "uses"));
        inv->expires_at = s_uint(auth_field(m, "expires_at"));
        inv->created = s_uint(auth_field(m, "created"));
        ok = inv->uses > 0 && inv->expires_at >= 0;
    }
    msgpack_unpacked_destroy(&up);
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
    const msgpack_object_map *m = auth_body(req);
    s_invite_t inv = {0};
    int64_t expires_in = 86400;
    inv.uses = 1;
    if (!m || auth_scopes(req, m, "scopes", false, inv.scopes, &inv.nscopes) < 0 ||
        auth_int(req, m, "uses", false, 1, 1000000, &inv.uses) < 0 ||
        auth_int(req, m, "expires_in", false, 60, 90 * 86400, &expires_in) < 0 ||
        auth_str(req, m, "note", false, inv.note, sizeof inv.note) < 0) {
        return 0;
    }
    char code[S_CODE_MAX];
    auth_random_id(code, sizeof code, S_CODE_BYTES);
    s_code_id(code, inv.id);
    inv.created = auth_now();
    inv.expires_at = inv.created + expires_in;
    snprintf(inv.by, sizeof inv.by, "%.64s", caller.sub);
    int rc = s_save(st, &inv, (uint32_t)(expires_in * 1000));
    if (rc != 0) {
        return auth_fail_store(req, rc);
    }
    yard_log(YARD_LOG_INFO, "auth: invitation created", YF_STR("id", inv.id),
             YF_INT("uses", inv.uses));
    auth_out_t o;
    auth_out_init(&o);
    msgpack_pack_map(&o.pk, 4);
    auth_out_kstr(&o, "code", code);
    auth_out_kstr(&o, "id", inv.id);
    auth_out_kint(&o, "uses", inv.uses);
    auth_out_kint(&o, "expires_at", inv.expires_at);
    sodium_memzero(code, sizeof code);
    return auth_out_reply(&o, req);
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
    const msgpack_object_map *m = auth_body(req);
    char code[S_CODE_MAX + 1];
    auth_user_t u = {0};
    if (!m || auth_str(req, m, "code", true, code, sizeof code) < 0) {
        return 0;
    }
    int has_name = auth_str(req, m, "username", false, u.name, sizeof u.name);
    int has_tg =
        has_name == 0 ? auth_int(req, m, "telegram_id", false, 1, INT64_MAX, &u.telegram_id) : 0;
    if (has_name < 0 || has_tg < 0) {
        return 0;
    }
    if (has_name == 0 && has_tg == 0) {
        yard_request_fail(req, YARD_E_BAD_REQUEST, NULL,
                          "'username' and 'password', or 'telegram_id', are required");
        return 0;
    }
    if (has_name) {
        if (!auth_name_ok(req, u.name)) {
            return 0;
        }
        if (strncmp(u.name, "tg:", 3) == 0) {
            yard_request_fail(req, YARD_E_BAD_REQUEST, NULL,
                              "'username' must not start with 'tg:' (Telegram users' names)");
            return 0;
        }
        char pw[AUTH_PASSWORD_MAX + 1];
        int hp = auth_str(req, m, "password", true, pw, sizeof pw);
        const char *why = hp == 1 ? auth_password_check(pw, strlen(pw)) : NULL;
        if (hp < 0 || why) {
            if (why) {
                char msg[160];
                snprintf(msg, sizeof msg, "'password': %s", why);
                yard_request_fail(req, YARD_E_BAD_REQUEST, NULL, msg);
            }
            sodium_memzero(pw, sizeof pw);
            return 0;
        }
        int rc = auth_password_hash(pw, u.hash);
        sodium_memzero(pw, sizeof pw);
        if (rc != 0) {
            yard_request_fail(req, YARD_E_INTERNAL, NULL, "password hashing failed");
            return 0;
        }
    } else {
        snprintf(u.name, sizeof u.name, "tg:%lld", (long long)u.telegram_id);
    }
    s_invite_t inv;
    char id[S_ID_MAX + 1];
    s_code_id(code, id);
    sodium_memzero(code, sizeof code);
    int rc = s_load(st, id, &inv);
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
        if (rc == 1) {
            return auth_fail(req, 409, "CONFLICT",
                             u.telegram_id ? "this Telegram user is already registered"
                                           : "a user with that name exists");
        }
        return auth_fail_store(req, rc);
    }
    yard_log(YARD_LOG_INFO, "auth: invitation redeemed", YF_STR("id", inv.id),
             YF_STR("user", u.name));
    auth_out_t o;
    auth_out_init(&o);
    msgpack_pack_map(&o.pk, 3);
    auth_out_kstr(&o, "username", u.name);
    auth_out_str(&o, "scopes");
    auth_out_scopes(&o, u.scopes, u.nscopes);
    auth_out_kint(&o, "created", u.created);
    return auth_out_reply(&o, req);
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
    auth_out_t o;
    auth_out_init(&o);
    msgpack_pack_map(&o.pk, 1);
    auth_out_str(&o, "invites");
    msgpack_pack_array(&o.pk, live);
    for (size_t i = 0; i < live; i++) {
        const s_invite_t *v = &all[i];
        msgpack_pack_map(&o.pk, 7);
        auth_out_kstr(&o, "id", v->id);
        auth_out_str(&o, "scopes");
        auth_out_scopes(&o, (char(*)[AUTH_SCOPE_MAX + 1]) v->scopes, v->nscopes);
        auth_out_kint(&o, "uses", v->uses);
        auth_out_kint(&o, "used", s_used(st, v->id));
        auth_out_kint(&o, "expires_at", v->expires_at);
        auth_out_kstr(&o, "note", v->note);
        auth_out_kstr(&o, "by", v->by);
    }
    free(all);
    return auth_out_reply(&o, req);
}

int
auth_invite_revoke(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    if (auth_require_admin(st, req, NULL) != 0) {
        return 0;
    }
    const msgpack_object_map *m = auth_body(req);
    char id[S_ID_MAX + 1], key[96];
    if (!m || auth_str(req, m, "id", true, id, sizeof id) < 0) {
        return 0;
    }
    s_key(key, sizeof key, id, "");
    int rc = yard_store_del(st->store, key);
    if (rc < 0) {
        return auth_fail_store(req, rc);
    }
    yard_store_srem(st->store, "auth:invites", id);
    if (rc == 0) {
        yard_request_fail(req, YARD_E_NOT_FOUND, "NOT_FOUND", "no such invitation");
        return 0;
    }
    auth_out_t o;
    auth_out_init(&o);
    msgpack_pack_map(&o.pk, 1);
    auth_out_kstr(&o, "revoked", id);
    return auth_out_reply(&o, req);
}
