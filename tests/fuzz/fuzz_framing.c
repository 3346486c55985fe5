/* Fuzzes the gateway's HTTP/1.1 framing checks (gateway/framing.h), which decide whether a
 * request's Content-Length, Transfer-Encoding and Host headers are sound before anything else
 * reads it: the request-smuggling guard. Headers are fed one at a time, as libmicrohttpd hands
 * them over, each in a buffer of exactly its length.
 *
 * Input: lines separated by '\n': the HTTP version, the raw request target, then headers as
 * "name:value" (split at the first ':', so the name keeps any spaces, as libmicrohttpd keeps
 * "Content-Length " for "Content-Length : 7"). What must hold: the verdict is 0, 400 or 501,
 * a refusal has a code and a message, and an accepted Content-Length is below the cap. */
#include "framing.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_HEADERS_MAX 128

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A copy of exactly n bytes (1 when empty), so ASan sees any read past the end. */
static char *
s_exact(const uint8_t *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (n) {
        memcpy(c, p, n);
    }
    return c;
}

/* The next line of the input as a NUL-terminated copy, or NULL at the end. */
static char *
s_line(const uint8_t **p, const uint8_t *end)
{
    if (*p >= end) {
        return NULL;
    }
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = (size_t)((nl ? nl : end) - *p);
    char *l = malloc(n + 1);
    memcpy(l, *p, n);
    l[n] = '\0';
    *p += n + (nl ? 1 : 0);
    return l;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char *version = s_line(&p, end);
    char *uri = s_line(&p, end);
    gw_framing_t f;
    gw_framing_init(&f, version, uri);
    for (int k = 0; k < S_HEADERS_MAX && p < end; k++) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        const uint8_t *colon = memchr(p, ':', n);
        size_t nn = colon ? (size_t)(colon - p) : n;
        size_t vn = colon ? n - nn - 1 : 0;
        char *name = s_exact(p, nn), *value = s_exact(colon ? colon + 1 : p, vn);
        gw_framing_header(&f, name, nn, value, vn);
        free(name);
        free(value);
        p += n + (nl ? 1 : 0);
    }
    int status = gw_framing_verdict(&f);
    if (status != 0 && status != 400 && status != 501) {
        abort();
    }
    if (status != 0 && (!f.code || !f.message)) {
        abort();
    }
    if (status == 0 && f.cls && f.cl >= GW_FRAMING_CL_MAX) {
        abort();
    }
    free(version);
    free(uri);
    return 0;
}
