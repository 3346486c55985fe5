/* HTTP/1.1 framing checks (framing.h): one pass over the headers libmicrohttpd parsed, counting
 * the framing headers and checking each name and the framing values byte by byte. A rule once
 * broken keeps the first reason: that is the one the client is told. */
#include "framing.h"

#include <microhttpd.h>
#include <string.h>
#include <strings.h>

#define S_BAD "BAD_REQUEST"

/* RFC 9110 5.6.2: tchar. */
static bool
s_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        return true;
    }
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void
s_fail(gw_framing_t *f, int status, const char *code, const char *message)
{
    if (f->status == 0) {
        f->status = status;
        f->code = code;
        f->message = message;
    }
}

static bool
s_is(const char *name, size_t n, const char *want)
{
    return n == strlen(want) && strncasecmp(name, want, n) == 0;
}

/* A name that begins with a framing header's name but is not it: libmicrohttpd's reading of
 * "Content-Length : 7", "Content-Length\t: 7" or an obs-fold line after the header. */
static bool
s_mangled(const char *name, size_t n, const char *want)
{
    size_t w = strlen(want);
    return n > w && strncasecmp(name, want, w) == 0;
}

/* Content-Length: 1*DIGIT (RFC 9110 8.6), below GW_FRAMING_CL_MAX. */
static bool
s_parse_cl(const char *v, size_t n, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return false;
        }
        x = x * 10 + (uint64_t)(v[i] - '0');
        if (x >= GW_FRAMING_CL_MAX) {
            return false;
        }
    }
    *out = x;
    return true;
}

static void
s_content_length(gw_framing_t *f, const char *v, size_t n)
{
    uint64_t x = 0;
    if (!s_parse_cl(v, n, &x)) {
        s_fail(f, 400, S_BAD, "Content-Length is not a decimal number of bytes");
        return;
    }
    if (f->cls > 0 && x != f->cl) {
        s_fail(f, 400, S_BAD, "two Content-Length headers with different values");
        return;
    }
    f->cl = x;
    f->cls++;
}

/* Transfer-Encoding: only "chunked" is served, once, as the whole list (RFC 9112 6.1): any
 * other coding (gzip, or one nobody registered) is 501; chunked twice, or an empty or
 * malformed list, is 400. */
static void
s_transfer_encoding(gw_framing_t *f, const char *v, size_t n)
{
    f->tes++;
    size_t i = 0, chunked = 0, other = 0, bad = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) {
            i++;
        }
        size_t start = i;
        while (i < n && s_tchar((unsigned char)v[i])) {
            i++;
        }
        size_t len = i - start;
        while (i < n && (v[i] == ' ' || v[i] == '\t')) {
            i++;
        }
        if (i < n && v[i] != ',') {
            bad++; /* parameters or stray bytes: nothing chunked may carry */
            break;
        }
        if (len == 0) {
            continue;
        }
        if (len == 7 && strncasecmp(v + start, "chunked", 7) == 0) {
            chunked++;
        } else {
            other++;
        }
    }
    if (bad || chunked + other == 0) {
        s_fail(f, 400, S_BAD, "Transfer-Encoding is not a list of transfer codings");
    } else if (other) {
        s_fail(f, 501, "NOT_IMPLEMENTED", "the only transfer coding served is chunked");
    } else if (chunked > 1) {
        s_fail(f, 400, S_BAD, "Transfer-Encoding names chunked more than once");
    }
}

void
gw_framing_init(gw_framing_t *f, const char *version, const char *raw_uri)
{
    memset(f, 0, sizeof *f);
    f->http11 = version && strcmp(version, "HTTP/1.0") != 0;
    if (!version || strncmp(version, "HTTP/1.", 7) != 0) {
        s_fail(f, 400, S_BAD, "the request line's HTTP version is not HTTP/1.x");
    }
    for (const char *p = raw_uri; p && *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f) {
            s_fail(f, 400, S_BAD, "the request target holds a space or a control character");
            break;
        }
    }
}

void
gw_framing_header(gw_framing_t *f, const char *name, size_t name_len, const char *value,
                  size_t value_len)
{
    if (f->status != 0) {
        return;
    }
    if (name_len == 0) {
        s_fail(f, 400, S_BAD, "a header has an empty name");
        return;
    }
    for (size_t i = 0; i < name_len; i++) {
        if (!s_tchar((unsigned char)name[i])) {
            s_fail(f, 400, S_BAD,
                   "a header name holds a space or a separator (no space may precede the colon)");
            return;
        }
    }
    if (memchr(value, '\0', value_len) || memchr(value, '\r', value_len) ||
        memchr(value, '\n', value_len)) {
        s_fail(f, 400, S_BAD, "a header value holds a NUL, CR or LF");
        return;
    }
    if (s_is(name, name_len, "Content-Length")) {
        s_content_length(f, value, value_len);
    } else if (s_is(name, name_len, "Transfer-Encoding")) {
        s_transfer_encoding(f, value, value_len);
    } else if (s_is(name, name_len, "Host")) {
        f->hosts++;
    } else if (s_mangled(name, name_len, "Content-Length") ||
               s_mangled(name, name_len, "Transfer-Encoding")) {
        s_fail(f, 400, S_BAD,
               "a framing header is malformed (a space before the colon, or a folded line)");
    }
}

int
gw_framing_verdict(gw_framing_t *f)
{
    if (f->status != 0) {
        return f->status;
    }
    if (f->http11 && f->hosts == 0) {
        s_fail(f, 400, S_BAD, "an HTTP/1.1 request must have a Host header");
    } else if (f->hosts > 1) {
        s_fail(f, 400, S_BAD, "more than one Host header");
    } else if (f->tes > 1) {
        s_fail(f, 400, S_BAD, "more than one Transfer-Encoding header");
    } else if (f->tes && !f->http11) {
        s_fail(f, 400, S_BAD, "Transfer-Encoding in an HTTP/1.0 request");
    } else if (f->tes && f->cls) {
        s_fail(f, 400, S_BAD, "both Transfer-Encoding and Content-Length");
    }
    return f->status;
}

static enum MHD_Result
s_feed(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size, const char *value,
       size_t value_size)
{
    (void)kind;
    gw_framing_t *f = cls;
    gw_framing_header(f, key ? key : "", key ? key_size : 0, value ? value : "",
                      value ? value_size : 0);
    return f->status == 0 ? MHD_YES : MHD_NO;
}

int
gw_framing_check_conn(gw_framing_t *f, struct MHD_Connection *conn, const char *version,
                      const char *raw_uri)
{
    gw_framing_init(f, version, raw_uri);
    if (f->status == 0) {
        MHD_get_connection_values_n(conn, MHD_HEADER_KIND, s_feed, f);
    }
    return gw_framing_verdict(f);
}
