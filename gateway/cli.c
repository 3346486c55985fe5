/* The gateway's settings table and the yard-gateway program: --help, --config, the
 * environment and flags, signals and the drain on SIGTERM. Invariant: the program owns
 * SIGINT/SIGTERM through yard/signal.h, blocked before any thread exists, and exits 0 after
 * a clean drain. */
#include "yard/error.h"
#include "yard/gateway.h"
#include "yard/log.h"
#include "yard/signal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_OFF(f) offsetof(yard_gateway_opts_t, f)

const yard_option_t yard_gateway_options[] = {
    {"listen", YARD_OPT_STRING, "127.0.0.1:8080", S_OFF(listen),
     "HTTP address host:port (port 0: any free port)", 0, 0},
    {"threads", YARD_OPT_INT, "2", S_OFF(threads),
     "serving threads (an HTTP daemon and a bus client each)", 1, 256},
    {"connection_limit", YARD_OPT_INT, "10000", S_OFF(connection_limit),
     "open HTTP connections at most", 1, 1000000},
    {"connection_timeout_ms", YARD_OPT_MS, "30000", S_OFF(connection_timeout_ms),
     "idle connections are closed after this (rounded up to seconds)", 1000, 3600000},
    {"timeout_ms", YARD_OPT_MS, "15000", S_OFF(timeout_ms), "default route deadline: 504 after it",
     1, 300000},
    {"body_limit", YARD_OPT_SIZE, "1MiB", S_OFF(body_limit),
     "default route request body limit: 413 above it", 0, 0},
    {"drain_ms", YARD_OPT_MS, "10000", S_OFF(drain_ms),
     "SIGTERM: how long in-flight requests may finish", 0, 600000},
    {"default_route", YARD_OPT_BOOL, "true", S_OFF(default_route),
     "serve /v1/{service} -> that service", 0, 0},
    {"reuse_port", YARD_OPT_BOOL, "false", S_OFF(reuse_port),
     "SO_REUSEPORT: several gateways share one port", 0, 0},
    {"routes", YARD_OPT_NODE, NULL, 0, "route table (a list of maps; docs/gateway.md)", 0, 0},
    {"cors", YARD_OPT_NODE, NULL, 0, "CORS settings (a map; docs/gateway.md)", 0, 0},
    {"rate_limit", YARD_OPT_NODE, NULL, 0, "rate limits per IP and token (docs/gateway.md)", 0, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0},
};

const yard_option_t yard_gateway_shared_options[] = {
    {"broker", YARD_OPT_STRING, "tcp://127.0.0.1:5555", S_OFF(broker),
     "broker endpoints, comma-separated", 0, 0},
    {"store", YARD_OPT_STRING, "memory", S_OFF(store),
     "memory, or redis://host:port/db to share rate limits between gateways", 0, 0},
    {"log_level", YARD_OPT_STRING, NULL, S_OFF(log_level), "debug, info, warn, error or off", 0, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0},
};

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: yard-gateway [--config FILE] [--<option> VALUE]...\n"
                 "HTTP/1.1 in front of the bus: /v1/{service} and the configured routes.\n\n"
                 "shared options (top level of the config file):\n");
    yard_options_help(yard_gateway_shared_options, NULL, out);
    fprintf(out, "\ngateway options (section gateway:):\n");
    yard_options_help(yard_gateway_options, "gateway", out);
}

/* True when flag ("--key", "--key=v") names a key of table. */
static bool
s_in_table(const yard_option_t *table, const char *flag)
{
    if (strncmp(flag, "--", 2) != 0) {
        return false;
    }
    const char *name = flag + 2;
    size_t n = strcspn(name, "=");
    for (size_t i = 0; table[i].key; i++) {
        const char *k = table[i].key;
        size_t j = 0;
        for (; j < n && k[j]; j++) {
            char c = name[j] == '-' ? '_' : name[j];
            if (c != k[j]) {
                break;
            }
        }
        if (j == n && !k[j]) {
            return true;
        }
    }
    return false;
}

int
yard_gateway_opts_fill(yard_gateway_opts_t *opts, const yard_config_t *cfg, int argc, char **argv,
                       char *err, size_t errlen)
{
    memset(opts, 0, sizeof *opts);
    char **shared = calloc((size_t)argc + 1, sizeof *shared);
    char **own = calloc((size_t)argc + 1, sizeof *own);
    if (!shared || !own) {
        abort();
    }
    int ns = 0, no = 0;
    for (int i = 0; i < argc; i++) {
        bool s = s_in_table(yard_gateway_shared_options, argv[i]);
        char **dst = s ? shared : own;
        int *n = s ? &ns : &no;
        dst[(*n)++] = argv[i];
        if (!strchr(argv[i], '=') && i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            dst[(*n)++] = argv[++i];
        }
    }
    int rc =
        yard_options_apply(yard_gateway_shared_options, opts, cfg, NULL, ns, shared, err, errlen);
    if (rc == 0) {
        rc = yard_options_apply(yard_gateway_options, opts, cfg, "gateway", no, own, err, errlen);
    }
    free(shared);
    free(own);
    return rc;
}

void
yard_gateway_opts_free(yard_gateway_opts_t *opts)
{
    yard_options_free(yard_gateway_shared_options, opts);
    yard_options_free(yard_gateway_options, opts);
}

int
yard_gateway_main(int argc, char **argv)
{
    yard_signal_block(); /* before any thread */
    yard_log_set_context("gateway", -1);
    const char *config_path = getenv("YARD_CONFIG");
    char **flags = calloc((size_t)argc + 1, sizeof *flags);
    if (!flags) {
        abort();
    }
    int nflags = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            s_usage(stdout);
            free(flags);
            return 0;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config_path = argv[i] + 9;
        } else {
            flags[nflags++] = argv[i];
        }
    }
    int code = 2;
    char err[512] = "";
    yard_config_t *cfg = NULL;
    yard_gateway_opts_t opts;
    memset(&opts, 0, sizeof opts);
    yard_gateway_t *gw = NULL;
    if (config_path && config_path[0] && yard_config_load(config_path, &cfg, err, sizeof err)) {
        goto done;
    }
    if (yard_gateway_opts_fill(&opts, cfg, nflags, flags, err, sizeof err) != 0) {
        goto done;
    }
    yard_log_level_t level;
    if (opts.log_level) {
        if (yard_log_level_parse(opts.log_level, &level) != 0) {
            snprintf(err, sizeof err, "log_level: '%s' is not debug, info, warn, error or off",
                     opts.log_level);
            goto done;
        }
        yard_log_set_level(level);
    }
    int rc = yard_gateway_new(&opts, cfg, NULL, &gw, err, sizeof err);
    if (rc == 0) {
        rc = yard_gateway_start(gw);
        if (rc) {
            snprintf(err, sizeof err, "cannot start: %s", yard_strerror(rc));
        }
    }
    if (rc) {
        code = rc == YARD_E_CONFIG ? 2 : 1;
        goto done;
    }
    int sig = yard_signal_wait(-1);
    yard_log(YARD_LOG_INFO, "stopping", YF_INT("signal", sig));
    yard_gateway_stop(gw);
    code = 0;
done:
    if (err[0]) {
        fprintf(stderr, "yard-gateway: %s\n", err);
    }
    yard_gateway_destroy(&gw);
    yard_gateway_opts_free(&opts);
    yard_config_destroy(&cfg);
    free(flags);
    return code;
}
