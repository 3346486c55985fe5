/* Reading and writing msgpack safely: the one bounded decoder for bytes that come from a peer,
 * typed readers of map fields (for request bodies, store records, token payloads), readers
 * that fail a request naming the field, and a writer that cannot produce invalid msgpack.
 *
 * Decoding. msgpack-c allocates a container's elements from its claimed count before reading
 * them, so a 5-byte body "dd ff ff ff ff" (an array of 4 billion) would ask for ~137 GB.
 * yard_mp_decode() first scans the bytes without allocating: exactly one well-formed object,
 * at most YARD_MP_MAX_DEPTH containers deep, no count or length claiming more than the bytes
 * left, no trailing bytes. Only then does msgpack-c unpack them, into memory O(size).
 *
 * Reading fields. Every reader looks a string key up in a map object. A key that is absent
 * or whose value is nil is "absent" (YARD_E_NOT_FOUND from yard_mp_get_*); a value of the
 * wrong type, an integer that does not fit, a string with an embedded NUL where a C string is
 * asked for, is YARD_E_BAD_REQUEST with a reason that names the field, e.g.
 *   'username' must be a string, not an integer
 *   'uses' must be between 1 and 1000000
 *   'scopes' must be an array of strings, not a string
 * Errors never quote a field's value (it may be a secret).
 *
 * Request readers (yard_req_*) read the request body as a map (an empty body reads as an
 * empty map) and, on any fault, fail the request with YARD_E_BAD_REQUEST and that reason, then
 * return the error, so a handler writes
 *     const char *name;
 *     if ((rc = yard_req_str(req, "name", &name))) return rc;
 * A handler that returns the error after the request was failed sends nothing more.
 *
 * Writing. yard_mpw_t builds one msgpack value: containers are opened and closed (their
 * counts are filled in when closed), a map takes keys (strings) and values in turn, strings
 * must be valid UTF-8, raw msgpack spliced in is checked with the bounded decoder, nesting
 * stops at YARD_MP_MAX_DEPTH. Misuse never aborts: it sets a sticky error, later calls do
 * nothing, and yard_mpw_finish() reports it (YARD_E_INTERNAL: a bug in the caller). */
#ifndef YARD_MP_H
#define YARD_MP_H

#include "yard/actor.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The deepest nesting of arrays and maps decoded or written (msgpack-c's unpacker stops at
 * 32 levels). Equal to YARD_JSON_MAX_DEPTH. */
#define YARD_MP_MAX_DEPTH 32

/* --- the bounded decoder ----------------------------------------------------------------- */

/* Checks, without allocating, that size bytes at data hold exactly one well-formed msgpack
 * object as described above. Returns 0, or YARD_E_BAD_REQUEST with the reason and its byte
 * offset written into err (errlen bytes, NUL-terminated, truncated; err may be NULL). */
int yard_mp_check(const void *data, size_t size, char *err, size_t errlen);

/* Checks data (yard_mp_check) and decodes it into *out, allocating from zone (the caller's;
 * *out and the strings in it point into data and zone: borrowed, valid while both live).
 * Returns 0, or YARD_E_BAD_REQUEST (empty input included) with err set and *out nil. */
int yard_mp_decode(const void *data, size_t size, msgpack_zone *zone, msgpack_object *out,
                   char *err, size_t errlen);

/* "nil", "a boolean", "an integer", "a number", "a string", "binary data", "an array",
 * "a map", "an extension": what an error says a value was. Static storage. */
const char *yard_mp_type_name(const msgpack_object *v);

/* --- reading fields of a map ------------------------------------------------------------- */

/* The value of key in map (nil included), or NULL when map is not a map or has no such key.
 * Borrowed from map. */
const msgpack_object *yard_mp_find(const msgpack_object *map, const char *key);

/* Each returns 0 and sets *out; YARD_E_NOT_FOUND when key is absent or nil (*out untouched);
 * YARD_E_BAD_REQUEST when map is not a map or the value is of the wrong type or out of range,
 * with the reason naming the field in err (may be NULL). */

/* A string, borrowed from map (not NUL-terminated; may hold NULs). */
int yard_mp_get_str(const msgpack_object *map, const char *key, yard_str_t *out, char *err,
                    size_t errlen);
/* A string as a NUL-terminated copy allocated from zone; one holding a NUL is refused. */
int yard_mp_get_cstr(const msgpack_object *map, const char *key, msgpack_zone *zone,
                     const char **out, char *err, size_t errlen);
/* A string copied into buf (cap bytes, NUL-terminated); longer than cap - 1 bytes ("must be
 * at most N bytes") or holding a NUL is refused. */
int yard_mp_get_strbuf(const msgpack_object *map, const char *key, char *buf, size_t cap, char *err,
                       size_t errlen);
/* An integer that fits int64_t / uint64_t. */
int yard_mp_get_int(const msgpack_object *map, const char *key, int64_t *out, char *err,
                    size_t errlen);
int yard_mp_get_uint(const msgpack_object *map, const char *key, uint64_t *out, char *err,
                     size_t errlen);
/* An integer within [min, max] ("must be between MIN and MAX"). */
int yard_mp_get_int_range(const msgpack_object *map, const char *key, int64_t min, int64_t max,
                          int64_t *out, char *err, size_t errlen);
int yard_mp_get_bool(const msgpack_object *map, const char *key, bool *out, char *err,
                     size_t errlen);
/* A float 32/64, or an integer (converted). */
int yard_mp_get_double(const msgpack_object *map, const char *key, double *out, char *err,
                       size_t errlen);
/* A nested map or array, borrowed from map. */
int yard_mp_get_map(const msgpack_object *map, const char *key, const msgpack_object **out,
                    char *err, size_t errlen);
int yard_mp_get_array(const msgpack_object *map, const char *key, const msgpack_object **out,
                      char *err, size_t errlen);
/* An array of strings as NUL-terminated copies: *out (n entries) and each string allocated
 * from zone. At most max entries ("must have at most N items"); none may hold a NUL. */
int yard_mp_get_strs(const msgpack_object *map, const char *key, msgpack_zone *zone, size_t max,
                     const char *const **out, size_t *n, char *err, size_t errlen);

/* Writes "'key' <what>" into err: for a caller's own check of a field (format like printf). */
void yard_mp_field_err(char *err, size_t errlen, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* --- reading a request's fields ---------------------------------------------------------- */

/* Each returns 0, or, after failing req with YARD_E_BAD_REQUEST and a reason naming the field
 * (or saying the body is not a map, or not msgpack), YARD_E_BAD_REQUEST. The plain form
 * requires the field ("'key' is required"); the _or form gives dflt when it is absent or nil.
 * Strings are NUL-terminated copies in the request's memory (one holding a NUL is refused);
 * every pointer returned is borrowed, valid until the handler returns (a deferred answer that
 * needs one later copies it). */

/* The body as a map object (an empty body reads as an empty map). */
int yard_req_body_map(yard_request_t *req, const msgpack_object **out);
/* True when the body is a map holding key with a value that is not nil. Fails nothing. */
bool yard_req_has(yard_request_t *req, const char *key);

int yard_req_str(yard_request_t *req, const char *key, const char **out);
int yard_req_str_or(yard_request_t *req, const char *key, const char *dflt, const char **out);
/* A string of at most max bytes ("must be at most N bytes"). */
int yard_req_str_max(yard_request_t *req, const char *key, size_t max, const char **out);
int yard_req_str_max_or(yard_request_t *req, const char *key, size_t max, const char *dflt,
                        const char **out);
int yard_req_int(yard_request_t *req, const char *key, int64_t *out);
int yard_req_int_or(yard_request_t *req, const char *key, int64_t dflt, int64_t *out);
/* An integer within [min, max]; the _or form does not check dflt. */
int yard_req_int_range(yard_request_t *req, const char *key, int64_t min, int64_t max,
                       int64_t *out);
int yard_req_int_range_or(yard_request_t *req, const char *key, int64_t min, int64_t max,
                          int64_t dflt, int64_t *out);
int yard_req_uint(yard_request_t *req, const char *key, uint64_t *out);
int yard_req_uint_or(yard_request_t *req, const char *key, uint64_t dflt, uint64_t *out);
int yard_req_bool(yard_request_t *req, const char *key, bool *out);
int yard_req_bool_or(yard_request_t *req, const char *key, bool dflt, bool *out);
int yard_req_double(yard_request_t *req, const char *key, double *out);
int yard_req_double_or(yard_request_t *req, const char *key, double dflt, double *out);
/* An array of strings (at most 1024); *n is 0 and *out an empty array for []. */
int yard_req_strs(yard_request_t *req, const char *key, const char *const **out, size_t *n);
/* Like yard_req_strs; an absent or nil field gives *n = 0. */
int yard_req_strs_or_none(yard_request_t *req, const char *key, const char *const **out, size_t *n);
int yard_req_map(yard_request_t *req, const char *key, const msgpack_object **out);

/* Fails req with YARD_E_BAD_REQUEST and "'key' <what>" (format like printf), for a handler's
 * own check of a field; returns YARD_E_BAD_REQUEST. */
int yard_req_fail_field(yard_request_t *req, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- the writer -------------------------------------------------------------------------- */

typedef struct yard_mpw yard_mpw_t;

/* A writer holding nothing yet. Caller owns it; free with yard_mpw_destroy(). */
yard_mpw_t *yard_mpw_new(void);
void yard_mpw_destroy(yard_mpw_t **self_p);

/* Open a map or an array; yard_mpw_end() closes the innermost one (a map must not be waiting
 * for a value). */
void yard_mpw_map(yard_mpw_t *w);
void yard_mpw_array(yard_mpw_t *w);
void yard_mpw_end(yard_mpw_t *w);
/* A map key (a string): only where a map waits for a key. */
void yard_mpw_key(yard_mpw_t *w, const char *k);
/* Values: at the top (once), in an array, or in a map after a key. s must be valid UTF-8;
 * NULL s writes nil. */
void yard_mpw_str(yard_mpw_t *w, const char *s);
void yard_mpw_strn(yard_mpw_t *w, const char *s, size_t n);
void yard_mpw_int(yard_mpw_t *w, int64_t v);
void yard_mpw_uint(yard_mpw_t *w, uint64_t v);
void yard_mpw_bool(yard_mpw_t *w, bool v);
void yard_mpw_nil(yard_mpw_t *w);
void yard_mpw_double(yard_mpw_t *w, double v);
void yard_mpw_bin(yard_mpw_t *w, const void *p, size_t n);
/* A value given as msgpack bytes (exactly one object, checked with yard_mp_check()) or as a
 * decoded object. */
void yard_mpw_raw(yard_mpw_t *w, const void *p, size_t n);
void yard_mpw_object(yard_mpw_t *w, const msgpack_object *o);
/* A key and its value. */
void yard_mpw_kstr(yard_mpw_t *w, const char *k, const char *v);
void yard_mpw_kint(yard_mpw_t *w, const char *k, int64_t v);
void yard_mpw_kuint(yard_mpw_t *w, const char *k, uint64_t v);
void yard_mpw_kbool(yard_mpw_t *w, const char *k, bool v);
/* Strings as an array. */
void yard_mpw_strs(yard_mpw_t *w, const char *const *s, size_t n);

/* The first misuse ("a map needs a key before a value", ...), or NULL. Borrowed; valid until
 * w is destroyed. */
const char *yard_mpw_error(const yard_mpw_t *w);

/* The finished value: returns 0 with *data (borrowed; valid until w is destroyed or written
 * again) and *size, or YARD_E_INTERNAL when there was misuse, a container is still open, or
 * nothing was written. */
int yard_mpw_finish(yard_mpw_t *w, const void **data, size_t *size);

/* Replies with the finished value. Takes ownership of *w_p, on success and on failure, and
 * sets *w_p to NULL. A writer that does not finish fails req with YARD_E_INTERNAL (logged)
 * and returns YARD_E_INTERNAL; otherwise returns what yard_request_reply() returns. */
int yard_request_reply_mpw(yard_request_t *req, yard_mpw_t **w_p);
/* The same for a deferred request; takes ownership of *d_p and *w_p as yard_deferred_reply()
 * and the above do. */
int yard_deferred_reply_mpw(yard_deferred_t **d_p, yard_mpw_t **w_p);

#endif
