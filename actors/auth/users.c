/* auth: user records and the user.* operations (all of them need the admin scope). A user
 * record is created with SET NX, so two replicas creating one name cannot both win; updates
 * (scopes, password) are read-modify-write, and the last writer wins. */
#include "auth_internal.h"
#include "mfa.h"

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

/* Reads a stored user record (map) into u. Returns 0, or -1 when a field is missing or bad. */
static int
s_decode(const msgpack_object *o, msgpack_zone *zone, auth_user_t *u)
{
    int64_t created = 0, tg = 0;
    if (yard_mp_get_strbuf(o, "name", u->name, sizeof u->name, NULL, 0) ||
        yard_mp_get_strbuf(o, "hash", u->hash, sizeof u->hash, NULL, 0) ||
        auth_scopes_read(o, "scopes", zone, u->scopes, &u->nscopes, NULL, 0)) {
        return -1;
    }
    yard_mp_get_int(o, "created", &created, NULL, 0); /* older records may lack these */
    yard_mp_get_int(o, "telegram_id", &tg, NULL, 0);
    u->created = created;
    u->telegram_id = tg;
    return 0;
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
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 1024)) {
        abort();
    }
    msgpack_object o;
    memset(u, 0, sizeof *u);
    bool ok = yard_mp_decode(val, len, &zone, &o, NULL, 0) == 0 && s_decode(&o, &zone, u) == 0;
    msgpack_zone_destroy(&zone);
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
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "name", u->name);
    yard_mpw_kstr(w, "hash", u->hash);
    auth_put_scopes(w, "scopes", (char(*)[AUTH_SCOPE_MAX + 1]) u->scopes, u->nscopes);
    yard_mpw_kint(w, "created", u->created);
    yard_mpw_kint(w, "telegram_id", u->telegram_id);
    yard_mpw_end(w);
    char key[128];
    s_key(key, sizeof key, u->name);
    const void *rec = NULL;
    size_t size = 0;
    int rc = yard_mpw_finish(w, &rec, &size);
    if (rc == 0) {
        rc = create ? yard_store_set_nx(st->store, key, rec, size, 0)
                    : yard_store_set(st->store, key, rec, size, 0);
    }
    yard_mpw_destroy(&w);
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
s_out_user(yard_mpw_t *w, const auth_user_t *u)
{
    yard_mpw_map(w);
    yard_mpw_kstr(w, "username", u->name);
    auth_put_scopes(w, "scopes", (char(*)[AUTH_SCOPE_MAX + 1]) u->scopes, u->nscopes);
    yard_mpw_kint(w, "created", u->created);
    yard_mpw_kbool(w, "has_password", u->hash[0] != '\0');
    if (u->telegram_id) {
        yard_mpw_kint(w, "telegram_id", u->telegram_id);
    }
    yard_mpw_end(w);
}

static int
s_reply_user(yard_request_t *req, const auth_user_t *u)
{
    yard_mpw_t *w = yard_mpw_new();
    s_out_user(w, u);
    return yard_request_reply_mpw(req, &w);
}

/* The admin check, then "username" read and checked. Returns 0, or fails req and returns the
 * error. */
static int
s_admin_user(auth_state_t *st, yard_request_t *req, char name[AUTH_NAME_MAX + 1])
{
    int rc = auth_require_admin(st, req, NULL);
    return rc ? rc : auth_req_name(req, name);
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

int
auth_user_create(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    auth_user_t u = {0};
    int rc;
    if ((rc = s_admin_user(st, req, u.name)) ||
        (rc = auth_req_scopes(req, "scopes", false, u.scopes, &u.nscopes)) ||
        (rc = auth_req_new_password(req, u.hash))) {
        return rc;
    }
    u.created = auth_now();
    rc = auth_user_save(st, &u, true);
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
    int rc;
    if ((rc = s_admin_user(st, req, name)) || (rc = s_load_or_fail(st, req, name, &u))) {
        return rc;
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
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_key(w, "users");
    yard_mpw_array(w);
    for (size_t i = 0; i < found; i++) {
        s_out_user(w, &users[i]);
    }
    yard_mpw_end(w);
    yard_mpw_end(w);
    free(users);
    return yard_request_reply_mpw(req, &w);
}

int
auth_user_delete(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    char name[AUTH_NAME_MAX + 1], key[128];
    int rc = s_admin_user(st, req, name);
    if (rc) {
        return rc;
    }
    s_key(key, sizeof key, name);
    rc = yard_store_del(st->store, key);
    if (rc == 0) {
        yard_request_fail(req, YARD_E_NOT_FOUND, "NOT_FOUND", "no such user");
        return 0;
    }
    if (rc < 0 || (rc = yard_store_srem(st->store, "auth:users", name)) < 0 ||
        (rc = auth_user_revoke_all(st, name)) != 0 || (rc = auth_mfa_forget(st, name)) != 0) {
        return auth_fail_store(req, rc);
    }
    yard_log(YARD_LOG_INFO, "auth: user deleted", YF_STR("user", name));
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "deleted", name);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
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
    char scopes[AUTH_SCOPES_MAX][AUTH_SCOPE_MAX + 1];
    size_t n = 0;
    int rc;
    if ((rc = s_admin_user(st, req, name)) ||
        (rc = auth_req_scopes(req, "scopes", true, scopes, &n)) ||
        (rc = s_load_or_fail(st, req, name, &u))) {
        return rc;
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
    int rc;
    if ((rc = s_admin_user(st, req, name)) || (rc = auth_req_new_password(req, hash)) ||
        (rc = s_load_or_fail(st, req, name, &u))) {
        return rc;
    }
    memcpy(u.hash, hash, sizeof hash);
    return s_update(st, req, &u);
}

/* For the telegram actor: is Telegram user telegram_id linked to an account (tg:<id>, made by
 * invite.redeem {code, telegram_id}), and does it hold scope (exact match, as verify)? Not an
 * admin operation: the bot asks it for every command, and the answer tells only what the
 * user's own scopes are. NOT_LINKED (HTTP 404) when no account is linked. */
int
auth_telegram_check(yard_request_t *req, void *state)
{
    auth_state_t *st = state;
    int64_t tg = 0;
    const char *scope = NULL;
    int rc;
    if ((rc = yard_req_int_range(req, "telegram_id", 1, INT64_MAX, &tg)) ||
        (rc = yard_req_str_max_or(req, "scope", AUTH_SCOPE_MAX, NULL, &scope))) {
        return rc;
    }
    char name[AUTH_NAME_MAX + 1];
    snprintf(name, sizeof name, "tg:%lld", (long long)tg);
    auth_user_t u;
    rc = auth_user_load(st, name, &u);
    if (rc == YARD_E_NOT_FOUND || (rc == 0 && u.telegram_id != tg)) {
        return auth_fail(req, 404, "NOT_LINKED", "this Telegram user is not linked to an account");
    }
    if (rc != 0) {
        return auth_fail_store(req, rc);
    }
    bool allowed = scope == NULL;
    for (size_t i = 0; i < u.nscopes && !allowed; i++) {
        allowed = strcmp(u.scopes[i], scope) == 0;
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "username", u.name);
    auth_put_scopes(w, "scopes", u.scopes, u.nscopes);
    yard_mpw_kbool(w, "allowed", allowed);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}
