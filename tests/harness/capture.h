/* Test harness: capturing what the process itself writes to stdout or stderr (the logger writes
 * to stderr), so that a test can check the text afterwards: that a line is there, or that a
 * secret is not. The descriptor itself is redirected, so writes that bypass stdio are caught
 * too. Aborts the test program with a message when it cannot (a broken fixture is not a
 * result). One capture per descriptor at a time; not for use from several threads at once. */
#ifndef YARD_HARNESS_CAPTURE_H
#define YARD_HARNESS_CAPTURE_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    int fd;     /* the descriptor captured */
    int saved;  /* a copy of what it was, put back by yh_capture_end() */
    FILE *file; /* a temp file that takes the writes meanwhile */
} yh_capture_t;

/* Flushes stdio, then sends what is written to fd (STDOUT_FILENO or STDERR_FILENO) to a temp
 * file until yh_capture_end(c). */
void yh_capture_start(yh_capture_t *c, int fd);

/* Flushes stdio, puts the descriptor back and returns everything written to it since
 * yh_capture_start(), NUL-terminated. *len (len may be NULL) gets its size in bytes, which
 * differs from strlen() only if a NUL byte was written. Caller owns the result; free(). */
char *yh_capture_end(yh_capture_t *c, size_t *len);

#endif
