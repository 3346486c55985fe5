/* The yard-broker program around the library: options from the table below (defaults, the
 * config file, the environment, flags, in increasing priority), then run until SIGINT or
 * SIGTERM. Signals are blocked before any thread exists, so only yard_signal_wait sees them. */
#include "yard/broker.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/signal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_OPT(key, type, def, field, help, lo, hi)                                                 \
    {                                                                                              \
        key, type, def, offsetof(yard_broker_opts_t, field), help, lo, hi                          \
    }

const yard_option_t yard_broker_options[] = {
    S_OPT("bind", YARD_OPT_STRING, "tcp://127.0.0.1:5555", bind,
          "comma-separated endpoints to bind (tcp://, ipc://, inproc://)", 0, 0),
    S_OPT("heartbeat_ms", YARD_OPT_MS, "1000", heartbeat_ms,
          "heartbeat interval for subscribers and clients; replicas negotiate theirs", 1, 3600000),
    S_OPT("heartbeat_min_ms", YARD_OPT_MS, "100", heartbeat_min_ms,
          "smallest heartbeat interval a replica may ask for", 1, 3600000),
    S_OPT("heartbeat_max_ms", YARD_OPT_MS, "60000", heartbeat_max_ms,
          "largest heartbeat interval a replica may ask for", 1, 3600000),
    S_OPT("grace_ms", YARD_OPT_MS, "2000", grace_ms,
          "how long a service without replicas keeps its queue before NO_SERVICE", 1, 3600000),
    S_OPT("default_timeout_ms", YARD_OPT_MS, "5000", default_timeout_ms,
          "deadline of a request that gives none", 1, 86400000),
    S_OPT("max_timeout_ms", YARD_OPT_MS, "300000", max_timeout_ms,
          "longest deadline a request may ask for", 1, 86400000),
    S_OPT("max_body", YARD_OPT_SIZE, "1MiB", max_body, "largest body accepted (TOO_LARGE above)", 1,
          1ll << 30),
    S_OPT("queue_max", YARD_OPT_INT, "10000", queue_max,
          "requests waiting per service before OVERLOADED", 1, 100000000),
    S_OPT("max_peers", YARD_OPT_INT, "10000", max_peers, "replicas and subscribers tracked at once",
          1, 10000000),
    S_OPT("max_services", YARD_OPT_INT, "1000", max_services, "services at once", 1, 1000000),
    S_OPT("max_in_flight", YARD_OPT_INT, "100000", max_in_flight,
          "requests open at once (queued or held), all services", 1, 100000000),
    S_OPT("log_level", YARD_OPT_STRING, "info", log_level, "debug, info, warn, error or off", 0, 0),
    S_OPT("tap", YARD_OPT_BOOL, "true", tap,
          "let `yard tap` see copies of the traffic (rate-limited)", 0, 0),
    {0},
};

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: yard-broker [--config FILE] [--<option> VALUE]...\n"
                 "Routes YD/1 requests, sends and publications between Switchyard peers.\n\n"
                 "  --config FILE   YAML config file (or YARD_CONFIG)\n"
                 "  --no-tap        the same as --tap false\n"
                 "  --help          this text\n\n");
    yard_options_help(yard_broker_options, NULL, out);
}

/* Takes --help and --config out of argv (the rest are table options). Returns 1 for help. */
static int
s_split_args(int argc, char **argv, char **flags, int *nflags, const char **config)
{
    *nflags = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return 1;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            *config = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            *config = argv[i] + 9;
        } else if (strcmp(argv[i], "--no-tap") == 0) {
            flags[(*nflags)++] = "--tap=false";
        } else {
            flags[(*nflags)++] = argv[i];
        }
    }
    return 0;
}

static int
s_load(int nflags, char **flags, const char *config, yard_broker_opts_t *opts)
{
    char err[512] = "";
    yard_config_t *cfg = NULL;
    int rc = 0;
    if (config && *config) {
        rc = yard_config_load(config, &cfg, err, sizeof err);
        if (rc == 0) {
            rc = yard_config_check_section(cfg, yard_broker_options, NULL, err, sizeof err);
        }
        if (rc) {
            goto cleanup;
        }
    }
    rc = yard_options_apply(yard_broker_options, opts, cfg, NULL, nflags, flags, err, sizeof err);
    yard_log_level_t level;
    if (rc == 0 && opts->log_level) {
        if (yard_log_level_parse(opts->log_level, &level) != 0) {
            snprintf(err, sizeof err, "--log-level: unknown level '%s'", opts->log_level);
            rc = YARD_E_CONFIG;
            goto cleanup;
        }
        yard_log_set_level(level);
    }
cleanup:
    if (rc) {
        fprintf(stderr, "yard-broker: %s\n", err[0] ? err : yard_strerror(rc));
    }
    yard_config_destroy(&cfg);
    return rc;
}

int
yard_broker_main(int argc, char **argv)
{
    yard_signal_block();
    yard_log_set_context("broker", -1);
    char **flags = calloc((size_t)argc + 1, sizeof *flags);
    const char *config = getenv("YARD_CONFIG");
    yard_broker_opts_t opts = {0};
    yard_broker_t *broker = NULL;
    int nflags = 0, status = 0;
    if (!flags) {
        abort();
    }
    if (s_split_args(argc, argv, flags, &nflags, &config)) {
        s_usage(stdout);
        goto cleanup;
    }
    if (s_load(nflags, flags, config, &opts) != 0) {
        status = 2;
        goto cleanup;
    }
    int rc = yard_broker_new(&opts, NULL, &broker);
    if (rc == 0) {
        rc = yard_broker_start(broker);
    }
    if (rc != 0) {
        status = rc == YARD_E_CONFIG ? 2 : 1; /* the log line above names the endpoint */
        goto cleanup;
    }
    yard_log(YARD_LOG_INFO, "broker running", YF_STR("bind", opts.bind));
    int sig = yard_signal_wait(-1);
    yard_log(YARD_LOG_INFO, "broker stopping", YF_INT("signal", sig));
cleanup:
    yard_broker_destroy(&broker);
    yard_options_free(yard_broker_options, &opts);
    free(flags);
    return status;
}
