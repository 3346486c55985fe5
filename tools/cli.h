/* Shared by the yard CLI's command files (private to tools/): the exit-code contract, the one
 * way errors are printed, and small helpers every command needs.
 *
 * Exit codes are part of the CLI's interface, so scripts can branch on them:
 *   0  success
 *   1  the bus answered with an error (NO_SERVICE, a service's own error, OVERLOADED, ...)
 *   2  usage: a bad flag, bad JSON, a malformed endpoint, a bad config file
 *   3  no broker answered in time (UNREACHABLE or TIMEOUT) */
#ifndef YARD_TOOLS_CLI_H
#define YARD_TOOLS_CLI_H

#include "yard/msg.h"
#include "yard/options.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    YARD_EXIT_OK = 0,
    YARD_EXIT_ERROR = 1,
    YARD_EXIT_USAGE = 2,
    YARD_EXIT_UNREACHABLE = 3,
};

/* The broker endpoint when nothing names one: the options tables' default. */
#define YARD_CLI_DEFAULT_BROKER YARD_OPT_DEFAULT_BROKER

/* The commands; each gets argv from its own name on (argv[0] is "call", ...) and returns the
 * process's exit code. */
int yard__cmd_call(int argc, char **argv);
int yard__cmd_send(int argc, char **argv);
int yard__cmd_pub(int argc, char **argv);
int yard__cmd_sub(int argc, char **argv);
int yard__cmd_bench(int argc, char **argv);
int yard__cmd_up(int argc, char **argv);
int yard__cmd_services(int argc, char **argv);      /* cmd_services.c */
int yard__cmd_replicas(int argc, char **argv);      /* cmd_services.c */
int yard__cmd_top(int argc, char **argv);           /* cmd_top.c */
int yard__cmd_monitor(int argc, char **argv);       /* cmd_monitor.c */
int yard__cmd_tap(int argc, char **argv);           /* cmd_tap.c */
int yard__cmd_bench_compare(int argc, char **argv); /* cmd_bench_compare.c */
int yard__cmd_keygen(int argc, char **argv);        /* cmd_keygen.c */
int yard__cmd_ping(int argc, char **argv);          /* cmd_ping.c */

/* The exit code for a yard error: 3 for UNREACHABLE and TIMEOUT, 2 for CONFIG and INVALID
 * (what the user typed was wrong), 1 otherwise. */
int yard__exit_for(int err);

/* Prints "error: NAME: text" to stderr: NAME is the service's error name for YARD_E_SERVICE
 * (when reply carries one), else the table's; text is the reply's error text when it has one,
 * else the table's message. reply may be NULL. */
void yard__print_error(int err, const yard_msg_t *reply);

/* The broker endpoint list, like every program finds it: the flag if given, else
 * $YARD_BROKER, else the `broker` key of the config file (config, else $YARD_CONFIG), else
 * the default. Also sets this process's bus keys (yard/curve.h) from the file's curve:
 * section, YARD_CURVE_* and the flags yard__curve_flags_take() kept. Returns 0 with *out set
 * (caller owns it; free with free()), or YARD_E_CONFIG /
 * YARD_E_IO with errbuf naming the file and line or the variable. */
int yard__broker_resolve(const char *flag, const char *config, char **out, char *errbuf,
                         size_t errlen);

/* Takes the bus key flags (--key, --broker-key, --keys-dir, each also as --X=V and --X-file;
 * yard/curve.h) out of argv, whatever the command, and keeps them for
 * yard__broker_resolve(). Returns 0, or -1 with the reason on stderr (a flag without its
 * value). argv must outlive the command. */
int yard__curve_flags_take(int *argc, char **argv);

/* Nanoseconds on the monotonic clock. */
uint64_t yard__now_ns(void);

/* Milliseconds since the epoch on the real-time clock (for what a person reads). */
uint64_t yard__wall_ms(void);

/* ms (milliseconds since the epoch) as local time, "YYYY-MM-DD HH:MM:SS.mmm" when date, else
 * "HH:MM:SS.mmm", written into out (cap bytes, truncated to fit). */
void yard__local_time(uint64_t ms, bool date, char *out, size_t cap);

/* Sleeps for ms milliseconds (a tool's polling back-off, never synchronisation in a test). */
void yard__sleep_ms(int ms);

/* A TCP port on 127.0.0.1 that was free a moment ago, or -1. */
int yard__free_port(void);

/* Parses a non-negative decimal integer in [min, max]. Returns 0 or -1. */
int yard__parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out);

/* Parses a number (strtod(), whole text) in [min, max] into *out. Returns 0 or -1. */
int yard__parse_double(const char *text, double min, double max, double *out);

/* The load-shape flags the benches share, as getopt_long() values: 'c' --clients (1..1024),
 * 'w' --window (1..100000), 'd' --duration (seconds, 0.1..3600). Returns true when ch is one
 * of them for a command that has it (clients or window NULL: it has not), with *what the
 * reason arg is bad or NULL; false otherwise. */
bool yard__bench_shape_opt(int ch, const char *arg, int *clients, int *window, double *duration_s,
                           const char **what);

/* The messages of a command's getopt_long() loop (optstring starting with ':'), each on stderr
 * prefixed with who ("yard bench"), so every command words them alike. Each returns -1.
 * yard__opt_reject: getopt_long() returned ch for arg: ':' an option without its value, else
 * an unknown option; usage follows. yard__opt_bad_value: value is bad for what, e.g.
 * "--clients: 1..1024". yard__opt_operand: arg is an argument the command takes none of;
 * usage follows. */
int yard__opt_reject(const char *who, int ch, const char *arg, const char *usage);
int yard__opt_bad_value(const char *who, const char *value, const char *what);
int yard__opt_operand(const char *who, const char *arg, const char *usage);

/* A msgpack body of exactly size bytes (a bin, or nil when size < 2) whose first payload
 * bytes can carry a timestamp. Caller owns the result; free with free(). */
void *yard__bench_body(size_t size, size_t *payload_off);

/* --- bench ------------------------------------------------------------------------------- */

/* A log-linear latency histogram (HDR-style): exact below 128 ns, then 64 sub-buckets per
 * power of two, so any value is reported within 1/64 of itself. Values are nanoseconds. */
#define YARD_HIST_BUCKETS (128 + 57 * 64)
typedef struct {
    uint64_t counts[YARD_HIST_BUCKETS];
    uint64_t total;
    uint64_t max;
} yard_hist_t;

void yard__hist_record(yard_hist_t *h, uint64_t ns);
void yard__hist_merge(yard_hist_t *into, const yard_hist_t *from);
/* The value at quantile q (0..1), in nanoseconds (the bucket's midpoint); 0 when empty. */
uint64_t yard__hist_quantile(const yard_hist_t *h, double q);

/* What one side of the bench measured. */
typedef struct {
    uint64_t sent, replies, errors, lost;
    uint64_t replies_in_window; /* replies that arrived before the duration ended */
    uint64_t error_counts[32];  /* by wire code (index 0: a local failure with no code) */
    double seconds;             /* the measured duration */
    yard_hist_t hist;           /* latencies of the calls answered with a reply */
    yard_hist_t fail_hist;      /* latencies of the calls that ended in an error answer (the
                                   wait a caller saw: TIMEOUT, WORKER_LOST, a service's error);
                                   sends that failed at once are counted, never timed */
} yard_bench_result_t;

typedef struct {
    int clients, workers, window;
    double duration_s;
    size_t size;
    uint32_t handler_ms; /* bench_nats.c: each responder sleeps this long per request */
    uint64_t *served;    /* bench_nats.c: NULL, or workers counts out: requests each answered */
} yard_bench_shape_t;

/* The raw libzmq baseline: a zmq_proxy ROUTER/DEALER on tcp loopback with shape->workers
 * echoing DEALER workers and shape->clients DEALER clients, each keeping shape->window
 * requests outstanding. Returns 0 and fills *out, or -1 with the reason on stderr. */
int yard__bench_baseline(const yard_bench_shape_t *shape, yard_bench_result_t *out);

#endif
