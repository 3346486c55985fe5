/* `yard top` on a real terminal: a yard-broker and two echo replicas as processes on a free
 * port, and `yard top` inside a detached tmux session with a private server socket, read
 * back with `tmux capture-pane`. It checks the echo row and its replica count, that `s`
 * changes the sort key, that stopping the broker shows DOWN and restarting it on the same
 * port brings the row back, that a resize redraws for the new size, and that `q`, SIGINT
 * and SIGTERM end top with status 0 and the terminal back on the normal screen. Then the
 * one-frame mode with stdout on a pipe, and the exit codes for no broker and bad flags.
 *
 * Every wait polls the screen (or a reply) against a deadline; nothing sleeps to
 * synchronise. The tmux server is killed in the teardown, whatever the test did. */
#include "harness.h"
#include "run.h"

#include "yard/client.h"
#include "yard/error.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define S_OUT_MAX   65536
#define S_WAIT_MS   20000
#define S_TMUX_PATH "/usr/bin/tmux"

typedef struct {
    char *dir;
    int port;
    char endpoint[64];
    pid_t broker, actor;
    char sock[64]; /* the tmux server's private socket name */
    bool tmux_started;
} s_bus_t;

/* Where the programs are (ctest sets YARD_BIN_DIR). */
static const char *
s_bin_dir(void)
{
    const char *dir = getenv("YARD_BIN_DIR");
    return dir ? dir : ".";
}

/* Runs argv (argv[0] a path) with stdout captured into out (NUL-terminated; may be NULL);
 * its stderr goes on to the test's. Returns the exit status (128 + signal when one ended it),
 * or -1 when it ran past timeout_ms and was killed. */
static int
s_run(char *const argv[], char *out, size_t cap, int timeout_ms)
{
    yh_run_t *r = yh_run(argv[0], argv, NULL, timeout_ms);
    if (out && cap > 0) {
        size_t n = r->out_len < cap - 1 ? r->out_len : cap - 1;
        memcpy(out, r->out, n);
        out[n] = '\0';
    }
    fputs(r->err, stderr);
    int status = r->status;
    yh_run_destroy(&r);
    return status;
}

/* Runs `tmux -L <sock> args...` (NULL ended). Returns its exit status. */
static int
s_tmux(s_bus_t *bus, char *out, size_t cap, ...)
{
    char *argv[32] = {S_TMUX_PATH, "-L", bus->sock, "-f", "/dev/null"};
    int n = 5;
    va_list ap;
    va_start(ap, cap);
    for (char *a; (a = va_arg(ap, char *)) != NULL && n < 31;) {
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    return s_run(argv, out, cap, 10000);
}

/* The visible screen of the session's pane. */
static void
s_capture(s_bus_t *bus, char *out, size_t cap)
{
    s_tmux(bus, out, cap, "capture-pane", "-p", "-t", "top", NULL);
}

/* The line of the screen that starts with word followed by a blank, or NULL. Borrowed. */
static const char *
s_row(const char *screen, const char *word)
{
    size_t n = strlen(word);
    for (const char *line = screen; line && *line; line = strchr(line, '\n')) {
        line += *line == '\n';
        if (strncmp(line, word, n) == 0 && line[n] == ' ') {
            return line;
        }
    }
    return NULL;
}

/* The n-th (0-based) blank-separated field of line, into buf. */
static const char *
s_field(const char *line, int n, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (int i = 0; i <= n; i++) {
        line += strspn(line, " ");
        size_t len = strcspn(line, " \n");
        if (i == n) {
            snprintf(buf, cap, "%.*s", (int)len, line);
        }
        line += len;
    }
    return buf;
}

typedef bool(s_check_fn)(const char *screen, void *arg);

/* Polls the screen until check holds, or fails the test with the last screen. */
static void
s_wait_screen(s_bus_t *bus, s_check_fn *check, void *arg, const char *what)
{
    static char screen[S_OUT_MAX];
    long long deadline = yh_now_ms() + S_WAIT_MS;
    for (;;) {
        s_capture(bus, screen, sizeof screen);
        if (check(screen, arg)) {
            return;
        }
        if (yh_now_ms() > deadline) {
            fail_msg("the screen never showed %s; last screen:\n%s", what, screen);
        }
        /* capture-pane itself takes a few ms; poll at its pace, against the deadline */
        struct pollfd none = {.fd = -1};
        poll(&none, 0, 50);
    }
}

/* The echo row is there, with want replicas and the header saying up. */
static bool
s_echo_up(const char *screen, void *arg)
{
    const char *want = arg;
    const char *row = s_row(screen, "echo");
    char f[32];
    return row && strcmp(s_field(row, 1, f, sizeof f), want) == 0 &&
           strstr(screen, "  up  uptime ") != NULL;
}

static bool
s_has(const char *screen, void *arg)
{
    return strstr(screen, (const char *)arg) != NULL;
}

static bool
s_down(const char *screen, void *arg)
{
    (void)arg;
    return strstr(screen, "DOWN since ") && s_row(screen, "echo") == NULL;
}

/* Pane facts: the pid of its shell and whether the terminal is on the alternate screen. */
static void
s_pane(s_bus_t *bus, long *pid, int *alt)
{
    char out[256];
    int rc = s_tmux(bus, out, sizeof out, "display-message", "-p", "-t", "top",
                    "#{pane_pid} #{alternate_on}", NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(sscanf(out, "%ld %d", pid, alt), 2);
}

/* The pid of parent's child, polled from /proc until it has one, or fails the test. */
static long
s_child_of(long parent)
{
    long long deadline = yh_now_ms() + S_WAIT_MS;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", parent, parent);
    for (;;) {
        FILE *f = fopen(path, "r");
        long child = 0;
        if (f) {
            if (fscanf(f, "%ld", &child) != 1) {
                child = 0;
            }
            fclose(f);
        }
        if (child > 0) {
            return child;
        }
        if (yh_now_ms() > deadline) {
            fail_msg("the pane's shell (pid %ld) never started yard top", parent);
        }
        struct pollfd none = {.fd = -1};
        poll(&none, 0, 20);
    }
}

/* The shell prints "yard top exited N" once yard top has ended; N into *arg. */
static bool
s_exited(const char *screen, void *arg)
{
    const char *at = strstr(screen, "yard top exited ");
    return at && sscanf(at, "yard top exited %d", (int *)arg) == 1;
}

/* Waits until yard top (pid) has exited, and checks that the process is gone and the
 * terminal is back on its normal screen, where the shell printed the exit status. Returns
 * the status. */
static int
s_wait_exit(s_bus_t *bus, long pid)
{
    int status = -1;
    s_wait_screen(bus, s_exited, &status, "'yard top exited N' on the normal screen");
    long shell = 0;
    int alt = 1;
    s_pane(bus, &shell, &alt);
    assert_int_equal(alt, 0);
    errno = 0;
    assert_int_equal(kill((pid_t)pid, 0), -1); /* the shell reaped it before it printed */
    assert_int_equal(errno, ESRCH);
    return status;
}

/* Starts `yard top ARGS` in a new tmux session "top", 120x30, under a shell that prints its
 * exit status when it ends and then stays (cat) until the server is killed. Returns yard
 * top's pid. The shell, not tmux, is its parent and reports: a pane whose process exits can
 * lose its last output, and tmux does not always reap a pane's process promptly. */
static long
s_start_top(s_bus_t *bus, const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "env -u YARD_BROKER -u YARD_CONFIG %s/yard top %s --broker %s; "
             "echo \"yard top exited $?\"; exec cat",
             s_bin_dir(), args, bus->endpoint);
    int rc = s_tmux(bus, NULL, 0, "new-session", "-d", "-s", "top", "-x", "120", "-y", "30",
                    "/bin/sh", "-c", cmd, NULL);
    assert_int_equal(rc, 0);
    bus->tmux_started = true;
    long shell = 0;
    int alt = 0;
    s_pane(bus, &shell, &alt);
    assert_true(shell > 0);
    return s_child_of(shell);
}

static void
s_kill_tmux(s_bus_t *bus)
{
    if (bus->tmux_started) {
        s_tmux(bus, NULL, 0, "kill-server", NULL);
        bus->tmux_started = false;
    }
}

static void
s_start_broker(s_bus_t *bus)
{
    char *argv[] = {"yard-broker", "--bind", bus->endpoint, NULL};
    char *env[] = {"YARD_CONFIG", NULL};
    bus->broker = yh_spawn("yard-broker", argv, env, bus->dir);
    assert_true(bus->broker > 0);
    assert_true(yh_wait_port(bus->port, 5000));
}

/* Calls echo n times through one client, waiting (with a deadline) for the replicas to
 * register first. */
static void
s_drive_echo(s_bus_t *bus, int n)
{
    yard_client_t *client = NULL;
    assert_int_equal(yard_client_new(bus->endpoint, NULL, &client), 0);
    long long deadline = yh_now_ms() + S_WAIT_MS;
    int ok = 0;
    while (ok < n) {
        yard_call_opts_t opts = {.timeout_ms = 1000};
        yard_msg_t *reply = NULL;
        int rc = yard_client_call(client, "echo", "\x80", 1, &opts, &reply);
        yard_msg_destroy(&reply);
        ok += rc == 0;
        if (rc != 0 && yh_now_ms() > deadline) {
            fail_msg("echo never answered: %s", yard_err_name(rc));
        }
    }
    yard_client_destroy(&client);
}

static int
s_setup(void **state)
{
    if (access(S_TMUX_PATH, X_OK) != 0) {
        return 0; /* the tests skip */
    }
    s_bus_t *bus = calloc(1, sizeof *bus);
    assert_non_null(bus);
    bus->dir = yh_tmpdir();
    bus->port = yh_free_port();
    snprintf(bus->endpoint, sizeof bus->endpoint, "tcp://127.0.0.1:%d", bus->port);
    snprintf(bus->sock, sizeof bus->sock, "yard-top-test-%d", (int)getpid());
    s_start_broker(bus);
    char *argv[] = {"yard-actor", "echo", "--broker", bus->endpoint, "--replicas", "2", NULL};
    char *env[] = {"YARD_CONFIG", NULL};
    bus->actor = yh_spawn("yard-actor", argv, env, bus->dir);
    assert_true(bus->actor > 0);
    s_drive_echo(bus, 5);
    *state = bus;
    return 0;
}

static int
s_teardown(void **state)
{
    s_bus_t *bus = *state;
    if (!bus) {
        return 0;
    }
    s_kill_tmux(bus);
    yh_stop(bus->actor, SIGTERM, 5000);
    if (bus->broker > 0) {
        yh_stop(bus->broker, SIGTERM, 5000);
    }
    yh_rmtree(bus->dir);
    free(bus->dir);
    free(bus);
    return 0;
}

static void
test_top_live(void **state)
{
    s_bus_t *bus = *state;
    if (!bus) {
        skip();
    }
    long pid = s_start_top(bus, "--interval 200");

    /* The echo row with its two replicas; the calls made in setup are counted. */
    s_wait_screen(bus, s_echo_up, "2", "the echo row with 2 replicas");
    static char screen[S_OUT_MAX];
    s_capture(bus, screen, sizeof screen);
    print_message("screen:\n%s\n", screen);
    assert_non_null(strstr(screen, "SERVICE"));
    assert_non_null(strstr(screen, "REPLICAS"));
    assert_non_null(strstr(screen, "P99"));
    assert_non_null(strstr(screen, bus->endpoint));
    assert_non_null(strstr(screen, "sort: name"));
    /* REQUESTS, the last column, counts the calls made in setup (and nothing else ran). */
    const char *row = s_row(screen, "echo");
    assert_non_null(row);
    size_t len = strcspn(row, "\n");
    while (len > 0 && row[len - 1] == ' ') {
        len--;
    }
    size_t start = len;
    while (start > 0 && row[start - 1] != ' ') {
        start--;
    }
    assert_int_equal(strtol(row + start, NULL, 10), 5);

    /* s: the next sort key; r: reversed. */
    assert_int_equal(s_tmux(bus, NULL, 0, "send-keys", "-t", "top", "s", NULL), 0);
    s_wait_screen(bus, s_has, "sort: req/s", "sort: req/s after s");
    assert_int_equal(s_tmux(bus, NULL, 0, "send-keys", "-t", "top", "r", NULL), 0);
    s_wait_screen(bus, s_has, "(reversed)", "the reversed marker after r");
    /* +: the next longer interval. */
    assert_int_equal(s_tmux(bus, NULL, 0, "send-keys", "-t", "top", "+", NULL), 0);
    s_wait_screen(bus, s_has, "every 500 ms", "every 500 ms after +");
    assert_int_equal(s_tmux(bus, NULL, 0, "send-keys", "-t", "top", "-", NULL), 0);
    s_wait_screen(bus, s_has, "every 200 ms", "every 200 ms after -");

    /* The broker goes away: DOWN, and top keeps running. */
    int ws = yh_stop(bus->broker, SIGTERM, 10000);
    bus->broker = -1;
    assert_true(ws >= 0);
    s_wait_screen(bus, s_down, NULL, "DOWN without the echo row");
    s_capture(bus, screen, sizeof screen);
    print_message("broker stopped:\n%s\n", screen);

    /* It comes back on the same port: the replicas re-register and the row returns. */
    s_start_broker(bus);
    s_wait_screen(bus, s_echo_up, "2", "the echo row back after the broker restarted");

    /* q: exit 0, normal screen restored, process gone. */
    assert_int_equal(s_tmux(bus, NULL, 0, "send-keys", "-t", "top", "q", NULL), 0);
    assert_int_equal(s_wait_exit(bus, pid), 0);
    s_kill_tmux(bus);
}

/* The footer (the key help) is on line *arg of the screen. */
static bool
s_footer_on(const char *screen, void *arg)
{
    const char *line = screen;
    for (int i = 1; i < *(int *)arg && line; i++) {
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return line && strncmp(line, " q  quit", 8) == 0;
}

/* A resize redraws for the new size; sig ends top as q does. */
static void
s_resize_then_signal(s_bus_t *bus, int sig)
{
    long pid = s_start_top(bus, "--interval 200 --sort inflight");
    s_wait_screen(bus, s_echo_up, "2", "the echo row with 2 replicas");
    s_wait_screen(bus, s_has, "sort: in-flight", "the --sort key");
    int rows = 30;
    s_wait_screen(bus, s_footer_on, &rows, "the footer on line 30");
    assert_int_equal(
        s_tmux(bus, NULL, 0, "resize-window", "-t", "top", "-x", "80", "-y", "20", NULL), 0);
    rows = 20;
    s_wait_screen(bus, s_footer_on, &rows, "the footer on line 20 after the resize");
    assert_int_equal(kill((pid_t)pid, sig), 0);
    assert_int_equal(s_wait_exit(bus, pid), 0);
    s_kill_tmux(bus);
}

static void
test_top_sigint(void **state)
{
    s_bus_t *bus = *state;
    if (!bus) {
        skip();
    }
    s_resize_then_signal(bus, SIGINT);
}

static void
test_top_sigterm(void **state)
{
    s_bus_t *bus = *state;
    if (!bus) {
        skip();
    }
    s_resize_then_signal(bus, SIGTERM);
}

static void
test_top_one_frame(void **state)
{
    s_bus_t *bus = *state;
    if (!bus) {
        skip();
    }
    char path[512], flag[96];
    snprintf(path, sizeof path, "%s/yard", s_bin_dir());
    snprintf(flag, sizeof flag, "--broker=%s", bus->endpoint);
    static char out[S_OUT_MAX];

    /* stdout is a pipe: one plain frame, no escapes, exit 0. */
    char *argv[] = {path, "top", flag, NULL};
    assert_int_equal(s_run(argv, out, sizeof out, 20000), 0);
    print_message("one frame:\n%s", out);
    assert_null(strchr(out, '\x1b'));
    const char *row = s_row(out, "echo");
    assert_non_null(row);
    char f[32];
    assert_string_equal(s_field(row, 1, f, sizeof f), "2");

    /* No broker: exit 3. Bad flags: exit 2. */
    char nobroker[96];
    snprintf(nobroker, sizeof nobroker, "--broker=tcp://127.0.0.1:%d", yh_free_port());
    char *argv2[] = {path, "top", nobroker, NULL};
    assert_int_equal(s_run(argv2, NULL, 0, 30000), 3);
    char *argv3[] = {path, "top", "--sort", "bogus", flag, NULL};
    assert_int_equal(s_run(argv3, NULL, 0, 10000), 2);
    char *argv4[] = {path, "top", "--interval", "5", flag, NULL};
    assert_int_equal(s_run(argv4, NULL, 0, 10000), 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_top_live, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_top_sigint, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_top_sigterm, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_top_one_frame, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
