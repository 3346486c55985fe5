/* The yard-broker program around the library: the options table below (the one place its
 * defaults live) and the shared program skeleton (yard/program.h): --help, --config, the
 * environment and flags, log_level, then run until SIGINT or SIGTERM. */
#include "yard/broker.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/program.h"

#include <stddef.h>

#define S_OPT(key, type, def, field, help, lo, hi)                                                 \
    {                                                                                              \
        key, type, def, offsetof(yard_broker_opts_t, field), help, lo, hi, 0                       \
    }

const yard_option_t yard_broker_options[] = {
    S_OPT("bind", YARD_OPT_STRING, YARD_OPT_DEFAULT_BROKER, bind,
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
    S_OPT("log_level", YARD_OPT_STRING, YARD_OPT_DEFAULT_LOG_LEVEL, log_level,
          "debug, info, warn, error or off", 0, 0),
    S_OPT("tap", YARD_OPT_BOOL, "true", tap,
          "let `yard tap` see copies of the traffic (rate-limited)", 0, 0),
    S_OPT("insecure", YARD_OPT_BOOL, "false", insecure,
          "bind endpoints other machines can reach without CURVE (see curve: below)", 0, 0),
    S_OPT("metrics", YARD_OPT_STRING, NULL, metrics,
          "HOST:PORT to serve Prometheus metrics on (GET /metrics); unset: off", 0, 0),
    {0},
};

static const char *const s_aliases[] = {"--no-tap", "--tap=false", NULL};

static const yard_program_def_t s_program = {
    .name = "yard-broker",
    .component = "broker",
    .usage = "usage: yard-broker [--config FILE] [--<option> VALUE]...\n"
             "Routes YD/3 requests, sends and publications between Switchyard peers.\n\n"
             "  --config FILE   YAML config file (or YARD_CONFIG)\n"
             "  --no-tap        the same as --tap false\n"
             "  --help          this text\n",
    .aliases = s_aliases,
};

int
yard_broker_main(int argc, char **argv)
{
    yard_program_t *prog = yard_program_new(&s_program, argc, argv);
    yard_broker_opts_t opts = {0};
    yard_broker_t *broker = NULL;
    yard_program_options(prog, "options (top level of the config file):", yard_broker_options, NULL,
                         &opts);
    if (yard_program_configure(prog) != 0) {
        goto cleanup;
    }
    opts.curve_key = yard_program_curve(prog)->key;
    opts.curve_keys_dir = yard_program_curve(prog)->keys_dir;
    int rc = yard_broker_new(&opts, NULL, &broker);
    if (rc == 0) {
        rc = yard_broker_start(broker);
    }
    if (rc != 0) {
        /* the log line before names the endpoint */
        yard_program_fail(prog, rc, "cannot start: %s (%s)", yard_strerror(rc), yard_err_name(rc));
        goto cleanup;
    }
    yard_log(YARD_LOG_INFO, "broker running", YF_STR("bind", opts.bind));
    yard_program_wait(prog);
cleanup:
    yard_broker_destroy(&broker);
    yard_options_free(yard_broker_options, &opts);
    return yard_program_end(&prog);
}
