/* The config file: a YAML document loaded with libyaml and kept for the life of the
 * yard_config_t, so that every key keeps its line for error messages; lookups walk it. Also
 * the project's single list of known top-level keys and the check of a section against an
 * options table (unknown keys are refused with file, line and a suggestion).
 *
 * Invariant: a loaded document's top level and every map in it (inside lists too) have only
 * scalar keys, each appearing once, so a lookup by key is unambiguous.
 *
 * The structured-config node API (yard_config_node_*) lives here too: it is a read-only view
 * of the same document for keys that modules parse themselves (lists of maps such as the
 * gateway's routes), so they report errors with the same "path:line:" as the options. */
#include "alloc_internal.h"
#include "options_internal.h"
#include "yard/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
    "tap",
    "insecure",    /* the broker binds beyond loopback without CURVE (yard/broker.h) */
    "metrics",     /* the broker's Prometheus endpoint, HOST:PORT (yard/broker.h) */
    "curve",       /* bus keys: yard/curve.h */
    "log_publish", /* every program publishes its log lines: yard/log_publish.h */
    NULL,
};

/* True when key is name or name + "_file" (a value read from a file). */
static bool
s_names(const char *key, const char *name)
{
    size_t n = strlen(name);
    return strncmp(key, name, n) == 0 && (key[n] == '\0' || strcmp(key + n, "_file") == 0);
}

bool
yard_config_known_key(const char *key)
{
    if (key == NULL) {
        return false;
    }
    for (size_t i = 0; s_known_keys[i] != NULL; i++) {
        if (s_names(key, s_known_keys[i])) {
            return true;
        }
    }
    return false;
}

static yaml_node_t *
s_node(const yard_config_t *cfg, int index)
{
    return yaml_document_get_node(cfg->doc, index);
}

int
yard__config_line(const yaml_node_t *node)
{
    return (int)node->start_mark.line + 1;
}

/* The scalar text of node, or NULL when it is not a scalar. */
const char *
yard__config_scalar(const yaml_node_t *node)
{
    if (node == NULL || node->type != YAML_SCALAR_NODE) {
        return NULL;
    }
    return (const char *)node->data.scalar.value;
}

/* A plain empty value, "~" or "null": the key is present with no value. */
bool
yard__config_is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return false;
    }
    const char *v = (const char *)node->data.scalar.value;
    return *v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

yaml_node_t *
yard__config_root(const yard_config_t *cfg)
{
    if (cfg == NULL || cfg->doc == NULL) {
        return NULL;
    }
    return yaml_document_get_root_node(cfg->doc);
}

/* Bounds on the check's walk: YAML aliases can make the document a cycle ("&x [a: *x]",
 * found by tests/fuzz/fuzz_config: the recursion overflowed the stack) or a tree that expands
 * exponentially ("billion laughs"); no real config is near either bound. */
#define S_CHECK_DEPTH_MAX 64
#define S_CHECK_NODES_MAX 100000

typedef struct {
    const yard_config_t *cfg;
    char *errbuf;
    size_t errlen;
    int depth;
    size_t nodes;
} s_walk_t;

static int s_check_value(s_walk_t *w, yaml_node_t *value);

/* Checks that every key of map is a scalar and appears once. */
static int
s_check_map(s_walk_t *w, yaml_node_t *map)
{
    const yard_config_t *cfg = w->cfg;
    char *errbuf = w->errbuf;
    size_t errlen = w->errlen;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = s_node(cfg, p->key);
        const char *k = yard__config_scalar(key);
        if (k == NULL) {
            yard__opt_err(errbuf, errlen, "%s:%d: keys must be plain names", cfg->path,
                          key != NULL ? yard__config_line(key) : 0);
            return YARD_E_CONFIG;
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const char *prev = yard__config_scalar(s_node(cfg, q->key));
            if (prev != NULL && strcmp(prev, k) == 0) {
                yard__opt_err(errbuf, errlen, "%s:%d: duplicate key '%s' (first at line %d)",
                              cfg->path, yard__config_line(key), k,
                              yard__config_line(s_node(cfg, q->key)));
                return YARD_E_CONFIG;
            }
        }
        int rc = s_check_value(w, s_node(cfg, p->value));
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Checks the maps inside value, also those inside lists (a route table is a list of maps). */
static int
s_check_value(s_walk_t *w, yaml_node_t *value)
{
    if (value == NULL) {
        return 0;
    }
    if (w->depth >= S_CHECK_DEPTH_MAX || ++w->nodes > S_CHECK_NODES_MAX) {
        yard__opt_err(w->errbuf, w->errlen,
                      "%s:%d: nested deeper than %d levels or over %d values (an alias that "
                      "contains itself, or aliases that multiply)",
                      w->cfg->path, yard__config_line(value), S_CHECK_DEPTH_MAX, S_CHECK_NODES_MAX);
        return YARD_E_CONFIG;
    }
    int rc = 0;
    w->depth++;
    if (value->type == YAML_MAPPING_NODE) {
        rc = s_check_map(w, value);
    } else if (value->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *i = value->data.sequence.items.start;
             rc == 0 && i < value->data.sequence.items.top; i++) {
            rc = s_check_value(w, s_node(w->cfg, *i));
        }
    }
    w->depth--;
    return rc;
}

int
yard_config_load(const char *path, yard_config_t **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        yard__opt_err(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
        return YARD_E_IO;
    }
    yard_config_t *cfg = yard__xcalloc(1, sizeof *cfg);
    cfg->path = yard__xstrdup(path);
    int rc = 0;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        abort();
    }
    yaml_parser_set_input_file(&parser, fp);
    yaml_document_t *doc = yard__xcalloc(1, sizeof *doc);
    if (!yaml_parser_load(&parser, doc)) {
        const char *problem = parser.problem != NULL ? parser.problem : "malformed YAML";
        size_t line = parser.problem_mark.line + 1;
        if (parser.context != NULL) {
            yard__opt_err(errbuf, errlen, "%s:%zu: %s %s", path, line, problem, parser.context);
        } else {
            yard__opt_err(errbuf, errlen, "%s:%zu: %s", path, line, problem);
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
    if (root->type == YAML_SCALAR_NODE && yard__config_is_null(root)) {
        goto cleanup;
    }
    if (root->type != YAML_MAPPING_NODE) {
        yard__opt_err(errbuf, errlen, "%s:%d: the top level must be a map of key: value", path,
                      yard__config_line(root));
        rc = YARD_E_CONFIG;
        goto cleanup;
    }
    s_walk_t walk = {.cfg = cfg, .errbuf = errbuf, .errlen = errlen};
    rc = s_check_map(&walk, root);

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
yaml_node_t *
yard__config_lookup(const yard_config_t *cfg, yaml_node_t *map, const char *key,
                    yaml_node_t **key_node)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE) {
        return NULL;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = s_node(cfg, p->key);
        const char *name = yard__config_scalar(k);
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
yaml_node_t *
yard__config_section(const yard_config_t *cfg, const char *section)
{
    yaml_node_t *root = yard__config_root(cfg);
    if (root == NULL || root->type != YAML_MAPPING_NODE) {
        return NULL;
    }
    if (section == NULL) {
        return root;
    }
    yaml_node_t *sec = yard__config_lookup(cfg, root, section, NULL);
    return sec != NULL && sec->type == YAML_MAPPING_NODE ? sec : NULL;
}

bool
yard_config_has_section(const yard_config_t *cfg, const char *section)
{
    return section != NULL && yard__config_section(cfg, section) != NULL;
}

/* The option key names, as KEY or (for a single-valued option) KEY_file, or NULL. */
static const yard_option_t *
s_find(const yard_option_t *table, const char *key)
{
    for (const yard_option_t *o = table; o != NULL && o->key != NULL; o++) {
        if (strcmp(o->key, key) == 0 || (o->type != YARD_OPT_NODE && s_names(key, o->key))) {
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
    yaml_node_t *map = yard__config_section(cfg, section);
    if (map == NULL) {
        return 0;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = s_node(cfg, p->key);
        yaml_node_t *value = s_node(cfg, p->value);
        const char *k = yard__config_scalar(key);
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
            yard__opt_err(errbuf, errlen, "%s:%d: unknown key '%s' at the top level%s", cfg->path,
                          yard__config_line(key), k, hint);
            return YARD_E_CONFIG;
        }
        if (s_find(table, k) == NULL) {
            s_suggest(table, false, k, hint, sizeof hint);
            yard__opt_err(errbuf, errlen, "%s:%d: unknown key '%s' in section '%s'%s", cfg->path,
                          yard__config_line(key), k, section, hint);
            return YARD_E_CONFIG;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Structured config: nodes are (cfg, index) values; index 0 is "absent" in libyaml too. */

static yard_config_node_t
s_wrap(const yard_config_t *cfg, yaml_node_t *node)
{
    yard_config_node_t n = {cfg, 0};
    if (cfg != NULL && cfg->doc != NULL && node != NULL) {
        n.index = (int)(node - cfg->doc->nodes.start) + 1;
    }
    return n;
}

static yaml_node_t *
s_unwrap(yard_config_node_t node)
{
    if (node.cfg == NULL || node.cfg->doc == NULL || node.index == 0) {
        return NULL;
    }
    return yaml_document_get_node(node.cfg->doc, node.index);
}

yard_config_node_t
yard_config_node(const yard_config_t *cfg, const char *path)
{
    yaml_node_t *node = yard__config_root(cfg);
    const char *p = path != NULL ? path : "";
    while (node != NULL && *p != '\0') {
        const char *dot = strchr(p, '.');
        size_t len = dot != NULL ? (size_t)(dot - p) : strlen(p);
        char key[128];
        if (len == 0 || len >= sizeof key) {
            return s_wrap(cfg, NULL);
        }
        memcpy(key, p, len);
        key[len] = '\0';
        node = yard__config_lookup(cfg, node, key, NULL);
        p += len + (dot != NULL ? 1 : 0);
    }
    return s_wrap(cfg, node);
}

yard_config_kind_t
yard_config_node_kind(yard_config_node_t node)
{
    yaml_node_t *n = s_unwrap(node);
    if (n == NULL) {
        return YARD_CONFIG_ABSENT;
    }
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return yard__config_is_null(n) ? YARD_CONFIG_NULL : YARD_CONFIG_SCALAR;
    case YAML_SEQUENCE_NODE:
        return YARD_CONFIG_LIST;
    case YAML_MAPPING_NODE:
        return YARD_CONFIG_MAP;
    case YAML_NO_NODE:
        break;
    }
    return YARD_CONFIG_ABSENT;
}

int
yard_config_node_line(yard_config_node_t node)
{
    yaml_node_t *n = s_unwrap(node);
    return n != NULL ? yard__config_line(n) : 0;
}

const char *
yard_config_node_text(yard_config_node_t node)
{
    yaml_node_t *n = s_unwrap(node);
    if (n != NULL && yard__config_is_null(n)) {
        return "";
    }
    return yard__config_scalar(n);
}

size_t
yard_config_node_len(yard_config_node_t node)
{
    yaml_node_t *n = s_unwrap(node);
    if (n == NULL) {
        return 0;
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    }
    if (n->type == YAML_MAPPING_NODE) {
        return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    }
    return 0;
}

yard_config_node_t
yard_config_node_item(yard_config_node_t list, size_t i)
{
    yaml_node_t *n = s_unwrap(list);
    if (n == NULL || n->type != YAML_SEQUENCE_NODE || i >= yard_config_node_len(list)) {
        return s_wrap(list.cfg, NULL);
    }
    return s_wrap(list.cfg, s_node(list.cfg, n->data.sequence.items.start[i]));
}

yard_config_node_t
yard_config_node_get(yard_config_node_t map, const char *key)
{
    yaml_node_t *n = s_unwrap(map);
    if (n == NULL || key == NULL) {
        return s_wrap(map.cfg, NULL);
    }
    return s_wrap(map.cfg, yard__config_lookup(map.cfg, n, key, NULL));
}

const char *
yard_config_node_key(yard_config_node_t map, size_t i, yard_config_node_t *value, int *line)
{
    yaml_node_t *n = s_unwrap(map);
    if (value != NULL) {
        *value = s_wrap(map.cfg, NULL);
    }
    if (line != NULL) {
        *line = 0;
    }
    if (n == NULL || n->type != YAML_MAPPING_NODE || i >= yard_config_node_len(map)) {
        return NULL;
    }
    yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
    yaml_node_t *key = s_node(map.cfg, p->key);
    if (value != NULL) {
        *value = s_wrap(map.cfg, s_node(map.cfg, p->value));
    }
    if (line != NULL && key != NULL) {
        *line = yard__config_line(key);
    }
    return yard__config_scalar(key);
}
