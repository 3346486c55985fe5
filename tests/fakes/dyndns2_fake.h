/* A fake dyndns2 server (the DynDNS "members.dyndns.org" protocol that many providers speak):
 * GET /nic/update?hostname=H&myip=A with HTTP basic authentication, answered with a return
 * code as text (help.dyn.com, "Return Codes"):
 *   badauth        the username/password pair is not the account's
 *   nohost         the host is not in the account;  notfqdn: the host has no dot
 *   nochg A        the host already has A (repeated nochg makes the real service block the
 *                  host: after nochg_abuse_after of them in a row it answers abuse)
 *   good A         the host now has A
 * and any code the test scripts next (911, dnserr, abuse, !donator, ...). Every request is
 * recorded. On tests/harness/http_fake.h; thread-safe. */
#ifndef YARD_FAKES_DYNDNS2_H
#define YARD_FAKES_DYNDNS2_H

#include <stdbool.h>
#include <stddef.h>

typedef struct yh_dyndns2 yh_dyndns2_t;

/* Starts a server for account user:password with no hosts. Caller owns it; free with
 * yh_dyndns2_stop(). Aborts the test program when it cannot start. */
yh_dyndns2_t *yh_dyndns2_start(const char *user, const char *password);
void yh_dyndns2_stop(yh_dyndns2_t **f_p);

/* Adds host (at most 16) to the account, with no address yet. */
void yh_dyndns2_add_host(yh_dyndns2_t *f, const char *host);

/* The next n answers are codes[i] (copied; e.g. "911", "dnserr", "abuse"), whatever the
 * request, then the server decides again. At most 16 queued. */
void yh_dyndns2_script(yh_dyndns2_t *f, const char *const *codes, size_t n);

/* After this many nochg in a row for one host, answer abuse from then on (0: never). */
void yh_dyndns2_nochg_abuse_after(yh_dyndns2_t *f, unsigned n);

/* While on, every update is answered only when the test calls yh_dyndns2_release() (a slow
 * provider, to hold an update in flight); yh_dyndns2_waiting() counts those held now. */
void yh_dyndns2_hold(yh_dyndns2_t *f, bool on);
void yh_dyndns2_release(yh_dyndns2_t *f);
size_t yh_dyndns2_waiting(yh_dyndns2_t *f);

/* "http://127.0.0.1:<port>" (no trailing slash) Borrowed; valid until stop. */
const char *yh_dyndns2_url(yh_dyndns2_t *f);

/* Update requests received so far (/nic/update). */
size_t yh_dyndns2_calls(yh_dyndns2_t *f);

/* The address host has now, copied into buf; "" when none or no such host. */
const char *yh_dyndns2_addr(yh_dyndns2_t *f, const char *host, char *buf, size_t len);

/* Request i's hostname and myip query values, and its Authorization header, copied into the
 * buffers (may be NULL); returns 0, or -1 when there is no request i. */
int yh_dyndns2_request(yh_dyndns2_t *f, size_t i, char *host, char *myip, char *auth, size_t len);

#endif
