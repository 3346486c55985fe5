/* Pre-scans of untrusted input, run before a library builds anything from it: msgpack bytes
 * before msgpack-c unpacks them, and JSON text, after json-c's tokener accepted it, for the
 * lexical rules json-c 0.16 does not enforce even in strict mode.
 *
 * Invariants: the msgpack scan accepts only one well-formed object at most YARD_JSON_MAX_DEPTH
 * containers deep in which no count or length claims more than the bytes left, and it reads no
 * byte past size; its own memory is a fixed array on the stack. The JSON screen only classifies
 * tokens (strings, numbers, literals); the grammar, the nesting and the values stay json-c's. */
#include "json_internal.h"
#include "yard/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
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

/* --- JSON text screen ------------------------------------------------------------------------ */

#define S_STR_(x) #x
#define S_STR(x)  S_STR_(x)

static bool
s_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
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
        unsigned d;
        if (s_is_digit(c)) {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            d = c - 'A' + 10;
        } else {
            return -1;
        }
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* The string whose opening quote is at *pos: escapes, UTF-8, and no "\u0000" when it is an
 * object key (json-c keeps keys NUL-terminated and would cut the key short). Moves *pos past the
 * closing quote. */
static int
s_screen_string(const unsigned char *p, size_t len, size_t *pos, size_t *at, const char **why)
{
    size_t i = *pos + 1;
    bool nul = false;
    for (;;) {
        if (i >= len) {
            *at = i;
            *why = "unterminated string";
            return -1;
        }
        unsigned char c = p[i];
        if (c == '"') {
            break;
        }
        *at = i;
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
        nul = nul || u == 0;
        i += 6;
    }
    size_t close = i++;
    *pos = i;
    if (nul) {
        while (i < len && p[i] && strchr(" \t\n\r", p[i])) {
            i++;
        }
        if (i < len && p[i] == ':') {
            *at = close;
            *why = "NUL byte in object key";
            return -1;
        }
    }
    return 0;
}

/* The number at *pos: RFC 8259's grammar (json-c also takes "01", "1." and "-Infinity"), an
 * integer within int64 or uint64 (json-c would saturate it silently), a real within double
 * range (json-c would make it infinity). Moves *pos past it. */
static int
s_screen_number(const unsigned char *p, size_t len, size_t *pos, size_t *at, const char **why)
{
    size_t start = *pos, i = start;
    bool integer = true;
    *at = start;
    *why = "invalid number";
    if (p[i] == '-') {
        i++;
    }
    if (i < len && p[i] == '0') {
        i++;
    } else if (i < len && s_is_digit(p[i])) {
        while (i < len && s_is_digit(p[i])) {
            i++;
        }
    } else {
        return -1;
    }
    if (i < len && s_is_digit(p[i])) {
        *why = "invalid number: leading zero";
        return -1;
    }
    if (i < len && p[i] == '.') {
        integer = false;
        if (++i >= len || !s_is_digit(p[i])) {
            return -1;
        }
        while (i < len && s_is_digit(p[i])) {
            i++;
        }
    }
    if (i < len && (p[i] == 'e' || p[i] == 'E')) {
        integer = false;
        if (++i < len && (p[i] == '+' || p[i] == '-')) {
            i++;
        }
        if (i >= len || !s_is_digit(p[i])) {
            return -1;
        }
        while (i < len && s_is_digit(p[i])) {
            i++;
        }
    }
    /* strto* want a NUL-terminated copy; a number has no length limit, so long ones go to the
     * heap. */
    size_t n = i - start;
    char small[64];
    char *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf) {
        abort();
    }
    memcpy(buf, p + start, n);
    buf[n] = '\0';
    int rc = 0;
    errno = 0;
    if (integer && buf[0] == '-') {
        (void)strtoll(buf, NULL, 10);
    } else if (integer) {
        (void)strtoull(buf, NULL, 10);
    }
    if (integer && errno == ERANGE) {
        *why = "integer outside the int64 and uint64 ranges (a real needs a '.' or an exponent)";
        rc = -1;
    } else if (!integer && isinf(strtod(buf, NULL))) {
        *why = "number too large for a double";
        rc = -1;
    }
    if (buf != small) {
        free(buf);
    }
    *pos = i;
    return rc;
}

int
yard__json_screen(const char *text, size_t len, size_t *at, const char **why)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0;
    int depth = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c == '"') {
            if (s_screen_string(p, len, &i, at, why)) {
                return -1;
            }
        } else if (c == '-' || s_is_digit(c)) {
            if (s_screen_number(p, len, &i, at, why)) {
                return -1;
            }
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            size_t j = i;
            while (j < len && ((p[j] >= 'a' && p[j] <= 'z') || (p[j] >= 'A' && p[j] <= 'Z'))) {
                j++;
            }
            if (!((j - i == 4 && !memcmp(p + i, "true", 4)) ||
                  (j - i == 5 && !memcmp(p + i, "false", 5)) ||
                  (j - i == 4 && !memcmp(p + i, "null", 4)))) {
                *at = i;
                *why = "invalid literal (JSON has true, false and null)";
                return -1;
            }
            i = j;
        } else if (c == '[' || c == '{') {
            if (++depth > YARD_JSON_MAX_DEPTH) {
                *at = i;
                *why = "nesting deeper than " S_STR(YARD_JSON_MAX_DEPTH) " levels";
                return -1;
            }
            i++;
        } else if (c == ']' || c == '}') {
            depth--;
            i++;
        } else if (c && strchr(" \t\n\r:,", c)) {
            i++;
        } else {
            *at = i;
            *why = c == '\'' ? "strings take double quotes" : "unexpected character";
            return -1;
        }
    }
    return 0;
}
