/* Multiline: which lines continue the event before them, so that a stack trace ships as one
 * document. The presets are written out by hand (no regex per line on the fast path):
 *
 *   python  a Traceback block: "Traceback (most recent call last):", the indented frame lines,
 *           the exception line that follows them, and the chained-exception lines ("During
 *           handling of the above exception...", "The above exception was the direct cause...")
 *           with the blank lines between;
 *   java    a stack trace: lines that start with white space (frames: "\tat ...", "... 12
 *           more"), "Caused by: ...", and the exception's own line ("java.io.IOException: x",
 *           a dotted class name ending in Exception, Error or Throwable);
 *   {start: REGEX}  a line matching REGEX starts an event, any other continues it. */
#include "ls.h"

#include <ctype.h>
#include <string.h>

static bool
s_prefix(const char *line, size_t n, const char *p)
{
    size_t k = strlen(p);
    return n >= k && memcmp(line, p, k) == 0;
}

/* "pkg.Cls$Inner: message" or "pkg.SomeError" (a Java exception's own line). */
static bool
s_java_exception(const char *line, size_t n)
{
    size_t i = 0;
    bool dot = false;
    while (i < n && (isalnum((unsigned char)line[i]) || line[i] == '.' || line[i] == '$' ||
                     line[i] == '_')) {
        dot = dot || line[i] == '.';
        i++;
    }
    if (!dot || i == 0 || (i < n && line[i] != ':')) {
        return false;
    }
    static const char *const ends[] = {"Exception", "Error", "Throwable"};
    for (size_t k = 0; k < 3; k++) {
        size_t e = strlen(ends[k]);
        if (i >= e && memcmp(line + i - e, ends[k], e) == 0) {
            return true;
        }
    }
    return false;
}

static bool
s_python(ls_ml_state_t *st, const char *line, size_t n)
{
    bool indented = n > 0 && (line[0] == ' ' || line[0] == '\t');
    bool cont = false;
    if (s_prefix(line, n, "Traceback (most recent call last):")) {
        st->in_traceback = true;
        cont = true; /* joins the message that logged it (logger.exception) */
    } else if (s_prefix(line, n, "During handling of the above exception") ||
               s_prefix(line, n, "The above exception was the direct cause")) {
        cont = st->in_traceback;
    } else if (indented) {
        cont = true;
    } else if (st->in_traceback && (st->prev_indented || n == 0)) {
        cont = true; /* the exception line after the frames, or a blank between chained ones */
    } else {
        st->in_traceback = false;
    }
    st->prev_indented = indented;
    return cont;
}

static bool
s_java(const char *line, size_t n)
{
    if (n > 0 && (line[0] == ' ' || line[0] == '\t')) {
        return true; /* "\tat x.y(Y.java:1)", "\t... 5 more", "\tSuppressed: ..." */
    }
    return s_prefix(line, n, "Caused by:") || s_java_exception(line, n);
}

bool
ls_ml_continues(const ls_input_t *in, ls_ml_state_t *st, const char *line, size_t n)
{
    switch (in->ml) {
    case LS_ML_PYTHON:
        return s_python(st, line, n);
    case LS_ML_JAVA:
        return s_java(line, n);
    case LS_ML_REGEX: {
        char buf[4096];
        size_t k = n < sizeof buf - 1 ? n : sizeof buf - 1; /* a start is near the front */
        memcpy(buf, line, k);
        buf[k] = '\0';
        return regexec(&in->start, buf, 0, NULL, 0) != 0;
    }
    default:
        return false;
    }
}
