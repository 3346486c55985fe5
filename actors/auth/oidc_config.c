/* The OpenID providers from the config file (auth.oidc_providers, a list of maps). Every key is
 * checked: an unknown one, a wrong type, a URL that is not https (http only to this host, for
 * tests and a provider on the same machine) or a scope that is not a scope stops the actor
 * with the file and line. The client secret comes from client_secret_file (or inline
 * client_secret), read by yard_config_node_secret(), which also keeps it out of every log. */
#include "oidc.h"

#include "yard/error.h"
#include "yard/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
s_dup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) {
        abort();
    }
    return d;
}

#define S_FAIL(node, ...)                                                                          \
    do {                                                                                           \
        char w_[300], m_[400];                                                                     \
        snprintf(w_, sizeof w_, "%s:%d", (node).cfg ? yard_config_path((node).cfg) : "?",          \
                 yard_config_node_line(node));                                                     \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                      \
        yard_log(YARD_LOG_ERROR, "auth: bad oidc_providers entry", YF_STR("at", w_),               \
                 YF_STR("why", m_));                                                               \
    } while (0)

static const char *const s_known[] = {
    "name",
    "issuer",
    "client_id",
    "client_secret",
    "client_secret_file",
    "jwks_refetch_min",
    "invite_required",
    "starts_per_min",
    "redirect_uri",
    "scopes",
    "create_users",
    "username_claim",
    "groups_claim",
    "group_scopes",
    "user_scopes",
    "sync_scopes",
    NULL,
};

/* A non-empty scalar, or NULL with the failure logged (node is the entry, for the line). */
static const char *
s_text(yard_config_node_t entry, const char *key, bool required)
{
    yard_config_node_t v = yard_config_node_get(entry, key);
    const char *t = yard_config_node_text(v);
    if (yard_config_node_kind(v) == YARD_CONFIG_ABSENT && !required) {
        return "";
    }
    if (!t || !*t || strlen(t) > OIDC_URL_MAX) {
        yard_config_node_t at = yard_config_node_kind(v) ? v : entry;
        S_FAIL(at, "'%s' must be a text of 1..%d characters", key, OIDC_URL_MAX);
        return NULL;
    }
    return t;
}

/* https://..., or http:// to this host only. */
static bool
s_url_ok(const char *u)
{
    return strncmp(u, "https://", 8) == 0 || strncmp(u, "http://127.0.0.1", 16) == 0 ||
           strncmp(u, "http://localhost", 16) == 0 || strncmp(u, "http://[::1]", 12) == 0;
}

static int
s_bool(yard_config_node_t entry, const char *key, bool *out)
{
    yard_config_node_t v = yard_config_node_get(entry, key);
    *out = false;
    if (yard_config_node_kind(v) == YARD_CONFIG_ABSENT) {
        return 0;
    }
    char err[120];
    if (yard_option_parse(YARD_OPT_BOOL, yard_config_node_text(v) ? yard_config_node_text(v) : "",
                          out, err, sizeof err) != 0) {
        S_FAIL(v, "'%s' must be true or false", key);
        return YARD_E_CONFIG;
    }
    return 0;
}

/* A list of scopes (each as auth's scopes: 1..64 printable, no space or ','). */
static int
s_scopes(yard_config_node_t v, const char *key, char out[][AUTH_SCOPE_MAX + 1], size_t *n)
{
    *n = 0;
    if (yard_config_node_kind(v) == YARD_CONFIG_ABSENT) {
        return 0;
    }
    if (yard_config_node_kind(v) != YARD_CONFIG_LIST || yard_config_node_len(v) > AUTH_SCOPES_MAX) {
        S_FAIL(v, "'%s' must be a list of at most %d scopes", key, AUTH_SCOPES_MAX);
        return YARD_E_CONFIG;
    }
    for (size_t i = 0; i < yard_config_node_len(v); i++) {
        const char *s = yard_config_node_text(yard_config_node_item(v, i));
        size_t len = s ? strlen(s) : 0;
        if (len == 0 || len > AUTH_SCOPE_MAX || strcspn(s, " ,\t") != len) {
            S_FAIL(yard_config_node_item(v, i),
                   "'%s' entries must be 1..64 characters without spaces or ','", key);
            return YARD_E_CONFIG;
        }
        snprintf(out[(*n)++], AUTH_SCOPE_MAX + 1, "%s", s);
    }
    return 0;
}

/* group_scopes: {group: [scope, ...], ...} */
static int
s_maps(oidc_provider_t *p, yard_config_node_t v)
{
    if (yard_config_node_kind(v) == YARD_CONFIG_ABSENT) {
        return 0;
    }
    if (yard_config_node_kind(v) != YARD_CONFIG_MAP || yard_config_node_len(v) > OIDC_MAX_MAPS) {
        S_FAIL(v, "'group_scopes' must be a map of at most %d groups to lists of scopes",
               OIDC_MAX_MAPS);
        return YARD_E_CONFIG;
    }
    for (size_t i = 0; i < yard_config_node_len(v); i++) {
        yard_config_node_t list;
        const char *group = yard_config_node_key(v, i, &list, NULL);
        oidc_map_t *m = &p->maps[p->nmaps++];
        m->group = s_dup(group);
        if (s_scopes(list, "group_scopes", m->scopes, &m->n) != 0) {
            return YARD_E_CONFIG;
        }
    }
    return 0;
}

static bool
s_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= OIDC_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static int
s_keys_known(yard_config_node_t entry)
{
    for (size_t i = 0; i < yard_config_node_len(entry); i++) {
        yard_config_node_t v;
        const char *k = yard_config_node_key(entry, i, &v, NULL);
        size_t j = 0;
        while (s_known[j] && strcmp(s_known[j], k) != 0) {
            j++;
        }
        if (!s_known[j]) {
            S_FAIL(v,
                   "unknown key '%s' (known: name, issuer, client_id, client_secret_file, "
                   "redirect_uri, scopes, create_users, username_claim, groups_claim, "
                   "group_scopes, user_scopes, sync_scopes, jwks_refetch_min, "
                   "invite_required, starts_per_min)",
                   k);
            return YARD_E_CONFIG;
        }
    }
    return 0;
}

/* scopes: the list, space-joined, openid first (added when missing). */
static int
s_request_scopes(oidc_provider_t *p, yard_config_node_t entry)
{
    char list[AUTH_SCOPES_MAX][AUTH_SCOPE_MAX + 1];
    size_t n = 0;
    if (s_scopes(yard_config_node_get(entry, "scopes"), "scopes", list, &n) != 0) {
        return YARD_E_CONFIG;
    }
    char buf[AUTH_SCOPES_MAX * (AUTH_SCOPE_MAX + 1) + 16] = "openid";
    if (n == 0) {
        strcat(buf, " email profile");
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i], "openid") != 0) {
            strcat(buf, " ");
            strcat(buf, list[i]);
        }
    }
    p->scope = s_dup(buf);
    return 0;
}

/* starts_per_min: 1..100000 (default 30). */
static int
s_starts(oidc_provider_t *p, yard_config_node_t entry)
{
    yard_config_node_t v = yard_config_node_get(entry, "starts_per_min");
    p->starts_per_min = 30;
    if (yard_config_node_kind(v) == YARD_CONFIG_ABSENT) {
        return 0;
    }
    char err[120];
    const char *t = yard_config_node_text(v);
    if (yard_option_parse(YARD_OPT_INT, t ? t : "", &p->starts_per_min, err, sizeof err) != 0 ||
        p->starts_per_min < 1 || p->starts_per_min > 100000) {
        S_FAIL(v, "'starts_per_min' must be an integer from 1 to 100000");
        return YARD_E_CONFIG;
    }
    return 0;
}

/* jwks_refetch_min: a duration, 1s..1h (default 1m). */
static int
s_refetch_min(oidc_provider_t *p, yard_config_node_t entry)
{
    yard_config_node_t v = yard_config_node_get(entry, "jwks_refetch_min");
    p->jwks_min_ms = OIDC_JWKS_MISS_MS;
    if (yard_config_node_kind(v) == YARD_CONFIG_ABSENT) {
        return 0;
    }
    char err[120];
    const char *t = yard_config_node_text(v);
    if (yard_option_parse(YARD_OPT_MS, t ? t : "", &p->jwks_min_ms, err, sizeof err) != 0 ||
        p->jwks_min_ms < 1000 || p->jwks_min_ms > 3600 * 1000) {
        S_FAIL(v, "'jwks_refetch_min' must be a duration from 1s to 1h");
        return YARD_E_CONFIG;
    }
    return 0;
}

static int
s_claims(oidc_provider_t *p, yard_config_node_t entry)
{
    const char *uc = s_text(entry, "username_claim", false);
    if (!uc) {
        return YARD_E_CONFIG;
    }
    if (*uc && strcmp(uc, "sub") != 0 && strcmp(uc, "email") != 0) {
        S_FAIL(yard_config_node_get(entry, "username_claim"),
               "'username_claim' must be sub (users named <provider>:<sub>) or email");
        return YARD_E_CONFIG;
    }
    p->email_as_name = strcmp(uc, "email") == 0;
    const char *gc = s_text(entry, "groups_claim", false);
    if (!gc) {
        return YARD_E_CONFIG;
    }
    p->groups_claim = s_dup(*gc ? gc : "groups");
    int rc;
    if ((rc = s_bool(entry, "create_users", &p->create_users)) ||
        (rc = s_bool(entry, "sync_scopes", &p->sync_scopes)) ||
        (rc = s_bool(entry, "invite_required", &p->invite_required)) ||
        (rc = s_maps(p, yard_config_node_get(entry, "group_scopes"))) ||
        (rc = s_scopes(yard_config_node_get(entry, "user_scopes"), "user_scopes", p->scopes,
                       &p->nscopes))) {
        return rc;
    }
    if (p->invite_required && !p->create_users) {
        S_FAIL(yard_config_node_get(entry, "invite_required"),
               "'invite_required' needs 'create_users: true' (it says who may be created)");
        return YARD_E_CONFIG;
    }
    return 0;
}

static int
s_provider(oidc_t *o, yard_config_node_t entry)
{
    if (yard_config_node_kind(entry) != YARD_CONFIG_MAP) {
        S_FAIL(entry, "each provider must be a map (name, issuer, client_id, ...)");
        return YARD_E_CONFIG;
    }
    if (s_keys_known(entry) != 0) {
        return YARD_E_CONFIG;
    }
    const char *name = s_text(entry, "name", true), *iss = s_text(entry, "issuer", true);
    const char *cid = s_text(entry, "client_id", true);
    const char *ruri = s_text(entry, "redirect_uri", true);
    if (!name || !iss || !cid || !ruri) {
        return YARD_E_CONFIG;
    }
    if (!s_name_ok(name) || oidc_find(o, name)) {
        S_FAIL(entry, "provider name '%.40s' must be 1..%d letters, digits, '_' or '-', and unique",
               name, OIDC_NAME_MAX);
        return YARD_E_CONFIG;
    }
    if (!s_url_ok(iss) || !s_url_ok(ruri)) {
        S_FAIL(entry, "'issuer' and 'redirect_uri' must be https:// URLs (http:// only to "
                      "127.0.0.1 or localhost)");
        return YARD_E_CONFIG;
    }
    oidc_provider_t *p = &o->p[o->n++]; /* from here oidc_destroy() frees what is set */
    snprintf(p->name, sizeof p->name, "%s", name);
    p->issuer = s_dup(iss);
    p->client_id = s_dup(cid);
    p->redirect_uri = s_dup(ruri);
    char err[600];
    if (yard_config_node_secret(entry, "client_secret", &p->client_secret, err, sizeof err) != 0) {
        yard_log(YARD_LOG_ERROR, "auth: bad oidc_providers entry", YF_STR("why", err));
        return YARD_E_CONFIG;
    }
    if (!p->client_secret) {
        S_FAIL(entry, "provider '%s' needs client_secret_file (or client_secret)", name);
        return YARD_E_CONFIG;
    }
    int rc;
    if ((rc = s_request_scopes(p, entry)) || (rc = s_claims(p, entry)) ||
        (rc = s_refetch_min(p, entry)) || (rc = s_starts(p, entry))) {
        return rc;
    }
    return 0;
}

int
oidc_config_load(const yard_config_t *cfg, oidc_t **out)
{
    *out = NULL;
    oidc_t *o = calloc(1, sizeof *o);
    if (!o) {
        abort();
    }
    yard_config_node_t list = yard_config_node(cfg, "auth.oidc_providers");
    yard_config_kind_t k = yard_config_node_kind(list);
    if ((k != YARD_CONFIG_ABSENT && k != YARD_CONFIG_NULL && k != YARD_CONFIG_LIST) ||
        yard_config_node_len(list) > OIDC_MAX_PROVIDERS) {
        S_FAIL(list, "'oidc_providers' must be a list of at most %d providers", OIDC_MAX_PROVIDERS);
        oidc_destroy(&o);
        return YARD_E_CONFIG;
    }
    for (size_t i = 0; i < yard_config_node_len(list); i++) {
        if (s_provider(o, yard_config_node_item(list, i)) != 0) {
            oidc_destroy(&o);
            return YARD_E_CONFIG;
        }
    }
    *out = o;
    return 0;
}

static void
s_free_secret(char **s)
{
    if (*s) {
        memset(*s, 0, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void
oidc_destroy(oidc_t **o_p)
{
    oidc_t *o = o_p ? *o_p : NULL;
    if (!o) {
        return;
    }
    for (size_t i = 0; i < o->n; i++) {
        oidc_provider_t *p = &o->p[i];
        free(p->issuer);
        free(p->client_id);
        s_free_secret(&p->client_secret);
        free(p->redirect_uri);
        free(p->scope);
        free(p->groups_claim);
        for (size_t j = 0; j < p->nmaps; j++) {
            free(p->maps[j].group);
        }
        free(p->authorization_endpoint);
        free(p->token_endpoint);
        free(p->jwks_uri);
        oidc_jwks_destroy(&p->jwks);
    }
    free(o);
    *o_p = NULL;
}

oidc_provider_t *
oidc_find(oidc_t *o, const char *name)
{
    for (size_t i = 0; o && name && i < o->n; i++) {
        if (strcmp(o->p[i].name, name) == 0) {
            return &o->p[i];
        }
    }
    return NULL;
}
