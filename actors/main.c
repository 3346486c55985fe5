/* yard-actor: runs one built-in actor by name. `yard-actor NAME [options]` is the actor's own
 * program (see `yard-actor NAME --help`); `yard-actor --help` lists the actors. */
#include "yard/actor.h"
#include "yard/registry.h"

#include <stdio.h>
#include <string.h>

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: yard-actor NAME [--config FILE] [options]\n"
                 "       yard-actor NAME --help\n\nactors:\n");
    for (const yard_actor_def_t *const *a = yard_registry_all(); *a; a++) {
        fprintf(out, "  %-16s %s\n", (*a)->name, (*a)->description ? (*a)->description : "");
    }
}

int
main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const yard_actor_def_t *def = yard_registry_find(argv[1]);
    if (!def) {
        fprintf(stderr, "yard-actor: unknown actor '%s'\n\n", argv[1]);
        s_usage(stderr);
        return 2;
    }
    return yard_actor_main(def, argc - 1, argv + 1);
}
