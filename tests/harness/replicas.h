/* Replicas of an actor as real `yard-actor` processes, the way an operator runs them (so that
 * a test can SIGKILL one), and the lease values those replicas write to a store.
 * Programs are found as in harness.h ($YARD_BIN_DIR). */
#ifndef YARD_HARNESS_REPLICAS_H
#define YARD_HARNESS_REPLICAS_H

#include "yard/broker.h"
#include "yard/store.h"

#include <stdbool.h>
#include <sys/types.h>

/* What a test of replica processes runs them on: a redis-server, the test's own connection to
 * it, a broker and a fresh temp dir (configs, logs). Owned by the test (zero it first); stop it
 * with yh_replica_env_stop(). */
typedef struct {
    pid_t redis; /* <= 0: no redis-server here, and nothing else was started */
    char *redis_dir;
    char store_url[64]; /* "redis://127.0.0.1:<port>" */
    yard_store_t *store;
    char *dir;
    yard_broker_t *broker;
    int bport;
    char endpoint[64]; /* the broker's, for --broker and yard_client_new() */
} yh_replica_env_t;

/* Starts redis-server, opens e->store on it, makes e->dir and starts a broker. Returns false,
 * with nothing started, when redis-server is not installed (the test skips); aborts the test
 * program when the store or the broker cannot start (a broken fixture is not a result). */
bool yh_replica_env_start(yh_replica_env_t *e);

/* Stops what yh_replica_env_start() started (the broker, the store connection, redis-server)
 * and removes e->dir. Stop the processes on it first. Safe on an env that did not start. */
void yh_replica_env_stop(yh_replica_env_t *e);

/* Starts `yard-actor <actor> --broker <broker>` with `--config <config>` and `--store <store>`
 * where those are not NULL, then the extra arguments (NULL-ended; NULL: none), at
 * `--log-level warn`; its stderr goes to <logdir>/yard-actor.<pid>.log (logdir NULL: the
 * test's). Killed if the spawning thread exits (see yh_spawn()). Aborts the test program with
 * a message when it cannot start (a broken fixture is not a result). Returns the pid; stop it
 * with yh_stop(). */
pid_t yh_actor_spawn(const char *actor, const char *broker, const char *config, const char *store,
                     char *const extra[], const char *logdir);

/* The pid at the end of the lease value under key ("<token>/<host>/<pid>", as yard/lease.h
 * writes it), or -1 when the key is absent or its value names no pid. */
pid_t yh_lease_pid(yard_store_t *store, const char *key);

#endif
