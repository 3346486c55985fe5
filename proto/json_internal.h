/* Private to libyard: what the JSON <-> msgpack files share. json.c converts in both
 * directions; json_scan.c checks untrusted msgpack bytes before msgpack-c unpacks them.
 *
 * Invariant: msgpack from outside reaches msgpack_unpack() only after yard__json_scan()
 * accepted it, so unpacking allocates O(size). */
#ifndef YARD_JSON_INTERNAL_H
#define YARD_JSON_INTERNAL_H

#include <stddef.h>

/* snprintf into err, if there is one. */
void yard__json_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks that p holds one well-formed, bounded msgpack object (json_scan.c). Sets *end to the
 * offset just past it. Returns 0, or -1 with err set. */
int yard__json_scan(const unsigned char *p, size_t size, size_t *end, char *err, size_t errlen);

#endif
