/* Allocation for the gateway's files: zeroed, and an abort on failure, since a gateway that
 * cannot get a few hundred bytes cannot answer anyone (the same rule as libyard's). */
#ifndef GW_XALLOC_H
#define GW_XALLOC_H

#include <stdlib.h>

static inline void *
gw_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        abort();
    }
    return p;
}

#endif
