/* Capturing the process's own stdout or stderr (capture.h). */
#include "capture.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
s_die(const char *what)
{
    fprintf(stderr, "test capture: %s\n", what);
    abort();
}

void
yh_capture_start(yh_capture_t *c, int fd)
{
    fflush(NULL); /* what was written before belongs to the real descriptor */
    c->fd = fd;
    c->file = tmpfile();
    if (c->file == NULL) {
        s_die("cannot create a temp file");
    }
    c->saved = dup(fd);
    if (c->saved < 0 || dup2(fileno(c->file), fd) < 0) {
        s_die("cannot redirect the descriptor");
    }
}

char *
yh_capture_end(yh_capture_t *c, size_t *len)
{
    fflush(NULL); /* buffered writes reach the temp file before it is read */
    if (dup2(c->saved, c->fd) < 0) {
        s_die("cannot put the descriptor back");
    }
    close(c->saved);
    long size = ftell(c->file); /* the shared offset: the end of what was written */
    if (size < 0) {
        s_die("cannot tell the temp file's size");
    }
    char *text = calloc(1, (size_t)size + 1);
    if (text == NULL) {
        s_die("out of memory");
    }
    rewind(c->file);
    if (fread(text, 1, (size_t)size, c->file) != (size_t)size) {
        s_die("cannot read the temp file back");
    }
    fclose(c->file);
    c->file = NULL;
    if (len) {
        *len = (size_t)size;
    }
    return text;
}
