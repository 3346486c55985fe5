/* Reading an outbound HTTP response inside its completion callback. The response lives in its
 * transfer (http.c) and is valid only during the callback; header lookups go to curl's own
 * header store (curl_easy_header()), which matches names in any case. */
#include "http_internal.h"
#include "yard/error.h"
#include "yard/json.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int
yard_http_resp_error(const yard_http_resp_t *resp)
{
    return resp->err;
}

const char *
yard_http_resp_error_text(const yard_http_resp_t *resp)
{
    return resp->err_text;
}

int
yard_http_resp_status(const yard_http_resp_t *resp)
{
    return resp->status;
}

const char *
yard_http_resp_header(const yard_http_resp_t *resp, const char *name)
{
    struct curl_header *h = NULL;
    if (!resp->easy || !name) {
        return NULL;
    }
    /* index 0 asks how many there are; the last one is the value that counts */
    if (curl_easy_header(resp->easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK) {
        return NULL;
    }
    if (h->amount > 1 &&
        curl_easy_header(resp->easy, name, h->amount - 1, CURLH_HEADER, -1, &h) != CURLHE_OK) {
        return NULL;
    }
    return h->value;
}

const char *
yard_http_resp_body(const yard_http_resp_t *resp, size_t *len)
{
    if (len) {
        *len = resp->body_len;
    }
    return resp->body ? resp->body : "";
}

int
yard_http_resp_json(const yard_http_resp_t *resp, void **out, size_t *size, char *err,
                    size_t errlen)
{
    return yard_json_to_msgpack(resp->body ? resp->body : "", resp->body_len, out, size, err,
                                errlen);
}

/* A certificate date as curl's TLS backends write it: OpenSSL's ASN1_TIME_print() ("Mar  1
 * 12:00:00 2027 GMT") or curl's own ASN.1 decoder for the other backends ("2027-03-01
 * 12:00:00 GMT"). Returns 0 and *out (Unix seconds), or YARD_E_NOT_FOUND. */
static int
s_cert_date(const char *text, int64_t *out)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    struct tm tm = {0};
    char mon[4] = "";
    int n = 0;
    if (sscanf(text, "%3s %d %d:%d:%d %d GMT%n", mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &tm.tm_year, &n) == 6 &&
        n > 0) {
        const char *at = strlen(mon) == 3 ? strstr(months, mon) : NULL;
        if (!at || (at - months) % 3 != 0) {
            return YARD_E_NOT_FOUND;
        }
        tm.tm_mon = (int)((at - months) / 3);
    } else if (sscanf(text, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                      &tm.tm_min, &tm.tm_sec) == 6) {
        tm.tm_mon -= 1;
    } else {
        return YARD_E_NOT_FOUND;
    }
    tm.tm_year -= 1900;
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31) {
        return YARD_E_NOT_FOUND;
    }
    *out = (int64_t)timegm(&tm);
    return 0;
}

int
yard_http_resp_cert_expiry(const yard_http_resp_t *resp, int64_t *not_after)
{
    struct curl_certinfo *ci = NULL;
    if (!resp->easy || curl_easy_getinfo(resp->easy, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci ||
        ci->num_of_certs < 1) {
        return YARD_E_NOT_FOUND;
    }
    /* certificate 0 is the peer's own (the leaf); each line is "Name:value" */
    static const char key[] = "Expire date:";
    for (struct curl_slist *l = ci->certinfo[0]; l; l = l->next) {
        if (strncmp(l->data, key, sizeof key - 1) == 0) {
            return s_cert_date(l->data + sizeof key - 1, not_after);
        }
    }
    return YARD_E_NOT_FOUND;
}

uint32_t
yard_http_resp_attempts(const yard_http_resp_t *resp)
{
    return resp->attempts;
}

const char *
yard_http_resp_method(const yard_http_resp_t *resp)
{
    return resp->method;
}

const char *
yard_http_resp_url_redacted(const yard_http_resp_t *resp)
{
    return resp->url_redacted;
}
