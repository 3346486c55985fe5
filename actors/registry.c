/* The list of built-in actors, in name order. */
#include "yard/registry.h"

#include <stddef.h>
#include <string.h>

static const yard_actor_def_t *const s_actors[] = {
    &yard_actor_auth,
    &yard_actor_echo,
    &yard_actor_scheduler,
    NULL,
};

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
