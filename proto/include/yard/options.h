/* Options: one declarative table per program or actor gives every setting's key, type,
 * default and help. From it the runtime fills a struct from, in increasing priority:
 * the defaults, the config file (YARD_CONFIG or --config), the environment and the command
 * line; it rejects unknown keys and bad values with the file and line, the variable, or the
 * flag that was wrong; and it prints --help.
 *
 * Names are the same everywhere: key `heartbeat_ms` at the top of the file is the
 * environment variable YARD_HEARTBEAT_MS and the flag --heartbeat-ms; key `credit` in the
 * file's `echo:` section is YARD_ECHO_CREDIT and, when running that actor, --credit.
 *
 * The config file is YAML: common and program keys at the top level, and one map per actor
 * named after it. Top-level keys are checked against yard_config_known_key(), the project's
 * single list of top-level names, so a typo in a shared file is caught by every program.
 *
 * Secrets: any option can instead be read from a file, for values that should not sit in
 * the config file or the environment (a password, a token): `admin_password_file: PATH` in
 * the file, YARD_AUTH_ADMIN_PASSWORD_FILE=PATH in the environment, or --admin-password-file
 * PATH. The file is read once, at start; one trailing newline is dropped; it must not be
 * empty or larger than YARD_OPT_FILE_MAX; giving both KEY and KEY_file in one source is an
 * error. (So a table must not have options named both KEY and KEY_file.) An option flagged
 * YARD_OPT_SECRET never shows its value: --help, errors and every log line (the logger redacts any
 * value registered with yard_log_add_secret(), and the options code registers each secret it
 * stores) show `<secret>` instead. */
#ifndef YARD_OPTIONS_H
#define YARD_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    YARD_OPT_STRING = 1, /* char *: owned by the target; freed by yard_options_free() */
    YARD_OPT_INT,        /* int64_t */
    YARD_OPT_BOOL,       /* bool: true/false/yes/no/on/off/1/0 */
    YARD_OPT_MS,         /* uint32_t milliseconds: "1500", "1500ms", "2s", "5m", "1h30m", "25d"
                            (at most 49d) */
    YARD_OPT_SIZE,       /* uint64_t bytes: "1048576", "64KiB", "1MiB" */
    YARD_OPT_NODE,       /* a structured key (a list or map) the module reads itself through
                            yard_config_node(); no field, no default, no environment variable
                            or flag: the entry only makes the section check accept the key,
                            and --help lists it as "(structured, see docs)" */
} yard_opt_type_t;

/* Flags of an option, or-ed into yard_option_t.flags. */
enum {
    /* The whole value is a secret: shown as <secret> in --help, errors and logs. */
    YARD_OPT_SECRET = 1u << 0,
    /* A URL whose password (scheme://user:PASSWORD@host) is a secret: shown with the
     * password as <secret> (a Redis URL). */
    YARD_OPT_SECRET_URL = 1u << 1,
    /* The program or actor cannot start without it (an API token): an unset or empty value
     * is YARD_E_CONFIG naming the setting, and `yard up` skips an actor that lacks one.
     * Meaningful for STRING options without a default. */
    YARD_OPT_REQUIRED = 1u << 2,
};

/* The largest file a KEY_file option reads (bytes). */
#define YARD_OPT_FILE_MAX (64u * 1024u)

typedef struct {
    const char *key; /* NULL ends the table */
    yard_opt_type_t type;
    const char *default_value; /* as it would be written in the file; NULL: unset */
    size_t offset;             /* offsetof() the field in the target struct */
    const char *help;
    int64_t min; /* for INT, MS and SIZE when min < max: the inclusive allowed range */
    int64_t max;
    unsigned flags; /* YARD_OPT_SECRET, YARD_OPT_SECRET_URL, YARD_OPT_REQUIRED; 0: none */
} yard_option_t;

/* The defaults of the top-level keys that several programs' tables name (each with its own
 * field): spelled once, here, for every table. */
#define YARD_OPT_DEFAULT_BROKER    "tcp://127.0.0.1:5555"
#define YARD_OPT_DEFAULT_STORE     "memory"
#define YARD_OPT_DEFAULT_LOG_LEVEL "info"

/* A parsed config file. Caller owns the result; free with yard_config_destroy(). */
typedef struct yard_config yard_config_t;

/* Loads a YAML config file. Returns 0 and sets *out, or YARD_E_CONFIG / YARD_E_IO with
 * errbuf holding "path:line: reason". */
int yard_config_load(const char *path, yard_config_t **out, char *errbuf, size_t errlen);
void yard_config_destroy(yard_config_t **self_p);

/* The file's path. Borrowed; valid while cfg lives. */
const char *yard_config_path(const yard_config_t *cfg);

/* True when the file has a top-level map named section (an actor's section). */
bool yard_config_has_section(const yard_config_t *cfg, const char *section);

/* True when key is a top-level key some Switchyard program reads. */
bool yard_config_known_key(const char *key);

/* Fills target from the table. section is NULL for top-level keys, or an actor's name.
 * cfg may be NULL (no file). argv holds only option flags ("--key value", "--key=value" or
 * "--key-file PATH"); a flag not in the table is an error. Returns 0, or YARD_E_CONFIG (also
 * for a YARD_OPT_REQUIRED option left unset) with errbuf naming the file and line, the
 * environment variable, or the flag, and what was wrong; a secret's value is never in it.
 * On error target may be partly filled: call yard_options_free() either way. */
int yard_options_apply(const yard_option_t *table, void *target, const yard_config_t *cfg,
                       const char *section, int argc, char **argv, char *errbuf, size_t errlen);

/* One table with its section and target, for yard_options_apply_sets(). Borrowed. */
typedef struct {
    const yard_option_t *table;
    const char *section; /* NULL: top level */
    void *target;
} yard_option_set_t;

/* Applies several tables from one argv, as a program with shared and own settings does:
 * each flag goes to the first set whose table names it, and a flag that no table names is
 * an error. Returns 0 or the first set's error, as yard_options_apply(). Call
 * yard_options_free() on each target either way. */
int yard_options_apply_sets(const yard_option_set_t *sets, size_t n, const yard_config_t *cfg,
                            int argc, char **argv, char *errbuf, size_t errlen);

/* The first YARD_OPT_REQUIRED option of table that neither its default, the file (KEY or
 * KEY_file in section) nor the environment gives, or NULL when none is missing. Flags are
 * not consulted. Borrowed from table. */
const yard_option_t *yard_options_missing(const yard_option_t *table, const yard_config_t *cfg,
                                          const char *section);

/* Writes value as it may be shown (in a log line, --help or an error): "<secret>" for a
 * YARD_OPT_SECRET option, the URL with its password as <secret> for YARD_OPT_SECRET_URL, the
 * value itself otherwise ("-" for NULL). Truncated to len. Returns buf. */
const char *yard_option_display(const yard_option_t *o, const char *value, char *buf, size_t len);

/* Logs every option of a filled target at debug level, one line each ("option", key,
 * section, value as yard_option_display() shows it): the settings a program runs with. */
void yard_options_log(const yard_option_t *table, const void *target, const char *section);

/* Checks the file's keys in section (NULL: top level, against yard_config_known_key())
 * without applying anything: unknown keys give YARD_E_CONFIG with "path:line: ...". */
int yard_config_check_section(const yard_config_t *cfg, const yard_option_t *table,
                              const char *section, char *errbuf, size_t errlen);

/* Prints one line per option: flag, environment variable, default and help. A secret's
 * default shows as <secret>, a required option's as (required). */
void yard_options_help(const yard_option_t *table, const char *section, FILE *out);

/* For a settings struct filled by hand (a library caller, a test) instead of by
 * yard_options_apply(), so that its defaults still come from the table alone: every INT, MS
 * or SIZE field that is 0 where the option does not allow 0 (0 is outside its min..max, or
 * it has no range) gets the table's default. STRING fields are left alone (their ownership
 * is the caller's: see yard_options_default()), and so are BOOL fields (false is a value). */
void yard_options_fill_unset(const yard_option_t *table, void *target);

/* The default text of the option named key, or NULL when it has none or no such option.
 * Borrowed from table (static storage). */
const char *yard_options_default(const yard_option_t *table, const char *key);

/* Frees the STRING fields of target that the table names, and sets them to NULL. */
void yard_options_free(const yard_option_t *table, void *target);

/* Parses one value text exactly as an option of that type is parsed from any source, so a
 * module reading a structured key gives its fields the same syntax: out is an int64_t (INT),
 * bool (BOOL), uint32_t (MS), uint64_t (SIZE) or char * (STRING: caller owns the copy; free
 * with free()). Returns 0, or YARD_E_CONFIG with the reason in err (without a source: the
 * caller adds "path:line: key: "). No range check: the caller applies its own. */
int yard_option_parse(yard_opt_type_t type, const char *text, void *out, char *err, size_t errlen);

/* ---------------------------------------------------------------------------------------- */
/* Structured config: read-only access to lists and maps of the loaded file, for keys that a
 * table declares as YARD_OPT_NODE (e.g. gateway.routes, a list of maps). A node is a small
 * value: the document it belongs to and the node's index there, 0 for "absent"; every
 * function accepts an absent node and answers "absent" / 0 / NULL, so lookups chain without
 * checks. Nodes and the strings they give are borrowed from cfg: valid while cfg lives; do
 * not free or store beyond it. */

typedef enum {
    YARD_CONFIG_ABSENT = 0, /* no such key (or index out of range) */
    YARD_CONFIG_NULL,       /* present with no value: "key:", "~" or "null" */
    YARD_CONFIG_SCALAR,
    YARD_CONFIG_LIST,
    YARD_CONFIG_MAP,
} yard_config_kind_t;

typedef struct {
    const yard_config_t *cfg;
    int index; /* libyaml node index in cfg's document; 0: absent */
} yard_config_node_t;

/* The node at a dotted path of map keys from the top level ("gateway.routes"; NULL or ""
 * is the top-level map itself). cfg may be NULL (absent). */
yard_config_node_t yard_config_node(const yard_config_t *cfg, const char *path);

yard_config_kind_t yard_config_node_kind(yard_config_node_t node);

/* The 1-based line where node starts in the file; 0 when absent. */
int yard_config_node_line(yard_config_node_t node);

/* A scalar's text (NULL for anything else, including an absent node; a NULL node gives ""). */
const char *yard_config_node_text(yard_config_node_t node);

/* Number of items of a list or pairs of a map; 0 for anything else. */
size_t yard_config_node_len(yard_config_node_t node);

/* Item i of a list (absent when out of range or not a list). */
yard_config_node_t yard_config_node_item(yard_config_node_t list, size_t i);

/* The value for key in a map (absent when missing or not a map). */
yard_config_node_t yard_config_node_get(yard_config_node_t map, const char *key);

/* Reads a secret file with the KEY_file rules: at most YARD_OPT_FILE_MAX bytes, not empty, no
 * NUL byte, one trailing newline ("\n" or "\r\n") dropped; for a credential an actor reads
 * again while it runs (a rotated refresh token). Returns the text (caller owns it; free with
 * free(), after overwriting it), or NULL with the reason in why, which names the file and
 * never its content. */
char *yard_option_read_file(const char *path, char *why, size_t whylen);

/* A secret of a structured entry (an API token in one item of a list), given in the map node
 * as `key` or as `key_file` naming a file (not both), with the KEY_file rules of options: at
 * most YARD_OPT_FILE_MAX bytes, not empty, one trailing newline dropped. The value is
 * registered with the logger (yard_log_add_secret) so that no log line shows it. Returns 0
 * with *out (caller owns it; free with free()), or with *out NULL when neither key is there;
 * or YARD_E_CONFIG with err holding "path:line: what was wrong" (never the value). */
int yard_config_node_secret(yard_config_node_t map, const char *key, char **out, char *err,
                            size_t errlen);

/* Pair i of a map, in file order: returns the key's text and sets *value (may be NULL) and
 * *line (may be NULL; the key's line). NULL when out of range or not a map. Use it to refuse
 * unknown keys with file:line. */
const char *yard_config_node_key(yard_config_node_t map, size_t i, yard_config_node_t *value,
                                 int *line);

#endif
