/* The telegram section's structured settings (tg_internal.h): the command registry, the admin
 * chats and the languages. Every fault names the file and line. Strings stay borrowed from
 * the config, which outlives the actor (yard_actor_env_t.config). */
#include "tg_internal.h"

#include "yard/error.h"
#include "yard/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_builtins[] = {"start", "help", "lang", "cancel", "whoami", NULL};

static int
s_fail(yard_config_node_t node, const char *fmt, const char *what)
{
    char msg[300];
    snprintf(msg, sizeof msg, fmt, what ? what : "");
    yard_log(YARD_LOG_ERROR, "bad telegram setting", YF_STR("file", yard_config_path(node.cfg)),
             YF_INT("line", yard_config_node_line(node)), YF_STR("error", msg));
    return YARD_E_CONFIG;
}

static int
s_lang_index(const tg_state_t *st, const char *lang)
{
    for (size_t i = 0; i < st->n_langs; i++) {
        if (strcmp(st->langs[i], lang) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* A text per language: a plain string (English) or a map {lang: text}. */
static int
s_texts(tg_state_t *st, yard_config_node_t node, const char *key, const char **out)
{
    if (yard_config_node_kind(node) == YARD_CONFIG_SCALAR) {
        out[0] = yard_config_node_text(node);
        return 0;
    }
    if (yard_config_node_kind(node) != YARD_CONFIG_MAP) {
        return s_fail(node, "'%s' must be a text or a map of language: text", key);
    }
    for (size_t i = 0; i < yard_config_node_len(node); i++) {
        yard_config_node_t v;
        const char *lang = yard_config_node_key(node, i, &v, NULL);
        int k = s_lang_index(st, lang);
        if (k < 0) {
            return s_fail(v, "'%s' names a language that is not in 'languages'", key);
        }
        if (yard_config_node_kind(v) != YARD_CONFIG_SCALAR || !*yard_config_node_text(v)) {
            return s_fail(v, "'%s' texts must be non-empty strings", key);
        }
        out[k] = yard_config_node_text(v);
    }
    return 0;
}

static bool
s_name_ok(const char *name)
{
    size_t n = strlen(name);
    return n >= 1 && n <= TG_NAME_MAX && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static int
s_command(tg_state_t *st, yard_config_node_t item)
{
    if (yard_config_node_kind(item) != YARD_CONFIG_MAP) {
        return s_fail(item, "each command must be a map {name, service, op, scope, help}%s", "");
    }
    if (st->n_cmds == TG_CMD_MAX) {
        return s_fail(item, "more than 64 commands%s", "");
    }
    tg_cmd_t *c = &st->cmds[st->n_cmds];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < yard_config_node_len(item); i++) {
        yard_config_node_t v;
        const char *k = yard_config_node_key(item, i, &v, NULL);
        const char *text = yard_config_node_text(v);
        bool scalar = yard_config_node_kind(v) == YARD_CONFIG_SCALAR && text && *text;
        int rc = 0;
        if (strcmp(k, "name") == 0 && scalar) {
            if (!s_name_ok(text)) {
                return s_fail(v, "command name '%s' must be 1..32 of a-z, 0-9 and _", text);
            }
            snprintf(c->name, sizeof c->name, "%s", text);
        } else if (strcmp(k, "service") == 0 && scalar) {
            c->service = (char *)text;
        } else if (strcmp(k, "op") == 0 && scalar) {
            c->op = (char *)text;
        } else if (strcmp(k, "scope") == 0 && scalar) {
            c->scope = (char *)text;
        } else if (strcmp(k, "help") == 0) {
            rc = s_texts(st, v, "help", c->help_lang);
        } else if (strcmp(k, "ask") == 0) {
            rc = s_texts(st, v, "ask", c->ask_lang);
        } else if (!scalar && (strcmp(k, "name") == 0 || strcmp(k, "service") == 0 ||
                               strcmp(k, "op") == 0 || strcmp(k, "scope") == 0)) {
            return s_fail(v, "command key '%s' must be a non-empty string", k);
        } else {
            return s_fail(v, "unknown command key '%s' (name, service, op, scope, help, ask)", k);
        }
        if (rc) {
            return rc;
        }
    }
    if (!c->name[0] || !c->service) {
        return s_fail(item, "a command needs 'name' and 'service'%s", "");
    }
    for (size_t i = 0; s_builtins[i]; i++) {
        if (strcmp(s_builtins[i], c->name) == 0) {
            return s_fail(item, "'/%s' is a built-in command", c->name);
        }
    }
    if (tg_config_cmd(st, c->name)) {
        return s_fail(item, "command '%s' is listed twice", c->name);
    }
    st->n_cmds++;
    return 0;
}

static int
s_languages(tg_state_t *st, yard_config_node_t node)
{
    if (yard_config_node_kind(node) == YARD_CONFIG_ABSENT) {
        for (size_t i = 0; tg_languages[i] && st->n_langs < TG_LANG_MAX; i++) {
            snprintf(st->langs[st->n_langs++], sizeof st->langs[0], "%s", tg_languages[i]);
        }
        return 0;
    }
    if (yard_config_node_kind(node) != YARD_CONFIG_LIST) {
        return s_fail(node, "'languages' must be a list such as [en, de]%s", "");
    }
    snprintf(st->langs[st->n_langs++], sizeof st->langs[0], "en"); /* the fallback, always */
    for (size_t i = 0; i < yard_config_node_len(node); i++) {
        yard_config_node_t v = yard_config_node_item(node, i);
        const char *lang = yard_config_node_text(v);
        if (!lang || !tg_lang_known(lang)) {
            return s_fail(v, "language '%s' has no catalogue (shipped: en, de)", lang);
        }
        if (s_lang_index(st, lang) < 0) {
            if (st->n_langs == TG_LANG_MAX) {
                return s_fail(v, "too many languages%s", "");
            }
            snprintf(st->langs[st->n_langs++], sizeof st->langs[0], "%s", lang);
        }
    }
    return 0;
}

static int
s_admins(tg_state_t *st, yard_config_node_t node)
{
    if (yard_config_node_kind(node) == YARD_CONFIG_ABSENT) {
        return 0;
    }
    if (yard_config_node_kind(node) != YARD_CONFIG_LIST) {
        return s_fail(node, "'admin_chats' must be a list of chat ids%s", "");
    }
    for (size_t i = 0; i < yard_config_node_len(node); i++) {
        yard_config_node_t v = yard_config_node_item(node, i);
        const char *t = yard_config_node_text(v);
        char *end = NULL;
        errno = 0;
        long long id = t ? strtoll(t, &end, 10) : 0;
        if (!t || !*t || *end || errno || id == 0) {
            return s_fail(v, "admin chat '%s' must be a non-zero integer chat id", t);
        }
        if (st->n_admins == TG_ADMIN_MAX) {
            return s_fail(v, "more than 16 admin chats%s", "");
        }
        st->admins[st->n_admins++] = id;
    }
    return 0;
}

/* The secret_token_file's first line (a trailing newline dropped), into out. */
static int
s_read_secret(yard_config_node_t v, char *out, size_t cap)
{
    const char *path = yard_config_node_text(v);
    FILE *fp = path ? fopen(path, "r") : NULL;
    if (!fp) {
        return s_fail(v, "cannot read webhook secret_token_file '%s'", path);
    }
    size_t n = fread(out, 1, cap - 1, fp);
    bool more = fgetc(fp) != EOF;
    fclose(fp);
    out[n] = '\0';
    if (n && out[n - 1] == '\n') {
        out[--n] = '\0';
    }
    if (more || n == 0) {
        return s_fail(v, "webhook secret_token_file '%s' must hold 1..256 characters", path);
    }
    return 0;
}

/* webhook: {url, secret_token | secret_token_file}, as an alternative to the flat options. */
static int
s_webhook(tg_state_t *st, yard_config_node_t node)
{
    const tg_opts_t *o = st->o;
    snprintf(st->hook_url, sizeof st->hook_url, "%s", o->webhook_url ? o->webhook_url : "");
    snprintf(st->hook_secret, sizeof st->hook_secret, "%s",
             o->webhook_secret ? o->webhook_secret : "");
    if (yard_config_node_kind(node) == YARD_CONFIG_ABSENT) {
        return 0;
    }
    if (yard_config_node_kind(node) != YARD_CONFIG_MAP) {
        return s_fail(node, "'webhook' must be a map {url, secret_token_file}%s", "");
    }
    for (size_t i = 0; i < yard_config_node_len(node); i++) {
        yard_config_node_t v;
        const char *k = yard_config_node_key(node, i, &v, NULL);
        const char *text = yard_config_node_text(v);
        int rc = 0;
        if (!text || !*text) {
            return s_fail(v, "webhook '%s' must be a non-empty string", k);
        }
        if (strcmp(k, "url") == 0) {
            snprintf(st->hook_url, sizeof st->hook_url, "%s", text);
        } else if (strcmp(k, "secret_token_file") == 0) {
            rc = s_read_secret(v, st->hook_secret, sizeof st->hook_secret);
        } else if (strcmp(k, "secret_token") == 0) {
            snprintf(st->hook_secret, sizeof st->hook_secret, "%s", text);
        } else {
            return s_fail(v, "unknown webhook key '%s' (url, secret_token_file)", k);
        }
        if (rc) {
            return rc;
        }
    }
    if (st->hook_secret[0]) {
        yard_log_add_secret(st->hook_secret);
    }
    return 0;
}

int
tg_config_load(tg_state_t *st, const yard_config_t *cfg)
{
    int rc = s_webhook(st, yard_config_node(cfg, "telegram.webhook"));
    if (rc == 0) {
        rc = s_languages(st, yard_config_node(cfg, "telegram.languages"));
    }
    if (rc == 0) {
        rc = s_admins(st, yard_config_node(cfg, "telegram.admin_chats"));
    }
    yard_config_node_t cmds = yard_config_node(cfg, "telegram.commands");
    if (rc == 0 && yard_config_node_kind(cmds) != YARD_CONFIG_ABSENT) {
        if (yard_config_node_kind(cmds) != YARD_CONFIG_LIST) {
            return s_fail(cmds, "'commands' must be a list%s", "");
        }
        for (size_t i = 0; i < yard_config_node_len(cmds) && rc == 0; i++) {
            rc = s_command(st, yard_config_node_item(cmds, i));
        }
    }
    return rc;
}

void
tg_config_free(tg_state_t *st)
{
    st->n_cmds = 0; /* every string is borrowed from the config */
}

const tg_cmd_t *
tg_config_cmd(const tg_state_t *st, const char *name)
{
    for (size_t i = 0; i < st->n_cmds; i++) {
        if (strcmp(st->cmds[i].name, name) == 0) {
            return &st->cmds[i];
        }
    }
    return NULL;
}

const char *
tg_config_text(const tg_state_t *st, const char *const *by_lang, const char *lang)
{
    int k = s_lang_index(st, lang);
    if (k >= 0 && by_lang[k]) {
        return by_lang[k];
    }
    if (by_lang[0]) {
        return by_lang[0]; /* "en" is always index 0 */
    }
    for (size_t i = 0; i < st->n_langs; i++) {
        if (by_lang[i]) {
            return by_lang[i];
        }
    }
    return NULL;
}
