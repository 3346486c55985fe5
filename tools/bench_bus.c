/* The benchmarks' own bus: see bench_bus.h. The echo actor is configured exactly as
 * `yard-actor echo` would be with no config file (yard_actor_configure), then given the
 * benchmark's endpoint, replica count, credit and fill. */
#include "bench_bus.h"
#include "cli.h"

#include "yard/error.h"
#include "yard/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

static int
s_start_echo(yard_bench_bus_t *bus, const yard_actor_def_t *echo, const void *echo_options,
             const yard_bench_replicas_t *r, const char *endpoint, const char *who)
{
    if (!echo) {
        fprintf(stderr, "%s: this build has no echo actor\n", who);
        return -1;
    }
    yard_actor_opts_t o;
    void *own = NULL;
    char err[256] = "";
    int rc = yard_actor_configure(echo, NULL, 0, NULL, &o, &own, err, sizeof err);
    if (rc == 0) {
        free(o.broker);
        o.broker = strdup(endpoint);
        o.replicas = r->replicas;
        o.credit = r->credit;
        o.fill = r->fill;
        o.zmq_context = bus->ctx;
        free(o.log_level);
        o.log_level = strdup("warn"); /* the runtime applies it process-wide */
        rc = yard_actor_start(echo, &o, echo_options ? echo_options : own, &bus->echo);
        yard_actor_config_free(echo, &o, &own);
    }
    if (rc) {
        fprintf(stderr, "%s: echo replicas: %s%s%s\n", who, yard_strerror(rc), err[0] ? ": " : "",
                err);
        return -1;
    }
    return 0;
}

int
yard__bench_bus_start(yard_bench_bus_t *bus, const yard_bench_replicas_t *r, const char *who)
{
    return yard__bench_bus_start_def(bus, yard_registry_find("echo"), NULL, r, who);
}

int
yard__bench_bus_start_def(yard_bench_bus_t *bus, const yard_actor_def_t *echo,
                          const void *echo_options, const yard_bench_replicas_t *r, const char *who)
{
    memset(bus, 0, sizeof *bus);
    int port = yard__free_port();
    if (port < 0) {
        fprintf(stderr, "%s: no free tcp port on 127.0.0.1\n", who);
        return -1;
    }
    snprintf(bus->tcp, sizeof bus->tcp, "tcp://127.0.0.1:%d", port);
    snprintf(bus->inproc, sizeof bus->inproc, "inproc://yard-bench-%ld", (long)getpid());
    bus->ctx = zmq_ctx_new();
    if (!bus->ctx) {
        abort();
    }
    char bind[140];
    snprintf(bind, sizeof bind, "%s,%s", bus->tcp, bus->inproc);
    yard_broker_opts_t bo = {.bind = bind}; /* zero fields take their defaults */
    int rc = yard_broker_new(&bo, bus->ctx, &bus->broker);
    if (rc == 0) {
        rc = yard_broker_start(bus->broker);
    }
    if (rc) {
        fprintf(stderr, "%s: broker on %s: %s\n", who, bind, yard_strerror(rc));
        return -1;
    }
    return s_start_echo(bus, echo, echo_options, r, r->inproc ? bus->inproc : bus->tcp, who);
}

const char *
yard__bench_replicas_label(bool existing, bool spread)
{
    if (existing) {
        return "(existing replicas)";
    }
    return spread ? "replicas (round-robin)" : "replicas (fill)";
}

const char *
yard__bench_fill_json(bool existing, bool spread)
{
    if (existing) {
        return "null";
    }
    return spread ? "false" : "true";
}

int64_t
yard__bench_bus_credit(int64_t outstanding, int replicas)
{
    int64_t each = (outstanding + replicas - 1) / replicas;
    return each < 16 ? 16 : each;
}

void
yard__bench_bus_stop(yard_bench_bus_t *bus)
{
    if (bus->echo) {
        yard_actor_stop(bus->echo);
        yard_actor_destroy(&bus->echo);
    }
    if (bus->broker) {
        yard_broker_stop(bus->broker);
        yard_broker_destroy(&bus->broker);
    }
    if (bus->ctx) {
        zmq_ctx_term(bus->ctx);
        bus->ctx = NULL;
    }
}
