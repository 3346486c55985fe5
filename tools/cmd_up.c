/* yard up: the whole bus in one process, for development and small deployments: the broker and
 * every actor of the registry, sharing one ZeroMQ context. The broker binds its configured
 * endpoints (default tcp://127.0.0.1:5555) plus inproc://yard-up, and the actors' replicas
 * connect over inproc, so they cost no TCP hop. Each actor keeps its own embedded memory store.
 *
 * Settings come from the same file, environment and flags as yard-broker and yard-actor:
 * the broker's keys at the top level (flags: --bind, --heartbeat-ms, ...), and each actor's
 * section (echo: {replicas: 4}; YARD_ECHO_REPLICAS) read by yard_actor_configure(), exactly
 * as `yard-actor echo` reads it. A bad setting or an actor that cannot start stops the whole
 * bus at start-up with the reason: a bus quietly missing a service only shows up later, as
 * NO_SERVICE.
 *
 * Order matters at both ends: signals are blocked before any thread exists; on SIGINT or
 * SIGTERM the actors drain first (their requests still have a broker to answer through),
 * then the broker stops, then the context ends. */
#include "cli.h"

#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/error.h"
#include "yard/gateway.h"
#include "yard/log.h"
#include "yard/options.h"
#include "yard/registry.h"
#include "yard/signal.h"

#include <zmq.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_INPROC "inproc://yard-up"

/* One actor of the registry and its settings. */
typedef struct {
    const yard_actor_def_t *def;
    yard_actor_opts_t opts;
    void *own; /* the actor's options struct, or NULL */
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

static void
s_actor_free(s_actor_t *a)
{
    yard_actor_destroy(&a->actor);
    if (a->def) {
        yard_actor_config_free(a->def, &a->opts, &a->own);
    }
}

/* Configures def and starts it on the shared context. Returns 0, or an error with err set. */
static int
s_actor_start(s_actor_t *a, const yard_actor_def_t *def, const yard_config_t *cfg, void *ctx,
              char *err, size_t errlen)
{
    a->def = def;
    int rc = yard_actor_configure(def, cfg, 0, NULL, &a->opts, &a->own, err, errlen);
    if (rc) {
        a->def = NULL; /* nothing to free */
        return rc;
    }
    free(a->opts.broker);
    a->opts.broker = strdup(S_INPROC);
    if (!a->opts.broker) {
        abort();
    }
    a->opts.zmq_context = ctx;
    rc = yard_actor_start(def, &a->opts, a->own, &a->actor);
    if (rc) {
        snprintf(err, errlen, "actor %s did not start: %s (%s)", def->name, yard_strerror(rc),
                 yard_err_name(rc));
        return rc;
    }
    yard_log(YARD_LOG_INFO, "actor started", YF_STR("actor", def->name),
             YF_INT("replicas", a->opts.replicas));
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
    yard_gateway_t *gateway = NULL;
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
    for (const yard_actor_def_t *const *d = yard_registry_all(); *d; d++, i++) {
        rc = s_actor_start(&actors[i], *d, cfg, ctx, err, sizeof err);
        if (rc) {
            code = rc == YARD_E_CONFIG ? YARD_EXIT_USAGE : YARD_EXIT_ERROR;
            goto done;
        }
    }
    /* The gateway too: its settings from the file's gateway section (and YARD_GATEWAY_*), the
     * bus over inproc. It stops first on a signal, so its in-flight requests drain while the
     * actors still answer. */
    yard_gateway_opts_t gopts;
    if (yard_gateway_opts_fill(&gopts, cfg, 0, NULL, err, sizeof err) != 0) {
        yard_gateway_opts_free(&gopts);
        code = YARD_EXIT_USAGE;
        goto done;
    }
    free(gopts.broker);
    gopts.broker = strdup(S_INPROC);
    rc = yard_gateway_new(&gopts, cfg, ctx, &gateway, err, sizeof err);
    if (rc == 0) {
        rc = yard_gateway_start(gateway);
    }
    yard_gateway_opts_free(&gopts);
    if (rc) {
        code = rc == YARD_E_CONFIG ? YARD_EXIT_USAGE : YARD_EXIT_ERROR;
        goto done;
    }
    yard_log(YARD_LOG_INFO, "bus up", YF_STR("bind", bopts.bind),
             YF_INT("actors", (long long)nactors));
    int sig = yard_signal_wait(-1);
    yard_log(YARD_LOG_INFO, "stopping", YF_INT("signal", sig));
    yard_gateway_destroy(&gateway);
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
    yard_gateway_destroy(&gateway);
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
