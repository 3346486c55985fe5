/* Private to libyard: what the JSON <-> msgpack files share. json.c converts msgpack to JSON
 * (decoding it with the bounded yard_mp_decode()), json_parse.c the other way; json_scan.c
 * checks UTF-8 and the raw text of JSON strings for what yajl lets through.
 *
 * Invariants: msgpack from outside is decoded only by yard_mp_decode(), so unpacking
 * allocates O(size); a JSON string is kept only after
 * yard__json_check_string() accepted its raw text, so its decoded bytes are its exact value. */
#ifndef YARD_JSON_INTERNAL_H
#define YARD_JSON_INTERNAL_H

#include "mp_internal.h"
#include "yard/utf8.h"

#include <stddef.h>

/* snprintf into err, if there is one: the msgpack code's (mp.c), shared. */
#define yard__json_errf yard__mp_errf

/* Checks the JSON string whose opening quote is at text[open], up to its closing quote or len:
 * valid escapes, no lone surrogate escape, valid UTF-8 (yard_utf8_len), no raw control
 * character. Returns 0, or -1 with *at set to the byte offset of the first fault (len for an
 * unterminated string) and *why to a static reason. */
int yard__json_check_string(const char *text, size_t len, size_t open, size_t *at,
                            const char **why);

#endif
