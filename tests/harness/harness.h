/* Test harness: what integration tests need to run real processes the way an operator would.
 * Every wait here has a deadline; nothing sleeps as synchronisation. Programs are found in
 * $YARD_BIN_DIR (ctest sets it to build/bin). */
#ifndef YARD_HARNESS_H
#define YARD_HARNESS_H

#include "yard/options.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A TCP port on 127.0.0.1 that was free a moment ago (bound with port 0, then closed). */
int yh_free_port(void);

/* "tcp://127.0.0.1:<port>" in a static per-thread buffer. Borrowed; valid until next call. */
const char *yh_endpoint(int port);

/* A fresh directory under $TMPDIR (or /tmp). Caller owns the string (free()); remove the tree
 * with yh_rmtree(). */
char *yh_tmpdir(void);
void yh_rmtree(const char *path);

/* Starts $YARD_BIN_DIR/<prog> (or an absolute path) with argv (argv[0] included, NULL ended)
 * and extra environment entries, "K=V" to set or "K" to unset (NULL ended, may be NULL). Its
 * stderr goes to <logdir>/<prog>.<pid>.log when logdir is not NULL. The child is killed if the
 * thread that spawned it exits (PR_SET_PDEATHSIG), so a test that aborts leaves nothing
 * running: spawn from a thread that outlives the child. Returns the pid, or -1. */
pid_t yh_spawn(const char *prog, char *const argv[], char *const env[], const char *logdir);

/* yh_spawn() with the child's stdin, stdout and stderr set to in_fd, out_fd and err_fd (-1:
 * inherited from the test). The fds stay the caller's: close them after the call. For running
 * a program to completion with its output captured, see run.h. */
pid_t yh_spawn_io(const char *prog, char *const argv[], char *const env[], int in_fd, int out_fd,
                  int err_fd);

/* Sends sig to pid and waits up to timeout_ms for it to exit. Returns the wait status, or -1
 * when it did not exit in time (then it is SIGKILLed and reaped). */
int yh_stop(pid_t pid, int sig, int timeout_ms);

/* Waits up to timeout_ms for a TCP connect to 127.0.0.1:port to succeed. */
bool yh_wait_port(int port, int timeout_ms);

/* Writes text to path and loads it as a config file, as a program given --config would.
 * Returns the config (caller owns it; free with yard_config_destroy()), or NULL with errbuf
 * holding why (the file could not be written, or the loader's "path:line: reason"). */
yard_config_t *yh_config_write(const char *path, const char *text, char *errbuf, size_t errlen);

/* Writes text to path, creating or truncating it (a key file, a config for a child process).
 * Aborts the test program with a message when it cannot: a broken fixture is not a result. */
void yh_write_file(const char *path, const char *text);

/* Milliseconds on a monotonic clock. */
long long yh_now_ms(void);

/* Starts redis-server on a free port in a temp dir (no persistence). Returns the pid and sets
 * *port, or -1 when redis-server is not installed or does not come up. */
pid_t yh_redis_start(int *port, char **dir_out);
void yh_redis_stop(pid_t pid, char *dir);

#endif
