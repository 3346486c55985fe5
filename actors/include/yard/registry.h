/* The registry of actors built into this tree: `yard-actor NAME` and `yard services` find an
 * actor's descriptor here. Adding an actor: declare its descriptor below and list it in
 * actors/registry.c. */
#ifndef YARD_REGISTRY_H
#define YARD_REGISTRY_H

#include "yard/actor.h"

/* The actors' descriptors (each defined in actors/<name>/<name>.c). */
extern const yard_actor_def_t yard_actor_auth;
extern const yard_actor_def_t yard_actor_echo;
extern const yard_actor_def_t yard_actor_scheduler;

/* The actor named name, or NULL. Borrowed; static storage. */
const yard_actor_def_t *yard_registry_find(const char *name);

/* Every actor, in name order, ended by NULL. Borrowed; static storage. */
const yard_actor_def_t *const *yard_registry_all(void);

#endif
