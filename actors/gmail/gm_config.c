/* Accounts and rules from the config file (`gmail: {accounts: [...], rules: [...]}`). Every
 * key is checked: an unknown one, a wrong type or a bad regular expression stops the actor
 * with the file and line. Secrets (client_secret, refresh_token) come inline or, better, from
 * KEY_file, and are registered with the logger so no line ever shows them. */
#include "gm_internal.h"

#include "yard/error.h"
#include "yard/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *
s_dup(const char *s)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d) {
        abort();
    }
    return d;
}

/* "path:line: " for node into buf. */
static const char *
s_where(yard_config_node_t node, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s:%d", node.cfg ? yard_config_path(node.cfg) : "?",
             yard_config_node_line(node));
    return buf;
}

#define S_FAIL(node, ...)                                                                          \
    do {                                                                                           \
        char w_[300], m_[600];                                                                     \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                      \
        yard_log(YARD_LOG_ERROR, "gmail: bad config", YF_STR("at", s_where(node, w_, sizeof w_)),  \
                 YF_STR("why", m_));                                                               \
    } while (0)

/* A scalar's text, or NULL with the failure logged. */
static const char *
s_text(yard_config_node_t v, const char *key)
{
    const char *t = yard_config_node_text(v);
    if (!t || !*t) {
        S_FAIL(v, "'%s' must be a non-empty text", key);
    }
    return t && *t ? t : NULL;
}

static bool
s_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= GM_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* KEY or KEY_file of an account (a secret). Returns 0 (*out set, NULL when neither) or
 * YARD_E_CONFIG, logged with the file and line. */
static int
s_secret(yard_config_node_t acct, const char *key, char **out)
{
    char err[600];
    int rc = yard_config_node_secret(acct, key, out, err, sizeof err);
    if (rc != 0) {
        yard_log(YARD_LOG_ERROR, "gmail: bad config", YF_STR("why", err));
    }
    return rc;
}

static int
s_account(gm_state_t *st, yard_config_node_t node)
{
    if (yard_config_node_kind(node) != YARD_CONFIG_MAP) {
        S_FAIL(node, "an account must be a map");
        return YARD_E_CONFIG;
    }
    static const char *const known[] = {"name",          "client_id",
                                        "client_secret", "client_secret_file",
                                        "refresh_token", "refresh_token_file",
                                        "query",         "labels",
                                        "max_initial",   NULL};
    for (size_t i = 0; i < yard_config_node_len(node); i++) {
        yard_config_node_t v;
        const char *k = yard_config_node_key(node, i, &v, NULL);
        size_t j = 0;
        while (known[j] && strcmp(known[j], k) != 0) {
            j++;
        }
        if (!known[j]) {
            S_FAIL(v, "unknown account key '%s'", k);
            return YARD_E_CONFIG;
        }
    }
    gm_acct_t *a = &st->accts[st->n_accts];
    const char *name = s_text(yard_config_node_get(node, "name"), "name");
    const char *cid = s_text(yard_config_node_get(node, "client_id"), "client_id");
    if (!name || !cid) {
        return YARD_E_CONFIG;
    }
    if (!s_name_ok(name)) {
        S_FAIL(node, "account name '%s' must be 1-%d letters, digits, '_' or '-'", name,
               GM_NAME_MAX - 1);
        return YARD_E_CONFIG;
    }
    for (size_t i = 0; i < st->n_accts; i++) {
        if (strcmp(st->accts[i].name, name) == 0) {
            S_FAIL(node, "account '%s' is listed twice", name);
            return YARD_E_CONFIG;
        }
    }
    snprintf(a->name, sizeof a->name, "%s", name);
    a->st = st;
    a->client_id = s_dup(cid);
    st->n_accts++; /* from here gm_config_free() frees what is set */
    if (s_secret(node, "client_secret", &a->client_secret) != 0 ||
        s_secret(node, "refresh_token", &a->refresh_token) != 0) {
        return YARD_E_CONFIG;
    }
    if (!a->client_secret || !a->refresh_token) {
        S_FAIL(node, "account '%s' needs client_secret_file and refresh_token_file", name);
        return YARD_E_CONFIG;
    }
    yard_config_node_t rf = yard_config_node_get(node, "refresh_token_file");
    a->refresh_token_file = s_dup(yard_config_node_text(rf));
    yard_config_node_t q = yard_config_node_get(node, "query");
    a->query =
        s_dup(yard_config_node_kind(q) == YARD_CONFIG_SCALAR ? yard_config_node_text(q) : "");
    yard_config_node_t ls = yard_config_node_get(node, "labels");
    if (yard_config_node_kind(ls) != YARD_CONFIG_ABSENT) {
        if (yard_config_node_kind(ls) != YARD_CONFIG_LIST ||
            yard_config_node_len(ls) > GM_MAX_LABELS) {
            S_FAIL(ls, "'labels' must be a list of at most %d label ids", GM_MAX_LABELS);
            return YARD_E_CONFIG;
        }
        for (size_t i = 0; i < yard_config_node_len(ls); i++) {
            const char *l = s_text(yard_config_node_item(ls, i), "labels");
            if (!l) {
                return YARD_E_CONFIG;
            }
            a->labels[a->n_labels++] = s_dup(l);
        }
    }
    a->max_initial = 500;
    yard_config_node_t mi = yard_config_node_get(node, "max_initial");
    if (yard_config_node_kind(mi) != YARD_CONFIG_ABSENT) {
        char err[120];
        if (yard_option_parse(YARD_OPT_INT,
                              yard_config_node_text(mi) ? yard_config_node_text(mi) : "",
                              &a->max_initial, err, sizeof err) != 0 ||
            a->max_initial < 0 || a->max_initial > GM_MAX_BATCH) {
            S_FAIL(mi, "'max_initial' must be an integer between 0 and %d", GM_MAX_BATCH);
            return YARD_E_CONFIG;
        }
    }
    return 0;
}

static int
s_regex(yard_config_node_t rule, const char *key, bool *has, regex_t *re)
{
    yard_config_node_t v = yard_config_node_get(rule, key);
    if (yard_config_node_kind(v) == YARD_CONFIG_ABSENT) {
        return 0;
    }
    const char *pat = s_text(v, key);
    if (!pat) {
        return YARD_E_CONFIG;
    }
    int flags = REG_EXTENDED | REG_NOSUB;
    if (strncmp(pat, "(?i)", 4) == 0) {
        flags |= REG_ICASE; /* POSIX has no inline flags: the Perl prefix, read here */
        pat += 4;
    }
    int rc = regcomp(re, pat, flags);
    if (rc != 0) {
        char why[160];
        regerror(rc, re, why, sizeof why);
        S_FAIL(v, "'%s' is not a POSIX extended regular expression: %s", key, why);
        return YARD_E_CONFIG;
    }
    *has = true;
    return 0;
}

/* service and op of a call/notify action: "svc", or {service, op}. */
static int
s_target(gm_action_t *act, yard_config_node_t v, const char *dflt_service, const char *dflt_op)
{
    if (yard_config_node_kind(v) == YARD_CONFIG_MAP) {
        yard_config_node_t s = yard_config_node_get(v, "service"),
                           o = yard_config_node_get(v, "op");
        const char *svc =
            yard_config_node_kind(s) == YARD_CONFIG_ABSENT ? dflt_service : s_text(s, "service");
        if (!svc) {
            S_FAIL(v, "a call action needs a 'service'");
            return YARD_E_CONFIG;
        }
        act->arg = s_dup(svc);
        act->op = s_dup(yard_config_node_kind(o) == YARD_CONFIG_ABSENT ? dflt_op
                                                                       : yard_config_node_text(o));
        return 0;
    }
    const char *t = yard_config_node_text(v);
    bool flag = !t || strcasecmp(t, "true") == 0 || strcasecmp(t, "yes") == 0;
    if (flag && !dflt_service) {
        S_FAIL(v, "a call action needs a service");
        return YARD_E_CONFIG;
    }
    act->arg = s_dup(flag ? dflt_service : t);
    act->op = s_dup(dflt_op);
    return 0;
}

static int
s_action(gm_rule_t *r, yard_config_node_t node)
{
    if (yard_config_node_kind(node) != YARD_CONFIG_MAP || yard_config_node_len(node) != 1) {
        S_FAIL(node, "an action is a map with one key (notify, publish, call, label, mark_read, "
                     "archive)");
        return YARD_E_CONFIG;
    }
    if (r->n_actions == GM_MAX_ACTIONS) {
        S_FAIL(node, "a rule has at most %d actions", GM_MAX_ACTIONS);
        return YARD_E_CONFIG;
    }
    yard_config_node_t v;
    const char *k = yard_config_node_key(node, 0, &v, NULL);
    gm_action_t *act = &r->actions[r->n_actions];
    int rc = 0;
    if (strcmp(k, "notify") == 0) {
        act->kind = GM_ACT_NOTIFY;
        rc = s_target(act, v, "telegram", "notify");
    } else if (strcmp(k, "call") == 0) {
        act->kind = GM_ACT_CALL;
        rc = s_target(act, v, NULL, NULL);
    } else if (strcmp(k, "publish") == 0 || strcmp(k, "label") == 0) {
        act->kind = k[0] == 'p' ? GM_ACT_PUBLISH : GM_ACT_LABEL;
        const char *t = s_text(v, k);
        rc = t ? 0 : YARD_E_CONFIG;
        act->arg = s_dup(t);
    } else if (strcmp(k, "mark_read") == 0 || strcmp(k, "archive") == 0) {
        act->kind = k[0] == 'm' ? GM_ACT_MARK_READ : GM_ACT_ARCHIVE;
    } else {
        S_FAIL(node, "unknown action '%s' (notify, publish, call, label, mark_read, archive)", k);
        return YARD_E_CONFIG;
    }
    if (rc == 0) {
        r->n_actions++;
    } else {
        free(act->arg);
        free(act->op);
        act->arg = act->op = NULL;
    }
    return rc;
}

static int
s_rule(gm_state_t *st, yard_config_node_t node)
{
    if (yard_config_node_kind(node) != YARD_CONFIG_MAP) {
        S_FAIL(node, "a rule must be a map");
        return YARD_E_CONFIG;
    }
    static const char *const known[] = {"name", "account",    "from",    "subject", "label",
                                        "body", "fetch_body", "actions", NULL};
    for (size_t i = 0; i < yard_config_node_len(node); i++) {
        yard_config_node_t v;
        const char *k = yard_config_node_key(node, i, &v, NULL);
        size_t j = 0;
        while (known[j] && strcmp(known[j], k) != 0) {
            j++;
        }
        if (!known[j]) {
            S_FAIL(v, "unknown rule key '%s'", k);
            return YARD_E_CONFIG;
        }
    }
    gm_rule_t *r = &st->rules[st->n_rules++];
    char dname[32];
    snprintf(dname, sizeof dname, "rule%zu", st->n_rules);
    yard_config_node_t nm = yard_config_node_get(node, "name"),
                       ac = yard_config_node_get(node, "account");
    r->name =
        s_dup(yard_config_node_kind(nm) == YARD_CONFIG_SCALAR ? yard_config_node_text(nm) : dname);
    r->account =
        yard_config_node_kind(ac) == YARD_CONFIG_SCALAR ? s_dup(yard_config_node_text(ac)) : NULL;
    if (s_regex(node, "from", &r->has_from, &r->from) ||
        s_regex(node, "subject", &r->has_subject, &r->subject) ||
        s_regex(node, "label", &r->has_label, &r->label) ||
        s_regex(node, "body", &r->has_body, &r->body)) {
        return YARD_E_CONFIG;
    }
    yard_config_node_t fb = yard_config_node_get(node, "fetch_body");
    if (yard_config_node_kind(fb) != YARD_CONFIG_ABSENT) {
        char err[100];
        const char *t = yard_config_node_text(fb);
        if (yard_option_parse(YARD_OPT_BOOL, t ? t : "", &r->fetch_body, err, sizeof err) != 0) {
            S_FAIL(fb, "'fetch_body' must be true or false");
            return YARD_E_CONFIG;
        }
    }
    st->needs_body = st->needs_body || r->has_body || r->fetch_body;
    yard_config_node_t acts = yard_config_node_get(node, "actions");
    if (yard_config_node_kind(acts) != YARD_CONFIG_LIST || yard_config_node_len(acts) == 0) {
        S_FAIL(node, "rule '%s' needs 'actions', a non-empty list", r->name);
        return YARD_E_CONFIG;
    }
    for (size_t i = 0; i < yard_config_node_len(acts); i++) {
        if (s_action(r, yard_config_node_item(acts, i)) != 0) {
            return YARD_E_CONFIG;
        }
    }
    return 0;
}

int
gm_config_load(gm_state_t *st, const yard_config_t *cfg)
{
    yard_config_node_t accts = yard_config_node(cfg, "gmail.accounts");
    yard_config_node_t rules = yard_config_node(cfg, "gmail.rules");
    yard_config_kind_t ak = yard_config_node_kind(accts), rk = yard_config_node_kind(rules);
    if ((ak != YARD_CONFIG_ABSENT && ak != YARD_CONFIG_NULL && ak != YARD_CONFIG_LIST) ||
        yard_config_node_len(accts) > GM_MAX_ACCOUNTS) {
        S_FAIL(accts, "'accounts' must be a list of at most %d accounts", GM_MAX_ACCOUNTS);
        return YARD_E_CONFIG;
    }
    if ((rk != YARD_CONFIG_ABSENT && rk != YARD_CONFIG_NULL && rk != YARD_CONFIG_LIST) ||
        yard_config_node_len(rules) > GM_MAX_RULES) {
        S_FAIL(rules, "'rules' must be a list of at most %d rules", GM_MAX_RULES);
        return YARD_E_CONFIG;
    }
    for (size_t i = 0; i < yard_config_node_len(accts); i++) {
        if (s_account(st, yard_config_node_item(accts, i)) != 0) {
            return YARD_E_CONFIG;
        }
    }
    for (size_t i = 0; i < yard_config_node_len(rules); i++) {
        if (s_rule(st, yard_config_node_item(rules, i)) != 0) {
            return YARD_E_CONFIG;
        }
    }
    return 0;
}

static void
s_wipe(char **s)
{
    if (*s) {
        memset(*s, 0, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void
gm_config_free(gm_state_t *st)
{
    for (size_t i = 0; i < st->n_accts; i++) {
        gm_acct_t *a = &st->accts[i];
        free(a->client_id);
        s_wipe(&a->client_secret);
        s_wipe(&a->refresh_token);
        free(a->refresh_token_file);
        free(a->query);
        for (size_t j = 0; j < a->n_labels; j++) {
            free(a->labels[j]);
        }
    }
    for (size_t i = 0; i < st->n_rules; i++) {
        gm_rule_t *r = &st->rules[i];
        free(r->name);
        free(r->account);
        if (r->has_from) {
            regfree(&r->from);
        }
        if (r->has_subject) {
            regfree(&r->subject);
        }
        if (r->has_label) {
            regfree(&r->label);
        }
        if (r->has_body) {
            regfree(&r->body);
        }
        for (size_t j = 0; j < r->n_actions; j++) {
            free(r->actions[j].arg);
            free(r->actions[j].op);
        }
    }
    st->n_accts = st->n_rules = 0;
}
