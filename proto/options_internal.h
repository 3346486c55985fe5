/* Private to libyard: what the options files share. options_config.c holds the YAML
 * document and its lookups; options_value.c parses one value text for an option; options.c
 * applies a table from defaults, the file, the environment and flags; options_help.c prints
 * --help and shows values with their secrets hidden.
 *
 * Invariant: a value from any source passes yard__opt_store(), so every source gets the same
 * parser and range check. */
#ifndef YARD_OPTIONS_INTERNAL_H
#define YARD_OPTIONS_INTERNAL_H

#include "yard/options.h"

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

struct yard_config {
    char *path;
    yaml_document_t *doc; /* NULL when the file holds no document (empty file) */
};

/* snprintf into errbuf, if there is one. */
void yard__opt_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The YAML document (options_config.c). Nodes are borrowed from cfg; do not free or store. */
int yard__config_line(const yaml_node_t *node);
const char *yard__config_scalar(const yaml_node_t *node);
bool yard__config_is_null(const yaml_node_t *node);
yaml_node_t *yard__config_root(const yard_config_t *cfg);
yaml_node_t *yard__config_lookup(const yard_config_t *cfg, yaml_node_t *map, const char *key,
                                 yaml_node_t **key_node);
yaml_node_t *yard__config_section(const yard_config_t *cfg, const char *section);

/* Values (options_value.c). */
void yard__opt_range(const yard_option_t *o, char *buf, size_t len);
bool yard__opt_store(const yard_option_t *o, void *target, const char *text, char *why,
                     size_t whylen);

/* url with the password of its userinfo (or a lone userinfo) as <secret>, into buf. */
void yard__opt_url_redact(const char *url, char *buf, size_t len);

/* Names (options.c): YARD_<KEY> or YARD_<SECTION>_<KEY> (upper case, anything not
 * alphanumeric as '_'), and --<key> with '_' written as '-'. */
void yard__opt_env_name(const char *section, const char *key, char *buf, size_t len);
void yard__opt_flag_name(const char *key, char *buf, size_t len);

/* The option that a flag names (after "--", len bytes), directly or as
 * its KEY-file form (then *is_file is true), or NULL. Borrowed from table. */
const yard_option_t *yard__opt_find_flag(const yard_option_t *table, const char *name, size_t len,
                                         bool *is_file);

#endif
