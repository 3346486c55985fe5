/* Checks of untrusted text that the libraries leave to us: UTF-8 sequences, and the raw text of
 * JSON strings, for what yajl 2.1 lets through: its UTF-8 check takes overlong forms and
 * encoded surrogates, and its \u decoder turns a lone high surrogate into '?' and pairs a high
 * surrogate with whatever \u escape follows it. (Untrusted msgpack bytes are checked by the
 * one bounded decoder, yard_mp_decode() in mp.c.)
 *
 * Invariant: the string check reads one string token; the grammar, the numbers and the
 * nesting stay yajl's. */
#include "json_internal.h"
#include "yard/json.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* --- JSON string check ----------------------------------------------------------------------- */

static bool
s_is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Reads the 4 hex digits of a \u escape at p. Returns 0, or -1 when they are not there. */
static int
s_hex4(const unsigned char *p, size_t avail, unsigned *out)
{
    if (avail < 4) {
        return -1;
    }
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        if (!s_is_hex(c)) {
            return -1;
        }
        v = v << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    *out = v;
    return 0;
}

int
yard__json_check_string(const char *text, size_t len, size_t open, size_t *at, const char **why)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = open + 1;
    for (;;) {
        *at = i;
        if (i >= len) {
            *why = "unterminated string";
            return -1;
        }
        unsigned char c = p[i];
        if (c == '"') {
            return 0;
        }
        if (c < 0x20) {
            *why = "control character in a string (it must be escaped)";
            return -1;
        }
        if (c >= 0x80) {
            size_t k = yard_utf8_len(p + i, len - i);
            if (k == 0) {
                *why = "invalid UTF-8 in a string";
                return -1;
            }
            i += k;
            continue;
        }
        if (c != '\\') {
            i++;
            continue;
        }
        unsigned char e = i + 1 < len ? p[i + 1] : 0;
        if (e != 'u') {
            if (!e || !strchr("\"\\/bfnrt", e)) {
                *why = "invalid escape in a string";
                return -1;
            }
            i += 2;
            continue;
        }
        unsigned u, lo;
        if (s_hex4(p + i + 2, len - i - 2, &u)) {
            *why = "invalid \\u escape";
            return -1;
        }
        if (u >= 0xDC00 && u <= 0xDFFF) {
            *why = "invalid Unicode escape: a low surrogate without a high one before it";
            return -1;
        }
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (len - i < 12 || p[i + 6] != '\\' || p[i + 7] != 'u' ||
                s_hex4(p + i + 8, len - i - 8, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                *why = "invalid Unicode escape: a high surrogate without a low one after it";
                return -1;
            }
            i += 12;
            continue;
        }
        i += 6;
    }
}
