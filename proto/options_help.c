/* Options shown to people: --help from a table (flag, environment variable, default, help,
 * range), and values as they may appear in a log line or an error (yard_option_display(),
 * yard_options_log()).
 *
 * Invariant: a secret's value never leaves this file: a YARD_OPT_SECRET option shows as
 * <secret>, a YARD_OPT_SECRET_URL one with its password as <secret>, whatever the caller
 * passes. */
#include "options_internal.h"
#include "yard/log.h"

#include <inttypes.h>
#include <string.h>

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
               size_t elen, char *def, size_t dlen)
{
    if (o->type == YARD_OPT_NODE) {
        snprintf(flag, flen, "%s:", o->key);
        snprintf(env, elen, "-");
        snprintf(def, dlen, "(structured, see docs)");
        return;
    }
    yard__opt_flag_name(o->key, flag, flen);
    strncat(flag, (o->flags & YARD_OPT_SECRET) ? " <secret>" : s_placeholder(o->type),
            flen - strlen(flag) - 1);
    yard__opt_env_name(section, o->key, env, elen);
    if (o->flags & YARD_OPT_SECRET) {
        snprintf(def, dlen, "<secret>");
    } else if ((o->flags & YARD_OPT_REQUIRED) && o->default_value == NULL) {
        snprintf(def, dlen, "(required)");
    } else {
        yard_option_display(o, o->default_value, def, dlen);
    }
}

void
yard_options_help(const yard_option_t *table, const char *section, FILE *out)
{
    size_t wflag = strlen("FLAG"), wenv = strlen("ENVIRONMENT"), wdef = strlen("DEFAULT");
    char flag[192], env[160], def[256];
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        s_help_columns(o, section, flag, sizeof flag, env, sizeof env, def, sizeof def);
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
        s_help_columns(o, section, flag, sizeof flag, env, sizeof env, def, sizeof def);
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

/* ---------------------------------------------------------------------------------------- */
/* Showing values */

const char *
yard_option_display(const yard_option_t *o, const char *value, char *buf, size_t len)
{
    if (len == 0) {
        return buf;
    }
    if (value == NULL) {
        snprintf(buf, len, "-");
    } else if (o->flags & YARD_OPT_SECRET) {
        snprintf(buf, len, "<secret>");
    } else if (o->flags & YARD_OPT_SECRET_URL) {
        yard__opt_url_redact(value, buf, len);
    } else {
        snprintf(buf, len, "%s", value);
    }
    return buf;
}

/* The value of o in target as text, shown as yard_option_display() shows it. */
static void
s_value_text(const yard_option_t *o, const void *target, char *buf, size_t len)
{
    const char *field = (const char *)target + o->offset;
    switch (o->type) {
    case YARD_OPT_STRING: {
        const char *v;
        memcpy(&v, field, sizeof v);
        yard_option_display(o, v, buf, len);
        return;
    }
    case YARD_OPT_INT: {
        int64_t v;
        memcpy(&v, field, sizeof v);
        snprintf(buf, len, "%" PRId64, v);
        break;
    }
    case YARD_OPT_BOOL: {
        bool v;
        memcpy(&v, field, sizeof v);
        snprintf(buf, len, "%s", v ? "true" : "false");
        break;
    }
    case YARD_OPT_MS: {
        uint32_t v;
        memcpy(&v, field, sizeof v);
        snprintf(buf, len, "%" PRIu32 "ms", v);
        break;
    }
    case YARD_OPT_SIZE: {
        uint64_t v;
        memcpy(&v, field, sizeof v);
        snprintf(buf, len, "%" PRIu64, v);
        break;
    }
    case YARD_OPT_NODE:
        snprintf(buf, len, "(structured)");
        return;
    }
    if (o->flags & YARD_OPT_SECRET) {
        snprintf(buf, len, "<secret>");
    }
}

void
yard_options_log(const yard_option_t *table, const void *target, const char *section)
{
    if (!yard_log_enabled(YARD_LOG_DEBUG)) {
        return;
    }
    char value[512];
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        if (o->type == YARD_OPT_NODE) {
            continue;
        }
        s_value_text(o, target, value, sizeof value);
        yard_log_record(YARD_LOG_DEBUG, "option", YF_STR("section", section), YF_STR("key", o->key),
                        YF_STR("value", value));
    }
}
