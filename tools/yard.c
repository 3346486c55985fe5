/* yard: the command-line tool for a Switchyard bus. This file only dispatches to the command
 * families (cmd_call.c: call, send, pub, sub; cmd_bench.c: bench; cmd_bench_http.c and
 * cmd_bench_auth.c: bench http, bench auth; cmd_up.c: up); each command
 * parses its own flags and returns the exit code (cli.h lists what the codes mean). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} s_command_t;

int yard__cmd_bench_http(int argc, char **argv);    /* cmd_bench_http.c */
int yard__cmd_bench_auth(int argc, char **argv);    /* cmd_bench_auth.c */
int yard__cmd_bench_logship(int argc, char **argv); /* cmd_bench_logship.c */
int yard__cmd_bench_mem(int argc, char **argv);     /* cmd_bench_mem.c */

static const s_command_t s_commands[] = {
    {"call", yard__cmd_call, "call a service and print its reply as JSON"},
    {"send", yard__cmd_send, "send a one-way message to a service"},
    {"pub", yard__cmd_pub, "publish a JSON message on a subject"},
    {"sub", yard__cmd_sub, "print the messages published on a subject pattern"},
    {"bench", yard__cmd_bench, "measure round trips/s and latency, against raw zmq_proxy"},
    {"up", yard__cmd_up, "run the broker and every actor in one process"},
    {"ping", yard__cmd_ping, "exit 0 when the bus, or a service's replica, is serving"},
    {"services", yard__cmd_services, "list services: replicas, credit, load, errors, latency"},
    {"replicas", yard__cmd_replicas, "list one service's replicas"},
    {"top", yard__cmd_top, "a live full-screen view of the services"},
    {"monitor", yard__cmd_monitor, "stream the broker's socket and replica events"},
    {"tap", yard__cmd_tap, "stream the messages of matching services or subjects"},
    {"keygen", yard__cmd_keygen, "write a CURVE key pair (NAME, NAME_secret) for the bus"},
    {NULL, NULL, NULL},
};

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: yard COMMAND [ARGS] [--broker URL]\n\ncommands:\n");
    for (const s_command_t *c = s_commands; c->name; c++) {
        fprintf(out, "  %-9s %s\n", c->name, c->summary);
    }
    fprintf(out, "  bench http  measure the HTTP gateway with wrk, against a bare libmicrohttpd\n");
    fprintf(out, "  bench auth  measure auth verify calls/s, against echo and a local verify\n");
    fprintf(out, "  bench compare  request/reply through Switchyard, NATS and raw zmq_proxy\n");
    fprintf(out, "  bench logship  lines/s from a file into Elasticsearch's _bulk, against cat\n");
    fprintf(out, "  bench memory  broker RSS idle and per connected peer, against zmq_proxy\n");
    fprintf(out,
            "\n'yard COMMAND --help' describes a command. The broker is --broker, else "
            "$YARD_BROKER, else " YARD_CLI_DEFAULT_BROKER ".\n"
            "Bus keys (CURVE): --key NAME_secret --broker-key BROKER_PUB, or YARD_CURVE_KEY and\n"
            "YARD_CURVE_BROKER_KEY, or the config file's curve: section (docs/security.md).\n"
            "Exit status: 0 ok, 1 error reply, 2 usage, 3 no broker or timeout.\n");
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        s_usage(stderr);
        return YARD_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        s_usage(stdout);
        return YARD_EXIT_OK;
    }
    /* Any command's sockets take the key flags; yard up's program skeleton reads its own. */
    if (strcmp(argv[1], "up") != 0 && yard__curve_flags_take(&argc, argv) != 0) {
        return YARD_EXIT_USAGE;
    }
    if (argc > 2 && strcmp(argv[1], "bench") == 0 && strcmp(argv[2], "http") == 0) {
        return yard__cmd_bench_http(argc - 2, argv + 2);
    }
    if (argc > 2 && strcmp(argv[1], "bench") == 0 && strcmp(argv[2], "auth") == 0) {
        return yard__cmd_bench_auth(argc - 2, argv + 2);
    }
    if (argc > 2 && strcmp(argv[1], "bench") == 0 && strcmp(argv[2], "logship") == 0) {
        return yard__cmd_bench_logship(argc - 2, argv + 2);
    }
    if (argc > 2 && strcmp(argv[1], "bench") == 0 && strcmp(argv[2], "memory") == 0) {
        return yard__cmd_bench_mem(argc - 2, argv + 2);
    }
    if (argc > 2 && strcmp(argv[1], "bench") == 0 && strcmp(argv[2], "compare") == 0) {
        return yard__cmd_bench_compare(argc - 2, argv + 2);
    }
    for (const s_command_t *c = s_commands; c->name; c++) {
        if (strcmp(argv[1], c->name) == 0) {
            return c->fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "yard: unknown command '%s'\n", argv[1]);
    s_usage(stderr);
    return YARD_EXIT_USAGE;
}
