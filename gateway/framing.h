/* HTTP/1.1 message framing, checked before a request is routed: the rules that decide where
 * one request ends and the next begins, which a proxy in front of the gateway must read the
 * same way or a client can smuggle a second request inside the first (RFC 9112 sections 2.2,
 * 3.2, 5, 6 and 11.2).
 *
 * libmicrohttpd 0.9.75 parses the request line and headers; it takes the first of two
 * different Content-Length headers, keeps "Content-Length : 7" as an unrelated header named
 * "Content-Length " (so the body is read as the next request), folds an obs-fold continuation
 * line into the header's NAME ("Content-Length: 3\r\n 0" becomes "Content-Length0"), accepts
 * HTTP/1.1 without Host and hangs on a transfer coding it does not know. Its own strict mode
 * (MHD_OPTION_STRICT_FOR_CLIENT) checks only Host, and answers that with the header block
 * written twice, so the gateway checks here instead and answers each with 400 (501 for a
 * transfer coding other than chunked) and closes the connection.
 *
 * The checker is fed one header at a time (no allocation, no I/O), so the unit tests and the
 * fuzzer reach every rule directly; gw_framing_check_conn() feeds it a live connection's
 * headers. A verdict's code and message are static text: nothing the client sent is echoed. */
#ifndef YARD_GW_FRAMING_H
#define YARD_GW_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;

/* The largest Content-Length taken: libmicrohttpd reads 2^64-1 as "length unknown" and then
 * reads the body until the client closes, so a value at or above this is refused (400). */
#define GW_FRAMING_CL_MAX (UINT64_C(1) << 62)

typedef struct {
    int status;          /* 0: acceptable so far; else 400 or 501 */
    const char *code;    /* BAD_REQUEST or NOT_IMPLEMENTED; static */
    const char *message; /* what was wrong; static, never the client's bytes */
    bool http11;         /* HTTP/1.1 (Host required; Transfer-Encoding allowed) */
    unsigned hosts;      /* Host headers seen */
    unsigned cls;        /* Content-Length headers seen */
    uint64_t cl;         /* the first Content-Length's value */
    unsigned tes;        /* Transfer-Encoding headers seen */
} gw_framing_t;

/* Starts a check for a request with this HTTP version ("HTTP/1.1", "HTTP/1.0") and request
 * target as received (raw_uri: the bytes between the method and the version; may be NULL when
 * unknown). */
void gw_framing_init(gw_framing_t *f, const char *version, const char *raw_uri);

/* Takes one header as libmicrohttpd parsed it (name and value with their lengths, which may
 * hold bytes a C string would end at). Once a rule is broken the rest are ignored. */
void gw_framing_header(gw_framing_t *f, const char *name, size_t name_len, const char *value,
                       size_t value_len);

/* The verdict once every header was fed: 0 when the framing is sound, else the status to
 * answer (400 or 501) with f->code and f->message. The connection must be closed after it. */
int gw_framing_verdict(gw_framing_t *f);

/* gw_framing_init + every header of conn + gw_framing_verdict. */
int gw_framing_check_conn(gw_framing_t *f, struct MHD_Connection *conn, const char *version,
                          const char *raw_uri);

#endif
