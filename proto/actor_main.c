/* The common options every actor takes, and yard_actor_main(): the whole life of an actor
 * program (options, start, wait for a signal, drain, exit). Flags are split between the
 * common table and the actor's own: a flag the common table knows is a runtime setting, any
 * other goes to the actor's table, which rejects what it does not know either. */
#include "yard/actor.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/signal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Connection settings every program shares: the top level of the config file. */
const yard_option_t yard_actor_common_options[] = {
    {"broker", YARD_OPT_STRING, "tcp://127.0.0.1:5555", offsetof(yard_actor_opts_t, broker),
     "broker endpoints, comma-separated; the actor registers with every one", 0, 0},
    {"heartbeat_ms", YARD_OPT_MS, "1000", offsetof(yard_actor_opts_t, heartbeat_ms),
     "heartbeat interval proposed to the broker", 10, 60000},
    {"store", YARD_OPT_STRING, "memory", offsetof(yard_actor_opts_t, store),
     "state store: memory, or redis://host:port[/db] to share state between processes", 0, 0},
    {"log_level", YARD_OPT_STRING, "info", offsetof(yard_actor_opts_t, log_level),
     "debug, info, warn, error or off", 0, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0},
};

/* Settings of one actor: its own section of the config file, so that one file can give each
 * actor its own scale. */
const yard_option_t yard_actor_section_options[] = {
    {"replicas", YARD_OPT_INT, "1", offsetof(yard_actor_opts_t, replicas),
     "replica threads in this process", 1, 1024},
    {"credit", YARD_OPT_INT, "0", offsetof(yard_actor_opts_t, credit),
     "requests each replica holds at once (0: the actor's default)", 0, 1000000},
    {"drain_ms", YARD_OPT_MS, "5000", offsetof(yard_actor_opts_t, drain_ms),
     "how long stopping waits for requests in flight", 1, 600000},
    {NULL, 0, NULL, 0, NULL, 0, 0},
};

/* The section's settings and the actor's own options are applied as one table, so that an
 * unknown key in the section is caught and --help lists both. The table fills this struct:
 * the runtime part first, the actor's struct after it at the strictest alignment. */
typedef struct {
    yard_actor_opts_t rt;
    max_align_t own[];
} s_section_target_t;

static size_t
s_table_len(const yard_option_t *table)
{
    size_t n = 0;
    while (table && table[n].key) {
        n++;
    }
    return n;
}

/* Caller owns the result; free with free(). */
static yard_option_t *
s_section_table(const yard_actor_def_t *def)
{
    size_t nr = s_table_len(yard_actor_section_options), na = s_table_len(def->options);
    yard_option_t *t = calloc(nr + na + 1, sizeof *t);
    if (!t) {
        abort();
    }
    memcpy(t, yard_actor_section_options, nr * sizeof *t);
    for (size_t i = 0; i < na; i++) {
        t[nr + i] = def->options[i];
        t[nr + i].offset += offsetof(s_section_target_t, own);
    }
    return t;
}

/* The option of table that the flag (after "--", up to '=' or its end) names, or NULL. */
static const yard_option_t *
s_find_flag(const yard_option_t *table, const char *flag)
{
    size_t len = strcspn(flag, "=");
    for (const yard_option_t *o = table; o && o->key; o++) {
        if (strlen(o->key) != len) {
            continue;
        }
        bool same = true;
        for (size_t i = 0; i < len && same; i++) {
            char c = flag[i] == '-' ? '_' : flag[i];
            same = c == o->key[i];
        }
        if (same) {
            return o;
        }
    }
    return NULL;
}

/* True when the flag is followed by its value as the next argument. */
static bool
s_takes_value(const yard_option_t *table, const char *flag)
{
    if (flag[strcspn(flag, "=")] == '=') {
        return false;
    }
    const yard_option_t *o = s_find_flag(table, flag);
    return !o || o->type != YARD_OPT_BOOL;
}

static void
s_help(const yard_actor_def_t *def, FILE *out)
{
    fprintf(out, "usage: %s [--config FILE] [options]\n\n%s\n\n", def->name,
            def->description ? def->description : "");
    if (def->handlers) {
        fprintf(out, "operations:\n");
        for (const yard_handler_def_t *h = def->handlers; h->fn; h++) {
            fprintf(out, "  %-20s %s\n", h->op ? h->op : "(default)", h->help ? h->help : "");
        }
        fprintf(out, "\n");
    }
    fprintf(out, "shared options (top level of the config file):\n");
    yard_options_help(yard_actor_common_options, NULL, out);
    yard_option_t *section = s_section_table(def);
    fprintf(out, "\n%s options (section '%s:' of the config file):\n", def->name, def->name);
    yard_options_help(section, def->name, out);
    free(section);
}

int
yard_actor_configure(const yard_actor_def_t *def, const yard_config_t *cfg, int argc, char **argv,
                     yard_actor_opts_t *opts, void **actor_options, char *errbuf, size_t errlen)
{
    memset(opts, 0, sizeof *opts);
    *actor_options = NULL;
    char **common = calloc((size_t)argc + 1, sizeof *common);
    char **own = calloc((size_t)argc + 1, sizeof *own);
    yard_option_t *table = s_section_table(def);
    s_section_target_t *target = calloc(1, sizeof *target + def->options_size);
    if (!common || !own || !target) {
        abort();
    }
    int nc = 0, no = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        bool is_common =
            strncmp(arg, "--", 2) == 0 && s_find_flag(yard_actor_common_options, arg + 2) != NULL;
        const yard_option_t *t = is_common ? yard_actor_common_options : table;
        char **dst = is_common ? common : own;
        int *nd = is_common ? &nc : &no;
        dst[(*nd)++] = argv[i];
        if (strncmp(arg, "--", 2) == 0 && s_takes_value(t, arg + 2) && i + 1 < argc &&
            strncmp(argv[i + 1], "--", 2) != 0) {
            dst[(*nd)++] = argv[++i];
        }
    }
    int rc = yard_options_apply(yard_actor_common_options, &target->rt, cfg, NULL, nc, common,
                                errbuf, errlen);
    if (rc == 0) {
        rc = yard_options_apply(table, target, cfg, def->name, no, own, errbuf, errlen);
    }
    yard_log_level_t level;
    if (rc == 0 && target->rt.log_level && yard_log_level_parse(target->rt.log_level, &level)) {
        snprintf(errbuf, errlen, "log_level: '%s' is not debug, info, warn, error or off",
                 target->rt.log_level);
        rc = YARD_E_CONFIG;
    }
    *opts = target->rt;
    opts->config = cfg;
    if (def->options_size) {
        *actor_options = malloc(def->options_size);
        if (!*actor_options) {
            abort();
        }
        memcpy(*actor_options, target->own, def->options_size);
    }
    free(table);
    free(target);
    free(common);
    free(own);
    if (rc != 0) {
        yard_actor_config_free(def, opts, actor_options);
    }
    return rc;
}

void
yard_actor_config_free(const yard_actor_def_t *def, yard_actor_opts_t *opts, void **actor_options)
{
    yard_options_free(yard_actor_common_options, opts);
    yard_options_free(yard_actor_section_options, opts);
    if (*actor_options && def->options) {
        yard_options_free(def->options, *actor_options);
    }
    free(*actor_options);
    *actor_options = NULL;
}

int
yard_actor_main(const yard_actor_def_t *def, int argc, char **argv)
{
    yard_signal_block();
    yard_log_set_context(def->name, -1);
    const char *config_path = getenv("YARD_CONFIG");
    char **flags = calloc((size_t)argc + 1, sizeof *flags);
    if (!flags) {
        abort();
    }
    int nflags = 0;
    int code = 2;
    char err[512] = "";
    yard_config_t *cfg = NULL;
    yard_actor_opts_t opts = {0};
    void *actor_opts = NULL;
    yard_actor_t *actor = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            s_help(def, stdout);
            code = 0;
            goto done;
        }
        if (strcmp(arg, "--config") == 0 || strncmp(arg, "--config=", 9) == 0) {
            if (arg[8] == '=') {
                config_path = arg + 9;
            } else if (i + 1 < argc) {
                config_path = argv[++i];
            } else {
                snprintf(err, sizeof err, "--config: missing file name");
                goto done;
            }
            continue;
        }
        flags[nflags++] = argv[i];
    }
    if (config_path && *config_path && yard_config_load(config_path, &cfg, err, sizeof err) != 0) {
        goto done;
    }
    if (yard_actor_configure(def, cfg, nflags, flags, &opts, &actor_opts, err, sizeof err) != 0) {
        goto done;
    }
    int rc = yard_actor_start(def, &opts, actor_opts, &actor);
    if (rc != 0) {
        snprintf(err, sizeof err, "cannot start: %s (%s)", yard_strerror(rc), yard_err_name(rc));
        code = rc == YARD_E_CONFIG ? 2 : 1;
        goto done;
    }
    int sig = yard_signal_wait(-1);
    yard_log(YARD_LOG_INFO, "stopping", YF_INT("signal", sig));
    yard_actor_stop(actor);
    code = 0;
done:
    if (err[0]) {
        fprintf(stderr, "%s: %s\n", def->name, err);
    }
    yard_actor_destroy(&actor);
    yard_config_destroy(&cfg);
    yard_actor_config_free(def, &opts, &actor_opts);
    free(flags);
    return code;
}
