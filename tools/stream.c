/* The live streams' shared flags and run loop (stream.h). */
#include "stream.h"

#include "cli.h"

#include "yard/assert.h"
#include "yard/error.h"
#include "yard/signal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_EXTRA_MAX 8

/* The shared options, after the command's own in the table getopt_long() sees. */
static const struct option s_shared[] = {
    {"json", no_argument, NULL, 'j'},          {"count", required_argument, NULL, 'n'},
    {"timeout", required_argument, NULL, 't'}, {"broker", required_argument, NULL, 'b'},
    {"config", required_argument, NULL, 'C'},  {"help", no_argument, NULL, 'h'},
};
#define S_NSHARED (sizeof s_shared / sizeof s_shared[0])

int
yard__stream_parse(yard_stream_t *st, int argc, char **argv, const struct option *extra,
                   yard_stream_opt_fn *on_opt, void *ctx, const char *operand,
                   const char **operand_out)
{
    struct option longopts[S_EXTRA_MAX + S_NSHARED + 1];
    size_t n = 0;
    for (; extra && extra[n].name; n++) {
        YARD_ASSERT(n < S_EXTRA_MAX);
        longopts[n] = extra[n];
    }
    memcpy(longopts + n, s_shared, sizeof s_shared);
    longopts[n + S_NSHARED] = (struct option){NULL, 0, NULL, 0};

    st->broker = st->config = NULL;
    st->json = false;
    st->count = 0;
    st->timeout_ms = 5000;
    st->got = 0;
    optind = 1;
    opterr = 0;
    uint64_t v;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(st->usage, stdout);
            return 1;
        case 'j':
            st->json = true;
            break;
        case 'n':
            if (yard__parse_u64(optarg, 1, UINT64_MAX, &st->count)) {
                return yard__opt_bad_value(st->who, optarg, "--count: a positive number");
            }
            break;
        case 't':
            if (yard__parse_u64(optarg, 1, 3600000, &v)) {
                return yard__opt_bad_value(st->who, optarg, "--timeout: 1..3600000 ms");
            }
            st->timeout_ms = (uint32_t)v;
            break;
        case 'b':
            st->broker = optarg;
            break;
        case 'C':
            st->config = optarg;
            break;
        case ':':
        case '?':
            return yard__opt_reject(st->who, c, argv[optind - 1], st->usage);
        default:
            if (on_opt(c, optarg, ctx)) {
                return -1;
            }
            break;
        }
    }
    int operands = operand ? 1 : 0;
    if (operand && optind >= argc) {
        fprintf(stderr, "%s: missing %s\n%s", st->who, operand, st->usage);
        return -1;
    }
    if (optind + operands < argc) {
        return yard__opt_operand(st->who, argv[optind + operands], st->usage);
    }
    if (operand) {
        *operand_out = argv[optind];
    }
    return 0;
}

int
yard__stream_run(yard_stream_t *st, const char *pattern, yard_reply_fn *on_msg,
                 yard_stream_ready_fn *ready, void *ctx)
{
    yard_signal_block(); /* before the client starts ZeroMQ's threads */
    char err[512];
    char *endpoint = NULL;
    int rc = yard__broker_resolve(st->broker, st->config, &endpoint, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s: %s\n", st->who, err);
        return YARD_EXIT_USAGE;
    }
    yard_client_opts_t copts = {.default_timeout_ms = st->timeout_ms};
    yard_client_t *client = NULL;
    rc = yard_client_new(endpoint, &copts, &client);
    if (rc) {
        fprintf(stderr, "%s: broker '%s': %s\n", st->who, endpoint, yard_strerror(rc));
        free(endpoint);
        return yard__exit_for(rc);
    }
    int code = YARD_EXIT_OK;
    rc = yard_client_subscribe(client, pattern, on_msg, ctx);
    if (rc == 0) {
        /* The broker has the subscription (and sent any notice it answers it with) once it
         * answers a ping on the same connection. */
        yard_call_opts_t po = {.op = "ping", .timeout_ms = st->timeout_ms};
        yard_msg_t *reply = NULL;
        rc = yard_client_call(client, "$sys", NULL, 0, &po, &reply);
        yard_msg_destroy(&reply);
    }
    if (rc == 0 && ready) {
        rc = ready(client, endpoint, ctx);
        if (rc > 0) {
            code = rc;
            goto cleanup;
        }
    }
    if (rc) {
        yard__print_error(rc, NULL);
        code = yard__exit_for(rc);
        goto cleanup;
    }
    while (st->count == 0 || st->got < st->count) {
        rc = yard_client_dispatch(client, 200);
        if (rc < 0) {
            yard__print_error(rc, NULL);
            code = yard__exit_for(rc);
            break;
        }
        if (yard_signal_wait(0) != 0) {
            break;
        }
    }
cleanup:
    yard_client_destroy(&client);
    free(endpoint);
    return code;
}
