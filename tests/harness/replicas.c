/* Replica processes and their leases (replicas.h). */
#include "replicas.h"

#include "fixture.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_ARGS 32

pid_t
yh_actor_spawn(const char *actor, const char *broker, const char *config, const char *store,
               char *const extra[], const char *logdir)
{
    char *argv[S_MAX_ARGS];
    size_t n = 0;
    argv[n++] = "yard-actor";
    argv[n++] = (char *)actor;
    argv[n++] = "--broker";
    argv[n++] = (char *)broker;
    if (config) {
        argv[n++] = "--config";
        argv[n++] = (char *)config;
    }
    if (store) {
        argv[n++] = "--store";
        argv[n++] = (char *)store;
    }
    for (size_t i = 0; extra && extra[i]; i++) {
        if (n + 3 >= S_MAX_ARGS) {
            fprintf(stderr, "yh_actor_spawn: more than %d arguments\n", S_MAX_ARGS);
            abort();
        }
        argv[n++] = extra[i];
    }
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    argv[n] = NULL;
    pid_t pid = yh_spawn("yard-actor", argv, NULL, logdir);
    if (pid <= 0) {
        fprintf(stderr, "yh_actor_spawn: could not start yard-actor %s\n", actor);
        abort();
    }
    return pid;
}

pid_t
yh_lease_pid(yard_store_t *store, const char *key)
{
    char *val = NULL;
    size_t len = 0;
    pid_t pid = -1;
    if (yard_store_get(store, key, &val, &len) == 0) {
        const char *slash = strrchr(val, '/');
        pid = slash ? (pid_t)strtol(slash + 1, NULL, 10) : -1;
    }
    free(val);
    return pid > 0 ? pid : -1;
}

bool
yh_replica_env_start(yh_replica_env_t *e)
{
    int port = 0;
    e->redis = yh_redis_start(&port, &e->redis_dir);
    if (e->redis <= 0) {
        return false;
    }
    snprintf(e->store_url, sizeof e->store_url, "redis://127.0.0.1:%d", port);
    if (yard_store_open(e->store_url, &e->store) != 0) {
        fprintf(stderr, "yh_replica_env_start: cannot open %s\n", e->store_url);
        abort();
    }
    e->dir = yh_tmpdir();
    e->broker = yh_broker_start(&e->bport);
    snprintf(e->endpoint, sizeof e->endpoint, "%s", yh_endpoint(e->bport));
    return true;
}

void
yh_replica_env_stop(yh_replica_env_t *e)
{
    if (e->redis <= 0) {
        return;
    }
    yard_broker_destroy(&e->broker);
    yard_store_destroy(&e->store);
    yh_redis_stop(e->redis, e->redis_dir);
    e->redis = 0;
    e->redis_dir = NULL;
    yh_rmtree(e->dir);
    free(e->dir);
    e->dir = NULL;
}
