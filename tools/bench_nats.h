/* The NATS side of `yard bench compare`: a nats-server child process, and the same
 * request/reply load as the bus benches put on the bus, through NATS with the NATS C client.
 * Private to tools/.
 *
 * Invariant: a started server is a child of this process that dies with it (PDEATHSIG), and
 * yard__nats_server_stop() reaps it, so a bench never leaves a nats-server behind. */
#ifndef YARD_TOOLS_BENCH_NATS_H
#define YARD_TOOLS_BENCH_NATS_H

#include "cli.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The Debian package that has the program, for messages. */
#define YARD_NATS_SERVER_PACKAGE "nats-server"

typedef struct {
    pid_t pid; /* 0: not running */
    int port;
    char url[64]; /* nats://127.0.0.1:<port> */
} yard_nats_server_t;

/* Finds the nats-server program: $YARD_NATS_SERVER when set (used as given), else the first
 * executable nats-server on $PATH, /usr/local/sbin, /usr/sbin or /sbin (Debian's package puts
 * it in /usr/sbin, which a user's PATH often lacks). Returns 0 with the path in path, or -1. */
int yard__nats_server_find(char *path, size_t len);

/* Starts program as `program -a 127.0.0.1 -p PORT` on a free port, output discarded, and
 * waits until it accepts tcp connections (up to 10 s; a port taken meanwhile is retried on
 * another). Returns 0, or -1 after printing why to stderr, prefixed with who. Call
 * yard__nats_server_stop() either way. */
int yard__nats_server_start(yard_nats_server_t *s, const char *program, const char *who);

/* Sends SIGTERM, waits up to 5 s, then SIGKILL, and reaps the child. Safe when not started. */
void yard__nats_server_stop(yard_nats_server_t *s);

/* The load of bench_load.h through NATS at url: shape->workers responders, each its own
 * connection with an async subscriber in one queue group, publishing each request's body back
 * to its reply subject; shape->clients requester threads, each its own connection. With
 * window 1 a requester calls natsConnection_Request(); otherwise it keeps shape->window
 * requests outstanding with natsConnection_PublishRequest() to a reply subject under its own
 * wildcard inbox (one synchronous subscription), matching replies by the subject's last token.
 * Failed publishes and requests count as errors (error_counts[0]). Returns 0 and fills *out,
 * or -1 with the reason on stderr, prefixed with who (a connection or the warm-up failed).
 * Leaves the NATS library open: call nats_Close() when done with NATS. */
int yard__bench_nats(const char *url, const yard_bench_shape_t *shape, bool send_asap,
                     yard_bench_result_t *out, const char *who);

#endif
