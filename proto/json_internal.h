/* Private to libyard: what the JSON <-> msgpack files share. json.c converts in both
 * directions; json_scan.c checks untrusted msgpack bytes before msgpack-c unpacks them, and JSON
 * text for what json-c's tokener lets through.
 *
 * Invariants: msgpack from outside reaches msgpack_unpack() only after yard__json_scan()
 * accepted it, so unpacking allocates O(size); a json-c tree is packed only after
 * yard__json_screen() accepted the text it came from, so every value in it is the text's exact
 * value. */
#ifndef YARD_JSON_INTERNAL_H
#define YARD_JSON_INTERNAL_H

#include <stddef.h>

/* snprintf into err, if there is one. */
void yard__json_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks that p holds one well-formed, bounded msgpack object (json_scan.c). Sets *end to the
 * offset just past it. Returns 0, or -1 with err set. */
int yard__json_scan(const unsigned char *p, size_t size, size_t *end, char *err, size_t errlen);

/* Length of the valid UTF-8 sequence at p (1..4, avail > 0), or 0 when it is not one: no
 * overlong forms, no surrogates, nothing above U+10FFFF. */
size_t yard__json_utf8_len(const unsigned char *p, size_t avail);

/* Checks the tokens of JSON text that json-c's strict tokener already accepted: strings (valid
 * escapes, no lone surrogate, valid UTF-8, no raw control character, no "\u0000" in a key),
 * numbers (RFC 8259 grammar, integers within int64 or uint64, reals within double range) and
 * literals (only true, false, null), and the nesting of arrays and objects (at most
 * YARD_JSON_MAX_DEPTH). Returns 0, or -1 with *at set to the byte offset of the
 * offending token and *why to a static reason. */
int yard__json_screen(const char *text, size_t len, size_t *at, const char **why);

#endif
