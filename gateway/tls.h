/* HTTPS in the gateway itself (options tls_cert and tls_key), for deployments without a
 * proxy in front: libmicrohttpd serves TLS through GnuTLS from the certificate and key held
 * in memory here.
 *
 * Both are read and checked once, at start, so a wrong setting is a config error naming the
 * setting and the file: a file that cannot be read, a certificate or key that is not PEM (an
 * encrypted key included), a key that does not belong to the certificate, or a libmicrohttpd
 * built without TLS. tls_key is a file path, or the PEM itself when it starts with
 * "-----BEGIN" (so `tls_key_file: PATH`, the options' secret-from-file form, works too); the
 * key's bytes are never logged and are wiped when the gateway ends. */
#ifndef YARD_GW_TLS_H
#define YARD_GW_TLS_H

#include <stdbool.h>
#include <stddef.h>

/* The largest certificate chain or key file read (bytes). */
#define GW_TLS_FILE_MAX (256u * 1024u)

typedef struct {
    char *cert_pem; /* NUL-terminated PEM, owned */
    char *key_pem;  /* NUL-terminated PEM, owned; wiped by gw_tls_clear() */
} gw_tls_t;

/* Loads and checks cert_path and key (a path or PEM). Both NULL or empty: TLS off, returns 0
 * with *out zeroed. One without the other is an error. Returns 0, or YARD_E_CONFIG with errbuf
 * naming the setting and file and what was wrong (never the key's bytes). Release with
 * gw_tls_clear() either way. */
int gw_tls_load(const char *cert_path, const char *key, gw_tls_t *out, char *errbuf, size_t errlen);

/* True when TLS is configured. */
bool gw_tls_on(const gw_tls_t *tls);

/* Wipes the key and frees both. */
void gw_tls_clear(gw_tls_t *tls);

#endif
