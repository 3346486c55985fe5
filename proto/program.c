/* The program skeleton: what yard-broker, yard-gateway, yard-actor and yard up share, from
 * the first line of main (signals blocked before any thread) to the exit code. The option
 * tables a program registers drive both --help and the configuration, so a setting's
 * default, help and spelling live in its table only.
 *
 * Invariant: a failure is recorded once (the first wins), with the exit code it implies, and
 * printed once, by yard_program_end(). */
#include "alloc_internal.h"
#include "options_internal.h"
#include "yard/program.h"
#include "yard/curve.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/log_publish.h"
#include "yard/signal.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define S_TABLES_MAX 16

typedef struct {
    const char *heading;
    const yard_option_t *table;
    const char *section;
    void *target;
} s_table_t;

struct yard_program {
    const yard_program_def_t *def;
    const char *config_path; /* borrowed from argv or the environment; NULL: none */
    yard_config_t *cfg;
    char **flags; /* the rest of argv, aliases expanded */
    int nflags;
    bool help;
    s_table_t tables[S_TABLES_MAX];
    size_t ntables;
    int code;
    char err[1024];
    yard_curve_opts_t curve;     /* the `curve:` section, applied for every program */
    yard_log_publish_t *publish; /* log_publish: true; NULL otherwise */
};

/* The option flag an alias stands for, or NULL. */
static const char *
s_alias(const yard_program_def_t *def, const char *arg)
{
    for (const char *const *a = def->aliases; a != NULL && a[0] != NULL && a[1] != NULL; a += 2) {
        if (strcmp(a[0], arg) == 0) {
            return a[1];
        }
    }
    return NULL;
}

/* Takes --help and --config out of argv; the rest are option flags. */
static void
s_split_args(yard_program_t *self, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *alias = s_alias(self->def, arg);
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            self->help = true;
        } else if (strcmp(arg, "--config") == 0) {
            if (i + 1 >= argc) {
                yard_program_fail(self, YARD_E_CONFIG, "--config: missing file name");
                return;
            }
            self->config_path = argv[++i];
        } else if (strncmp(arg, "--config=", 9) == 0) {
            self->config_path = arg + 9;
        } else if (alias != NULL) {
            self->flags[self->nflags++] = (char *)alias;
        } else {
            self->flags[self->nflags++] = argv[i];
        }
    }
}

yard_program_t *
yard_program_new(const yard_program_def_t *def, int argc, char **argv)
{
    yard_signal_block(); /* before any thread: the context's and the runtime's inherit it */
    yard_log_set_context(def->component, -1);
    yard_program_t *self = yard__xcalloc(1, sizeof *self);
    self->def = def;
    self->flags = yard__xcalloc((size_t)argc + 1, sizeof *self->flags);
    self->config_path = getenv("YARD_CONFIG");
    s_split_args(self, argc, argv);
    return self;
}

void
yard_program_options(yard_program_t *self, const char *heading, const yard_option_t *table,
                     const char *section, void *target)
{
    if (self->ntables >= S_TABLES_MAX) {
        abort(); /* a programmer error: the bound is far above any program's tables */
    }
    self->tables[self->ntables++] = (s_table_t){heading, table, section, target};
}

static void
s_help(const yard_program_t *self, FILE *out)
{
    const yard_program_def_t *def = self->def;
    if (def->usage_fn != NULL) {
        def->usage_fn(out, def->usage_arg);
    } else if (def->usage != NULL) {
        fputs(def->usage, out);
    }
    for (size_t i = 0; i < self->ntables; i++) {
        fprintf(out, "\n%s\n", self->tables[i].heading);
        yard_options_help(self->tables[i].table, self->tables[i].section, out);
    }
    fprintf(out, "\n--config FILE (or YARD_CONFIG) names the YAML config file. Any option can be "
                 "read from a file\ninstead (a secret): KEY_file: PATH in the config file, "
                 "YARD_..._FILE=PATH, or --KEY-file PATH.\nSecrets show as <secret> here and "
                 "in every log line.\n");
}

/* The value of the first STRING option named log_level among the applied tables, or NULL. */
static const char *
s_log_level(const yard_program_t *self)
{
    for (size_t i = 0; i < self->ntables; i++) {
        const s_table_t *t = &self->tables[i];
        for (const yard_option_t *o = t->table; t->target != NULL && o->key != NULL; o++) {
            if (o->type == YARD_OPT_STRING && strcmp(o->key, "log_level") == 0) {
                char *const *slot = (char *const *)(void *)((char *)t->target + o->offset);
                return *slot;
            }
        }
    }
    return NULL;
}

/* Applies the curve: table from the file, the environment and the flags it names, which it
 * takes out of self->flags (a program that applies its own tables later never sees them),
 * then sets this process's bus keys. */
static int
s_curve(yard_program_t *self, char *err, size_t errlen)
{
    char **mine = yard__xcalloc((size_t)self->nflags + 1, sizeof *mine);
    int nmine = 0, nrest = 0;
    for (int i = 0; i < self->nflags; i++) {
        const char *arg = self->flags[i];
        bool is_file = false;
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg) - 2;
        if (strncmp(arg, "--", 2) == 0 && strlen(arg) > 2 &&
            yard__opt_find_flag(yard_curve_options, arg + 2, len, &is_file) != NULL) {
            mine[nmine++] = self->flags[i];
            if (!eq && i + 1 < self->nflags) { /* "--key PATH" */
                mine[nmine++] = self->flags[++i];
            }
        } else {
            self->flags[nrest++] = self->flags[i];
        }
    }
    self->flags[nrest] = NULL;
    self->nflags = nrest;
    int rc = yard_options_apply(yard_curve_options, &self->curve, self->cfg, "curve", nmine, mine,
                                err, errlen);
    free(mine);
    return rc ? rc : yard_curve_configure(&self->curve, err, errlen);
}

/* log_publish: true starts publishing every log line on the bus (yard/log_publish.h). */
static int
s_log_publish(yard_program_t *self)
{
    bool on = false;
    char err[512];
    if (yard_log_publish_enabled(self->cfg, &on, err, sizeof err) != 0) {
        yard_program_fail(self, YARD_E_CONFIG, "%s", err);
        return 1;
    }
    const char *broker = yard_log_publish_broker(self->cfg);
    if (on && yard_log_publish_start(broker, NULL, &self->publish) != 0) {
        yard_log(YARD_LOG_WARN, "log_publish: cannot publish the log", YF_STR("broker", broker));
    }
    return 0;
}

int
yard_program_configure(yard_program_t *self)
{
    if (self->code != 0) {
        return 1; /* a usage error in new() */
    }
    /* Every program's bus sockets take the same key settings (yard/curve.h); --help lists
     * them, and s_curve() applies them apart from the program's own tables. */
    yard_program_options(self,
                         "bus encryption (the config file's curve: section):", yard_curve_options,
                         "curve", NULL);
    if (self->help) {
        s_help(self, stdout);
        return 1;
    }
    char err[sizeof self->err] = "";
    const char *path = self->config_path;
    if (path != NULL && path[0] != '\0') {
        int rc = yard_config_load(path, &self->cfg, err, sizeof err);
        if (rc != 0) {
            yard_program_fail(self, YARD_E_CONFIG, "%s", err);
            return 1;
        }
    }
    if (s_curve(self, err, sizeof err) != 0) {
        yard_program_fail(self, YARD_E_CONFIG, "%s", err);
        return 1;
    }
    yard_option_set_t sets[S_TABLES_MAX];
    size_t n = 0;
    for (size_t i = 0; i < self->ntables; i++) {
        if (self->tables[i].target != NULL) {
            sets[n++] = (yard_option_set_t){self->tables[i].table, self->tables[i].section,
                                            self->tables[i].target};
        }
    }
    if (n > 0 && yard_options_apply_sets(sets, n, self->cfg, self->nflags, self->flags, err,
                                         sizeof err) != 0) {
        yard_program_fail(self, YARD_E_CONFIG, "%s", err);
        return 1;
    }
    if (yard_program_log_level(self, s_log_level(self)) != 0) {
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        yard_options_log(sets[i].table, sets[i].target, sets[i].section);
    }
    return s_log_publish(self);
}

const yard_config_t *
yard_program_config(const yard_program_t *self)
{
    return self->cfg;
}

const yard_curve_opts_t *
yard_program_curve(const yard_program_t *self)
{
    return &self->curve;
}

char **
yard_program_flags(const yard_program_t *self, int *argc)
{
    *argc = self->nflags;
    return self->flags;
}

int
yard_program_log_level(yard_program_t *self, const char *level)
{
    if (level == NULL || level[0] == '\0') {
        return 0;
    }
    yard_log_level_t parsed;
    if (yard_log_level_parse(level, &parsed) != 0) {
        return yard_program_fail(self, YARD_E_CONFIG,
                                 "log_level: '%s' is not debug, info, warn, error or off", level);
    }
    yard_log_set_level(parsed);
    return 0;
}

int
yard_program_fail(yard_program_t *self, int err, const char *fmt, ...)
{
    if (self->code != 0) {
        return err;
    }
    self->code = err == YARD_E_CONFIG || err == YARD_E_INVALID ? YARD_PROGRAM_EXIT_USAGE
                                                               : YARD_PROGRAM_EXIT_ERROR;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->err, sizeof self->err, fmt, ap);
    va_end(ap);
    return err;
}

int
yard_program_wait(yard_program_t *self)
{
    (void)self;
    int sig = yard_signal_wait(-1);
    yard_log(YARD_LOG_INFO, "stopping", YF_INT("signal", sig));
    return sig;
}

int
yard_program_end(yard_program_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return 0;
    }
    yard_program_t *self = *self_p;
    int code = self->code;
    if (self->err[0] != '\0') {
        char shown[sizeof self->err];
        yard_log_redact(self->err, shown, sizeof shown);
        fprintf(stderr, "%s: %s\n", self->def->name, shown);
    }
    yard_log_publish_stop(&self->publish);
    yard_options_free(yard_curve_options, &self->curve);
    yard_config_destroy(&self->cfg);
    free(self->flags);
    free(self);
    *self_p = NULL;
    return code;
}
