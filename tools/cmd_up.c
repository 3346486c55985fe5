/* yard up: the whole bus in one process, for development and small deployments: the broker and
 * every actor of the registry, sharing one ZeroMQ context. The broker binds its configured
 * endpoints (default tcp://127.0.0.1:5555) plus inproc://yard-up, and the actors' replicas
 * connect over inproc, so they cost no TCP hop. Each actor keeps its own embedded memory store.
 *
 * Settings come from the same file, environment and flags as yard-broker and yard-actor:
 * the broker's keys at the top level (flags: --bind, --heartbeat-ms, ...); runtime keys at the
 * top level apply to every actor (replicas, credit, drain_ms; YARD_REPLICAS); an actor's
 * section may override them for that actor (echo: {replicas: 4}; YARD_ECHO_REPLICAS) next to
 * the actor's own options. An actor that fails to start is logged and left out: the rest of
 * the bus still comes up.
 *
 * Order matters at both ends: signals are blocked before any thread exists; on SIGINT or
 * SIGTERM the actors drain first (their requests still have a broker to answer through),
 * then the broker stops, then the context ends. */
#include "cli.h"

#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/options.h"
#include "yard/registry.h"
#include "yard/signal.h"

#include <zmq.h>

#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_INPROC "inproc://yard-up"

/* The runtime keys an actor's section may override; defaults are left unset so that the
 * top-level values applied first survive. */
static const char *const s_section_keys[] = {"replicas", "credit", "heartbeat_ms",
                                             "drain_ms", "store",  NULL};

/* One actor's settings: the runtime's struct and the actor's own, in one block so that one
 * merged options table (actor offsets shifted past the runtime struct) can fill both and
 * reject any key that neither knows. */
typedef struct {
    const yard_actor_def_t *def;
    yard_option_t *table; /* merged; NULL-key ended */
    size_t own_off;       /* where the actor's own options start in block */
    unsigned char *block;
    yard_actor_t *actor;
} s_actor_t;

static void
s_usage(FILE *out)
{
    fprintf(out,
            "usage: yard up [--config FILE] [--<broker option> VALUE]...\n"
            "Runs the broker and every built-in actor in one process until SIGINT or SIGTERM.\n"
            "The broker also binds " S_INPROC ", which the actors use.\n\n"
            "  --config FILE   YAML config file (or YARD_CONFIG): broker and runtime keys at the\n"
            "                  top level, one section per actor (replicas, credit, drain_ms,\n"
            "                  store and the actor's own options)\n\n"
            "broker options:\n");
    yard_options_help(yard_broker_options, NULL, out);
    fprintf(out, "\nactors:\n");
    for (const yard_actor_def_t *const *a = yard_registry_all(); *a; a++) {
        fprintf(out, "  %-16s %s\n", (*a)->name, (*a)->description ? (*a)->description : "");
    }
}

static bool
s_is_section_key(const char *key)
{
    for (int i = 0; s_section_keys[i]; i++) {
        if (strcmp(key, s_section_keys[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Builds the merged table and block for def. */
static void
s_actor_init(s_actor_t *a, const yard_actor_def_t *def)
{
    memset(a, 0, sizeof *a);
    a->def = def;
    size_t n = 0;
    for (const yard_option_t *o = yard_actor_common_options; o->key; o++) {
        n++;
    }
    for (const yard_option_t *o = def->options; o && o->key; o++) {
        n++;
    }
    a->table = calloc(n + 1, sizeof *a->table);
    size_t align = alignof(max_align_t);
    a->own_off = (sizeof(yard_actor_opts_t) + align - 1) / align * align;
    a->block = calloc(1, a->own_off + def->options_size + 1);
    if (!a->table || !a->block) {
        abort();
    }
    size_t k = 0;
    for (const yard_option_t *o = yard_actor_common_options; o->key; o++) {
        if (s_is_section_key(o->key)) {
            a->table[k] = *o;
            a->table[k].default_value = NULL;
            k++;
        }
    }
    for (const yard_option_t *o = def->options; o && o->key; o++) {
        a->table[k] = *o;
        a->table[k].offset += a->own_off;
        k++;
    }
}

static void
s_actor_free(s_actor_t *a)
{
    yard_actor_destroy(&a->actor);
    if (a->block) {
        yard_options_free(yard_actor_common_options, a->block);
        yard_options_free(a->table, a->block);
    }
    free(a->block);
    free(a->table);
}

/* Fills a's settings and starts it on the shared context. Returns 0 or an error (logged). */
static int
s_actor_start(s_actor_t *a, const yard_config_t *cfg, void *ctx)
{
    char err[512] = "";
    yard_actor_opts_t *opts = (yard_actor_opts_t *)a->block;
    int rc =
        yard_options_apply(yard_actor_common_options, opts, cfg, NULL, 0, NULL, err, sizeof err);
    if (rc == 0) {
        rc = yard_options_apply(a->table, a->block, cfg, a->def->name, 0, NULL, err, sizeof err);
    }
    if (rc) {
        yard_log(YARD_LOG_ERROR, "bad actor settings", YF_STR("actor", a->def->name),
                 YF_STR("reason", err));
        return rc;
    }
    free(opts->broker);
    opts->broker = strdup(S_INPROC);
    opts->zmq_context = ctx;
    rc = yard_actor_start(a->def, opts, a->def->options ? a->block + a->own_off : NULL, &a->actor);
    if (rc) {
        yard_log(YARD_LOG_ERROR, "actor did not start; left out", YF_STR("actor", a->def->name),
                 YF_STR("error", yard_err_name(rc)));
        return rc;
    }
    yard_log(YARD_LOG_INFO, "actor started", YF_STR("actor", a->def->name),
             YF_INT("replicas", opts->replicas));
    return 0;
}

int
yard__cmd_up(int argc, char **argv)
{
    yard_signal_block(); /* before any thread: the context's and the runtime's inherit it */
    yard_log_set_context("up", -1);
    const char *config_path = getenv("YARD_CONFIG");
    char **flags = calloc((size_t)argc + 1, sizeof *flags);
    if (!flags) {
        abort();
    }
    int nflags = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            s_usage(stdout);
            free(flags);
            return YARD_EXIT_OK;
        }
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "yard up: --config needs a file name\n");
                free(flags);
                return YARD_EXIT_USAGE;
            }
            config_path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config_path = argv[i] + 9;
        } else {
            flags[nflags++] = argv[i];
        }
    }

    int code = YARD_EXIT_USAGE;
    char err[512] = "";
    yard_config_t *cfg = NULL;
    yard_broker_opts_t bopts;
    memset(&bopts, 0, sizeof bopts);
    void *ctx = NULL;
    yard_broker_t *broker = NULL;
    size_t nactors = 0;
    for (const yard_actor_def_t *const *d = yard_registry_all(); *d; d++) {
        nactors++;
    }
    s_actor_t *actors = calloc(nactors + 1, sizeof *actors);
    if (!actors) {
        abort();
    }
    if (config_path && config_path[0] &&
        yard_config_load(config_path, &cfg, err, sizeof err) != 0) {
        goto done;
    }
    if (yard_options_apply(yard_broker_options, &bopts, cfg, NULL, nflags, flags, err,
                           sizeof err) != 0) {
        goto done;
    }
    yard_log_level_t level;
    if (bopts.log_level && yard_log_level_parse(bopts.log_level, &level) != 0) {
        snprintf(err, sizeof err, "log_level: '%s' is not debug, info, warn, error or off",
                 bopts.log_level);
        goto done;
    }
    if (bopts.log_level) {
        yard_log_set_level(level);
    }
    if (!strstr(bopts.bind, S_INPROC)) {
        size_t len = strlen(bopts.bind) + sizeof "," S_INPROC;
        char *bind = malloc(len);
        if (!bind) {
            abort();
        }
        snprintf(bind, len, "%s,%s", bopts.bind, S_INPROC);
        free(bopts.bind);
        bopts.bind = bind;
    }

    code = YARD_EXIT_ERROR;
    ctx = zmq_ctx_new();
    if (!ctx) {
        abort();
    }
    int rc = yard_broker_new(&bopts, ctx, &broker);
    if (rc == 0) {
        rc = yard_broker_start(broker);
    }
    if (rc) {
        snprintf(err, sizeof err, "broker on %s: %s", bopts.bind, yard_strerror(rc));
        code = rc == YARD_E_CONFIG ? YARD_EXIT_USAGE : YARD_EXIT_ERROR;
        goto done;
    }
    size_t i = 0;
    int started = 0;
    for (const yard_actor_def_t *const *d = yard_registry_all(); *d; d++, i++) {
        s_actor_init(&actors[i], *d);
        if (s_actor_start(&actors[i], cfg, ctx) == 0) {
            started++;
        }
    }
    yard_log(YARD_LOG_INFO, "bus up", YF_STR("bind", bopts.bind), YF_INT("actors", started),
             YF_INT("known_actors", (long long)nactors));
    int sig = yard_signal_wait(-1);
    yard_log(YARD_LOG_INFO, "stopping", YF_INT("signal", sig));
    for (i = 0; i < nactors; i++) {
        if (actors[i].actor) {
            yard_actor_stop(actors[i].actor);
        }
    }
    code = YARD_EXIT_OK;
done:
    if (err[0]) {
        fprintf(stderr, "yard up: %s\n", err);
    }
    for (size_t k = 0; k < nactors; k++) {
        s_actor_free(&actors[k]);
    }
    free(actors);
    if (broker) {
        yard_broker_stop(broker);
        yard_broker_destroy(&broker);
    }
    if (ctx) {
        zmq_ctx_term(ctx);
    }
    yard_options_free(yard_broker_options, &bopts);
    yard_config_destroy(&cfg);
    free(flags);
    if (code == YARD_EXIT_OK) {
        yard_log(YARD_LOG_INFO, "stopped");
    }
    return code;
}
