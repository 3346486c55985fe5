/* Common integration-test set-up (fixture.h). */
#include "fixture.h"

#include "harness.h"
#include "yard/error.h"

#include <stdio.h>
#include <stdlib.h>

#define S_ARGS_MAX 16

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
    *port = yh_free_port();
    char bind[64];
    snprintf(bind, sizeof bind, "%s", yh_endpoint(*port));
    yard_broker_opts_t bo = {.bind = bind, .heartbeat_ms = 200, .heartbeat_min_ms = 50};
    yard_broker_t *b = NULL;
    if (yard_broker_new(&bo, NULL, &b) != 0 || yard_broker_start(b) != 0) {
        s_die("broker", bind);
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
