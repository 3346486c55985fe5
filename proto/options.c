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
#include "yard/options.h"

#include "yard/error.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

struct yard_config {
    char *path;
    yaml_document_t *doc; /* NULL when the file holds no document (empty file) */
};

/* The project's single list of top-level config keys. Every program checks a shared file's
 * top level against it, so a typo is caught whichever program reads the file first. Add a
 * key here when a program starts reading it; actor sections (top-level maps) need no entry,
 * and an actor's replicas, credit and drain_ms live in its section, not here. */
static const char *const s_known_keys[] = {
    "config",
    "broker",
    "bind",
    "log_level",
    "store",
    "heartbeat_ms",
    "heartbeat_min_ms",
    "heartbeat_max_ms",
    "grace_ms",
    "default_timeout_ms",
    "max_timeout_ms",
    "max_body",
    "queue_max",
    "max_peers",
    "max_services",
    "max_in_flight",
    NULL,
};

static char *
s_strdup(const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL) {
        abort();
    }
    return copy;
}

static void
s_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf == NULL || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

bool
yard_config_known_key(const char *key)
{
    if (key == NULL) {
        return false;
    }
    for (size_t i = 0; s_known_keys[i] != NULL; i++) {
        if (strcmp(s_known_keys[i], key) == 0) {
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* The YAML document */

static yaml_node_t *
s_node(const yard_config_t *cfg, int index)
{
    return yaml_document_get_node(cfg->doc, index);
}

static int
s_line(const yaml_node_t *node)
{
    return (int)node->start_mark.line + 1;
}

/* The scalar text of node, or NULL when it is not a scalar. */
static const char *
s_scalar(const yaml_node_t *node)
{
    if (node == NULL || node->type != YAML_SCALAR_NODE) {
        return NULL;
    }
    return (const char *)node->data.scalar.value;
}

/* A plain empty value, "~" or "null": the key is present with no value. */
static bool
s_is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return false;
    }
    const char *v = (const char *)node->data.scalar.value;
    return *v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

static yaml_node_t *
s_root(const yard_config_t *cfg)
{
    if (cfg == NULL || cfg->doc == NULL) {
        return NULL;
    }
    return yaml_document_get_root_node(cfg->doc);
}

/* Checks that every key of map is a scalar and appears once. */
static int
s_check_map(const yard_config_t *cfg, yaml_node_t *map, char *errbuf, size_t errlen)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = s_node(cfg, p->key);
        const char *k = s_scalar(key);
        if (k == NULL) {
            s_err(errbuf, errlen, "%s:%d: keys must be plain names", cfg->path,
                  key != NULL ? s_line(key) : 0);
            return YARD_E_CONFIG;
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const char *prev = s_scalar(s_node(cfg, q->key));
            if (prev != NULL && strcmp(prev, k) == 0) {
                s_err(errbuf, errlen, "%s:%d: duplicate key '%s' (first at line %d)", cfg->path,
                      s_line(key), k, s_line(s_node(cfg, q->key)));
                return YARD_E_CONFIG;
            }
        }
        yaml_node_t *value = s_node(cfg, p->value);
        if (value != NULL && value->type == YAML_MAPPING_NODE) {
            int rc = s_check_map(cfg, value, errbuf, errlen);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

int
yard_config_load(const char *path, yard_config_t **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        s_err(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
        return YARD_E_IO;
    }
    yard_config_t *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL) {
        abort();
    }
    cfg->path = s_strdup(path);
    int rc = 0;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        abort();
    }
    yaml_parser_set_input_file(&parser, fp);
    yaml_document_t *doc = calloc(1, sizeof *doc);
    if (doc == NULL) {
        abort();
    }
    if (!yaml_parser_load(&parser, doc)) {
        const char *problem = parser.problem != NULL ? parser.problem : "malformed YAML";
        size_t line = parser.problem_mark.line + 1;
        if (parser.context != NULL) {
            s_err(errbuf, errlen, "%s:%zu: %s %s", path, line, problem, parser.context);
        } else {
            s_err(errbuf, errlen, "%s:%zu: %s", path, line, problem);
        }
        free(doc);
        rc = YARD_E_CONFIG;
        goto cleanup;
    }
    cfg->doc = doc;
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (root == NULL) {
        goto cleanup; /* an empty file is a valid, empty config */
    }
    if (root->type == YAML_SCALAR_NODE && s_is_null(root)) {
        goto cleanup;
    }
    if (root->type != YAML_MAPPING_NODE) {
        s_err(errbuf, errlen, "%s:%d: the top level must be a map of key: value", path,
              s_line(root));
        rc = YARD_E_CONFIG;
        goto cleanup;
    }
    rc = s_check_map(cfg, root, errbuf, errlen);

cleanup:
    yaml_parser_delete(&parser);
    fclose(fp);
    if (rc != 0) {
        yard_config_destroy(&cfg);
    }
    *out = cfg;
    return rc;
}

void
yard_config_destroy(yard_config_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    yard_config_t *self = *self_p;
    if (self->doc != NULL) {
        yaml_document_delete(self->doc);
        free(self->doc);
    }
    free(self->path);
    free(self);
    *self_p = NULL;
}

const char *
yard_config_path(const yard_config_t *cfg)
{
    return cfg->path;
}

/* The value node for key in map, or NULL; sets *key_node when found. */
static yaml_node_t *
s_lookup(const yard_config_t *cfg, yaml_node_t *map, const char *key, yaml_node_t **key_node)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE) {
        return NULL;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = s_node(cfg, p->key);
        const char *name = s_scalar(k);
        if (name != NULL && strcmp(name, key) == 0) {
            if (key_node != NULL) {
                *key_node = k;
            }
            return s_node(cfg, p->value);
        }
    }
    return NULL;
}

/* The map for section (NULL: the top level), or NULL when the file has none. */
static yaml_node_t *
s_section(const yard_config_t *cfg, const char *section)
{
    yaml_node_t *root = s_root(cfg);
    if (root == NULL || root->type != YAML_MAPPING_NODE) {
        return NULL;
    }
    if (section == NULL) {
        return root;
    }
    yaml_node_t *sec = s_lookup(cfg, root, section, NULL);
    return sec != NULL && sec->type == YAML_MAPPING_NODE ? sec : NULL;
}

bool
yard_config_has_section(const yard_config_t *cfg, const char *section)
{
    return section != NULL && s_section(cfg, section) != NULL;
}

static const yard_option_t *
s_find(const yard_option_t *table, const char *key)
{
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        if (strcmp(o->key, key) == 0) {
            return o;
        }
    }
    return NULL;
}

/* Levenshtein distance, capped: only to suggest a near key in error messages. */
static size_t
s_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) {
        return SIZE_MAX;
    }
    size_t row[64];
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (up + 1 < best) {
                best = up + 1;
            }
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* " (did you mean 'x'?)" for the nearest table or known key within distance 2, else "". */
static void
s_suggest(const yard_option_t *table, bool known, const char *key, char *buf, size_t len)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        size_t d = s_distance(key, o->key);
        if (d < best_d) {
            best_d = d;
            best = o->key;
        }
    }
    for (size_t i = 0; known && s_known_keys[i] != NULL; i++) {
        size_t d = s_distance(key, s_known_keys[i]);
        if (d < best_d) {
            best_d = d;
            best = s_known_keys[i];
        }
    }
    if (best != NULL) {
        snprintf(buf, len, " (did you mean '%s'?)", best);
    } else if (len > 0) {
        buf[0] = '\0';
    }
}

int
yard_config_check_section(const yard_config_t *cfg, const yard_option_t *table, const char *section,
                          char *errbuf, size_t errlen)
{
    yaml_node_t *map = s_section(cfg, section);
    if (map == NULL) {
        return 0;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = s_node(cfg, p->key);
        yaml_node_t *value = s_node(cfg, p->value);
        const char *k = s_scalar(key);
        if (k == NULL) {
            continue; /* rejected at load */
        }
        char hint[96];
        if (section == NULL) {
            /* Top level: the project's known keys, this table's keys, or an actor's map. */
            if (yard_config_known_key(k) || s_find(table, k) != NULL ||
                (value != NULL && value->type == YAML_MAPPING_NODE)) {
                continue;
            }
            s_suggest(table, true, k, hint, sizeof hint);
            s_err(errbuf, errlen, "%s:%d: unknown key '%s' at the top level%s", cfg->path,
                  s_line(key), k, hint);
            return YARD_E_CONFIG;
        }
        if (s_find(table, k) == NULL) {
            s_suggest(table, false, k, hint, sizeof hint);
            s_err(errbuf, errlen, "%s:%d: unknown key '%s' in section '%s'%s", cfg->path,
                  s_line(key), k, section, hint);
            return YARD_E_CONFIG;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Values */

/* Parses an unsigned decimal number at *p, advancing it. Returns false on no digits or
 * overflow. */
static bool
s_digits(const char **p, uint64_t *out)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s)) {
        return false;
    }
    uint64_t v = 0;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return true;
}

static const char *
s_skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    return s;
}

/* "1500", "1500ms", "2s", "1m", "1h" -> milliseconds. */
static bool
s_parse_ms(const char *text, uint64_t *out, char *why, size_t whylen)
{
    const char *p = s_skip_space(text);
    uint64_t n;
    if (!s_digits(&p, &n)) {
        snprintf(why, whylen, "invalid duration '%s' (expected e.g. 1500, 1500ms, 2s, 1m, 1h)",
                 text);
        return false;
    }
    p = s_skip_space(p);
    uint64_t mult;
    size_t ulen = strlen(p);
    while (ulen > 0 && (p[ulen - 1] == ' ' || p[ulen - 1] == '\t')) {
        ulen--;
    }
    if (ulen == 0 || (ulen == 2 && strncasecmp(p, "ms", 2) == 0)) {
        mult = 1;
    } else if (ulen == 1 && (*p == 's' || *p == 'S')) {
        mult = 1000;
    } else if (ulen == 1 && (*p == 'm' || *p == 'M')) {
        mult = 60000;
    } else if (ulen == 1 && (*p == 'h' || *p == 'H')) {
        mult = 3600000;
    } else {
        snprintf(why, whylen,
                 "invalid duration '%s' (units are ms, s, m, h; e.g. 1500, 1500ms, 2s, 1m)", text);
        return false;
    }
    if (n > UINT32_MAX / mult) {
        snprintf(why, whylen, "duration '%s' is too large (at most %" PRIu32 " ms)", text,
                 UINT32_MAX);
        return false;
    }
    *out = n * mult;
    return true;
}

/* "65536", "512B", "64KiB", "1MiB", "1GiB", "1TiB" (also K, M, G, T) -> bytes. */
static bool
s_parse_size(const char *text, uint64_t *out, char *why, size_t whylen)
{
    const char *p = s_skip_space(text);
    uint64_t n;
    if (!s_digits(&p, &n)) {
        snprintf(why, whylen, "invalid size '%s' (expected e.g. 65536, 512B, 64KiB, 1MiB, 1GiB)",
                 text);
        return false;
    }
    p = s_skip_space(p);
    size_t ulen = strlen(p);
    while (ulen > 0 && (p[ulen - 1] == ' ' || p[ulen - 1] == '\t')) {
        ulen--;
    }
    static const struct {
        const char *unit;
        unsigned shift;
    } units[] = {{"", 0},     {"B", 0},  {"K", 10},   {"KiB", 10}, {"M", 20},
                 {"MiB", 20}, {"G", 30}, {"GiB", 30}, {"T", 40},   {"TiB", 40}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strlen(units[i].unit) == ulen && strncasecmp(p, units[i].unit, ulen) == 0) {
            if (n > (UINT64_MAX >> units[i].shift)) {
                snprintf(why, whylen, "size '%s' is too large", text);
                return false;
            }
            *out = n << units[i].shift;
            return true;
        }
    }
    snprintf(why, whylen, "invalid size '%s' (units are B, KiB, MiB, GiB, TiB; e.g. 64KiB)", text);
    return false;
}

static bool
s_parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1", NULL};
    static const char *const no[] = {"false", "no", "off", "0", NULL};
    for (size_t i = 0; yes[i] != NULL; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool
s_parse_int(const char *text, int64_t *out)
{
    const char *p = s_skip_space(text);
    if (*p == '\0') {
        return false;
    }
    errno = 0;
    char *end;
    long long v = strtoll(p, &end, 10);
    if (errno != 0 || end == p) {
        return false;
    }
    end = (char *)s_skip_space(end);
    if (*end != '\0') {
        return false;
    }
    *out = (int64_t)v;
    return true;
}

static void
s_range(const yard_option_t *o, char *buf, size_t len)
{
    const char *unit = o->type == YARD_OPT_MS ? " ms" : o->type == YARD_OPT_SIZE ? " bytes" : "";
    snprintf(buf, len, "[%" PRId64 ", %" PRId64 "]%s", o->min, o->max, unit);
}

/* Parses text for option o and stores it in target. On failure writes the reason (without
 * the source) to why and returns false. */
static bool
s_store(const yard_option_t *o, void *target, const char *text, char *why, size_t whylen)
{
    char *field = (char *)target + o->offset;
    bool ranged = o->min < o->max;
    char range[96];
    switch (o->type) {
    case YARD_OPT_STRING: {
        char **slot = (char **)(void *)field;
        free(*slot);
        *slot = s_strdup(text);
        return true;
    }
    case YARD_OPT_BOOL: {
        bool b;
        if (!s_parse_bool(text, &b)) {
            snprintf(why, whylen,
                     "invalid boolean '%s' (expected true/false, yes/no, on/off or 1/0)", text);
            return false;
        }
        memcpy(field, &b, sizeof b);
        return true;
    }
    case YARD_OPT_INT: {
        int64_t v;
        if (!s_parse_int(text, &v)) {
            snprintf(why, whylen, "invalid integer '%s'", text);
            return false;
        }
        if (ranged && (v < o->min || v > o->max)) {
            s_range(o, range, sizeof range);
            snprintf(why, whylen, "%s is out of range %s", text, range);
            return false;
        }
        memcpy(field, &v, sizeof v);
        return true;
    }
    case YARD_OPT_MS: {
        uint64_t v;
        if (!s_parse_ms(text, &v, why, whylen)) {
            return false;
        }
        if (ranged && ((int64_t)v < o->min || (int64_t)v > o->max)) {
            s_range(o, range, sizeof range);
            snprintf(why, whylen, "%s (%" PRIu64 " ms) is out of range %s", text, v, range);
            return false;
        }
        uint32_t ms = (uint32_t)v;
        memcpy(field, &ms, sizeof ms);
        return true;
    }
    case YARD_OPT_SIZE: {
        uint64_t v;
        if (!s_parse_size(text, &v, why, whylen)) {
            return false;
        }
        if (ranged && (v > (uint64_t)INT64_MAX || (int64_t)v < o->min || (int64_t)v > o->max)) {
            s_range(o, range, sizeof range);
            snprintf(why, whylen, "%s (%" PRIu64 " bytes) is out of range %s", text, v, range);
            return false;
        }
        memcpy(field, &v, sizeof v);
        return true;
    }
    }
    snprintf(why, whylen, "option has an unknown type %d", (int)o->type);
    return false;
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
        if (strlen(o->key) != len) {
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
        if (o->default_value != NULL && !s_store(o, target, o->default_value, why, sizeof why)) {
            s_err(errbuf, errlen, "default for '%s': %s", o->key, why);
            return YARD_E_CONFIG;
        }
    }

    /* 2. The file. */
    if (cfg != NULL) {
        int rc = yard_config_check_section(cfg, table, section, errbuf, errlen);
        if (rc != 0) {
            return rc;
        }
        yaml_node_t *map = s_section(cfg, section);
        if (section != NULL && map == NULL) {
            yaml_node_t *key = NULL;
            yaml_node_t *sec = s_lookup(cfg, s_root(cfg), section, &key);
            if (sec != NULL && !s_is_null(sec)) {
                s_err(errbuf, errlen, "%s:%d: section '%s' must be a map of key: value", cfg->path,
                      s_line(key), section);
                return YARD_E_CONFIG;
            }
        }
        for (const yard_option_t *o = table; map != NULL && o != NULL && o->key != NULL; o++) {
            yaml_node_t *key = NULL;
            yaml_node_t *value = s_lookup(cfg, map, o->key, &key);
            if (value == NULL || s_is_null(value)) {
                continue;
            }
            const char *text = s_scalar(value);
            if (text == NULL) {
                s_err(errbuf, errlen, "%s:%d: %s%s%s: expected a single value, not a %s", cfg->path,
                      s_line(key), section != NULL ? section : "", section != NULL ? "." : "",
                      o->key, value->type == YAML_MAPPING_NODE ? "map" : "list");
                return YARD_E_CONFIG;
            }
            if (!s_store(o, target, text, why, sizeof why)) {
                s_err(errbuf, errlen, "%s:%d: %s%s%s: %s", cfg->path, s_line(value),
                      section != NULL ? section : "", section != NULL ? "." : "", o->key, why);
                return YARD_E_CONFIG;
            }
        }
    }

    /* 3. The environment. */
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        s_env_name(section, o->key, name, sizeof name);
        const char *text = getenv(name);
        if (text == NULL) {
            continue;
        }
        if (!s_store(o, target, text, why, sizeof why)) {
            s_err(errbuf, errlen, "environment variable %s: %s", name, why);
            return YARD_E_CONFIG;
        }
    }

    /* 4. Flags, in order: a repeated flag's last value wins. */
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (arg == NULL || strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            s_err(errbuf, errlen, "'%s': expected an option flag (--key value or --key=value)",
                  arg != NULL ? arg : "(null)");
            return YARD_E_CONFIG;
        }
        const char *flag = arg + 2;
        const char *eq = strchr(flag, '=');
        size_t flen = eq != NULL ? (size_t)(eq - flag) : strlen(flag);
        const yard_option_t *o = s_find_flag(table, flag, flen);
        if (o == NULL) {
            s_err(errbuf, errlen, "--%.*s: unknown flag (see --help)", (int)flen, flag);
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
            s_err(errbuf, errlen, "%s: missing value", name);
            return YARD_E_CONFIG;
        }
        if (!s_store(o, target, text, why, sizeof why)) {
            s_err(errbuf, errlen, "flag %s: %s", name, why);
            return YARD_E_CONFIG;
        }
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
    }
    return "";
}

void
yard_options_help(const yard_option_t *table, const char *section, FILE *out)
{
    size_t wflag = strlen("FLAG"), wenv = strlen("ENVIRONMENT"), wdef = strlen("DEFAULT");
    char flag[192], env[160];
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        s_flag_name(o->key, flag, sizeof flag);
        strncat(flag, s_placeholder(o->type), sizeof flag - strlen(flag) - 1);
        s_env_name(section, o->key, env, sizeof env);
        const char *def = o->default_value != NULL ? o->default_value : "-";
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
        s_flag_name(o->key, flag, sizeof flag);
        strncat(flag, s_placeholder(o->type), sizeof flag - strlen(flag) - 1);
        s_env_name(section, o->key, env, sizeof env);
        const char *def = o->default_value != NULL ? o->default_value : "-";
        fprintf(out, "  %-*s  %-*s  %-*s  %s", (int)wflag, flag, (int)wenv, env, (int)wdef, def,
                o->help != NULL ? o->help : "");
        if (o->min < o->max && o->type != YARD_OPT_STRING && o->type != YARD_OPT_BOOL) {
            char range[96];
            s_range(o, range, sizeof range);
            fprintf(out, " %s", range);
        }
        fputc('\n', out);
    }
}
