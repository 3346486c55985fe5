/* The gateway's certificate and key (tls.h): read, parsed and matched with GnuTLS, the library
 * libmicrohttpd serves TLS with, so that what passes here is what the daemon will load. */
#include "tls.h"

#include "yard/error.h"
#include "yard/log.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
s_set(const char *s)
{
    return s && s[0];
}

static bool
s_inline_pem(const char *key)
{
    return strncmp(key, "-----BEGIN", 10) == 0;
}

/* Reads a whole file of at most GW_TLS_FILE_MAX bytes, NUL-terminated. */
static int
s_read(const char *what, const char *path, char **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errbuf, errlen, "%s %s: cannot read: %s", what, path, strerror(errno));
        return YARD_E_CONFIG;
    }
    char *buf = malloc(GW_TLS_FILE_MAX + 1);
    if (!buf) {
        abort();
    }
    size_t n = fread(buf, 1, GW_TLS_FILE_MAX + 1, f);
    bool err = ferror(f) != 0;
    fclose(f);
    if (err || n == 0 || n > GW_TLS_FILE_MAX) {
        snprintf(errbuf, errlen, "%s %s: %s", what, path,
                 err      ? "cannot read"
                 : n == 0 ? "empty file"
                          : "larger than 256 KiB");
        free(buf);
        return YARD_E_CONFIG;
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

static int
s_check_cert(const char *cert_path, const char *pem, char *errbuf, size_t errlen)
{
    gnutls_x509_crt_t *certs = NULL;
    unsigned int n = 0;
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned int)strlen(pem)};
    int rc = gnutls_x509_crt_list_import2(&certs, &n, &d, GNUTLS_X509_FMT_PEM, 0);
    for (unsigned int i = 0; rc >= 0 && i < n; i++) {
        gnutls_x509_crt_deinit(certs[i]);
    }
    gnutls_free(certs);
    if (rc < 0 || n == 0) {
        snprintf(errbuf, errlen, "tls_cert %s: not a PEM certificate (%s)", cert_path,
                 rc < 0 ? gnutls_strerror(rc) : "none found");
        return YARD_E_CONFIG;
    }
    return 0;
}

static int
s_check_key(const char *key_name, const char *pem, char *errbuf, size_t errlen)
{
    gnutls_x509_privkey_t k;
    if (gnutls_x509_privkey_init(&k) < 0) {
        abort();
    }
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned int)strlen(pem)};
    int rc = gnutls_x509_privkey_import2(k, &d, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
    gnutls_x509_privkey_deinit(k);
    if (rc < 0) {
        snprintf(errbuf, errlen, "tls_key %s: not an unencrypted PEM private key (%s)", key_name,
                 gnutls_strerror(rc));
        return YARD_E_CONFIG;
    }
    return 0;
}

/* The pair as the daemon will load it: a key that is not the certificate's fails here. */
static int
s_check_pair(const char *cert_path, const char *key_name, const gw_tls_t *t, char *errbuf,
             size_t errlen)
{
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        abort();
    }
    gnutls_datum_t c = {(unsigned char *)t->cert_pem, (unsigned int)strlen(t->cert_pem)};
    gnutls_datum_t k = {(unsigned char *)t->key_pem, (unsigned int)strlen(t->key_pem)};
    int rc = gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_certificate_free_credentials(cred);
    if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
        snprintf(errbuf, errlen, "tls_key %s does not belong to the certificate in tls_cert %s",
                 key_name, cert_path);
        return YARD_E_CONFIG;
    }
    if (rc < 0) {
        snprintf(errbuf, errlen, "tls_cert %s with tls_key %s: %s", cert_path, key_name,
                 gnutls_strerror(rc));
        return YARD_E_CONFIG;
    }
    return 0;
}

int
gw_tls_load(const char *cert_path, const char *key, gw_tls_t *out, char *errbuf, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!s_set(cert_path) && !s_set(key)) {
        return 0;
    }
    if (!s_set(cert_path) || !s_set(key)) {
        snprintf(errbuf, errlen, "%s is set but %s is not: HTTPS needs both",
                 s_set(cert_path) ? "tls_cert" : "tls_key",
                 s_set(cert_path) ? "tls_key" : "tls_cert");
        return YARD_E_CONFIG;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(errbuf, errlen,
                 "tls_cert: this libmicrohttpd was built without TLS (GnuTLS); HTTPS is not "
                 "available");
        return YARD_E_CONFIG;
    }
    const char *key_name = s_inline_pem(key) ? "(PEM given inline)" : key;
    int rc = s_read("tls_cert", cert_path, &out->cert_pem, errbuf, errlen);
    if (rc == 0 && s_inline_pem(key)) {
        out->key_pem = strdup(key);
        if (!out->key_pem) {
            abort();
        }
        yard_log_add_secret(out->key_pem);
    } else if (rc == 0) {
        rc = s_read("tls_key", key, &out->key_pem, errbuf, errlen);
    }
    if (rc == 0) {
        rc = s_check_cert(cert_path, out->cert_pem, errbuf, errlen);
    }
    if (rc == 0) {
        rc = s_check_key(key_name, out->key_pem, errbuf, errlen);
    }
    if (rc == 0) {
        rc = s_check_pair(cert_path, key_name, out, errbuf, errlen);
    }
    return rc;
}

bool
gw_tls_on(const gw_tls_t *tls)
{
    return tls && tls->cert_pem && tls->key_pem;
}

void
gw_tls_clear(gw_tls_t *tls)
{
    if (tls->key_pem) {
        gnutls_memset(tls->key_pem, 0, strlen(tls->key_pem));
        free(tls->key_pem);
    }
    free(tls->cert_pem);
    memset(tls, 0, sizeof *tls);
}
