/* Memory that cannot fail: see alloc_internal.h. A process out of memory cannot answer,
 * log or unwind sensibly, so it stops here, at one place a debugger can break on. */
#include "alloc_internal.h"

#include <stdlib.h>
#include <string.h>

void *
yard__xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) {
        abort();
    }
    return p;
}

void *
yard__xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q) {
        abort();
    }
    return q;
}

char *
yard__xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = yard__xcalloc(1, n);
    memcpy(p, s, n);
    return p;
}
