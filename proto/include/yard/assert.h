/* Always-on assertions, for invariants only: a condition that can be false only through a bug
 * in this program (a table too small for what the code itself puts in it, an index the
 * caller computed). YARD_ASSERT stays on in every build type, NDEBUG or not, because the
 * Release and RelWithDebInfo builds are the ones people run, and a broken invariant there
 * must stop the program at the spot rather than corrupt memory further on.
 *
 * Never assert on what comes from outside (a socket, a file, the environment, an HTTP peer,
 * a caller's request): that is counted, logged and answered with an error instead.
 *
 * A failed YARD_ASSERT writes one line to stderr, "<file>:<line>: <function>: assertion
 * '<condition>' failed", without allocating or taking locks, then calls abort(). */
#ifndef YARD_ASSERT_H
#define YARD_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define YARD_ASSERT(cond)                                                                          \
    ((cond) ? (void)0 : yard__assert_fail(#cond, __FILE__, __LINE__, __func__))

/* What a failed YARD_ASSERT calls; not for direct use. Never returns. */
static inline _Noreturn void
yard__assert_fail(const char *cond, const char *file, int line, const char *func)
{
    fprintf(stderr, "%s:%d: %s: assertion '%s' failed\n", file, line, func, cond);
    fflush(stderr);
    abort();
}

#endif
