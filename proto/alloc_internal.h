/* Private to libyard: memory that cannot fail. STYLE.md: "Allocation failure aborts in one
 * place". These are that place; the rest of libyard calls them instead of checking each
 * calloc/realloc/strdup for NULL and aborting itself. Sizes a peer controls are capped by the
 * caller before they get here. */
#ifndef YARD_ALLOC_INTERNAL_H
#define YARD_ALLOC_INTERNAL_H

#include <stddef.h>

/* calloc(count, size), never NULL: a zero-byte request still gets a distinct pointer, and an
 * overflowing count * size aborts like an exhausted heap. Caller owns the result; free(). */
void *yard__xcalloc(size_t count, size_t size);

/* realloc(p, size), never NULL (size 0 keeps one byte). Takes ownership of p; caller owns
 * the result; free(). */
void *yard__xrealloc(void *p, size_t size);

/* strdup(s), never NULL; s must not be NULL. Caller owns the result; free(). */
char *yard__xstrdup(const char *s);

#endif
