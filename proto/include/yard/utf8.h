/* UTF-8 as the bus carries it: one definition of "well-formed" (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF) for every place that checks, cuts or escapes text
 * that came from outside (the JSON reader, the logger, the gateway's headers, a log shipper). */
#ifndef YARD_UTF8_H
#define YARD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* The length (1..4) of the well-formed UTF-8 sequence at p, which has avail > 0 bytes, or 0
 * when it is not one (a stray continuation byte, an overlong form, a surrogate, a sequence cut
 * short by avail). An ASCII byte, control characters included, is 1. */
size_t yard_utf8_len(const void *p, size_t avail);

/* True when the n bytes at s are well-formed UTF-8 throughout (n 0: true). */
bool yard_utf8_valid(const void *s, size_t n);

#endif
