/* Checks of untrusted input that the libraries leave to us: msgpack bytes before msgpack-c
 * unpacks them, and the raw text of JSON strings, for what yajl 2.1 lets through: its UTF-8
 * check takes overlong forms and encoded surrogates, and its \u decoder turns a lone high
 * surrogate into '?' and pairs a high surrogate with whatever \u escape follows it.
 *
 * Invariants: the msgpack scan accepts only one well-formed object at most YARD_JSON_MAX_DEPTH
 * containers deep in which no count or length claims more than the bytes left, and it reads no
 * byte past size; its own memory is a fixed array on the stack. The string check reads one
 * string token; the grammar, the numbers and the nesting stay yajl's. */
#include "json_internal.h"
#include "yard/json.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Reads an n-byte big-endian unsigned integer. */
static uint64_t
s_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Checks, without allocating, that p holds one well-formed msgpack object at most
 * YARD_JSON_MAX_DEPTH containers deep, and that no count or length claims more than the bytes
 * left. msgpack-c allocates a container's elements from its claimed count before reading them,
 * so a 5-byte "array of 4 billion" would otherwise cost 64 GiB; after this scan, unpacking
 * allocates O(size). Sets *end to the offset just past the object. Returns 0 or -1 with err. */
int
yard__json_scan(const unsigned char *p, size_t size, size_t *end, char *err, size_t errlen)
{
    uint64_t left[YARD_JSON_MAX_DEPTH + 1]; /* elements still to read in each open container */
    int depth = 0;
    size_t pos = 0;
    left[0] = 1;
    while (depth >= 0) {
        if (left[depth] == 0) {
            depth--;
            continue;
        }
        left[depth]--;
        if (pos >= size) {
            yard__json_errf(err, errlen, "msgpack truncated at byte %zu", pos);
            return -1;
        }
        size_t at = pos;
        unsigned char b = p[pos++];
        int lenbytes = 0;  /* size of a length or count field that follows */
        uint64_t skip = 0; /* payload bytes that follow (after the length field) */
        int kids = 0;      /* 1: array, 2: map */
        uint64_t n = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            /* fixint, nil, bool */
        } else if (b <= 0x8f) {
            kids = 2;
            n = b & 0x0f;
        } else if (b <= 0x9f) {
            kids = 1;
            n = b & 0x0f;
        } else if (b <= 0xbf) {
            skip = b & 0x1f;
        } else if (b == 0xc1) {
            yard__json_errf(err, errlen, "invalid msgpack byte 0xc1 at byte %zu", at);
            return -1;
        } else if (b >= 0xc4 && b <= 0xc6) { /* bin 8/16/32 */
            lenbytes = 1 << (b - 0xc4);
        } else if (b >= 0xc7 && b <= 0xc9) { /* ext 8/16/32: length, then a type byte */
            lenbytes = 1 << (b - 0xc7);
            skip = 1;
        } else if (b == 0xca) {
            skip = 4;
        } else if (b == 0xcb) {
            skip = 8;
        } else if (b >= 0xcc && b <= 0xcf) {
            skip = 1u << (b - 0xcc);
        } else if (b >= 0xd0 && b <= 0xd3) {
            skip = 1u << (b - 0xd0);
        } else if (b >= 0xd4 && b <= 0xd8) { /* fixext: a type byte and 1..16 bytes */
            skip = 1 + (1u << (b - 0xd4));
        } else if (b >= 0xd9 && b <= 0xdb) { /* str 8/16/32 */
            lenbytes = 1 << (b - 0xd9);
        } else if (b == 0xdc || b == 0xdd) {
            kids = 1;
            lenbytes = b == 0xdc ? 2 : 4;
        } else { /* 0xde, 0xdf */
            kids = 2;
            lenbytes = b == 0xde ? 2 : 4;
        }
        if (lenbytes) {
            if (size - pos < (size_t)lenbytes) {
                yard__json_errf(err, errlen, "msgpack truncated at byte %zu", pos);
                return -1;
            }
            uint64_t v = s_be(p + pos, lenbytes);
            pos += (size_t)lenbytes;
            if (kids) {
                n = v;
            } else {
                skip += v;
            }
        }
        if (skip > size - pos) {
            yard__json_errf(err, errlen,
                            "msgpack truncated: the value at byte %zu needs %" PRIu64
                            " more bytes, %zu left",
                            at, skip, size - pos);
            return -1;
        }
        pos += (size_t)skip;
        if (kids) {
            if (depth + 1 > YARD_JSON_MAX_DEPTH) {
                yard__json_errf(err, errlen, "nesting deeper than %d levels at byte %zu",
                                YARD_JSON_MAX_DEPTH, at);
                return -1;
            }
            /* Every element takes at least one byte. */
            if (n * (uint64_t)kids > size - pos) {
                yard__json_errf(err, errlen,
                                "msgpack truncated: the container at byte %zu claims %" PRIu64
                                " elements, %zu bytes left",
                                at, n * (uint64_t)kids, size - pos);
                return -1;
            }
            left[++depth] = n * (uint64_t)kids;
        }
    }
    *end = pos;
    return 0;
}

size_t
yard__json_utf8_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    if (c < 0x80) {
        return 1;
    }
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return n;
}

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
            size_t k = yard__json_utf8_len(p + i, len - i);
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
