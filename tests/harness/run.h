/* Running a program as a user runs it from a shell: a child with stdin from /dev/null and
 * stdout and stderr on pipes, captured into memory while it runs, then its exit status, all
 * within a deadline. One helper for every test that runs `yard` (or tmux, or any program) and
 * checks what it printed and how it exited, whether to completion (yh_run) or while it runs
 * (yh_run_start, yh_run_pump, then yh_run_wait). */
#ifndef YARD_HARNESS_RUN_H
#define YARD_HARNESS_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Bytes kept from each of stdout and stderr; what comes past it is read and dropped, so a
 * chatty child never blocks on a full pipe. */
#define YH_RUN_MAX (1 << 20)

typedef struct {
    pid_t pid;               /* -1 when it could not be started, or once reaped */
    int out_fd, err_fd;      /* the read ends; -1 once that pipe closed */
    char *out, *err;         /* what it wrote so far, NUL-terminated */
    size_t out_len, err_len; /* strlen(out), strlen(err) */
    int status;     /* after yh_run_wait(): exit code, 128 + signal, or -1 when it was killed at
                       the deadline; 127 (and why, in err) when it could not be started */
    bool timed_out; /* it ran past the deadline and was SIGKILLed */
    char *prog;
} yh_run_t;

/* Starts prog ($YARD_BIN_DIR/<prog>, or a path, as yh_spawn() finds it) with argv (argv[0]
 * included, NULL ended) and extra environment entries ("K=V" sets, "K" unsets; NULL ended, may
 * be NULL). Never NULL: a program that cannot be started gives status 127 at once. Caller owns
 * the result; free with yh_run_destroy(). */
yh_run_t *yh_run_start(const char *prog, char *const argv[], char *const env[]);

/* yh_run_start() with the arguments after env (NULL ended) and argv[0] = prog. */
yh_run_t *yh_run_startl(const char *prog, char *const env[], ...);

/* Reads what the child writes within timeout_ms into out and err. Returns false once both
 * pipes are closed (nothing more will come). */
bool yh_run_pump(yh_run_t *r, int timeout_ms);

/* Collects output until both pipes close and the child exits, within timeout_ms; past it the
 * child is SIGKILLed, status is -1 and a line on stderr says so. Returns r->status. Calling it
 * again returns the same status. */
int yh_run_wait(yh_run_t *r, int timeout_ms);

/* yh_run_start() then yh_run_wait(). Caller owns the result; free with yh_run_destroy(). */
yh_run_t *yh_run(const char *prog, char *const argv[], char *const env[], int timeout_ms);

/* yh_run() with the arguments after timeout_ms (NULL ended) and argv[0] = prog. */
yh_run_t *yh_runl(const char *prog, char *const env[], int timeout_ms, ...);

/* Kills the child if it still runs, reaps it, closes the pipes, frees *r_p and sets it to
 * NULL. A NULL *r_p is fine. */
void yh_run_destroy(yh_run_t **r_p);

#endif
