/* The bus a benchmark measures when it brings its own: a broker and the registry's echo
 * replicas in this process, on one ZeroMQ context. Shared by `yard bench`, `yard bench auth`
 * and `yard bench http` so that all measure the same thing. Private to tools/. */
#ifndef YARD_TOOLS_BENCH_BUS_H
#define YARD_TOOLS_BENCH_BUS_H

#include "yard/actor.h"
#include "yard/broker.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    void *ctx;
    yard_broker_t *broker;
    yard_actor_t *echo;
    char tcp[64];    /* tcp://127.0.0.1:<free port>: what separate processes would use */
    char inproc[64]; /* inproc://...: what `yard up` uses inside one process */
} yard_bench_bus_t;

/* How the echo replicas are started. */
typedef struct {
    int replicas;
    int64_t credit; /* each replica's */
    bool inproc;    /* connect over inproc (as `yard up` wires them), else tcp (as separate
                       processes do) */
    /* READY asks for FILL (docs/protocol.md 6.1): the broker gives a replica requests while it
     * has credit before the next one, as an actor whose handler answers at once should ask.
     * Off: the broker's default round-robin. */
    bool fill;
} yard_bench_replicas_t;

/* How a bench's output names its replicas: "(existing replicas)" when it drives another bus
 * (existing), else "replicas (fill)" or, with spread, "replicas (round-robin)". Static. */
const char *yard__bench_replicas_label(bool existing, bool spread);

/* The JSON value of a bench's "fill": null when it drives another bus, else true or false. */
const char *yard__bench_fill_json(bool existing, bool spread);

/* Starts the broker, bound to both endpoints, and the echo replicas r describes (borrowed).
 * Returns 0, or -1 after printing why to stderr, prefixed with who ("yard bench").
 * Call yard__bench_bus_stop() either way. */
int yard__bench_bus_start(yard_bench_bus_t *bus, const yard_bench_replicas_t *r, const char *who);

/* The same with another echo actor, echo (a service named like its def, e.g. bench_echo.h's),
 * given echo_options as its filled options struct (NULL: its defaults). */
int yard__bench_bus_start_def(yard_bench_bus_t *bus, const yard_actor_def_t *echo,
                              const void *echo_options, const yard_bench_replicas_t *r,
                              const char *who);

/* The credit each of `replicas` echo replicas offers so that the broker's queue never sets
 * the pace: all the calls the load keeps outstanding, spread over the replicas, at least 16. */
int64_t yard__bench_bus_credit(int64_t outstanding, int replicas);

/* Stops the replicas (they drain), then the broker, then the context. */
void yard__bench_bus_stop(yard_bench_bus_t *bus);

#endif
