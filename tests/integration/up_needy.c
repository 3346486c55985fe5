/* `yard up` with one more actor than the registry has: `needy`, which cannot start without a
 * token (YARD_OPT_REQUIRED), as an actor that calls an outside API cannot. test_programs runs
 * it to see such an actor skipped with one line while the rest of the bus runs. */
#include "up.h"

#include "yard/registry.h"

#include <stddef.h>

typedef struct {
    char *token;
} s_opts_t;

static const yard_option_t s_options[] = {
    {"token", YARD_OPT_STRING, NULL, offsetof(s_opts_t, token), "API token", 0, 0,
     YARD_OPT_SECRET | YARD_OPT_REQUIRED},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

static int
s_ping(yard_request_t *req, void *state)
{
    (void)state;
    return yard_request_reply(req, NULL, 0);
}

static const yard_handler_def_t s_handlers[] = {{NULL, s_ping, "replies empty"},
                                                {NULL, NULL, NULL}};

static const yard_actor_def_t s_needy = {
    .name = "needy",
    .description = "needs a token",
    .handlers = s_handlers,
    .options = s_options,
    .options_size = sizeof(s_opts_t),
};

int
main(int argc, char **argv)
{
    const yard_actor_def_t *all[] = {yard_registry_find("echo"), &s_needy, NULL};
    return yard__up_main(argc, argv, all);
}
