/* Address parsing and classification for the dns actor (addr.h). The ranges follow the IANA
 * special-purpose registries (RFC 6890 and its updates): what is not global unicast is
 * either "private" (usable with allow_private) or never usable. */
#include "addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

const char *
dns_fam_name(dns_fam_t fam)
{
    return fam == DNS_FAM_V6 ? "v6" : "v4";
}

/* The words of text: the first (bounded) into word, and how many there are. */
static size_t
s_words(const char *text, size_t len, char *word, size_t cap)
{
    size_t n = 0, i = 0;
    word[0] = '\0';
    while (i < len) {
        while (i < len && isspace((unsigned char)text[i])) {
            i++;
        }
        if (i >= len) {
            break;
        }
        size_t start = i;
        while (i < len && !isspace((unsigned char)text[i])) {
            i++;
        }
        if (n++ == 0) {
            size_t w = i - start < cap - 1 ? i - start : cap - 1;
            memcpy(word, text + start, w);
            word[w] = '\0';
            if (i - start >= cap - 1) {
                word[0] = '\0'; /* too long to be an address */
            }
        }
    }
    return n;
}

int
dns_addr_parse(const char *text, size_t len, dns_fam_t fam, char *out, char *err, size_t errlen)
{
    char word[64];
    size_t n = s_words(text, len, word, sizeof word);
    if (n == 0) {
        snprintf(err, errlen, "answered nothing");
        return -1;
    }
    if (n > 1) {
        snprintf(err, errlen, "answered %zu words, not one address", n);
        return -1;
    }
    unsigned char bin[16];
    int af = fam == DNS_FAM_V6 ? AF_INET6 : AF_INET;
    int other = fam == DNS_FAM_V6 ? AF_INET : AF_INET6;
    if (word[0] && inet_pton(af, word, bin) == 1) {
        if (!inet_ntop(af, bin, out, DNS_ADDR_MAX)) {
            snprintf(err, errlen, "answered an address that cannot be written back");
            return -1;
        }
        return 0;
    }
    if (word[0] && inet_pton(other, word, bin) == 1) {
        snprintf(err, errlen, "answered an %s address where %s was asked",
                 fam == DNS_FAM_V6 ? "IPv4" : "IPv6", fam == DNS_FAM_V6 ? "IPv6" : "IPv4");
        return -1;
    }
    snprintf(err, errlen, "answered something that is not an address");
    return -1;
}

typedef struct {
    uint8_t prefix[16];
    unsigned bits;
    bool private_ok; /* usable with allow_private */
    const char *what;
} s_range_t;

static const s_range_t s_v4[] = {
    {{0}, 8, false, "'this network' (0/8)"},
    {{10}, 8, true, "private (RFC 1918)"},
    {{100, 64}, 10, true, "shared CGNAT (RFC 6598)"},
    {{127}, 8, true, "loopback"},
    {{169, 254}, 16, true, "link-local"},
    {{172, 16}, 12, true, "private (RFC 1918)"},
    {{192, 0, 0}, 24, false, "IETF protocol assignments"},
    {{192, 0, 2}, 24, false, "documentation"},
    {{192, 168}, 16, true, "private (RFC 1918)"},
    {{198, 18}, 15, false, "benchmarking"},
    {{198, 51, 100}, 24, false, "documentation"},
    {{203, 0, 113}, 24, false, "documentation"},
    {{224}, 4, false, "multicast"},
    {{240}, 4, false, "reserved"},
};

static const s_range_t s_v6[] = {
    {{0}, 128, false, "unspecified"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, true, "loopback"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, false, "IPv4-mapped"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, false, "documentation"},
    {{0xfc}, 7, true, "unique local (ULA)"},
    {{0xfe, 0x80}, 10, true, "link-local"},
    {{0xff}, 8, false, "multicast"},
};

static bool
s_in(const uint8_t *a, const s_range_t *r)
{
    unsigned full = r->bits / 8, rest = r->bits % 8;
    if (memcmp(a, r->prefix, full) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (r->prefix[full] & mask);
}

bool
dns_addr_usable(const char *addr, dns_fam_t fam, bool allow_private, char *err, size_t errlen)
{
    uint8_t bin[16] = {0};
    int af = fam == DNS_FAM_V6 ? AF_INET6 : AF_INET;
    if (inet_pton(af, addr, bin) != 1) {
        snprintf(err, errlen, "not an %s address", fam == DNS_FAM_V6 ? "IPv6" : "IPv4");
        return false;
    }
    const s_range_t *ranges = fam == DNS_FAM_V6 ? s_v6 : s_v4;
    size_t n = fam == DNS_FAM_V6 ? sizeof s_v6 / sizeof s_v6[0] : sizeof s_v4 / sizeof s_v4[0];
    for (size_t i = 0; i < n; i++) {
        if (s_in(bin, &ranges[i])) {
            if (ranges[i].private_ok && allow_private) {
                return true;
            }
            snprintf(err, errlen, "%s is %s%s", addr, ranges[i].what,
                     ranges[i].private_ok ? ", not global (allow_private: true accepts it)" : "");
            return false;
        }
    }
    /* IPv6 global unicast is 2000::/3; everything else outside it is reserved. */
    if (fam == DNS_FAM_V6 && (bin[0] & 0xe0) != 0x20) {
        snprintf(err, errlen, "%s is outside global unicast (2000::/3)", addr);
        return false;
    }
    return true;
}
