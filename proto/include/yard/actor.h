/* The actor runtime. An actor is a descriptor (yard_actor_def_t) and plain handler functions;
 * the runtime owns everything else: one thread and one broker connection per replica (and per
 * broker endpoint), READY with credit, heartbeats negotiated with the broker, reconnecting and
 * re-registering after a broker restart, deadlines, draining on stop, options from the table
 * (file, environment, flags, --help), logging context and the state store.
 *
 * A handler gets a request, and must do exactly one of: reply, fail, or defer. A deferred
 * request is a token that any thread may complete later, exactly once; if its deadline passes
 * first the runtime answers TIMEOUT and a later completion is ignored. A handler that returns
 * having done none of the three gets an INTERNAL error sent for it. One-way SENDs go to the
 * same handlers; what they reply is dropped.
 *
 * Each replica has a context (yard_ctx_t) of services on its own thread: the options, the
 * clocks, events published on the bus, timers (yard/timer.h) and loop sources (yard/loop.h).
 *
 * Handlers are testable without sockets: yard_request_new_test() builds a request whose
 * outcome the test reads back; yard/actor_test.h runs a whole actor (options, state, init,
 * handler lookup, timers on a fake clock) through the runtime's own code. */
#ifndef YARD_ACTOR_H
#define YARD_ACTOR_H

#include "yard/loop.h"
#include "yard/options.h"
#include "yard/store.h"
#include "yard/wire.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct yard_request yard_request_t;
typedef struct yard_deferred yard_deferred_t;
typedef struct yard_actor yard_actor_t;
/* A replica's services (clock, events, timers, loop sources), one per replica. Borrowed from
 * the runtime: valid from init until fini returns; use it on the replica's thread only. */
typedef struct yard_ctx yard_ctx_t;

/* What init gets: read-only facts about the replica. Borrowed; valid during the call. */
typedef struct {
    int replica;         /* 0-based index within this process */
    yard_ctx_t *ctx;     /* the replica's services (timers may be started from init) */
    yard_store_t *store; /* shared by the process's replicas; borrowed for the actor's life */
    const void *options; /* the filled options struct (def->options_size bytes) */
    /* For an actor that also talks to the bus on its own (a client of its own, e.g. a
     * scheduler firing messages): the broker endpoints and the ZeroMQ context its replicas
     * use (inproc endpoints need the same context). Borrowed for the actor's life. */
    const char *broker;
    void *zmq_context;
    /* The config file the options came from, for structured sections the actor reads itself
     * (yard_config_node()); NULL when none. Borrowed for the actor's life. */
    const yard_config_t *config;
} yard_actor_env_t;

/* Handlers return 0, or a negative yard error that the runtime sends as the failure (only
 * when the handler has not replied, failed or deferred already). state is the replica's. */
typedef int(yard_handler_fn)(yard_request_t *req, void *state);

typedef struct {
    const char *op; /* the operation name; NULL: every op that has no handler of its own */
    yard_handler_fn *fn;
    const char *help;
} yard_handler_def_t;

typedef struct {
    const char *name;        /* the service name on the wire, equal to the actor's folder */
    const char *description; /* one line for --help and `yard services` */
    const yard_handler_def_t *handlers; /* ended by an entry with fn == NULL */
    const yard_option_t *options;       /* NULL, or a table ended by key == NULL */
    size_t options_size;                /* sizeof the struct the options fill */
    size_t state_size;                  /* per-replica state, zeroed, passed to handlers */
    uint32_t credit;                    /* default concurrent requests per replica; 0: 16 */
    bool stateful; /* true: more than one process needs a shared (Redis) store */
    /* Optional: the ops whose request and reply bodies carry secrets (passwords, tokens), as
     * op names or patterns (`*` one token, `>` the rest, as subjects: "user.*"), ended by
     * NULL; at most YARD_WIRE_SENSITIVE_MAX. The runtime announces them in READY and the broker
     * never copies their bodies to a tap (`yard tap` shows that the call happened, its size
     * and its outcome). Each entry must be a valid pattern that matches one of the handlers'
     * ops (or the actor has a fallback handler), else start fails with YARD_E_INVALID. */
    const char *const *sensitive;
    /* Optional. init runs in the replica's thread before READY; a non-zero return stops the
     * actor with that error. fini runs after the replica drained. */
    int (*init)(void *state, const yard_actor_env_t *env);
    void (*fini)(void *state);
} yard_actor_def_t;

/* Runtime settings (the common options every actor takes). A field left zero (or NULL)
 * takes its default from yard_actor_common_options / yard_actor_section_options, the one
 * place the defaults are written (`yard-actor NAME --help` lists them). */
typedef struct {
    char *broker;     /* comma-separated endpoints; YARD_BROKER */
    int64_t replicas; /* threads in this process */
    int64_t credit;   /* 0: def->credit */
    bool fill;        /* READY asks the broker to fill this replica's credit before the next's */
    uint32_t heartbeat_ms; /* proposed to the broker */
    uint32_t drain_ms;     /* how long stop waits for in-flight requests */
    char *store;           /* "memory" or a redis:// URL */
    char *log_level;
    void *zmq_context;           /* share a context (inproc endpoints need it); NULL: own */
    const yard_config_t *config; /* set by yard_actor_configure; borrowed, must outlive the
                                    actor; NULL: none */
    char *http_ca_file; /* PEM bundle outbound HTTPS trusts (yard_ctx_http); NULL: system's */
} yard_actor_opts_t;

/* The options filling yard_actor_opts_t: connection settings shared by every program (top
 * level of the config file: broker, heartbeat_ms, store, log_level), and one actor's own
 * settings (its section: replicas, credit, drain_ms). */
extern const yard_option_t yard_actor_common_options[];
extern const yard_option_t yard_actor_section_options[];

/* Fills *opts and *actor_options for def from the config file cfg (may be NULL), the
 * environment and argv (option flags only, no program name): the shared settings from the
 * top level, the actor's (yard_actor_section_options and def->options together) from the
 * section named after it, e.g. `echo: {replicas: 3}`, YARD_ECHO_REPLICAS or --replicas.
 * Returns 0, with both results owned by the caller (free with yard_actor_config_free()), or
 * YARD_E_CONFIG with errbuf naming the file and line, the variable or the flag, or a
 * YARD_OPT_REQUIRED setting of def->options that nobody gave; on error nothing is left to
 * free. *actor_options is NULL when def has no options. */
int yard_actor_configure(const yard_actor_def_t *def, const yard_config_t *cfg, int argc,
                         char **argv, yard_actor_opts_t *opts, void **actor_options, char *errbuf,
                         size_t errlen);
void yard_actor_config_free(const yard_actor_def_t *def, yard_actor_opts_t *opts,
                            void **actor_options);

/* Starts the actor's replicas. opts is borrowed for the call; actor_options points to a
 * filled struct of def->options_size bytes (NULL when the actor has none), copied with its
 * strings (the caller may free its own once this returns). Returns 0 and sets *out (caller owns it;
 * stop and free with yard_actor_destroy()), or an error with the reason logged (YARD_E_CONFIG for a
 * stateful actor with more than one replica on a store that is not shared, init's error when init
 * failed). */
int yard_actor_start(const yard_actor_def_t *def, const yard_actor_opts_t *opts,
                     const void *actor_options, yard_actor_t **out);

/* True once a broker refused this actor's replicas for good: ERROR FORBIDDEN in answer to
 * READY, e.g. a stateful actor whose store is not the one the service's other replicas use
 * (docs/protocol.md). A refused replica logs the reason once and stops (drains, no new READY);
 * the program should stop the actor and exit non-zero, as yard_actor_main() does (exit 1).
 * When text is not NULL, the broker's reason is copied into it (cap bytes, NUL-terminated).
 * Thread-safe. */
bool yard_actor_refused(yard_actor_t *self, char *text, size_t cap);

/* Drains and stops: each replica sends DRAIN, finishes what it holds (up to drain_ms), sends
 * DISCONNECT, runs fini and exits. Blocks until all replicas have stopped. Thread-safe. */
void yard_actor_stop(yard_actor_t *self);
void yard_actor_destroy(yard_actor_t **self_p);

/* A whole actor program: parses argv (--help, --config, the common options and the actor's
 * table), starts the actor, waits for SIGINT/SIGTERM, drains, exits. Returns the exit code. */
int yard_actor_main(const yard_actor_def_t *def, int argc, char **argv);

/* --- inside a handler -------------------------------------------------------------------- */

/* The op name ("" when none), the service name. Borrowed; valid until the request ends. */
const char *yard_request_op(const yard_request_t *req);
const char *yard_request_service(const yard_request_t *req);

/* The raw msgpack body. Borrowed; valid until the request ends. */
const void *yard_request_body(const yard_request_t *req, size_t *size);

/* The body decoded, or NULL when empty or not valid msgpack. Borrowed; valid until the
 * request ends. */
const msgpack_object *yard_request_object(yard_request_t *req);

/* A header's value or NULL. Borrowed; valid until the request ends. */
const char *yard_request_header(const yard_request_t *req, const char *key);

/* Milliseconds left before the caller's deadline (0 when passed). */
uint32_t yard_request_remaining_ms(const yard_request_t *req);

/* True for a one-way SEND (nobody reads the reply). */
bool yard_request_one_way(const yard_request_t *req);

/* Replies with a msgpack body (copied). Returns 0, or YARD_E_INVALID when the request has
 * already been answered or deferred. */
int yard_request_reply(yard_request_t *req, const void *body, size_t size);

/* Fails with a yard error (YARD_E_BAD_REQUEST, ...) or, with err == YARD_E_SERVICE, a
 * service-defined error name app_error. text is a human-readable reason (may be NULL). */
int yard_request_fail(yard_request_t *req, int err, const char *app_error, const char *text);

/* Adds a header to the answer, reply or failure (the gateway reads "http.status" and
 * "http.header.<Name>"). key and value are copied; setting a key again replaces its value.
 * Headers set before yard_request_defer() travel with the token. Returns 0, YARD_E_INVALID
 * once the request was answered or deferred, or YARD_E_TOO_LARGE past 64 headers or the
 * wire's caps (key 255 bytes, value 4096). */
int yard_request_set_header(yard_request_t *req, const char *key, const char *value);

/* Defers the answer. Returns a token (caller owns it: complete it exactly once with
 * yard_deferred_reply() or yard_deferred_fail(), from any thread), or NULL when the request
 * was already answered. */
yard_deferred_t *yard_request_defer(yard_request_t *req);

/* Completes a deferred request. Takes ownership of *d_p, on success and on failure, and sets
 * *d_p to NULL. Returns 0, or YARD_E_TIMEOUT when the runtime already answered at the
 * deadline (the reply is dropped). Thread-safe. */
int yard_deferred_reply(yard_deferred_t **d_p, const void *body, size_t size);
/* Like yard_request_set_header, on a token not yet completed; from the token's holder only. */
int yard_deferred_set_header(yard_deferred_t *d, const char *key, const char *value);
int yard_deferred_fail(yard_deferred_t **d_p, int err, const char *app_error, const char *text);

/* The actor's filled options (def->options_size bytes; NULL when it has none, or for a request
 * made with yard_request_new_test()), so that a handler needs no state or init to read them.
 * Borrowed; valid until the actor stops. */
const void *yard_request_options(const yard_request_t *req);

/* The replica's services for the request (NULL for a request made with
 * yard_request_new_test()). Borrowed; valid until the actor stops. */
yard_ctx_t *yard_request_ctx(yard_request_t *req);

/* --- the replica's services (replica thread only) ----------------------------------------- */

/* The actor's filled options, as yard_request_options(). Borrowed; valid until fini returns. */
const void *yard_ctx_options(const yard_ctx_t *ctx);
/* The replica's state (def->state_size bytes, zeroed at start). Borrowed; valid until fini
 * returns. */
void *yard_ctx_state(yard_ctx_t *ctx);
/* The state store. Borrowed; valid until fini returns. */
yard_store_t *yard_ctx_store(yard_ctx_t *ctx);
/* The 0-based replica index within this process. */
int yard_ctx_replica(const yard_ctx_t *ctx);
/* The actor's name. Borrowed; valid until fini returns. */
const char *yard_ctx_actor_name(const yard_ctx_t *ctx);

/* Milliseconds on the monotonic clock, the one timers run on (yard_loop_now_ms() in a real
 * replica); the fake clock under yard/actor_test.h. */
int64_t yard_ctx_now_ms(const yard_ctx_t *ctx);
/* Milliseconds since the Unix epoch (realtime clock); the fake one under yard/actor_test.h. */
int64_t yard_ctx_wall_ms(const yard_ctx_t *ctx);

/* Publishes an event on the bus from a handler, a timer or a completion, without a client of
 * the actor's own: a PUBLISH on a connected broker link (subscribers subscribe on every
 * broker). While no link is connected (at start, or while the brokers are away) it waits in
 * the replica's bounded reconnect buffer (10000 events, 8 MiB) and is sent, in order, once
 * one is; what is still there when the replica stops is logged as lost. body (may be NULL
 * when size is 0) is copied. Under yard/actor_test.h the event is captured instead. Returns
 * 0, YARD_E_INVALID for a subject that is not a valid one to publish on (wildcards, "$"
 * subjects, over 255 bytes), YARD_E_SHUTDOWN once the replica's links are closed (in fini),
 * or YARD_E_OVERLOADED when the buffer or the link's queue is full (counted and logged). */
int yard_ctx_publish(yard_ctx_t *ctx, const char *subject, const void *body, size_t size);

/* Adds a loop source (yard/loop.h): the runtime copies *src, turns it every loop of the
 * replica (after the broker links), and at stop drains it, turns it while busy (up to
 * drain_ms) and destroys it, before fini. A source added while the replica drains is drained
 * at once. Returns 0, YARD_E_INVALID for NULL, YARD_E_TOO_LARGE past YARD_CTX_SOURCES_MAX
 * sources, or YARD_E_SHUTDOWN once the sources were destroyed (in fini); on error the
 * runtime never calls src's functions (its destroy included: the caller frees src->ctx). */
#define YARD_CTX_SOURCES_MAX 16
int yard_ctx_add_source(yard_ctx_t *ctx, const yard_loop_source_t *src);

/* --- testing handlers without sockets ----------------------------------------------------- */

/* A request for tests: op may be NULL; body copied. Caller owns it; free with
 * yard_request_destroy_test(). */
yard_request_t *yard_request_new_test(const char *service, const char *op, const void *body,
                                      size_t size);
/* The outcome so far: 0 and the reply body, or the failure's error and app error; 1 when
 * nothing was answered yet. Borrowed pointers, valid until the request is destroyed. */
int yard_request_outcome_test(const yard_request_t *req, const void **body, size_t *size,
                              const char **app_error);
/* The value of an answer header set by the handler, or NULL. Borrowed; valid until the
 * request is destroyed. */
const char *yard_request_answer_header_test(const yard_request_t *req, const char *key);
void yard_request_destroy_test(yard_request_t **req_p);

#endif
