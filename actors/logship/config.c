/* logship's structured settings: `files:` (a list of inputs), `bus:` and `elasticsearch:`
 * (maps). Every unknown key is refused with the file and line, every value is parsed with the
 * same syntax as a plain option (yard_option_parse), and the secrets (api_key, password) are
 * read from their *_file and registered with the logger, so no line ever shows them. */
#include "ls.h"

#include "yard/error.h"
#include "yard/log.h"
#include "yard/options.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_fail(char *err, size_t errlen, yard_config_node_t node, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s:%d: logship: %s", yard_config_path(node.cfg),
             yard_config_node_line(node), what);
    return YARD_E_CONFIG;
}

/* Checks that map has only the keys in allowed (NULL-terminated). */
static int
s_keys(yard_config_node_t map, const char *where, const char *const *allowed, char *err,
       size_t errlen)
{
    if (yard_config_node_kind(map) != YARD_CONFIG_MAP) {
        return s_fail(err, errlen, map, "%s must be a map", where);
    }
    for (size_t i = 0; i < yard_config_node_len(map); i++) {
        yard_config_node_t v;
        const char *k = yard_config_node_key(map, i, &v, NULL);
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) {
            ok = strcmp(*a, k) == 0;
        }
        if (!ok) {
            return s_fail(err, errlen, v, "%s: unknown key '%s'", where, k);
        }
    }
    return 0;
}

/* A scalar value parsed as type into out; absent leaves out alone. */
static int
s_scalar(yard_config_node_t map, const char *key, const char *where, yard_opt_type_t type,
         void *out, char *err, size_t errlen)
{
    yard_config_node_t v = yard_config_node_get(map, key);
    if (yard_config_node_kind(v) == YARD_CONFIG_ABSENT) {
        return 0;
    }
    const char *text = yard_config_node_text(v);
    if (text == NULL) {
        return s_fail(err, errlen, v, "%s.%s must be a single value", where, key);
    }
    char why[256];
    if (yard_option_parse(type, text, out, why, sizeof why) != 0) {
        return s_fail(err, errlen, v, "%s.%s: %s", where, key, why);
    }
    return 0;
}

/* A list of strings (or one string) into out[], at most LS_GLOBS_MAX. */
static int
s_strings(yard_config_node_t node, const char *where, char **out, size_t *n, size_t max, char *err,
          size_t errlen)
{
    yard_config_kind_t kind = yard_config_node_kind(node);
    if (kind == YARD_CONFIG_ABSENT) {
        return 0;
    }
    if (kind == YARD_CONFIG_SCALAR) {
        out[(*n)++] = strdup(yard_config_node_text(node));
        return 0;
    }
    if (kind != YARD_CONFIG_LIST) {
        return s_fail(err, errlen, node, "%s must be a string or a list of strings", where);
    }
    for (size_t i = 0; i < yard_config_node_len(node); i++) {
        const char *t = yard_config_node_text(yard_config_node_item(node, i));
        if (t == NULL || t[0] == '\0') {
            return s_fail(err, errlen, yard_config_node_item(node, i),
                          "%s: item %zu must be a non-empty string", where, i);
        }
        if (*n >= max) {
            return s_fail(err, errlen, node, "%s: more than %zu items", where, max);
        }
        out[(*n)++] = strdup(t);
    }
    return 0;
}

static int
s_multiline(yard_config_node_t node, ls_input_t *in, char *err, size_t errlen)
{
    yard_config_kind_t kind = yard_config_node_kind(node);
    if (kind == YARD_CONFIG_ABSENT) {
        return 0;
    }
    const char *t = yard_config_node_text(node);
    if (t != NULL && strcmp(t, "python") == 0) {
        in->ml = LS_ML_PYTHON;
        return 0;
    }
    if (t != NULL && strcmp(t, "java") == 0) {
        in->ml = LS_ML_JAVA;
        return 0;
    }
    static const char *const keys[] = {"start", NULL};
    if (kind != YARD_CONFIG_MAP || s_keys(node, "files.multiline", keys, err, errlen) != 0 ||
        yard_config_node_text(yard_config_node_get(node, "start")) == NULL) {
        return s_fail(err, errlen, node, "files.multiline must be python, java or {start: REGEX}");
    }
    const char *re = yard_config_node_text(yard_config_node_get(node, "start"));
    int rc = regcomp(&in->start, re, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char why[128];
        regerror(rc, &in->start, why, sizeof why);
        return s_fail(err, errlen, node, "files.multiline.start: %s", why);
    }
    in->ml = LS_ML_REGEX;
    return 0;
}

static int
s_files(yard_config_node_t list, ls_config_t *cfg, char *err, size_t errlen)
{
    if (yard_config_node_kind(list) == YARD_CONFIG_ABSENT) {
        return 0;
    }
    if (yard_config_node_kind(list) != YARD_CONFIG_LIST) {
        return s_fail(err, errlen, list, "files must be a list of {paths: [...]} maps");
    }
    static const char *const keys[] = {"paths", "exclude", "multiline", "service", NULL};
    for (size_t i = 0; i < yard_config_node_len(list); i++) {
        yard_config_node_t m = yard_config_node_item(list, i);
        if (cfg->ninputs >= LS_INPUTS_MAX) {
            return s_fail(err, errlen, m, "files: more than %d entries", LS_INPUTS_MAX);
        }
        int rc = s_keys(m, "files", keys, err, errlen);
        ls_input_t *in = &cfg->inputs[cfg->ninputs++];
        if (rc == 0) {
            rc = s_strings(yard_config_node_get(m, "paths"), "files.paths", in->paths, &in->npaths,
                           LS_GLOBS_MAX, err, errlen);
        }
        if (rc == 0 && in->npaths == 0) {
            rc = s_fail(err, errlen, m, "files: an entry needs paths");
        }
        if (rc == 0) {
            rc = s_strings(yard_config_node_get(m, "exclude"), "files.exclude", in->exclude,
                           &in->nexclude, LS_GLOBS_MAX, err, errlen);
        }
        if (rc == 0) {
            rc = s_multiline(yard_config_node_get(m, "multiline"), in, err, errlen);
        }
        if (rc == 0) {
            rc = s_scalar(m, "service", "files", YARD_OPT_STRING, &in->service, err, errlen);
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int
s_bus(yard_config_node_t m, ls_config_t *cfg, char *err, size_t errlen)
{
    if (yard_config_node_kind(m) == YARD_CONFIG_ABSENT) {
        return 0;
    }
    static const char *const keys[] = {"subjects", NULL};
    int rc = s_keys(m, "bus", keys, err, errlen);
    return rc ? rc
              : s_strings(yard_config_node_get(m, "subjects"), "bus.subjects", cfg->subjects,
                          &cfg->nsubjects, LS_SUBJECTS_MAX, err, errlen);
}

static int
s_es(yard_config_node_t m, ls_config_t *cfg, char *err, size_t errlen)
{
    if (yard_config_node_kind(m) == YARD_CONFIG_ABSENT) {
        return 0;
    }
    static const char *const keys[] = {"url",      "index",         "api_key_file", "api_key",
                                       "username", "password_file", "password",     "batch",
                                       "timeout",  "backoff",       "dead_letter",  "ca_file",
                                       NULL};
    static const char *const bkeys[] = {"max_items", "max_bytes", "flush", NULL};
    static const char *const rkeys[] = {"base", "cap", NULL};
    int rc = s_keys(m, "elasticsearch", keys, err, errlen);
    char *url = NULL;
    int64_t items = cfg->max_items;
    yard_config_node_t b = yard_config_node_get(m, "batch");
    yard_config_node_t r = yard_config_node_get(m, "backoff");
    if (rc == 0 &&
        (rc = s_scalar(m, "url", "elasticsearch", YARD_OPT_STRING, &url, err, errlen)) == 0 &&
        url != NULL) {
        free(cfg->es_url);
        cfg->es_url = url;
    }
    if (rc == 0) {
        rc = s_scalar(m, "index", "elasticsearch", YARD_OPT_STRING, &cfg->es_index, err, errlen);
    }
    /* api_key / password, or their _file forms, with the options' KEY_file rules */
    rc = rc ? rc : yard_config_node_secret(m, "api_key", &cfg->api_key, err, errlen);
    rc = rc ? rc : yard_config_node_secret(m, "password", &cfg->password, err, errlen);
    rc =
        rc ? rc
           : s_scalar(m, "username", "elasticsearch", YARD_OPT_STRING, &cfg->username, err, errlen);
    rc = rc ? rc
            : s_scalar(m, "dead_letter", "elasticsearch", YARD_OPT_STRING, &cfg->dead_letter, err,
                       errlen);
    rc = rc ? rc
            : s_scalar(m, "timeout", "elasticsearch", YARD_OPT_MS, &cfg->timeout_ms, err, errlen);
    rc = rc ? rc
            : s_scalar(m, "ca_file", "elasticsearch", YARD_OPT_STRING, &cfg->ca_file, err, errlen);
    if (rc == 0 && yard_config_node_kind(b) != YARD_CONFIG_ABSENT) {
        rc = s_keys(b, "elasticsearch.batch", bkeys, err, errlen);
        rc = rc ? rc : s_scalar(b, "max_items", "batch", YARD_OPT_INT, &items, err, errlen);
        rc = rc ? rc
                : s_scalar(b, "max_bytes", "batch", YARD_OPT_SIZE, &cfg->max_bytes, err, errlen);
        rc = rc ? rc : s_scalar(b, "flush", "batch", YARD_OPT_MS, &cfg->flush_ms, err, errlen);
    }
    if (rc == 0 && yard_config_node_kind(r) != YARD_CONFIG_ABSENT) {
        rc = s_keys(r, "elasticsearch.backoff", rkeys, err, errlen);
        rc = rc ? rc
                : s_scalar(r, "base", "backoff", YARD_OPT_MS, &cfg->backoff_base_ms, err, errlen);
        rc =
            rc ? rc : s_scalar(r, "cap", "backoff", YARD_OPT_MS, &cfg->backoff_cap_ms, err, errlen);
    }
    if (rc == 0 && (items < 1 || items > 100000)) {
        rc = s_fail(err, errlen, b, "elasticsearch.batch.max_items must be 1..100000");
    }
    cfg->max_items = (uint32_t)items;
    if (rc == 0 && (cfg->max_bytes < 1024 || cfg->max_bytes > YARD_HTTP_MAX_REQUEST_BODY)) {
        rc = s_fail(err, errlen, b, "elasticsearch.batch.max_bytes must be 1KiB..64MiB");
    }
    if (rc == 0 && (cfg->flush_ms == 0 || cfg->backoff_base_ms == 0 ||
                    cfg->backoff_cap_ms < cfg->backoff_base_ms)) {
        rc = s_fail(err, errlen, m,
                    "elasticsearch: flush and backoff.base must be above 0, "
                    "backoff.cap at least backoff.base");
    }
    if (rc == 0 && cfg->api_key != NULL && cfg->username != NULL) {
        rc = s_fail(err, errlen, m, "elasticsearch: give api_key_file or username, not both");
    }
    if (rc == 0 && (cfg->username != NULL) != (cfg->password != NULL)) {
        rc = s_fail(err, errlen, m, "elasticsearch: username and password_file go together");
    }
    return rc;
}

int
ls_config_read(const yard_config_t *file, ls_config_t *cfg, char *err, size_t errlen)
{
    cfg->es_url = strdup("http://127.0.0.1:9200");
    cfg->max_items = 1600;
    cfg->max_bytes = 5u << 20;
    cfg->flush_ms = 1000;
    cfg->timeout_ms = 30000;
    cfg->backoff_base_ms = 500;
    cfg->backoff_cap_ms = 30000;
    int rc = s_files(yard_config_node(file, "logship.files"), cfg, err, errlen);
    rc = rc ? rc : s_bus(yard_config_node(file, "logship.bus"), cfg, err, errlen);
    rc = rc ? rc : s_es(yard_config_node(file, "logship.elasticsearch"), cfg, err, errlen);
    if (rc == 0 && cfg->es_index == NULL) {
        cfg->es_index = strdup("yard-logs-%Y.%m.%d");
    }
    size_t ul = strlen(cfg->es_url);
    while (ul > 0 && cfg->es_url[ul - 1] == '/') {
        cfg->es_url[--ul] = '\0';
    }
    return rc;
}

void
ls_config_free(ls_config_t *cfg)
{
    for (size_t i = 0; i < cfg->ninputs; i++) {
        ls_input_t *in = &cfg->inputs[i];
        for (size_t k = 0; k < in->npaths; k++) {
            free(in->paths[k]);
        }
        for (size_t k = 0; k < in->nexclude; k++) {
            free(in->exclude[k]);
        }
        if (in->ml == LS_ML_REGEX) {
            regfree(&in->start);
        }
        free(in->service);
    }
    for (size_t i = 0; i < cfg->nsubjects; i++) {
        free(cfg->subjects[i]);
    }
    if (cfg->api_key) {
        explicit_bzero(cfg->api_key, strlen(cfg->api_key));
    }
    if (cfg->password) {
        explicit_bzero(cfg->password, strlen(cfg->password));
    }
    free(cfg->api_key);
    free(cfg->password);
    free(cfg->username);
    free(cfg->es_url);
    free(cfg->es_index);
    free(cfg->out_path);
    free(cfg->dead_letter);
    free(cfg->ca_file);
    memset(cfg, 0, sizeof *cfg);
}
