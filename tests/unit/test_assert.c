/* YARD_ASSERT (yard/assert.h) stays on whatever the build type: this file is compiled with
 * NDEBUG defined, as Release and RelWithDebInfo builds are, and a false condition must still
 * stop the program with SIGABRT after one stderr line naming the file, the line and the
 * condition; a true one must do nothing. Each case runs in a child process. */
#ifndef NDEBUG
#define NDEBUG /* as the Release and RelWithDebInfo builds define it */
#endif
#include "yard/assert.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define S_LINE_MAX 1024

/* Runs YARD_ASSERT(value == 42) in a child with stderr on a pipe. Returns the child's wait
 * status; what it wrote is in err (NUL-terminated), and *line the source line of the check. */
static int
s_run_child(int value, char *err, size_t cap, int *line)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    *line = __LINE__ + 5; /* the YARD_ASSERT line below */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        YARD_ASSERT(value == 42);
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fds[0], err + n, cap - 1 - n)) > 0) {
        n += (size_t)r;
    }
    err[n] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void
test_false_condition_aborts_with_file_line_and_condition(void **state)
{
    (void)state;
    char err[S_LINE_MAX], want[S_LINE_MAX];
    int line = 0;
    int status = s_run_child(7, err, sizeof err, &line);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    snprintf(want, sizeof want, "test_assert.c:%d: s_run_child: assertion 'value == 42' failed\n",
             line);
    if (!strstr(err, want)) {
        fail_msg("stderr: '%s', want it to hold '%s'", err, want);
    }
}

static void
test_true_condition_does_nothing(void **state)
{
    (void)state;
    char err[S_LINE_MAX];
    int line = 0;
    int status = s_run_child(42, err, sizeof err, &line);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_string_equal(err, "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_false_condition_aborts_with_file_line_and_condition),
        cmocka_unit_test(test_true_condition_does_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
