/* The list of built-in actors, in name order, from the yard_actor() lines of
 * actors/CMakeLists.txt (generated yard/registry_list.h). */
#include "yard/registry.h"

#include <stddef.h>
#include <string.h>

#define S_ENTRY(name) &yard_actor_##name,
static const yard_actor_def_t *const s_actors[] = {YARD_REGISTRY_ACTORS(S_ENTRY) NULL};
#undef S_ENTRY

const yard_actor_def_t *
yard_registry_find(const char *name)
{
    for (size_t i = 0; name && s_actors[i]; i++) {
        if (strcmp(s_actors[i]->name, name) == 0) {
            return s_actors[i];
        }
    }
    return NULL;
}

const yard_actor_def_t *const *
yard_registry_all(void)
{
    return s_actors;
}
