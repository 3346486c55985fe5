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

const yard_option_t yard_actor_common_options[] = {
    {"broker", YARD_OPT_STRING, "tcp://127.0.0.1:5555", offsetof(yard_actor_opts_t, broker),
     "broker endpoints, comma-separated; the actor registers with every one", 0, 0},
    {"replicas", YARD_OPT_INT, "1", offsetof(yard_actor_opts_t, replicas),
     "replica threads in this process", 1, 1024},
    {"credit", YARD_OPT_INT, "0", offsetof(yard_actor_opts_t, credit),
     "requests each replica holds at once (0: the actor's default)", 0, 1000000},
    {"heartbeat_ms", YARD_OPT_MS, "1000", offsetof(yard_actor_opts_t, heartbeat_ms),
     "heartbeat interval proposed to the broker", 10, 60000},
    {"drain_ms", YARD_OPT_MS, "5000", offsetof(yard_actor_opts_t, drain_ms),
     "how long stopping waits for requests in flight", 1, 600000},
    {"store", YARD_OPT_STRING, "memory", offsetof(yard_actor_opts_t, store),
     "state store: memory, or redis://host:port[/db] to share state between processes", 0, 0},
    {"log_level", YARD_OPT_STRING, "info", offsetof(yard_actor_opts_t, log_level),
     "debug, info, warn, error or off", 0, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0},
};

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
    fprintf(out, "runtime options (top level of the config file):\n");
    yard_options_help(yard_actor_common_options, NULL, out);
    if (def->options) {
        fprintf(out, "\n%s options (section '%s:' of the config file):\n", def->name, def->name);
        yard_options_help(def->options, def->name, out);
    }
}

int
yard_actor_main(const yard_actor_def_t *def, int argc, char **argv)
{
    yard_signal_block();
    yard_log_set_context(def->name, -1);
    const char *config_path = getenv("YARD_CONFIG");
    int n = argc > 0 ? argc - 1 : 0;
    char **common = calloc((size_t)n + 1, sizeof *common);
    char **own = calloc((size_t)n + 1, sizeof *own);
    int nc = 0, no = 0;
    int code = 2;
    char err[512] = "";
    yard_config_t *cfg = NULL;
    yard_actor_opts_t opts = {0};
    void *actor_opts = def->options_size ? calloc(1, def->options_size) : NULL;
    yard_actor_t *actor = NULL;
    if (!common || !own || (def->options_size && !actor_opts)) {
        abort();
    }
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
        bool is_common =
            strncmp(arg, "--", 2) == 0 && s_find_flag(yard_actor_common_options, arg + 2) != NULL;
        const yard_option_t *table = is_common ? yard_actor_common_options : def->options;
        char **dst = is_common ? common : own;
        int *nd = is_common ? &nc : &no;
        dst[(*nd)++] = argv[i];
        if (strncmp(arg, "--", 2) == 0 && s_takes_value(table, arg + 2) && i + 1 < argc &&
            strncmp(argv[i + 1], "--", 2) != 0) {
            dst[(*nd)++] = argv[++i];
        }
    }
    if (config_path && *config_path && yard_config_load(config_path, &cfg, err, sizeof err) != 0) {
        goto done;
    }
    if (yard_options_apply(yard_actor_common_options, &opts, cfg, NULL, nc, common, err,
                           sizeof err) != 0) {
        goto done;
    }
    if (def->options) {
        if (yard_options_apply(def->options, actor_opts, cfg, def->name, no, own, err,
                               sizeof err) != 0) {
            goto done;
        }
    } else if (no > 0) {
        snprintf(err, sizeof err, "%s: unknown flag (see --help)", own[0]);
        goto done;
    }
    yard_log_level_t level;
    if (opts.log_level && yard_log_level_parse(opts.log_level, &level) != 0) {
        snprintf(err, sizeof err, "log_level: '%s' is not debug, info, warn, error or off",
                 opts.log_level);
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
    yard_options_free(yard_actor_common_options, &opts);
    if (def->options && actor_opts) {
        yard_options_free(def->options, actor_opts);
    }
    free(actor_opts);
    free(common);
    free(own);
    return code;
}
