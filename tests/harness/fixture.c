/* Common integration-test set-up (fixture.h). */
#include "fixture.h"

#include "harness.h"
#include "yard/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define S_ARGS_MAX   16
#define S_BIND_TRIES 10

static void
s_die(const char *what, const char *why)
{
    fprintf(stderr, "test fixture: %s: %s\n", what, why);
    abort();
}

yard_config_t *
yh_config_in(const char *dir, const char *text)
{
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/yard.yaml", dir);
    yard_config_t *cfg = yh_config_write(path, text, err, sizeof err);
    if (!cfg) {
        s_die("config", err);
    }
    return cfg;
}

yard_broker_t *
yh_broker_start(int *port)
{
    return yh_broker_start_opts(NULL, NULL, port);
}

yard_broker_t *
yh_broker_start_opts(const yard_broker_opts_t *opts, void *zmq_ctx, int *port)
{
    yard_broker_opts_t bo =
        opts ? *opts : (yard_broker_opts_t){.heartbeat_ms = 200, .heartbeat_min_ms = 50};
    if (!bo.curve_key && !bo.curve_keys_dir) { /* the CURVE runs (curve.cmake) */
        bo.curve_key = getenv("YARD_CURVE_KEY");
        bo.curve_keys_dir = getenv("YARD_CURVE_KEYS_DIR");
    }
    char bind[64];
    yard_broker_t *b = NULL;
    bool pick = !opts || !opts->bind;
    int rc = YARD_E_IO;
    *port = 0;
    /* A free port can be taken between yh_free_port() and the bind: try another. */
    for (int attempt = 0; attempt < (pick ? S_BIND_TRIES : 1) && rc == YARD_E_IO; attempt++) {
        if (pick) {
            *port = yh_free_port();
            snprintf(bind, sizeof bind, "%s", yh_endpoint(*port));
            bo.bind = bind;
        }
        rc = yard_broker_new(&bo, zmq_ctx, &b);
    }
    if (rc != 0) {
        s_die("broker", yard_strerror(rc));
    }
    if ((rc = yard_broker_start(b)) != 0) {
        s_die("broker start", yard_strerror(rc));
    }
    return b;
}

yard_actor_t *
yh_actor_start(const yard_actor_def_t *def, const yard_config_t *cfg, int port, char *const *argv)
{
    char bflag[64], err[512] = "";
    snprintf(bflag, sizeof bflag, "--broker=%s", yh_endpoint(port));
    char *args[S_ARGS_MAX + 2] = {bflag};
    int n = 1;
    for (size_t i = 0; argv && argv[i] && n <= S_ARGS_MAX; i++) {
        args[n++] = argv[i];
    }
    yard_actor_opts_t ao;
    void *aopts = NULL;
    if (yard_actor_configure(def, cfg, n, args, &ao, &aopts, err, sizeof err) != 0) {
        s_die(def->name, err);
    }
    yard_actor_t *a = NULL;
    int rc = yard_actor_start(def, &ao, aopts, &a);
    yard_actor_config_free(def, &ao, &aopts);
    if (rc != 0) {
        s_die(def->name, yard_strerror(rc));
    }
    return a;
}

yard_gateway_t *
yh_gateway_try(const yard_config_t *cfg, int bport, const char *const *flags, int *rc_out)
{
    char bflag[64], err[512] = "";
    snprintf(bflag, sizeof bflag, "--broker=%s", yh_endpoint(bport));
    char *args[S_ARGS_MAX + 4] = {bflag, "--drain-ms=2000", "--listen=127.0.0.1:0"};
    int n = 3;
    for (size_t i = 0; flags && flags[i] && n < S_ARGS_MAX + 3; i++) {
        args[n++] = (char *)flags[i];
    }
    yard_gateway_opts_t o;
    int rc = yard_gateway_opts_fill(&o, cfg, n, args, err, sizeof err);
    if (rc != 0) {
        yard_gateway_opts_free(&o);
        s_die("gateway options", err);
    }
    yard_gateway_t *gw = NULL;
    rc = yard_gateway_new(&o, cfg, NULL, &gw, err, sizeof err);
    yard_gateway_opts_free(&o);
    if (rc_out) {
        *rc_out = rc;
    }
    if (rc != 0) {
        fprintf(stderr, "test fixture: gateway not created: %s (%s)\n", yard_err_name(rc), err);
        return NULL;
    }
    if ((rc = yard_gateway_start(gw)) != 0) {
        s_die("gateway start", yard_strerror(rc));
    }
    return gw;
}

yard_gateway_t *
yh_gateway_start(const yard_config_t *cfg, int bport, const char *const *flags)
{
    int rc = 0;
    yard_gateway_t *gw = yh_gateway_try(cfg, bport, flags, &rc);
    if (!gw) {
        s_die("gateway", yard_strerror(rc));
    }
    return gw;
}
