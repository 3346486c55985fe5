/* auth: user records and the user.* operations (all of them need the admin scope). A user
 * record is created with SET NX, so two replicas creating one name cannot both win; updates
 * (scopes, password) are read-modify-write, and the last writer wins. */
#include "auth_internal.h"

#include "yard/error.h"
#include "yard/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_key(char *key, size_t cap, const char *name)
{
    snprintf(key, cap, "auth:user:%s", name);
}

static bool
s_str_into(const msgpack_object *v, char *buf, size_t cap)
{
    if (v->type != MSGPACK_OBJECT_STR || v->via.str.size >= cap) {
        return false;
    }
    memcpy(buf, v->via.str.ptr, v->via.str.size);
    buf[v->via.str.size] = '\0';
    return true;
}

static bool
s_decode(const msgpack_object *o, auth_user_t *u)
{
    if (o->type != MSGPACK_OBJECT_MAP) {
        return false;
    }
    const msgpack_object_map *m = &o->via.map;
    const msgpack_object *name = auth_field(m, "name"), *hash = auth_field(m, "hash");
    const msgpack_object *scopes = auth_field(m, "scopes"), *created = auth_field(m, "created");
    const msgpack_object *tg = auth_field(m, "telegram_id");
    if (!name || !s_str_into(name, u->name, sizeof u->name) || !hash ||
        !s_str_into(hash, u->hash, sizeof u->hash) || !scopes ||
        scopes->type != MSGPACK_OBJECT_ARRAY || scopes->via.array.size > AUTH_SCOPES_MAX) {
        return false;
    }
    u->nscopes = 0;
    for (uint32_t i = 0; i < scopes->via.array.size; i++) {
        if (!s_str_into(&scopes->via.array.ptr[i], u->scopes[u->nscopes++], AUTH_SCOPE_MAX + 1)) {
            return false;
        }
    }
    u->created =
        created && created->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)created->via.u64 : 0;
    u->telegram_id = tg && tg->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)tg->via.u64 : 0;
    return true;
}

int
auth_user_load(auth_state_t *st, const char *name, auth_user_t *u)
{
    char key[128], *val = NULL;
    size_t len = 0;
    s_key(key, sizeof key, name);
    int rc = yard_store_get(st->store, key, &val, &len);
    if (rc != 0) {
        return rc;
    }
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    memset(u, 0, sizeof *u);
    bool ok =
        msgpack_unpack_next(&up, val, len, NULL) == MSGPACK_UNPACK_SUCCESS && s_decode(&up.data, u);
    msgpack_unpacked_destroy(&up);
    free(val);
    if (!ok) {
        yard_log(YARD_LOG_ERROR, "a stored user does not decode", YF_STR("user", name));
        return YARD_E_INTERNAL;
    }
    return 0;
}

int
auth_user_save(auth_state_t *st, const auth_user_t *u, bool create)
{
    auth_out_t o;
    auth_out_init(&o);
    msgpack_pack_map(&o.pk, 5);
    auth_out_kstr(&o, "name", u->name);
    auth_out_kstr(&o, "hash", u->hash);
    auth_out_str(&o, "scopes");
    auth_out_scopes(&o, (char(*)[AUTH_SCOPE_MAX + 1]) u->scopes, u->nscopes);
    auth_out_kint(&o, "created", u->created);
    auth_out_kint(&o, "telegram_id", u->telegram_id);
    char key[128];
    s_key(key, sizeof key, u->name);
    int rc = create ? yard_store_set_nx(st->store, key, o.sb.data, o.sb.size, 0)
                    : yard_store_set(st->store, key, o.sb.data, o.sb.size, 0);
    msgpack_sbuffer_destroy(&o.sb);
    if (rc < 0) {
        return rc;
    }
    if (create && rc == 0) {
        return 1; /* taken */
    }
    rc = yard_store_sadd(st->store, "auth:users", u->name);
    return rc < 0 ? rc : 0;
}

int
auth_user_revoke_all(auth_state_t *st, const char *name)
{
    char key[128];
    int64_t gen = 0;
    snprintf(key, sizeof key, "auth:gen:%s", name);
    return yard_store_incr(st->store, key, 1, &gen);
}

int
auth_user_gen(auth_state_t *st, const char *name, int64_t *gen)
{
    char key[AUTH_SUB_MAX + 16], *val = NULL;
    size_t len = 0;
    *gen = 0;
    snprintf(key, sizeof key, "auth:gen:%s", name);
    int rc = yard_store_get(st->store, key, &val, &len);
    if (rc == YARD_E_NOT_FOUND) {
        return 0;
    }
    if (rc == 0) {
        *gen = strtoll(val, NULL, 10);
        free(val);
    }
    return rc;
}

int
auth_users_bootstrap(auth_state_t *st)
{
    const auth_opts_t *o = st->o;
    if (!o->admin_user || !o->admin_user[0]) {
        char **names = NULL;
        size_t n = 0;
        if (yard_store_smembers(st->store, "auth:users", &names, &n) == 0 && n == 0) {
            yard_log(YARD_LOG_WARN, "auth: no users and no first admin configured; set "
                                    "auth.admin_user and YARD_AUTH_ADMIN_PASSWORD");
        }
        yard_store_members_free(&names);
        return 0;
    }
    auth_user_t u = {0};
    int rc = auth_user_load(st, o->admin_user, &u);
    if (rc == 0) {
        return 0; /* exists: never overwritten from config */
    }
    if (rc != YARD_E_NOT_FOUND) {
        return rc;
    }
    const char *why = o->admin_password
                          ? auth_password_check(o->admin_password, strlen(o->admin_password))
                          : "admin_password is not set";
    if (why) {
        yard_log(YARD_LOG_ERROR, "auth: cannot create the first admin", YF_STR("reason", why),
                 YF_STR("user", o->admin_user));
        return YARD_E_CONFIG;
    }
    snprintf(u.name, sizeof u.name, "%s", o->admin_user);
    if (auth_password_hash(o->admin_password, u.hash) != 0) {
        return YARD_E_INTERNAL;
    }
    snprintf(u.scopes[0], sizeof u.scopes[0], "%s", o->admin_scope);
    u.nscopes = 1;
    u.created = auth_now();
    rc = auth_user_save(st, &u, true);
    if (rc == 0) {
        yard_log(YARD_LOG_INFO, "auth: created the first admin", YF_STR("user", u.name));
    }
    return rc < 0 ? rc : 0;
}

/* --- operations -------------------------------------------------------------------------- */

static void
s_out_user(auth_out_t *o, const auth_user_t *u)
{
    msgpack_pack_map(&o->pk, u->telegram_id ? 5 : 4);
    auth_out_kstr(o, "username", u->name);
    auth_out_str(o, "scopes");
    auth_out_scopes(o, (char(*)[AUTH_SCOPE_MAX + 1]) u->scopes, u->nscopes);
    auth_out_kint(o, "created", u->created);
    auth_out_str(o, "has_password");
    if (u->hash[0]) {
        msgpack_pack_true(&o->pk);
    } else {
        msgpack_pack_false(&o->pk);
    }
    if (u->telegram_id) {
        auth_out_kint(o, "telegram_id", u->telegram_id);
    }
}

static int
s_reply_user(yard_request_t *req, const auth_user_t *u)
{
    auth_out_t o;
    auth_out_init(&o);
    s_out_user(&o, u);
    return auth_out_reply(&o, req);
}

/* The admin check and the body, with "username" read and checked. NULL after failing req. */
static const msgpack_object_map *
s_admin_user(auth_state_t *st, yard_request_t *req, char name[AUTH_NAME_MAX + 1])
{
    if (auth_require_admin(st, req, NULL) != 0) {
        return NULL;
    }
    const msgpack_object_map *m = auth_body(req);
    if (!m || auth_str(req, m, "username", true, name, AUTH_NAME_MAX + 1) < 0 ||
        !auth_name_ok(req, name)) {
        return NULL;
    }
    return m;
}

static int
s_load_or_fail(auth_state_t *st, yard_request_t *req, const char *name, auth_user_t *u)
{
    int rc = auth_user_load(st, name, u);
    if (rc == YARD_E_NOT_FOUND) {
        yard_request_fail(req, YARD_E_NOT_FOUND, "NOT_FOUND", "no such user");
        return rc;
    }
    return rc ? auth_fail_store(req, rc) : 0;
}

/* Reads "password", checks it and hashes it into hash. 0 or -1 after failing req. */
static int
s_new_password(yard_request_t *req, const msgpack_object_map *m, char hash[AUTH_HASH_MAX])
{
    char pw[AUTH_PASSWORD_MAX + 2];
    const msgpack_object *v = auth_field(m, "password");
    if (!v || v->type != MSGPACK_OBJECT_STR) {
        yard_request_fail(req, YARD_E_BAD_REQUEST, NULL, "'password' is required (a string)");
        return -1;
    }
    const char *why = auth_password_check(v->via.str.ptr, v->via.str.size);
    if (v->via.str.size > AUTH_PASSWORD_MAX) {
        why = "the password is too long (at most 256 bytes)";
    }
    if (why) {
        char msg[160];
        snprintf(msg, sizeof msg, "'password': %s", why);
        yard_request_fail(req, YARD_E_BAD_REQUEST, NULL, msg);
        return -1;
    }
    memcpy(pw, v->via.str.ptr, v->via.str.size);
    pw[v->via.str.size] = '\0';
    int rc = auth_password_hash(pw, hash);
    sodium_memzero(pw, sizeof pw);
    if (rc != 0) {
        yard_request_fail(req, YARD_E_INTERNAL, NULL, "password hashing failed");
        return -1;
    }
    return 0;
}

int
auth_user_create(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    auth_user_t u = {0};
    const msgpack_object_map *m = s_admin_user(st, req, u.name);
    if (!m || auth_scopes(req, m, "scopes", false, u.scopes, &u.nscopes) < 0 ||
        s_new_password(req, m, u.hash) != 0) {
        return 0;
    }
    u.created = auth_now();
    int rc = auth_user_save(st, &u, true);
    if (rc == 1) {
        yard_request_fail(req, YARD_E_SERVICE, "CONFLICT", "a user with that name exists");
        return 0;
    }
    return rc ? auth_fail_store(req, rc) : s_reply_user(req, &u);
}

int
auth_user_get(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    char name[AUTH_NAME_MAX + 1];
    auth_user_t u;
    if (!s_admin_user(st, req, name) || s_load_or_fail(st, req, name, &u) != 0) {
        return 0;
    }
    return s_reply_user(req, &u);
}

static int
s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
auth_user_list(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    if (auth_require_admin(st, req, NULL) != 0) {
        return 0;
    }
    char **names = NULL;
    size_t n = 0;
    int rc = yard_store_smembers(st->store, "auth:users", &names, &n);
    if (rc != 0) {
        return auth_fail_store(req, rc);
    }
    qsort(names, n, sizeof *names, s_cmp);
    auth_user_t *users = calloc(n ? n : 1, sizeof *users);
    size_t found = 0;
    for (size_t i = 0; users && i < n; i++) {
        if (auth_user_load(st, names[i], &users[found]) == 0) {
            found++; /* a name whose record is gone (deleted meanwhile) is skipped */
        }
    }
    yard_store_members_free(&names);
    if (!users) {
        abort();
    }
    auth_out_t o;
    auth_out_init(&o);
    msgpack_pack_map(&o.pk, 1);
    auth_out_str(&o, "users");
    msgpack_pack_array(&o.pk, found);
    for (size_t i = 0; i < found; i++) {
        s_out_user(&o, &users[i]);
    }
    free(users);
    return auth_out_reply(&o, req);
}

int
auth_user_delete(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    char name[AUTH_NAME_MAX + 1], key[128];
    if (!s_admin_user(st, req, name)) {
        return 0;
    }
    s_key(key, sizeof key, name);
    int rc = yard_store_del(st->store, key);
    if (rc == 0) {
        yard_request_fail(req, YARD_E_NOT_FOUND, "NOT_FOUND", "no such user");
        return 0;
    }
    if (rc < 0 || (rc = yard_store_srem(st->store, "auth:users", name)) < 0 ||
        (rc = auth_user_revoke_all(st, name)) != 0) {
        return auth_fail_store(req, rc);
    }
    yard_log(YARD_LOG_INFO, "auth: user deleted", YF_STR("user", name));
    auth_out_t o;
    auth_out_init(&o);
    msgpack_pack_map(&o.pk, 1);
    auth_out_kstr(&o, "deleted", name);
    return auth_out_reply(&o, req);
}

/* After a change of scopes or password, tokens issued before it stop working. */
static int
s_update(auth_state_t *st, yard_request_t *req, const auth_user_t *u)
{
    int rc = auth_user_save(st, u, false);
    if (rc == 0) {
        rc = auth_user_revoke_all(st, u->name);
    }
    return rc ? auth_fail_store(req, rc) : s_reply_user(req, u);
}

int
auth_user_set_scopes(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    char name[AUTH_NAME_MAX + 1];
    auth_user_t u;
    const msgpack_object_map *m = s_admin_user(st, req, name);
    char scopes[AUTH_SCOPES_MAX][AUTH_SCOPE_MAX + 1];
    size_t n = 0;
    if (!m || auth_scopes(req, m, "scopes", true, scopes, &n) < 0 ||
        s_load_or_fail(st, req, name, &u) != 0) {
        return 0;
    }
    memcpy(u.scopes, scopes, sizeof scopes);
    u.nscopes = n;
    return s_update(st, req, &u);
}

int
auth_user_set_password(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    char name[AUTH_NAME_MAX + 1], hash[AUTH_HASH_MAX];
    auth_user_t u;
    const msgpack_object_map *m = s_admin_user(st, req, name);
    if (!m || s_new_password(req, m, hash) != 0 || s_load_or_fail(st, req, name, &u) != 0) {
        return 0;
    }
    memcpy(u.hash, hash, sizeof hash);
    return s_update(st, req, &u);
}
