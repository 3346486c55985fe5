/* A fake IP-echo service (api.ipify.org, icanhazip.com and the like): GET / answers the
 * client's public address as plain text. The test sets what it answers: an address, or the
 * garbage such services are seen to send (an HTML error page, two addresses, an address of
 * the other family, a 5xx). On tests/harness/http_fake.h; thread-safe. */
#ifndef YARD_FAKES_IPECHO_H
#define YARD_FAKES_IPECHO_H

#include <stddef.h>

typedef struct yh_ipecho yh_ipecho_t;

/* Starts the service answering "203.0.113.1\n"-style text: until set, "1.2.3.4\n". Aborts the
 * test program when it cannot. Caller owns it; free with yh_ipecho_stop(). */
yh_ipecho_t *yh_ipecho_start(void);
void yh_ipecho_stop(yh_ipecho_t **e_p);

/* From now on every GET answers status (0: 200) with body (copied; at most 1023 bytes). */
void yh_ipecho_set(yh_ipecho_t *e, int status, const char *body);

/* "http://127.0.0.1:<port>/". Borrowed; valid until stop. */
const char *yh_ipecho_url(yh_ipecho_t *e);

/* Requests answered so far. */
size_t yh_ipecho_count(yh_ipecho_t *e);

#endif
