/* Addresses as the dns actor meets them: the text a discovery source answered, checked for
 * being exactly one address of the family asked for, and classified as global unicast or
 * not (private, CGNAT, loopback, link-local, ULA, documentation, multicast...). Pure
 * functions, no state. */
#ifndef DNS_ADDR_H
#define DNS_ADDR_H

#include <stdbool.h>
#include <stddef.h>

/* Longest address text kept, NUL included (INET6_ADDRSTRLEN). */
#define DNS_ADDR_MAX 46

typedef enum { DNS_FAM_V4 = 0, DNS_FAM_V6 = 1 } dns_fam_t;

/* "v4" / "v6". Static storage. */
const char *dns_fam_name(dns_fam_t fam);

/* Reads text (len bytes; e.g. an HTTP body or a command's output) as one address of fam:
 * white space around it is allowed, anything else is not (HTML, two addresses, an address
 * of the other family). On success writes its canonical form (inet_ntop) into out
 * (DNS_ADDR_MAX bytes) and returns 0; otherwise returns -1 with why ("answered an IPv6
 * address where IPv4 was asked", "answered 2 words", "answered something that is not an
 * address") in err. */
int dns_addr_parse(const char *text, size_t len, dns_fam_t fam, char *out, char *err,
                   size_t errlen);

/* Whether the canonical address addr of fam may be published: global unicast always;
 * RFC 1918, CGNAT (100.64/10), loopback, link-local and ULA (fc00::/7) only when
 * allow_private; never unspecified, multicast, broadcast, documentation or reserved
 * ranges. When not, err says which kind of address it is. */
bool dns_addr_usable(const char *addr, dns_fam_t fam, bool allow_private, char *err, size_t errlen);

#endif
