/* echo: the reference actor. Its one handler answers every request with the request's own
 * body, which makes it the bus's smoke test and its benchmark target. */
#include "yard/actor.h"
#include "yard/registry.h"

static int
s_echo(yard_request_t *req, void *state)
{
    (void)state;
    size_t size = 0;
    const void *body = yard_request_body(req, &size);
    return yard_request_reply(req, body, size);
}

static const yard_handler_def_t s_handlers[] = {
    {NULL, s_echo, "replies with the request's body"},
    {NULL, NULL, NULL},
};

const yard_actor_def_t yard_actor_echo = {
    .name = "echo",
    .description = "replies to every request with its body (the reference actor)",
    .handlers = s_handlers,
    .credit = 64,
};
