/* Replicas of an actor as real `yard-actor` processes, the way an operator runs them (so that
 * a test can SIGKILL one), and the lease values those replicas write to a store.
 * Programs are found as in harness.h ($YARD_BIN_DIR). */
#ifndef YARD_HARNESS_REPLICAS_H
#define YARD_HARNESS_REPLICAS_H

#include "yard/store.h"

#include <sys/types.h>

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
