/* The hostile-msgpack pre-scan: a bounded, allocation-free walk over msgpack bytes from
 * outside, run before msgpack-c unpacks them.
 *
 * Invariant: it accepts only one well-formed object at most YARD_JSON_MAX_DEPTH containers deep
 * in which no count or length claims more than the bytes left, and it reads no byte past
 * size; its own memory is a fixed array on the stack. */
#include "json_internal.h"
#include "yard/json.h"

#include <inttypes.h>
#include <stdint.h>

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
