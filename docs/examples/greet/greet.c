/* greet: one option, one op (docs/actors.md). cc greet.c $(pkg-config --cflags --libs yard) */
#include <yard/mp.h> /* the request readers and reply writer; includes yard/actor.h */
typedef struct {
    char *greeting;
} greet_opts_t;
static const yard_option_t s_options[] = {
    {"greeting", YARD_OPT_STRING, "Hello", offsetof(greet_opts_t, greeting), "the word"}, {NULL}};

static int
s_hello(yard_request_t *req, void *state)
{
    const greet_opts_t *o = yard_request_options(req);
    const char *name;
    int rc = yard_req_str_or(req, "name", "world", &name);
    if (rc != 0) {
        return rc; /* the request already failed: BAD_REQUEST naming 'name' */
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "greeting", o->greeting);
    yard_mpw_kstr(w, "name", name);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}
static const yard_handler_def_t s_handlers[] = {{"hello", s_hello, "greets {name}"}, {NULL}};
static const yard_actor_def_t s_greet = {.name = "greet",
                                         .handlers = s_handlers,
                                         .options = s_options,
                                         .options_size = sizeof(greet_opts_t)};
int
main(int argc, char **argv)
{
    return yard_actor_main(&s_greet, argc, argv);
}
