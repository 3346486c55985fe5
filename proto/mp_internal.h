/* Private to libyard: what mp.c (decoder, field readers), mp_req.c (request readers) and
 * mp_write.c (the writer) share. */
#ifndef YARD_MP_INTERNAL_H
#define YARD_MP_INTERNAL_H

#include "yard/mp.h"

#include <stddef.h>

/* snprintf into err, if there is one. */
void yard__mp_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks, without allocating, that p starts with one well-formed msgpack object at most
 * YARD_MP_MAX_DEPTH containers deep in which no count or length claims more than the bytes
 * left. Sets *end just past it and, when max_depth is not NULL, *max_depth to its nesting (0
 * for a scalar). Returns 0, or -1 with err. */
int yard__mp_scan(const unsigned char *p, size_t size, size_t *end, int *max_depth, char *err,
                  size_t errlen);

/* The value of key in map, not nil. Returns 0; YARD_E_NOT_FOUND ("'key' is required" in
 * err) when absent or nil; YARD_E_BAD_REQUEST when map is not a map. */
int yard__mp_value(const msgpack_object *map, const char *key, const msgpack_object **v, char *err,
                   size_t errlen);

/* Writes "'key' must be WANT, not <v's type>" and returns YARD_E_BAD_REQUEST. */
int yard__mp_wrong(const msgpack_object *v, const char *key, const char *want, char *err,
                   size_t errlen);

/* A NUL-terminated copy of n bytes at p, allocated from zone (aborts when out of memory). */
const char *yard__mp_zone_cstr(msgpack_zone *zone, const char *p, size_t n);

#endif
