/* What the yard CLI's live streams (monitor, tap) share: the flags every one of them takes
 * (--json --count --timeout --broker --config --help) and the run itself: connect to the
 * broker, subscribe, make sure the broker has the subscription, then dispatch until
 * SIGINT/SIGTERM or --count lines, following the broker through restarts and failover (the
 * client renews its subscriptions when it reconnects). Each command keeps its own flags, its
 * own checks of the broker's first answer and its own line formats. Private to tools/. */
#ifndef YARD_TOOLS_STREAM_H
#define YARD_TOOLS_STREAM_H

#include "yard/client.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

/* One stream command: who and usage are set by the command; the flags by
 * yard__stream_parse(); got is counted by the command's message callback (the lines it
 * printed, the ones --count counts). */
typedef struct {
    const char *who;   /* "yard tap": the prefix of every message */
    const char *usage; /* printed by --help and after a usage error */
    const char *broker, *config;
    bool json;
    uint64_t count; /* 0: no limit */
    uint32_t timeout_ms;
    uint64_t got;
} yard_stream_t;

/* A command's own option: c is its getopt_long() value, arg its value (NULL for a flag).
 * Returns 0, or -1 after printing why (e.g. with yard__opt_bad_value()). */
typedef int(yard_stream_opt_fn)(int c, const char *arg, void *ctx);

/* Parses argv (argv[0] is the command's name) with getopt_long(): the command's own options
 * (extra, at most 8, ended by a zero entry; their values must not be 'j', 'n', 't', 'b', 'C'
 * or 'h') through on_opt(c, optarg, ctx), the shared ones into *st (count 0, timeout_ms 5000
 * unless given). operand names the one operand the command takes (its value goes to
 * *operand_out), or is NULL for none. Returns 0, 1 after --help (usage on stdout), or -1
 * after a usage error (the reason, and where it helps the usage, on stderr). */
int yard__stream_parse(yard_stream_t *st, int argc, char **argv, const struct option *extra,
                       yard_stream_opt_fn *on_opt, void *ctx, const char *operand,
                       const char **operand_out);

/* The broker has answered the subscription: ready(client, endpoint, ctx) may dispatch to wait
 * for a first notice and check it. Returns 0 to stream, a negative yard error (printed as
 * yard__print_error() does, exit code from yard__exit_for()), or a positive exit code after
 * printing why. endpoint is borrowed for the call. */
typedef int(yard_stream_ready_fn)(yard_client_t *client, const char *endpoint, void *ctx);

/* Runs the stream: blocks the signals (before ZeroMQ starts its threads), resolves the broker
 * (yard__broker_resolve()), subscribes to pattern with on_msg(msg, ctx), pings $sys on the
 * same connection (st->timeout_ms), calls ready (when not NULL), then dispatches until
 * SIGINT/SIGTERM or st->got reaches st->count. Returns the process's exit code: 0, 2 when
 * the broker list is bad, 3 (or 1) when the broker did not answer, or what ready returned. */
int yard__stream_run(yard_stream_t *st, const char *pattern, yard_reply_fn *on_msg,
                     yard_stream_ready_fn *ready, void *ctx);

#endif
