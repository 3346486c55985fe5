/* yard up: the whole bus in one process, for development and small deployments: the broker,
 * the chosen actors and the gateway, sharing one ZeroMQ context. The broker binds its
 * configured endpoints (default in its options table) plus inproc://yard-up, and the actors'
 * replicas connect over inproc, so they cost no TCP hop. Each actor keeps its own embedded
 * memory store unless its section says otherwise.
 *
 * Which actors: `up: {actors: [echo, auth]}` in the config file, or YARD_UP_ACTORS=echo,auth;
 * by default every built-in actor whose outside credentials (its YARD_OPT_REQUIRED settings)
 * are configured, or that needs none; one left out says so in an info line naming the
 * setting. A chosen actor whose required setting nobody gave is skipped with one warning
 * naming it, and the rest of the bus runs: a missing token is an expected state of a
 * development machine, not a crash. An unknown actor name is a config error (file:line).
 *
 * Settings come from the same file, environment and flags as yard-broker and yard-actor:
 * the broker's keys at the top level (flags: --bind, --heartbeat-ms, ...), and each actor's
 * section (echo: {replicas: 4}; YARD_ECHO_REPLICAS) read by yard_actor_configure(), exactly
 * as `yard-actor echo` reads it. A bad setting or an actor that fails to start stops the
 * whole bus at start-up with the reason: a bus quietly missing a service only shows up later,
 * as NO_SERVICE.
 *
 * Order matters at both ends: signals are blocked before any thread exists (the program
 * skeleton, yard/program.h); on SIGINT or SIGTERM the gateway stops first, then the actors
 * drain (their requests still have a broker to answer through), then the broker stops, then
 * the context ends. */
#include "cli.h"
#include "up.h"

#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/error.h"
#include "yard/gateway.h"
#include "yard/log.h"
#include "yard/options.h"
#include "yard/program.h"
#include "yard/registry.h"

#include <zmq.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_INPROC      "inproc://yard-up"
#define S_ACTORS_ENV  "YARD_UP_ACTORS"
#define S_ACTORS_MAX  64
#define S_SETTING_MAX 192

/* The `up:` section: only the structured actors list (no field of its own). */
static const yard_option_t s_up_options[] = {
    {"actors", YARD_OPT_NODE, NULL, 0,
     "actors to run, a list (or YARD_UP_ACTORS=echo,auth); default: those that need no outside "
     "credentials",
     0, 0, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

/* One actor to run and its settings. */
typedef struct {
    const yard_actor_def_t *def;
    yard_actor_opts_t opts;
    void *own; /* the actor's options struct, or NULL */
    yard_actor_t *actor;
} s_actor_t;

typedef struct {
    const yard_actor_def_t *const *all; /* the actors this program knows, NULL ended */
    const yard_actor_def_t *chosen[S_ACTORS_MAX];
    size_t nchosen;
} s_choice_t;

static void
s_usage(FILE *out, const void *arg)
{
    const yard_actor_def_t *const *all = arg;
    fprintf(out,
            "usage: yard up [--config FILE] [--<broker option> VALUE]...\n"
            "Runs the broker, the chosen actors and the gateway in one process until SIGINT or\n"
            "SIGTERM. The broker also binds " S_INPROC ", which the actors use.\n\n"
            "  --config FILE   YAML config file (or YARD_CONFIG): broker and runtime keys at the\n"
            "                  top level, one section per actor (replicas, credit, drain_ms,\n"
            "                  store and the actor's own options), up: {actors: [...]}\n"
            "Flags set the broker's options; the actors and the gateway read theirs from the\n"
            "config file and the environment (the flags below are yard-actor's and\n"
            "yard-gateway's).\n\n"
            "actors (default: those without a required setting):\n");
    for (const yard_actor_def_t *const *a = all; *a; a++) {
        fprintf(out, "  %-16s %s\n", (*a)->name, (*a)->description ? (*a)->description : "");
    }
}

/* True when def has a setting it cannot start without (an outside credential). */
static bool
s_needs_credentials(const yard_actor_def_t *def)
{
    for (const yard_option_t *o = def->options; o != NULL && o->key != NULL; o++) {
        if (o->flags & YARD_OPT_REQUIRED) {
            return true;
        }
    }
    return false;
}

static const yard_actor_def_t *
s_find(const yard_actor_def_t *const *all, const char *name, size_t len)
{
    for (const yard_actor_def_t *const *a = all; *a; a++) {
        if (strlen((*a)->name) == len && strncmp((*a)->name, name, len) == 0) {
            return *a;
        }
    }
    return NULL;
}

/* Adds the actor named name (len bytes) to the choice; where says where the name came from
 * ("path:line" or the variable) for the error. */
static int
s_choose(s_choice_t *c, const char *name, size_t len, const char *where, char *err, size_t errlen)
{
    const yard_actor_def_t *def = s_find(c->all, name, len);
    if (def == NULL) {
        int n = snprintf(err, errlen, "%s: up.actors: unknown actor '%.*s' (known:", where,
                         (int)len, name);
        for (const yard_actor_def_t *const *a = c->all; *a && n > 0 && (size_t)n < errlen; a++) {
            n += snprintf(err + n, errlen - (size_t)n, " %s", (*a)->name);
        }
        if (n > 0 && (size_t)n < errlen) {
            snprintf(err + n, errlen - (size_t)n, ")");
        }
        return YARD_E_CONFIG;
    }
    for (size_t i = 0; i < c->nchosen; i++) {
        if (c->chosen[i] == def) {
            snprintf(err, errlen, "%s: up.actors: '%s' is listed twice", where, def->name);
            return YARD_E_CONFIG;
        }
    }
    if (c->nchosen >= S_ACTORS_MAX) {
        snprintf(err, errlen, "%s: up.actors: more than %d actors", where, S_ACTORS_MAX);
        return YARD_E_CONFIG;
    }
    c->chosen[c->nchosen++] = def;
    return 0;
}

/* The environment's comma-separated list. */
static int
s_choose_env(s_choice_t *c, const char *list, char *err, size_t errlen)
{
    for (const char *p = list; *p != '\0';) {
        p += strspn(p, ", ");
        size_t len = strcspn(p, ", ");
        if (len > 0) {
            int rc = s_choose(c, p, len, "environment variable " S_ACTORS_ENV, err, errlen);
            if (rc != 0) {
                return rc;
            }
        }
        p += len;
    }
    return 0;
}

/* The file's up.actors: a list of names. */
static int
s_choose_file(s_choice_t *c, const yard_config_t *cfg, yard_config_node_t list, char *err,
              size_t errlen)
{
    char where[256];
    snprintf(where, sizeof where, "%s:%d", yard_config_path(cfg), yard_config_node_line(list));
    if (yard_config_node_kind(list) != YARD_CONFIG_LIST) {
        snprintf(err, errlen, "%s: up.actors: expected a list of actor names, e.g. [echo, auth]",
                 where);
        return YARD_E_CONFIG;
    }
    for (size_t i = 0; i < yard_config_node_len(list); i++) {
        yard_config_node_t item = yard_config_node_item(list, i);
        const char *name = yard_config_node_text(item);
        snprintf(where, sizeof where, "%s:%d", yard_config_path(cfg), yard_config_node_line(item));
        if (name == NULL || name[0] == '\0') {
            snprintf(err, errlen, "%s: up.actors: expected an actor name", where);
            return YARD_E_CONFIG;
        }
        int rc = s_choose(c, name, strlen(name), where, err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* The actors to run: the environment's list, else the file's, else every actor whose outside
 * credentials (its YARD_OPT_REQUIRED settings) are all given, or that needs none; each one
 * left out says so in a line naming the setting. */
static int
s_select(s_choice_t *c, const yard_config_t *cfg, char *err, size_t errlen)
{
    const char *env = getenv(S_ACTORS_ENV);
    if (env != NULL) {
        return s_choose_env(c, env, err, errlen);
    }
    yard_config_node_t list = yard_config_node(cfg, "up.actors");
    yard_config_kind_t kind = yard_config_node_kind(list);
    if (kind != YARD_CONFIG_ABSENT && kind != YARD_CONFIG_NULL) {
        return s_choose_file(c, cfg, list, err, errlen);
    }
    for (const yard_actor_def_t *const *a = c->all; *a && c->nchosen < S_ACTORS_MAX; a++) {
        const yard_option_t *missing =
            s_needs_credentials(*a) ? yard_options_missing((*a)->options, cfg, (*a)->name) : NULL;
        if (missing == NULL) { /* none needed, or all given: a configured bot runs */
            c->chosen[c->nchosen++] = *a;
            continue;
        }
        char setting[S_SETTING_MAX];
        snprintf(setting, sizeof setting, "%s.%s", (*a)->name, missing->key);
        yard_log(YARD_LOG_INFO, "actor not started: no credentials configured",
                 YF_STR("actor", (*a)->name), YF_STR("setting", setting));
    }
    return 0;
}

static void
s_actor_free(s_actor_t *a)
{
    yard_actor_destroy(&a->actor);
    if (a->def) {
        yard_actor_config_free(a->def, &a->opts, &a->own);
    }
}

/* Configures def and starts it on the shared context. Returns 0, or an error with err set.
 * An actor missing a required setting is not started, with one warning: returns 0 and
 * leaves a->def NULL. */
static int
s_actor_start(s_actor_t *a, const yard_actor_def_t *def, const yard_config_t *cfg, void *ctx,
              char *err, size_t errlen)
{
    const yard_option_t *missing = yard_options_missing(def->options, cfg, def->name);
    if (missing != NULL) {
        char setting[S_SETTING_MAX];
        snprintf(setting, sizeof setting, "%s.%s", def->name, missing->key);
        yard_log(YARD_LOG_WARN, "actor skipped: setting missing", YF_STR("actor", def->name),
                 YF_STR("setting", setting));
        return 0;
    }
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

/* The broker's bind list plus the inproc endpoint the actors use. */
static void
s_add_inproc(yard_broker_opts_t *bopts)
{
    if (strstr(bopts->bind, S_INPROC)) {
        return;
    }
    size_t len = strlen(bopts->bind) + sizeof "," S_INPROC;
    char *bind = malloc(len);
    if (!bind) {
        abort();
    }
    snprintf(bind, len, "%s,%s", bopts->bind, S_INPROC);
    free(bopts->bind);
    bopts->bind = bind;
}

/* The gateway, its settings from the file's gateway section (and YARD_GATEWAY_*), the bus
 * over inproc. */
static int
s_gateway_start(const yard_config_t *cfg, void *ctx, yard_gateway_t **out, char *err, size_t errlen)
{
    yard_gateway_opts_t gopts;
    int rc = yard_gateway_opts_fill(&gopts, cfg, 0, NULL, err, errlen);
    if (rc == 0) {
        free(gopts.broker);
        gopts.broker = strdup(S_INPROC);
        if (!gopts.broker) {
            abort();
        }
        rc = yard_gateway_new(&gopts, cfg, ctx, out, err, errlen);
    }
    if (rc == 0) {
        rc = yard_gateway_start(*out);
        if (rc) {
            snprintf(err, errlen, "gateway did not start: %s", yard_strerror(rc));
        }
    }
    yard_gateway_opts_free(&gopts);
    return rc;
}

/* Registers the tables --help shows and the program applies: the broker's (flags too), the
 * up section's (checked for unknown keys), and, for --help only, the sections that the
 * actors and the gateway read from the file and the environment. */
static void
s_tables(yard_program_t *prog, const yard_actor_def_t *const *all, yard_broker_opts_t *bopts,
         void *up_target, char headings[][S_SETTING_MAX], size_t nheadings)
{
    yard_program_options(
        prog, "broker options (top level of the config file):", yard_broker_options, NULL, bopts);
    yard_program_options(prog, "up options (section up: of the config file):", s_up_options, "up",
                         up_target);
    yard_program_options(prog, "every actor's section (config file or environment), e.g. echo:",
                         yard_actor_section_options, "echo", NULL);
    size_t i = 0;
    for (const yard_actor_def_t *const *a = all; *a && i < nheadings; a++) {
        if ((*a)->options == NULL || (*a)->options[0].key == NULL) {
            continue;
        }
        snprintf(headings[i], S_SETTING_MAX,
                 "%s options (section %s: of the config file, or the environment):", (*a)->name,
                 (*a)->name);
        yard_program_options(prog, headings[i++], (*a)->options, (*a)->name, NULL);
    }
    yard_program_options(prog,
                         "gateway options (section gateway: of the config file, or the "
                         "environment):",
                         yard_gateway_options, "gateway", NULL);
}

int
yard__up_main(int argc, char **argv, const yard_actor_def_t *const *all)
{
    const yard_program_def_t program = {
        .name = "yard up", .component = "up", .usage_fn = s_usage, .usage_arg = all};
    yard_program_t *prog = yard_program_new(&program, argc, argv);
    char headings[8][S_SETTING_MAX];
    yard_broker_opts_t bopts;
    memset(&bopts, 0, sizeof bopts);
    int up_target = 0; /* the up section has no field; the table only checks its keys */
    s_tables(prog, all, &bopts, &up_target, headings, 8);

    char err[512] = "";
    s_choice_t choice = {.all = all};
    s_actor_t actors[S_ACTORS_MAX];
    memset(actors, 0, sizeof actors);
    void *ctx = NULL;
    yard_broker_t *broker = NULL;
    yard_gateway_t *gateway = NULL;
    if (yard_program_configure(prog) != 0) {
        goto done;
    }
    const yard_config_t *cfg = yard_program_config(prog);
    int rc = s_select(&choice, cfg, err, sizeof err);
    if (rc != 0) {
        yard_program_fail(prog, rc, "%s", err);
        goto done;
    }
    s_add_inproc(&bopts);
    ctx = zmq_ctx_new();
    if (!ctx) {
        abort();
    }
    bopts.curve_key = yard_program_curve(prog)->key; /* CURVE: docs/security.md */
    bopts.curve_keys_dir = yard_program_curve(prog)->keys_dir;
    rc = yard_broker_new(&bopts, ctx, &broker);
    if (rc == 0) {
        rc = yard_broker_start(broker);
    }
    if (rc) {
        yard_program_fail(prog, rc, "broker on %s: %s", bopts.bind, yard_strerror(rc));
        goto done;
    }
    /* The actors and the gateway reach the broker over inproc in the broker's context: the
     * one made here, or CZMQ's with CURVE on (yard_broker_context()). */
    size_t started = 0;
    char names[S_ACTORS_MAX * 16] = "";
    for (size_t i = 0; i < choice.nchosen; i++) {
        rc = s_actor_start(&actors[i], choice.chosen[i], cfg, yard_broker_context(broker), err,
                           sizeof err);
        if (rc) {
            yard_program_fail(prog, rc, "%s", err);
            goto done;
        }
        if (actors[i].actor != NULL) {   /* one summary line: the per-actor lines may be */
            size_t used = strlen(names); /* rate-limited by the logger at start */
            snprintf(names + used, sizeof names - used, "%s%s", started ? "," : "",
                     choice.chosen[i]->name);
            started++;
        }
    }
    /* The gateway stops first on a signal, so its in-flight requests drain while the actors
     * still answer. */
    rc = s_gateway_start(cfg, yard_broker_context(broker), &gateway, err, sizeof err);
    if (rc) {
        yard_program_fail(prog, rc, "%s", err);
        goto done;
    }
    yard_log(YARD_LOG_INFO, "bus up", YF_STR("bind", bopts.bind), YF_INT("actors", started),
             YF_STR("names", names));
    yard_program_wait(prog);
    yard_gateway_destroy(&gateway);
    for (size_t i = 0; i < choice.nchosen; i++) {
        if (actors[i].actor) {
            yard_actor_stop(actors[i].actor);
        }
    }
done:
    yard_gateway_destroy(&gateway);
    for (size_t k = 0; k < choice.nchosen; k++) {
        s_actor_free(&actors[k]);
    }
    if (broker) {
        yard_broker_stop(broker);
        yard_broker_destroy(&broker);
    }
    if (ctx) {
        zmq_ctx_term(ctx);
    }
    yard_options_free(yard_broker_options, &bopts);
    int code = yard_program_end(&prog);
    if (code == YARD_EXIT_OK && ctx != NULL) {
        yard_log(YARD_LOG_INFO, "stopped");
    }
    return code;
}

int
yard__cmd_up(int argc, char **argv)
{
    return yard__up_main(argc, argv, yard_registry_all());
}
