/* JSON text <-> msgpack bytes, for the CLI, the gateway and tests: a person types JSON, the bus
 * carries msgpack. Parsing is yajl's (strict RFC 8259; numbers arrive as text, so the whole
 * int64 and uint64 ranges convert exactly); emitting walks the msgpack object and writes the
 * text itself, so that every value msgpack can hold prints exactly.
 *
 * What maps to what, both ways:
 *   JSON string (UTF-8)          <-> msgpack str (must be valid UTF-8 when emitted)
 *   JSON integer, from INT64_MIN <-> msgpack int / uint (packed in the smallest encoding:
 *   up to UINT64_MAX                 negative as int, non-negative as uint)
 *   JSON real                    <-> msgpack float 64 (printed shortest-round-trip, always
 *                                    with a '.' or an exponent, so it parses back as a real)
 *   true / false / null          <-> bool / nil
 *   array / object               <-> array / map (object member order is kept; a key repeated
 *                                    in one object keeps its first position and its last value;
 *                                    yard_json_to_msgpack_strict refuses it)
 * Only from msgpack to JSON:
 *   float 32                     ->  the shortest text that parses back to the same float
 *   bin                          ->  a string of standard base64 with padding (RFC 4648 §4);
 *                                    it comes back as a str, not a bin
 *   map key int/uint/bool/nil/float -> the key's JSON text as a string: {1:2} -> {"1":2}
 * Errors (YARD_E_BAD_REQUEST): invalid JSON (RFC 8259: no leading zeros, NaN, single quotes,
 * raw control characters in strings, lone surrogate escapes, invalid UTF-8), an integer outside
 * both int64 and uint64 (never clamped or rounded: write it with a '.' or an exponent to get a
 * double), a real beyond double range, nesting deeper than YARD_JSON_MAX_DEPTH, several values
 * or trailing bytes, comments, "\u0000" in an object key (keys are names that C code compares
 * as strings; "\u0000" in string values is fine); msgpack that is truncated or invalid, a str that
 * is not UTF-8, NaN or infinity, ext types, a map key that is an array, map, bin or ext. The error
 * text names the line and column (both from 1; columns count bytes) for JSON, the byte offset for
 * msgpack. */
#ifndef YARD_JSON_H
#define YARD_JSON_H

#include <stddef.h>

/* The deepest nesting of arrays and maps converted either way (msgpack-c's unpacker stops at
 * 32 levels, so deeper JSON could be packed but never decoded). */
#define YARD_JSON_MAX_DEPTH 32

/* Parses len bytes of JSON text (one value of any type, surrounded by optional white space;
 * need not be NUL-terminated; "\u0000" inside strings is allowed) and packs it as msgpack.
 * Returns 0 and sets *out and *out_size: caller owns *out; free with free(). On failure
 * returns YARD_E_BAD_REQUEST, sets *out to NULL and *out_size to 0, and, when err is not NULL,
 * writes "line L, column C: reason" into err (errlen bytes, NUL-terminated, truncated). */
int yard_json_to_msgpack(const char *json, size_t len, void **out, size_t *out_size, char *err,
                         size_t errlen);

/* Like yard_json_to_msgpack, but an object that repeats a key is an error too ("key repeated
 * in the same object", at the repeat), where yard_json_to_msgpack keeps the last value. For
 * documents whose readers must all see the same value, such as a signed token's header and
 * claims: two JSON libraries disagree on which of {"sub":"a","sub":"b"} counts. */
int yard_json_to_msgpack_strict(const char *json, size_t len, void **out, size_t *out_size,
                                char *err, size_t errlen);

/* Decodes size bytes holding exactly one msgpack object and writes it as compact JSON text
 * (no spaces, no newline). Returns 0 and sets *out to a NUL-terminated string (caller owns it;
 * free with free()) and, when out_len is not NULL, *out_len to its length. On failure returns
 * YARD_E_BAD_REQUEST (empty input included), sets *out to NULL and, when err is not NULL,
 * writes the reason into err. */
int yard_json_from_msgpack(const void *data, size_t size, char **out, size_t *out_len, char *err,
                           size_t errlen);

#endif
