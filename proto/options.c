/* Options: fills a program's or actor's settings struct from one declarative table, taking
 * each value from, in increasing priority, the table's default, the YAML config file, the
 * environment and the command line. Every value passes the same parser and range check
 * whatever its source, and every error names where the value came from: "path:line: ..." for
 * the file, the variable's name for the environment, the flag for the command line.
 *
 * The file is kept as a libyaml document (so every key keeps its line) for the life of the
 * yard_config_t; lookups walk it. Names are derived, never configured: key `heartbeat_ms` at
 * the top level is YARD_HEARTBEAT_MS and --heartbeat-ms; key `credit` in section `echo` is
 * YARD_ECHO_CREDIT and --credit. A KEY_file / YARD_..._FILE / --key-file form of each reads
 * the value from a file (bounded, read once); a required option nobody gave is an error
 * naming it. */
#include "alloc_internal.h"
#include "options_internal.h"
#include "yard/error.h"
#include "yard/log.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

void
yard__opt_env_name(const char *section, const char *key, char *buf, size_t len)
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

void
yard__opt_flag_name(const char *key, char *buf, size_t len)
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
s_find_flag_exact(const yard_option_t *table, const char *name, size_t len)
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

const yard_option_t *
yard__opt_find_flag(const yard_option_t *table, const char *name, size_t len, bool *is_file)
{
    *is_file = false;
    const yard_option_t *o = s_find_flag_exact(table, name, len);
    if (o != NULL || len <= 5) {
        return o;
    }
    const char *suffix = name + len - 5;
    if (strncmp(suffix, "-file", 5) != 0 && strncmp(suffix, "_file", 5) != 0) {
        return NULL;
    }
    o = s_find_flag_exact(table, name, len - 5);
    *is_file = o != NULL;
    return o;
}

/* ---------------------------------------------------------------------------------------- */
/* Values read from files (KEY_file) */

/* Reads the file that a KEY_file option names (yard/options.h). */
char *
yard_option_read_file(const char *path, char *why, size_t whylen)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(why, whylen, "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(YARD_OPT_FILE_MAX + 2);
    if (buf == NULL) {
        abort();
    }
    size_t n = fread(buf, 1, YARD_OPT_FILE_MAX + 1, fp);
    int read_errno = ferror(fp) ? errno : 0;
    fclose(fp);
    const char *problem = NULL;
    if (read_errno != 0) {
        snprintf(why, whylen, "cannot read '%s': %s", path, strerror(read_errno));
        problem = why;
    } else if (n > YARD_OPT_FILE_MAX) {
        snprintf(why, whylen, "'%s' is larger than %u bytes", path, YARD_OPT_FILE_MAX);
        problem = why;
    } else if (memchr(buf, '\0', n) != NULL) {
        snprintf(why, whylen, "'%s' holds a NUL byte (expected text)", path);
        problem = why;
    }
    if (problem == NULL) {
        if (n > 0 && buf[n - 1] == '\n') {
            n--;
            if (n > 0 && buf[n - 1] == '\r') {
                n--;
            }
        }
        buf[n] = '\0';
        if (n == 0) {
            snprintf(why, whylen, "'%s' is empty", path);
            problem = why;
        }
    }
    if (problem != NULL) {
        memset(buf, 0, YARD_OPT_FILE_MAX + 2);
        free(buf);
        return NULL;
    }
    return buf;
}

/* Frees a value read from a file after overwriting it, so a secret does not linger in freed
 * memory. */
static void
s_wipe_free(char *text)
{
    if (text != NULL) {
        volatile char *p = text;
        while (*p != '\0') {
            *p++ = '\0';
        }
        free(text);
    }
}

/* Stores text, or the content of the file text names when from_file, for option o. On
 * failure writes the reason (without the source) to why. */
static bool
s_store(const yard_option_t *o, void *target, const char *text, bool from_file, char *why,
        size_t whylen)
{
    if (!from_file) {
        return yard__opt_store(o, target, text, why, whylen);
    }
    char *content = yard_option_read_file(text, why, whylen);
    if (content == NULL) {
        return false;
    }
    bool ok = yard__opt_store(o, target, content, why, whylen);
    s_wipe_free(content);
    return ok;
}

int
yard_config_node_secret(yard_config_node_t map, const char *key, char **out, char *err,
                        size_t errlen)
{
    *out = NULL;
    char fkey[128];
    snprintf(fkey, sizeof fkey, "%s_file", key);
    yard_config_node_t v = yard_config_node_get(map, key);
    yard_config_node_t fv = yard_config_node_get(map, fkey);
    const char *path = map.cfg ? yard_config_path(map.cfg) : "?";
    if (yard_config_node_kind(v) != YARD_CONFIG_ABSENT &&
        yard_config_node_kind(fv) != YARD_CONFIG_ABSENT) {
        snprintf(err, errlen, "%s:%d: give %s or %s, not both", path, yard_config_node_line(fv),
                 key, fkey);
        return YARD_E_CONFIG;
    }
    yard_config_node_t given = yard_config_node_kind(fv) != YARD_CONFIG_ABSENT ? fv : v;
    if (yard_config_node_kind(given) == YARD_CONFIG_ABSENT) {
        return 0;
    }
    const char *text = yard_config_node_text(given);
    if (!text || !*text) {
        snprintf(err, errlen, "%s:%d: %s must be a non-empty string", path,
                 yard_config_node_line(given), given.index == fv.index ? fkey : key);
        return YARD_E_CONFIG;
    }
    if (given.index == fv.index) {
        char why[512];
        char *content = yard_option_read_file(text, why, sizeof why);
        if (!content) {
            snprintf(err, errlen, "%s:%d: %s: %s", path, yard_config_node_line(fv), fkey, why);
            return YARD_E_CONFIG;
        }
        *out = content;
    } else {
        *out = yard__xstrdup(text);
    }
    yard_log_add_secret(*out);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Applying */

/* "section." or "" for messages. */
static const char *
s_dot(const char *section)
{
    return section != NULL ? "." : "";
}

/* 2. The file: KEY or KEY_file of each option in the section's map. */
static int
s_apply_file(const yard_option_t *table, void *target, const yard_config_t *cfg,
             const char *section, char *errbuf, size_t errlen)
{
    char why[512];
    char file_key[160];
    const char *sec = section != NULL ? section : "";
    int rc = yard_config_check_section(cfg, table, section, errbuf, errlen);
    if (rc != 0) {
        return rc;
    }
    yaml_node_t *map = yard__config_section(cfg, section);
    if (section != NULL && map == NULL) {
        yaml_node_t *key = NULL;
        yaml_node_t *node = yard__config_lookup(cfg, yard__config_root(cfg), section, &key);
        if (node != NULL && !yard__config_is_null(node)) {
            yard__opt_err(errbuf, errlen, "%s:%d: section '%s' must be a map of key: value",
                          cfg->path, yard__config_line(key), section);
            return YARD_E_CONFIG;
        }
    }
    for (const yard_option_t *o = table; map != NULL && o != NULL && o->key != NULL; o++) {
        if (o->type == YARD_OPT_NODE) {
            continue; /* the module reads it through yard_config_node() */
        }
        yaml_node_t *key = NULL, *fkey = NULL;
        yaml_node_t *value = yard__config_lookup(cfg, map, o->key, &key);
        snprintf(file_key, sizeof file_key, "%s_file", o->key);
        yaml_node_t *fvalue = yard__config_lookup(cfg, map, file_key, &fkey);
        bool has_value = value != NULL && !yard__config_is_null(value);
        bool has_file = fvalue != NULL && !yard__config_is_null(fvalue);
        if (has_value && has_file) {
            yard__opt_err(errbuf, errlen, "%s:%d: %s%s%s and %s are both given (use one)",
                          cfg->path, yard__config_line(fkey), sec, s_dot(section), o->key,
                          file_key);
            return YARD_E_CONFIG;
        }
        if (!has_value && !has_file) {
            continue;
        }
        yaml_node_t *k = has_file ? fkey : key, *v = has_file ? fvalue : value;
        const char *name = has_file ? file_key : o->key;
        const char *text = yard__config_scalar(v);
        if (text == NULL) {
            yard__opt_err(errbuf, errlen, "%s:%d: %s%s%s: expected a single value, not a %s",
                          cfg->path, yard__config_line(k), sec, s_dot(section), name,
                          v->type == YAML_MAPPING_NODE ? "map" : "list");
            return YARD_E_CONFIG;
        }
        if (!s_store(o, target, text, has_file, why, sizeof why)) {
            yard__opt_err(errbuf, errlen, "%s:%d: %s%s%s: %s", cfg->path, yard__config_line(v), sec,
                          s_dot(section), name, why);
            return YARD_E_CONFIG;
        }
    }
    return 0;
}

/* 3. The environment: YARD_<SECTION>_<KEY> or YARD_<SECTION>_<KEY>_FILE. */
static int
s_apply_env(const yard_option_t *table, void *target, const char *section, char *errbuf,
            size_t errlen)
{
    char why[512];
    char name[160], fname[170];
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        if (o->type == YARD_OPT_NODE) {
            continue; /* a list or map has no single-text form to override with */
        }
        yard__opt_env_name(section, o->key, name, sizeof name);
        snprintf(fname, sizeof fname, "%s_FILE", name);
        const char *text = getenv(name);
        const char *path = getenv(fname);
        if (text != NULL && path != NULL) {
            yard__opt_err(errbuf, errlen, "environment variables %s and %s are both set (use one)",
                          name, fname);
            return YARD_E_CONFIG;
        }
        if (text == NULL && path == NULL) {
            continue;
        }
        if (!s_store(o, target, path != NULL ? path : text, path != NULL, why, sizeof why)) {
            yard__opt_err(errbuf, errlen, "environment variable %s: %s",
                          path != NULL ? fname : name, why);
            return YARD_E_CONFIG;
        }
    }
    return 0;
}

/* 4. Flags, in order: a repeated flag's last value wins; --key and --key-file both given is
 * an error. */
static int
s_apply_flags(const yard_option_t *table, void *target, int argc, char **argv, char *errbuf,
              size_t errlen)
{
    char why[512];
    char name[170];
    const yard_option_t *seen_value[64] = {NULL}, *seen_file[64] = {NULL};
    size_t nvalue = 0, nfile = 0;
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
        bool is_file = false;
        const yard_option_t *o = yard__opt_find_flag(table, flag, flen, &is_file);
        if (o == NULL) {
            yard__opt_err(errbuf, errlen, "--%.*s: unknown flag (see --help)", (int)flen, flag);
            return YARD_E_CONFIG;
        }
        yard__opt_flag_name(o->key, name, sizeof name);
        if (is_file) {
            strncat(name, "-file", sizeof name - strlen(name) - 1);
        }
        const yard_option_t **other = is_file ? seen_value : seen_file;
        size_t nother = is_file ? nvalue : nfile;
        for (size_t k = 0; k < nother; k++) {
            if (other[k] == o) {
                yard__opt_flag_name(o->key, why, sizeof why);
                yard__opt_err(errbuf, errlen, "%s and %s-file are both given (use one)", why, why);
                return YARD_E_CONFIG;
            }
        }
        if (is_file && nfile < 64) {
            seen_file[nfile++] = o;
        } else if (!is_file && nvalue < 64) {
            seen_value[nvalue++] = o;
        }
        const char *text;
        if (eq != NULL) {
            text = eq + 1;
        } else if (!is_file && o->type == YARD_OPT_BOOL &&
                   (i + 1 >= argc || argv[i + 1] == NULL || strncmp(argv[i + 1], "--", 2) == 0)) {
            text = "true"; /* a bare boolean flag switches it on */
        } else if (i + 1 < argc && argv[i + 1] != NULL) {
            text = argv[++i];
        } else {
            yard__opt_err(errbuf, errlen, "%s: missing value", name);
            return YARD_E_CONFIG;
        }
        if (!s_store(o, target, text, is_file, why, sizeof why)) {
            yard__opt_err(errbuf, errlen, "flag %s: %s", name, why);
            return YARD_E_CONFIG;
        }
    }
    return 0;
}

/* A required option left unset or empty, by any source: the error names the setting and
 * where to give it. */
static int
s_check_required(const yard_option_t *table, const void *target, const char *section, char *errbuf,
                 size_t errlen)
{
    char env[160], flag[160];
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        if (!(o->flags & YARD_OPT_REQUIRED) || o->type != YARD_OPT_STRING) {
            continue;
        }
        const char *v = *(char *const *)(const void *)((const char *)target + o->offset);
        if (v != NULL && v[0] != '\0') {
            continue;
        }
        yard__opt_env_name(section, o->key, env, sizeof env);
        yard__opt_flag_name(o->key, flag, sizeof flag);
        yard__opt_err(errbuf, errlen,
                      "required setting %s%s%s is missing: give %s (or %s_file) in the config "
                      "file%s%s, %s (or %s_FILE) or %s (or %s-file)",
                      section != NULL ? section : "", s_dot(section), o->key, o->key, o->key,
                      section != NULL ? "'s section " : "", section != NULL ? section : "", env,
                      env, flag, flag);
        return YARD_E_CONFIG;
    }
    return 0;
}

int
yard_options_apply(const yard_option_t *table, void *target, const yard_config_t *cfg,
                   const char *section, int argc, char **argv, char *errbuf, size_t errlen)
{
    char why[256];

    /* 1. Defaults. */
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        if (o->type != YARD_OPT_NODE && o->default_value != NULL &&
            !yard__opt_store(o, target, o->default_value, why, sizeof why)) {
            yard__opt_err(errbuf, errlen, "default for '%s': %s", o->key, why);
            return YARD_E_CONFIG;
        }
    }
    int rc = cfg != NULL ? s_apply_file(table, target, cfg, section, errbuf, errlen) : 0;
    if (rc == 0) {
        rc = s_apply_env(table, target, section, errbuf, errlen);
    }
    if (rc == 0) {
        rc = s_apply_flags(table, target, argc, argv, errbuf, errlen);
    }
    if (rc == 0) {
        rc = s_check_required(table, target, section, errbuf, errlen);
    }
    return rc;
}

/* True when the flag at argv[i] takes the next argument as its value. */
static bool
s_takes_next(const yard_option_t *o, bool is_file, const char *arg, int i, int argc, char **argv)
{
    if (strchr(arg, '=') != NULL || i + 1 >= argc || argv[i + 1] == NULL) {
        return false;
    }
    if (o != NULL && !is_file && o->type == YARD_OPT_BOOL) {
        return strncmp(argv[i + 1], "--", 2) != 0;
    }
    return true;
}

int
yard_options_apply_sets(const yard_option_set_t *sets, size_t n, const yard_config_t *cfg, int argc,
                        char **argv, char *errbuf, size_t errlen)
{
    /* Each set's share of argv, in order. */
    char **split = calloc((size_t)(argc + 1) * (n + 1), sizeof *split);
    int *counts = calloc(n + 1, sizeof *counts);
    if (split == NULL || counts == NULL) {
        abort();
    }
    int rc = 0;
    for (int i = 0; i < argc && rc == 0; i++) {
        const char *arg = argv[i] != NULL ? argv[i] : "";
        const char *flag = strncmp(arg, "--", 2) == 0 ? arg + 2 : "";
        size_t flen = strcspn(flag, "=");
        size_t owner = n; /* n: no table knows it; the error comes from the first set */
        const yard_option_t *o = NULL;
        bool is_file = false;
        for (size_t s = 0; s < n && o == NULL && flen > 0; s++) {
            o = yard__opt_find_flag(sets[s].table, flag, flen, &is_file);
            owner = o != NULL ? s : n;
        }
        size_t dst = owner < n ? owner : 0;
        char **row = split + dst * (size_t)(argc + 1);
        row[counts[dst]++] = argv[i];
        if (s_takes_next(o, is_file, arg, i, argc, argv)) {
            row[counts[dst]++] = argv[++i];
        }
    }
    for (size_t s = 0; s < n && rc == 0; s++) {
        rc = yard_options_apply(sets[s].table, sets[s].target, cfg, sets[s].section, counts[s],
                                split + s * (size_t)(argc + 1), errbuf, errlen);
    }
    free(split);
    free(counts);
    return rc;
}

const yard_option_t *
yard_options_missing(const yard_option_t *table, const yard_config_t *cfg, const char *section)
{
    char name[160], fname[170], file_key[160];
    yaml_node_t *map = yard__config_section(cfg, section);
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        if (!(o->flags & YARD_OPT_REQUIRED) || o->type == YARD_OPT_NODE) {
            continue;
        }
        if (o->default_value != NULL && o->default_value[0] != '\0') {
            continue;
        }
        yard__opt_env_name(section, o->key, name, sizeof name);
        snprintf(fname, sizeof fname, "%s_FILE", name);
        const char *env = getenv(name), *fenv = getenv(fname);
        if ((env != NULL && env[0] != '\0') || (fenv != NULL && fenv[0] != '\0')) {
            continue;
        }
        snprintf(file_key, sizeof file_key, "%s_file", o->key);
        yaml_node_t *v = yard__config_lookup(cfg, map, o->key, NULL);
        yaml_node_t *fv = yard__config_lookup(cfg, map, file_key, NULL);
        bool given =
            (v != NULL && !yard__config_is_null(v)) || (fv != NULL && !yard__config_is_null(fv));
        if (!given) {
            return o;
        }
    }
    return NULL;
}

int
yard_option_parse(yard_opt_type_t type, const char *text, void *out, char *err, size_t errlen)
{
    /* The same parser every source uses, through a one-entry option at offset 0 of out,
     * without a range (min == max). */
    yard_option_t o = {"value", type, NULL, 0, NULL, 0, 0, 0};
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
yard_options_fill_unset(const yard_option_t *table, void *target)
{
    char why[256];
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        if (o->default_value == NULL || (o->min < o->max && o->min <= 0 && o->max >= 0)) {
            continue; /* no default, or 0 is a value the option allows */
        }
        const char *field = (const char *)target + o->offset;
        bool zero;
        if (o->type == YARD_OPT_INT || o->type == YARD_OPT_SIZE) {
            uint64_t v;
            memcpy(&v, field, sizeof v);
            zero = v == 0;
        } else if (o->type == YARD_OPT_MS) {
            uint32_t v;
            memcpy(&v, field, sizeof v);
            zero = v == 0;
        } else {
            continue;
        }
        if (zero && !yard__opt_store(o, target, o->default_value, why, sizeof why)) {
            abort(); /* the table's own default does not parse: a programmer error */
        }
    }
}

const char *
yard_options_default(const yard_option_t *table, const char *key)
{
    for (const yard_option_t *o = table; o != NULL && o->key != NULL && key != NULL; o++) {
        if (strcmp(o->key, key) == 0) {
            return o->default_value;
        }
    }
    return NULL;
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
