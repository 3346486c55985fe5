/* The skeleton every Switchyard program shares (yard-broker, yard-gateway, yard-actor NAME,
 * yard up): signals blocked before any thread exists, --help printed from the option
 * tables, --config FILE (or YARD_CONFIG) loaded with file:line errors, the tables applied
 * from defaults, the file, the environment and the flags, log_level applied, then a wait for
 * SIGINT or SIGTERM, and one exit-code contract:
 *   0  stopped cleanly after a signal, or --help
 *   1  could not start (an endpoint would not bind, an actor's init failed)
 *   2  a bad flag, option or config file
 *
 * A main reads like this:
 *   yard_program_t *p = yard_program_new(&s_def, argc, argv);
 *   yard_program_options(p, "broker options:", yard_broker_options, NULL, &opts);
 *   if (yard_program_configure(p) != 0) {
 *       return yard_program_end(&p);      // --help printed, or the error
 *   }
 *   ... start; on failure yard_program_fail(p, rc, "...") ...
 *   yard_program_wait(p);
 *   ... stop ...
 *   return yard_program_end(&p);
 *
 * The program owns SIGINT and SIGTERM (yard/signal.h); nothing else in the process waits for
 * them. */
#ifndef YARD_PROGRAM_H
#define YARD_PROGRAM_H

#include "yard/curve.h"
#include "yard/options.h"

#include <stdio.h>

enum {
    YARD_PROGRAM_EXIT_OK = 0,
    YARD_PROGRAM_EXIT_ERROR = 1,
    YARD_PROGRAM_EXIT_USAGE = 2,
};

typedef struct yard_program yard_program_t;

typedef struct {
    const char *name;      /* "yard-broker": the start of every error line */
    const char *component; /* the main thread's log component, e.g. "broker" */
    /* The text --help prints before the option tables (usage line, what the program does,
     * extra flags). NULL: none; usage_fn, when set, prints it instead. */
    const char *usage;
    void (*usage_fn)(FILE *out, const void *arg);
    const void *usage_arg;
    /* Extra flags that stand for option flags, as pairs ended by NULL, e.g.
     * {"--no-tap", "--tap=false", NULL}. NULL: none. */
    const char *const *aliases;
} yard_program_def_t;

/* Starts a program: blocks SIGINT and SIGTERM in the calling thread (call it before any
 * thread exists, so every thread inherits the mask), sets the log context to
 * def->component, and takes --help / -h and --config FILE / --config=FILE out of argv (the
 * file otherwise comes from YARD_CONFIG; an empty path means none). def and argv are
 * borrowed and must outlive the program. Never NULL. Caller owns the result; free with
 * yard_program_end(). */
yard_program_t *yard_program_new(const yard_program_def_t *def, int argc, char **argv);

/* Adds an option table: --help prints it under heading, and yard_program_configure() applies
 * it to target from section (NULL: the top level). target NULL: --help only (the caller
 * applies the table itself, e.g. with yard_actor_configure()). Each flag goes to the first
 * table that names it. At most 16 tables. All borrowed; they must outlive the program. */
void yard_program_options(yard_program_t *self, const char *heading, const yard_option_t *table,
                          const char *section, void *target);

/* Prints --help and returns 1 when it was asked for. Otherwise loads the config file, applies
 * the tables that have a target (defaults, file, environment, flags; a secret read from a
 * KEY_file), applies the first `log_level` option among them, logs the settings at debug
 * level (secrets as <secret>), and returns 0: the caller starts its work. A non-zero return
 * means stop now: yard_program_end() prints the error, if any, and gives the exit code. */
int yard_program_configure(yard_program_t *self);

/* The loaded config file, or NULL when none. Borrowed; valid until yard_program_end(). */
const yard_config_t *yard_program_config(const yard_program_t *self);

/* The `curve:` section as applied by yard_program_configure() (yard/curve.h): this
 * program's bus sockets already use it; the broker also reads its server keys here.
 * Borrowed; valid until yard_program_end(). */
const yard_curve_opts_t *yard_program_curve(const yard_program_t *self);

/* The flags yard_program_new() left (neither --help nor --config; aliases expanded), for a
 * caller that applies its tables itself. Borrowed; valid until yard_program_end(). */
char **yard_program_flags(const yard_program_t *self, int *argc);

/* Applies a log level name ("debug", "info", "warn", "error", "off"; NULL: leave it). Returns
 * 0, or YARD_E_CONFIG with the failure recorded (exit 2). */
int yard_program_log_level(yard_program_t *self, const char *level);

/* Records why the program stops: the exit code is 2 for err YARD_E_CONFIG or
 * YARD_E_INVALID, else 1; the text (printf format) is printed by yard_program_end() after
 * "name: ". The first failure recorded wins. Returns err. */
int yard_program_fail(yard_program_t *self, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Waits for SIGINT or SIGTERM, logs "stopping" with it, and returns the signal number. */
int yard_program_wait(yard_program_t *self);

/* Prints the recorded failure to stderr, frees *self_p, sets it to NULL, and returns the
 * exit code (0 when nothing failed). A NULL *self_p gives 0. */
int yard_program_end(yard_program_t **self_p);

#endif
