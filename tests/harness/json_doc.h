/* Test harness: JSON text read back for assertions (a program's --json output, log lines),
 * through the converter the gateway and `yard` use (yard_json_to_msgpack), so the tests need
 * no second JSON library and check exactly the JSON the product can parse.
 *
 * A document is its msgpack form decoded once; values are msgpack objects reached by a path of
 * keys and array indexes separated by dots ("rows.2.mode", "" for the value itself). Every
 * string in a document is NUL-terminated, so via.str.ptr and yh_json_str() can be compared
 * with strcmp. Objects and strings are borrowed from their document: valid until it is
 * destroyed. */
#ifndef YARD_HARNESS_JSON_DOC_H
#define YARD_HARNESS_JSON_DOC_H

#include <msgpack.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct yh_json yh_json_t;

/* Parses len bytes holding one JSON value. Returns the document (caller owns it; free with
 * yh_json_destroy()), or NULL, with the reason and the text on stderr, when it is not JSON. */
yh_json_t *yh_json_parse(const char *text, size_t len);

/* Parses each non-empty line of text (NUL-terminated) as one JSON value; the root is an array
 * of them in order. NULL, as above, when a line is not JSON. */
yh_json_t *yh_json_parse_lines(const char *text);

void yh_json_destroy(yh_json_t **self_p);

/* The document's value. Borrowed. */
const msgpack_object *yh_json_root(const yh_json_t *doc);

/* The value at path below o (a map step matches a key exactly, an array step is a decimal
 * index), or NULL when a step is missing or o is NULL. Borrowed. */
const msgpack_object *yh_json_at(const msgpack_object *o, const char *path);

/* The value's type (a msgpack_object_type: JSON null is MSGPACK_OBJECT_NIL, an integer
 * POSITIVE_ or NEGATIVE_INTEGER, a real FLOAT64), or -1 when there is no value at path. */
int yh_json_type(const msgpack_object *o, const char *path);

/* The string at path, or NULL when it is absent or not a string. Borrowed. */
const char *yh_json_str(const msgpack_object *o, const char *path);

/* The integer at path, or INT64_MIN when it is absent, not an integer, or above INT64_MAX. */
int64_t yh_json_int(const msgpack_object *o, const char *path);

/* The number (integer or real) at path as a double, or NAN when absent or not a number. */
double yh_json_num(const msgpack_object *o, const char *path);

/* 1 for true, 0 for false, -1 when absent or not a boolean. */
int yh_json_bool(const msgpack_object *o, const char *path);

/* The element count of the array or map at path, or -1 when it is neither. */
long yh_json_count(const msgpack_object *o, const char *path);

/* True when both values exist and are equal (msgpack_object_equal: same types, same values,
 * maps in the same order). */
bool yh_json_equal(const msgpack_object *a, const msgpack_object *b);

#endif
