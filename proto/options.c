/* Options: fills a program's or actor's settings struct from one declarative table, taking
 * each value from, in increasing priority, the table's default, the YAML config file, the
 * environment and the command line. Every value passes the same parser and range check
 * whatever its source, and every error names where the value came from: "path:line: ..." for
 * the file, the variable's name for the environment, the flag for the command line.
 *
 * The file is kept as a libyaml document (so every key keeps its line) for the life of the
 * yard_config_t; lookups walk it. Names are derived, never configured: key `heartbeat_ms` at
 * the top level is YARD_HEARTBEAT_MS and --heartbeat-ms; key `credit` in section `echo` is
 * YARD_ECHO_CREDIT and --credit. */
#include "options_internal.h"
#include "yard/error.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *
yard__opt_strdup(const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL) {
        abort();
    }
    return copy;
}

void
yard__opt_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf == NULL || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------------------------------- */
/* Names */

/* YARD_<KEY> or YARD_<SECTION>_<KEY>: upper case, anything not alphanumeric becomes '_'. */
static void
s_env_name(const char *section, const char *key, char *buf, size_t len)
{
    if (section != NULL) {
        snprintf(buf, len, "YARD_%s_%s", section, key);
    } else {
        snprintf(buf, len, "YARD_%s", key);
    }
    for (char *c = buf; *c != '\0'; c++) {
        *c = isalnum((unsigned char)*c) ? (char)toupper((unsigned char)*c) : '_';
    }
}

/* --<key> with '_' written as '-'. */
static void
s_flag_name(const char *key, char *buf, size_t len)
{
    snprintf(buf, len, "--%s", key);
    for (char *c = buf + 2; *c != '\0'; c++) {
        if (*c == '_') {
            *c = '-';
        }
    }
}

/* The option a flag names ("heartbeat-ms" or "heartbeat_ms"), or NULL. */
static const yard_option_t *
s_find_flag(const yard_option_t *table, const char *name, size_t len)
{
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        if (o->type == YARD_OPT_NODE || strlen(o->key) != len) {
            continue;
        }
        size_t i = 0;
        for (; i < len; i++) {
            char a = o->key[i], b = name[i];
            if (a != b && !(a == '_' && b == '-')) {
                break;
            }
        }
        if (i == len) {
            return o;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Applying */

int
yard_options_apply(const yard_option_t *table, void *target, const yard_config_t *cfg,
                   const char *section, int argc, char **argv, char *errbuf, size_t errlen)
{
    char why[256];
    char name[160];

    /* 1. Defaults. */
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        if (o->type != YARD_OPT_NODE && o->default_value != NULL &&
            !yard__opt_store(o, target, o->default_value, why, sizeof why)) {
            yard__opt_err(errbuf, errlen, "default for '%s': %s", o->key, why);
            return YARD_E_CONFIG;
        }
    }

    /* 2. The file. */
    if (cfg != NULL) {
        int rc = yard_config_check_section(cfg, table, section, errbuf, errlen);
        if (rc != 0) {
            return rc;
        }
        yaml_node_t *map = yard__config_section(cfg, section);
        if (section != NULL && map == NULL) {
            yaml_node_t *key = NULL;
            yaml_node_t *sec = yard__config_lookup(cfg, yard__config_root(cfg), section, &key);
            if (sec != NULL && !yard__config_is_null(sec)) {
                yard__opt_err(errbuf, errlen, "%s:%d: section '%s' must be a map of key: value",
                              cfg->path, yard__config_line(key), section);
                return YARD_E_CONFIG;
            }
        }
        for (const yard_option_t *o = table; map != NULL && o != NULL && o->key != NULL; o++) {
            if (o->type == YARD_OPT_NODE) {
                continue; /* the module reads it through yard_config_node() */
            }
            yaml_node_t *key = NULL;
            yaml_node_t *value = yard__config_lookup(cfg, map, o->key, &key);
            if (value == NULL || yard__config_is_null(value)) {
                continue;
            }
            const char *text = yard__config_scalar(value);
            if (text == NULL) {
                yard__opt_err(errbuf, errlen, "%s:%d: %s%s%s: expected a single value, not a %s",
                              cfg->path, yard__config_line(key), section != NULL ? section : "",
                              section != NULL ? "." : "", o->key,
                              value->type == YAML_MAPPING_NODE ? "map" : "list");
                return YARD_E_CONFIG;
            }
            if (!yard__opt_store(o, target, text, why, sizeof why)) {
                yard__opt_err(errbuf, errlen, "%s:%d: %s%s%s: %s", cfg->path,
                              yard__config_line(value), section != NULL ? section : "",
                              section != NULL ? "." : "", o->key, why);
                return YARD_E_CONFIG;
            }
        }
    }

    /* 3. The environment. */
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        if (o->type == YARD_OPT_NODE) {
            continue; /* a list or map has no single-text form to override with */
        }
        s_env_name(section, o->key, name, sizeof name);
        const char *text = getenv(name);
        if (text == NULL) {
            continue;
        }
        if (!yard__opt_store(o, target, text, why, sizeof why)) {
            yard__opt_err(errbuf, errlen, "environment variable %s: %s", name, why);
            return YARD_E_CONFIG;
        }
    }

    /* 4. Flags, in order: a repeated flag's last value wins. */
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (arg == NULL || strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            yard__opt_err(errbuf, errlen,
                          "'%s': expected an option flag (--key value or --key=value)",
                          arg != NULL ? arg : "(null)");
            return YARD_E_CONFIG;
        }
        const char *flag = arg + 2;
        const char *eq = strchr(flag, '=');
        size_t flen = eq != NULL ? (size_t)(eq - flag) : strlen(flag);
        const yard_option_t *o = s_find_flag(table, flag, flen);
        if (o == NULL) {
            yard__opt_err(errbuf, errlen, "--%.*s: unknown flag (see --help)", (int)flen, flag);
            return YARD_E_CONFIG;
        }
        s_flag_name(o->key, name, sizeof name);
        const char *text;
        if (eq != NULL) {
            text = eq + 1;
        } else if (o->type == YARD_OPT_BOOL &&
                   (i + 1 >= argc || argv[i + 1] == NULL || strncmp(argv[i + 1], "--", 2) == 0)) {
            text = "true"; /* a bare boolean flag switches it on */
        } else if (i + 1 < argc && argv[i + 1] != NULL) {
            text = argv[++i];
        } else {
            yard__opt_err(errbuf, errlen, "%s: missing value", name);
            return YARD_E_CONFIG;
        }
        if (!yard__opt_store(o, target, text, why, sizeof why)) {
            yard__opt_err(errbuf, errlen, "flag %s: %s", name, why);
            return YARD_E_CONFIG;
        }
    }
    return 0;
}

int
yard_option_parse(yard_opt_type_t type, const char *text, void *out, char *err, size_t errlen)
{
    /* The same parser every source uses, through a one-entry option at offset 0 of out,
     * without a range (min == max). */
    yard_option_t o = {"value", type, NULL, 0, NULL, 0, 0};
    char why[256] = "";
    if (text == NULL || out == NULL) {
        yard__opt_err(err, errlen, "no value");
        return YARD_E_CONFIG;
    }
    if (type == YARD_OPT_STRING) {
        *(char **)out = NULL; /* yard__opt_store frees the old value: start from none */
    }
    if (!yard__opt_store(&o, out, text, why, sizeof why)) {
        yard__opt_err(err, errlen, "%s", why);
        return YARD_E_CONFIG;
    }
    return 0;
}

void
yard_options_free(const yard_option_t *table, void *target)
{
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        if (o->type == YARD_OPT_STRING) {
            char **slot = (char **)(void *)((char *)target + o->offset);
            free(*slot);
            *slot = NULL;
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Help */

static const char *
s_placeholder(yard_opt_type_t type)
{
    switch (type) {
    case YARD_OPT_STRING:
        return " <text>";
    case YARD_OPT_INT:
        return " <int>";
    case YARD_OPT_BOOL:
        return " [<bool>]";
    case YARD_OPT_MS:
        return " <duration>";
    case YARD_OPT_SIZE:
        return " <size>";
    case YARD_OPT_NODE:
        return "";
    }
    return "";
}

/* The flag, environment and default columns of o's help line. A structured key has no flag
 * or variable: its key is shown as written in the file. */
static void
s_help_columns(const yard_option_t *o, const char *section, char *flag, size_t flen, char *env,
               size_t elen, const char **def)
{
    if (o->type == YARD_OPT_NODE) {
        snprintf(flag, flen, "%s:", o->key);
        snprintf(env, elen, "-");
        *def = "(structured, see docs)";
        return;
    }
    s_flag_name(o->key, flag, flen);
    strncat(flag, s_placeholder(o->type), flen - strlen(flag) - 1);
    s_env_name(section, o->key, env, elen);
    *def = o->default_value != NULL ? o->default_value : "-";
}

void
yard_options_help(const yard_option_t *table, const char *section, FILE *out)
{
    size_t wflag = strlen("FLAG"), wenv = strlen("ENVIRONMENT"), wdef = strlen("DEFAULT");
    char flag[192], env[160];
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        const char *def;
        s_help_columns(o, section, flag, sizeof flag, env, sizeof env, &def);
        if (strlen(flag) > wflag) {
            wflag = strlen(flag);
        }
        if (strlen(env) > wenv) {
            wenv = strlen(env);
        }
        if (strlen(def) > wdef) {
            wdef = strlen(def);
        }
    }
    fprintf(out, "  %-*s  %-*s  %-*s  %s\n", (int)wflag, "FLAG", (int)wenv, "ENVIRONMENT",
            (int)wdef, "DEFAULT", "DESCRIPTION");
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        const char *def;
        s_help_columns(o, section, flag, sizeof flag, env, sizeof env, &def);
        fprintf(out, "  %-*s  %-*s  %-*s  %s", (int)wflag, flag, (int)wenv, env, (int)wdef, def,
                o->help != NULL ? o->help : "");
        if (o->min < o->max && o->type != YARD_OPT_STRING && o->type != YARD_OPT_BOOL &&
            o->type != YARD_OPT_NODE) {
            char range[96];
            yard__opt_range(o, range, sizeof range);
            fprintf(out, " %s", range);
        }
        fputc('\n', out);
    }
}
