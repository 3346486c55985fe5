/* Subject matching walks both strings token by token, once, without allocating: the broker
 * calls it for every (subscription, published message) pair. */
#include "yard/subject.h"

#include <string.h>

/* Length of the token starting at s[i], up to the next '.' or the end. */
static uint32_t
s_token_len(yard_str_t s, uint32_t i)
{
    uint32_t j = i;
    while (j < s.len && s.ptr[j] != '.') {
        j++;
    }
    return j - i;
}

static bool
s_char_ok(char c)
{
    return c > ' ' && c <= '~';
}

static bool
s_valid(yard_str_t s, bool wildcards)
{
    if (s.len == 0 || s.len > YARD_WIRE_NAME_MAX) {
        return false;
    }
    uint32_t i = 0;
    while (i <= s.len) {
        uint32_t n = s_token_len(s, i);
        if (n == 0) {
            return false; /* empty token: leading, trailing or doubled dot */
        }
        bool star = n == 1 && s.ptr[i] == '*';
        bool rest = n == 1 && s.ptr[i] == '>';
        if ((star || rest) && !wildcards) {
            return false;
        }
        if (rest && i + n != s.len) {
            return false; /* '>' must be the last token */
        }
        for (uint32_t k = i; k < i + n; k++) {
            if (!s_char_ok(s.ptr[k])) {
                return false;
            }
            if (!star && !rest && (s.ptr[k] == '*' || s.ptr[k] == '>')) {
                return false; /* wildcard characters only as whole tokens */
            }
        }
        i += n + 1;
    }
    return true;
}

bool
yard_subject_valid(yard_str_t s)
{
    return s_valid(s, false);
}

bool
yard_subject_pattern_valid(yard_str_t p)
{
    return s_valid(p, true);
}

bool
yard_subject_match(yard_str_t p, yard_str_t s)
{
    if (p.len == 0 || s.len == 0) {
        return false;
    }
    uint32_t i = 0, j = 0;
    for (;;) {
        uint32_t pn = s_token_len(p, i);
        uint32_t sn = s_token_len(s, j);
        if (pn == 1 && p.ptr[i] == '>') {
            return sn > 0;
        }
        bool star = pn == 1 && p.ptr[i] == '*';
        if (sn == 0 || (!star && (pn != sn || memcmp(p.ptr + i, s.ptr + j, pn) != 0))) {
            return false;
        }
        bool p_end = i + pn >= p.len;
        bool s_end = j + sn >= s.len;
        if (p_end || s_end) {
            return p_end && s_end;
        }
        i += pn + 1;
        j += sn + 1;
    }
}
