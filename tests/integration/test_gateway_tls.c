/* HTTPS in the gateway (tls_cert, tls_key), with a certificate generated at test time by the
 * openssl command (the tests skip when it is not installed) and libcurl as the client: a
 * request that trusts the certificate is served, one that does not is refused by curl, plain
 * HTTP to the TLS port gets no HTTP answer, a client that never starts the handshake is closed
 * at the header deadline and one that stalls inside its headers gets 408 through TLS, the key may
 * be given as the PEM itself (what tls_key_file: PATH reads), and a key of another certificate or a
 * missing file stops yard-gateway with a config error naming the setting and the file. No broker:
 * /healthz answers without one. */
#include "harness.h"
#include "run.h"
#include "yard/error.h"
#include "yard/gateway.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static struct {
    char *dir;
    char openssl[512]; /* "" when not installed */
    char cert[512], key[512], other_key[512];
    char broker[64];
} F;

/* The openssl program on PATH, or false. */
static bool
s_which(const char *prog, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/%s", d, prog);
        if (access(out, X_OK) == 0) {
            return true;
        }
    }
    out[0] = '\0';
    return false;
}

static void
s_openssl(char *const argv[])
{
    yh_run_t *r = yh_run(F.openssl, argv, NULL, 30000);
    if (r->status != 0) {
        fprintf(stderr, "openssl failed (%d): %s\n", r->status, r->err);
    }
    assert_int_equal(r->status, 0);
    yh_run_destroy(&r);
}

static int
s_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    F.dir = yh_tmpdir();
    snprintf(F.broker, sizeof F.broker, "%s", yh_endpoint(yh_free_port())); /* nobody */
    if (!s_which("openssl", F.openssl, sizeof F.openssl)) {
        return 0;
    }
    snprintf(F.cert, sizeof F.cert, "%s/cert.pem", F.dir);
    snprintf(F.key, sizeof F.key, "%s/key.pem", F.dir);
    snprintf(F.other_key, sizeof F.other_key, "%s/other.pem", F.dir);
    char *req[] = {F.openssl,
                   "req",
                   "-x509",
                   "-newkey",
                   "ec",
                   "-pkeyopt",
                   "ec_paramgen_curve:prime256v1",
                   "-nodes",
                   "-keyout",
                   F.key,
                   "-out",
                   F.cert,
                   "-days",
                   "2",
                   "-subj",
                   "/CN=localhost",
                   "-addext",
                   "subjectAltName=IP:127.0.0.1,DNS:localhost",
                   NULL};
    s_openssl(req);
    char *gen[] = {F.openssl, "genpkey",   "-algorithm",
                   "EC",      "-pkeyopt",  "ec_paramgen_curve:prime256v1",
                   "-out",    F.other_key, NULL};
    s_openssl(gen);
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    yh_rmtree(F.dir);
    free(F.dir);
    curl_global_cleanup();
    return 0;
}

/* A started gateway on 127.0.0.1:0 with this certificate and key (a path or the PEM). */
static yard_gateway_t *
s_gateway(const char *cert, const char *key, int *rc_out, char *err, size_t errlen)
{
    yard_gateway_opts_t o;
    char bflag[96];
    snprintf(bflag, sizeof bflag, "--broker=%s", F.broker);
    char *argv[] = {bflag, "--listen=127.0.0.1:0", "--header-timeout-ms=1000", NULL};
    assert_int_equal(yard_gateway_opts_fill(&o, NULL, 3, argv, err, errlen), 0);
    free(o.tls_cert);
    free(o.tls_key);
    o.tls_cert = cert ? strdup(cert) : NULL;
    o.tls_key = key ? strdup(key) : NULL;
    yard_gateway_t *gw = NULL;
    err[0] = '\0';
    *rc_out = yard_gateway_new(&o, NULL, NULL, &gw, err, errlen);
    yard_gateway_opts_free(&o);
    if (gw) {
        assert_int_equal(yard_gateway_start(gw), 0);
    }
    return gw;
}

static size_t
s_body_cb(char *p, size_t size, size_t n, void *arg)
{
    char *buf = arg;
    size_t used = strlen(buf), take = size * n;
    if (used + take < 1024) {
        memcpy(buf + used, p, take);
        buf[used + take] = '\0';
    }
    return size * n;
}

/* GET url; the libcurl result, the status and the body. ca: the bundle to trust, or NULL
 * for the system's. */
static CURLcode
s_get(const char *url, const char *ca, long *status, char *body)
{
    CURL *c = curl_easy_init();
    assert_non_null(c);
    body[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (ca) {
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode rc = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    return rc;
}

static void
test_https_served(void **state)
{
    (void)state;
    if (!F.openssl[0]) {
        skip();
    }
    char err[512], url[128], body[1024];
    int rc = 0;
    yard_gateway_t *gw = s_gateway(F.cert, F.key, &rc, err, sizeof err);
    if (rc) {
        fprintf(stderr, "gateway: %s\n", err);
    }
    assert_int_equal(rc, 0);
    snprintf(url, sizeof url, "https://127.0.0.1:%u/healthz", yard_gateway_port(gw));
    long status = 0;
    assert_int_equal(s_get(url, F.cert, &status, body), CURLE_OK);
    assert_int_equal(status, 200);
    assert_string_equal(body, "{\"status\":\"ok\"}");
    /* a client that does not trust the certificate refuses it: this is TLS with our cert */
    assert_int_equal(s_get(url, NULL, &status, body), CURLE_PEER_FAILED_VERIFICATION);
    /* plain HTTP to the TLS port: no HTTP answer comes back */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/healthz", yard_gateway_port(gw));
    CURLcode plain = s_get(url, NULL, &status, body);
    assert_int_not_equal(plain, CURLE_OK);
    assert_int_equal(status, 0);
    /* a client that never starts the handshake is closed at the header deadline (1 s here) */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(yard_gateway_port(gw))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    long long t0 = yh_now_ms();
    struct pollfd p = {fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 5000), 1);
    char b;
    assert_true(recv(fd, &b, 1, 0) <= 0); /* closed, no bytes */
    long long took = yh_now_ms() - t0;
    assert_true(took >= 900 && took < 2500);
    close(fd);
    yard_gateway_destroy(&gw);
}

/* A TLS client (GnuTLS, trusting the test's certificate) that sends a request line and part of
 * its headers, then nothing: it must read a 408 through TLS and then the close, at the header
 * deadline. */
static void
test_slow_headers_over_tls(void **state)
{
    (void)state;
    if (!F.openssl[0]) {
        skip();
    }
    char err[512];
    int rc = 0;
    yard_gateway_t *gw = s_gateway(F.cert, F.key, &rc, err, sizeof err);
    assert_int_equal(rc, 0);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(yard_gateway_port(gw))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    gnutls_certificate_credentials_t cred;
    assert_int_equal(gnutls_certificate_allocate_credentials(&cred), 0);
    assert_true(gnutls_certificate_set_x509_trust_file(cred, F.cert, GNUTLS_X509_FMT_PEM) > 0);
    gnutls_session_t s;
    assert_int_equal(gnutls_init(&s, GNUTLS_CLIENT), 0);
    assert_int_equal(gnutls_set_default_priority(s), 0);
    assert_int_equal(gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred), 0);
    gnutls_session_set_verify_cert(s, "localhost", 0);
    gnutls_transport_set_int(s, fd);
    gnutls_record_set_timeout(s, 5000);
    gnutls_handshake_set_timeout(s, 5000);
    assert_int_equal(gnutls_handshake(s), 0);
    static const char part[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaa";
    long long t0 = yh_now_ms();
    assert_int_equal(gnutls_record_send(s, part, sizeof part - 1), (ssize_t)(sizeof part - 1));
    char got[1024] = "";
    size_t used = 0;
    for (;;) {
        ssize_t n = gnutls_record_recv(s, got + used, sizeof got - 1 - used);
        if (n <= 0) {
            break; /* the close (EOF, or the premature-termination error) */
        }
        used += (size_t)n;
        got[used] = '\0';
    }
    long long took = yh_now_ms() - t0;
    assert_memory_equal(got, "HTTP/1.1 408 ", 13);
    assert_true(took >= 900 && took < 2500);
    gnutls_deinit(s);
    gnutls_certificate_free_credentials(cred);
    close(fd);
    yard_gateway_destroy(&gw);
}

/* What `tls_key_file: PATH` (the options' secret-from-file form) hands over: the PEM. */
static void
test_key_given_inline(void **state)
{
    (void)state;
    if (!F.openssl[0]) {
        skip();
    }
    FILE *f = fopen(F.key, "r");
    assert_non_null(f);
    char pem[8192];
    size_t n = fread(pem, 1, sizeof pem - 1, f);
    fclose(f);
    pem[n] = '\0';
    char err[512], url[128], body[1024];
    int rc = 0;
    yard_gateway_t *gw = s_gateway(F.cert, pem, &rc, err, sizeof err);
    assert_int_equal(rc, 0);
    snprintf(url, sizeof url, "https://127.0.0.1:%u/healthz", yard_gateway_port(gw));
    long status = 0;
    assert_int_equal(s_get(url, F.cert, &status, body), CURLE_OK);
    assert_int_equal(status, 200);
    yard_gateway_destroy(&gw);
    /* a bad inline key names the setting, never its bytes */
    gw = s_gateway(F.cert, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
                   &rc, err, sizeof err);
    assert_null(gw);
    assert_int_equal(rc, YARD_E_CONFIG);
    assert_non_null(strstr(err, "tls_key (PEM given inline)"));
    assert_null(strstr(err, "not a key"));
}

/* yard-gateway with these flags must stop at once with a config error holding each needle. */
static void
s_refused(const char *cert, const char *key, const char *needle1, const char *needle2)
{
    char c[600], k[600], b[96];
    snprintf(c, sizeof c, "--tls-cert=%s", cert);
    snprintf(k, sizeof k, "--tls-key=%s", key);
    snprintf(b, sizeof b, "--broker=%s", F.broker);
    yh_run_t *r = yh_runl("yard-gateway", NULL, 20000, "--listen=127.0.0.1:0", b, c, k, NULL);
    if (r->status == 0 || !strstr(r->err, needle1) || !strstr(r->err, needle2)) {
        fprintf(stderr, "status %d, stderr:\n%s\n", r->status, r->err);
    }
    assert_false(r->timed_out);
    assert_int_not_equal(r->status, 0);
    assert_non_null(strstr(r->err, needle1));
    assert_non_null(strstr(r->err, needle2));
    yh_run_destroy(&r);
}

static void
test_bad_config_names_the_file(void **state)
{
    (void)state;
    if (!F.openssl[0]) {
        skip();
    }
    s_refused(F.cert, F.other_key, "does not belong to the certificate", F.other_key);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/nowhere.pem", F.dir);
    s_refused(F.cert, missing, "tls_key", missing);
    s_refused(missing, F.key, "tls_cert", missing);
    s_refused(F.key, F.key, "not a PEM certificate", F.key); /* a key where the cert goes */
    char err[512];
    int rc = 0;
    assert_null(s_gateway(F.cert, NULL, &rc, err, sizeof err));
    assert_int_equal(rc, YARD_E_CONFIG);
    assert_non_null(strstr(err, "needs both"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_https_served),
        cmocka_unit_test(test_slow_headers_over_tls),
        cmocka_unit_test(test_key_given_inline),
        cmocka_unit_test(test_bad_config_names_the_file),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
