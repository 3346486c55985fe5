/* The registry of actors built into this tree: `yard-actor NAME`, `yard up` and the benches
 * find an actor's descriptor here. Adding an actor is a folder, actors/<name>/, whose
 * CMakeLists.txt adds its sources to yard_actors and defines `yard_actor_<name>`, plus one
 * line, `yard_actor(<name>)`, in actors/CMakeLists.txt; the list below is generated from
 * those lines (yard/registry_list.h in the build tree). */
#ifndef YARD_REGISTRY_H
#define YARD_REGISTRY_H

#include "yard/actor.h"
#include "yard/registry_list.h"

/* The actors' descriptors: yard_actor_<name>, each defined in actors/<name>/. */
#define YARD_REGISTRY_DECLARE(name) extern const yard_actor_def_t yard_actor_##name;
YARD_REGISTRY_ACTORS(YARD_REGISTRY_DECLARE)
#undef YARD_REGISTRY_DECLARE

/* The actor named name, or NULL. Borrowed; static storage. */
const yard_actor_def_t *yard_registry_find(const char *name);

/* Every actor, in name order, ended by NULL. Borrowed; static storage. */
const yard_actor_def_t *const *yard_registry_all(void);

#endif
