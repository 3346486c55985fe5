/* A fake DuckDNS (www.duckdns.org/spec.jsp): GET /update?domains=D[,D2]&token=T[&ip=A]
 * [&ipv6=A6][&verbose=true] answers "OK", or "KO" for a wrong token or a domain the account
 * does not have; with verbose=true an OK is followed by the address, the IPv6 address and
 * UPDATED or NOCHANGE, one per line. Every request is recorded. On tests/harness/http_fake.h;
 * thread-safe. */
#ifndef YARD_FAKES_DUCKDNS_H
#define YARD_FAKES_DUCKDNS_H

#include <stddef.h>

typedef struct yh_duckdns yh_duckdns_t;

/* Starts the service for an account with token and no domains. Caller owns it; free with
 * yh_duckdns_stop(). Aborts the test program when it cannot start. */
yh_duckdns_t *yh_duckdns_start(const char *token);
void yh_duckdns_stop(yh_duckdns_t **f_p);

/* Adds a sub-domain ("myhost", without .duckdns.org; at most 16). */
void yh_duckdns_add_domain(yh_duckdns_t *f, const char *sub);

/* "http://127.0.0.1:<port>" Borrowed; valid until stop. */
const char *yh_duckdns_url(yh_duckdns_t *f);

/* /update requests received so far. */
size_t yh_duckdns_calls(yh_duckdns_t *f);

/* The IPv4 (v6 == 0) or IPv6 address sub has now, copied into buf ("" when none). */
const char *yh_duckdns_addr(yh_duckdns_t *f, const char *sub, int v6, char *buf, size_t len);

/* Request i's query string as the server decoded it, copied into buf. Returns 0 or -1. */
int yh_duckdns_query(yh_duckdns_t *f, size_t i, char *buf, size_t len);

#endif
