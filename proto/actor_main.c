/* The common options every actor takes, and yard_actor_main(): the whole life of an actor
 * program on the shared skeleton (yard/program.h: options, start, wait for a signal, drain,
 * exit). Flags are split between the common table and the actor's own: a flag the common
 * table knows is a runtime setting, any other goes to the actor's table, which rejects what
 * it does not know either. A setting the actor's table marks YARD_OPT_REQUIRED and nobody
 * gave stops the configuration with YARD_E_CONFIG naming it. */
#include "actor_internal.h"
#include "alloc_internal.h"
#include "yard/actor.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/program.h"
#include "yard/signal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Connection settings every program shares: the top level of the config file. */
const yard_option_t yard_actor_common_options[] = {
    {"broker", YARD_OPT_STRING, YARD_OPT_DEFAULT_BROKER, offsetof(yard_actor_opts_t, broker),
     "broker endpoints, comma-separated; the actor registers with every one", 0, 0, 0},
    {"heartbeat_ms", YARD_OPT_MS, "1000", offsetof(yard_actor_opts_t, heartbeat_ms),
     "heartbeat interval proposed to the broker", 10, 60000, 0},
    {"store", YARD_OPT_STRING, YARD_OPT_DEFAULT_STORE, offsetof(yard_actor_opts_t, store),
     "state store: memory, or redis://host:port[/db] to share state between processes", 0, 0,
     YARD_OPT_SECRET_URL},
    {"log_level", YARD_OPT_STRING, YARD_OPT_DEFAULT_LOG_LEVEL,
     offsetof(yard_actor_opts_t, log_level), "debug, info, warn, error or off", 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

/* Settings of one actor: its own section of the config file, so that one file can give each
 * actor its own scale. */
const yard_option_t yard_actor_section_options[] = {
    {"replicas", YARD_OPT_INT, "1", offsetof(yard_actor_opts_t, replicas),
     "replica threads in this process", 1, 1024, 0},
    {"credit", YARD_OPT_INT, "0", offsetof(yard_actor_opts_t, credit),
     "requests each replica holds at once (0: the actor's default)", 0, 1000000, 0},
    {"fill", YARD_OPT_BOOL, "false", offsetof(yard_actor_opts_t, fill),
     "the broker gives a replica requests while it has credit before the next replica (for "
     "handlers that answer at once or defer: fewer wake-ups, unequal shares at low load)",
     0, 0, 0},
    {"drain_ms", YARD_OPT_MS, "5000", offsetof(yard_actor_opts_t, drain_ms),
     "how long stopping waits for requests in flight", 1, 600000, 0},
    {"http_ca_file", YARD_OPT_STRING, NULL, offsetof(yard_actor_opts_t, http_ca_file),
     "PEM bundle of the CAs that outbound HTTPS trusts (default: the system's)", 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
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
    yard_option_t *t = yard__xcalloc(nr + na + 1, sizeof *t);
    memcpy(t, yard_actor_section_options, nr * sizeof *t);
    for (size_t i = 0; i < na; i++) {
        t[nr + i] = def->options[i];
        t[nr + i].offset += offsetof(s_section_target_t, own);
    }
    return t;
}

static void
s_usage(FILE *out, const void *arg)
{
    const yard_actor_def_t *def = arg;
    fprintf(out, "usage: %s [--config FILE] [options]\n", def->name);
    if (def->description && def->description[0]) {
        fprintf(out, "\n%s\n", def->description);
    }
    if (def->handlers) {
        fprintf(out, "\noperations:\n");
        for (const yard_handler_def_t *h = def->handlers; h->fn; h++) {
            fprintf(out, "  %-20s %s\n", h->op ? h->op : "(default)", h->help ? h->help : "");
        }
    }
}

int
yard_actor_configure(const yard_actor_def_t *def, const yard_config_t *cfg, int argc, char **argv,
                     yard_actor_opts_t *opts, void **actor_options, char *errbuf, size_t errlen)
{
    memset(opts, 0, sizeof *opts);
    *actor_options = NULL;
    yard_option_t *table = s_section_table(def);
    s_section_target_t *target = yard__xcalloc(1, sizeof *target + def->options_size);
    const yard_option_set_t sets[] = {
        {yard_actor_common_options, NULL, &target->rt},
        {table, def->name, target},
    };
    int rc = yard_options_apply_sets(sets, 2, cfg, argc, argv, errbuf, errlen);
    yard_log_level_t level;
    if (rc == 0 && target->rt.log_level && yard_log_level_parse(target->rt.log_level, &level)) {
        snprintf(errbuf, errlen, "log_level: '%s' is not debug, info, warn, error or off",
                 target->rt.log_level);
        rc = YARD_E_CONFIG;
    }
    *opts = target->rt;
    opts->config = cfg;
    if (def->options_size) {
        *actor_options = yard__xcalloc(1, def->options_size);
        memcpy(*actor_options, target->own, def->options_size);
    }
    if (rc == 0) {
        yard_options_log(yard_actor_common_options, opts, NULL);
        yard_options_log(table, target, def->name);
    }
    free(table);
    free(target);
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

/* How often the main thread looks whether a broker refused the actor while it waits. */
#define S_REFUSED_POLL_MS 200

/* Waits for SIGINT or SIGTERM, or until a broker refuses the actor for good: a refused
 * replica has stopped, and restarting it would only be refused again, so the program exits 1
 * with the broker's reason. */
static void
s_wait(yard_program_t *prog, yard_actor_t *actor)
{
    char why[YARD_WIRE_TEXT_MAX + 1];
    for (;;) {
        int sig = yard_signal_wait(S_REFUSED_POLL_MS);
        if (sig != 0) {
            yard_log(YARD_LOG_INFO, "stopping", YF_INT("signal", sig));
            return;
        }
        if (yard_actor_refused(actor, why, sizeof why)) {
            yard_program_fail(prog, YARD_E_FORBIDDEN, "refused by the broker: %s", why);
            return;
        }
    }
}

int
yard_actor_main(const yard_actor_def_t *def, int argc, char **argv)
{
    const yard_program_def_t program = {
        .name = def->name,
        .component = def->name,
        .usage_fn = s_usage,
        .usage_arg = def,
    };
    yard_program_t *prog = yard_program_new(&program, argc, argv);
    yard_actor_opts_t opts = {0};
    void *actor_opts = NULL;
    yard_actor_t *actor = NULL;
    yard_option_t *section = s_section_table(def);
    char *heading = NULL;
    if (asprintf(&heading, "%s options (section '%s:' of the config file):", def->name, def->name) <
        0) {
        abort();
    }
    yard_program_options(prog, "shared options (top level of the config file):",
                         yard_actor_common_options, NULL, NULL);
    yard_program_options(prog, heading, section, def->name, NULL);
    if (yard_program_configure(prog) != 0) {
        goto done;
    }
    int nflags = 0;
    char **flags = yard_program_flags(prog, &nflags);
    char err[512] = "";
    int rc = yard_actor_configure(def, yard_program_config(prog), nflags, flags, &opts, &actor_opts,
                                  err, sizeof err);
    if (rc != 0) {
        yard_program_fail(prog, rc, "%s", err);
        goto done;
    }
    if (yard_program_log_level(prog, opts.log_level) != 0) {
        goto done;
    }
    char why[512];
    rc = yard__actor_start(def, &opts, actor_opts, &actor, why, sizeof why);
    if (rc != 0) {
        /* No broker is asked before start returns: the reason names what failed instead. */
        yard_program_fail(prog, rc, "cannot start: %s (%s)", why[0] ? why : yard_strerror(rc),
                          yard_err_name(rc));
        goto done;
    }
    s_wait(prog, actor);
    yard_actor_stop(actor);
done:
    yard_actor_destroy(&actor);
    yard_actor_config_free(def, &opts, &actor_opts);
    free(section);
    free(heading);
    return yard_program_end(&prog);
}
