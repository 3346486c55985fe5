/* The output: Elasticsearch's _bulk API (or a file, or stdout). One bulk request is in flight at
 * a time, so batches finish in order and a file's committed offset only ever moves forward.
 *
 * Elasticsearch answers a bulk request with 200 and one result per item ("errors": true when any
 * failed; see the bulk API reference, "Response body"): 2xx is done, 409 (the _id exists: a
 * resend) is done, 429 and 5xx are retried for those items only, any other status goes to the
 * dead-letter file with Elasticsearch's error.type and error.reason. A whole-request 413 (body
 * over http.max_content_length) splits the batch in two; a whole-request 429, 5xx, 401/403 or a
 * transport failure marks Elasticsearch down: batches then go to the spool, and the oldest is
 * tried again after an exponential backoff with full jitter (yard_http_backoff_ms()). */
#include "ls.h"

#include "yard/error.h"
#include "yard/log.h"
#include "yard/mp.h"

#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static bool
s_spool_on(const ls_t *ls)
{
    return ls->o->spool_max > 0;
}

static void
s_base64(const unsigned char *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        v |= i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0;
        v |= i + 2 < n ? in[i + 2] : 0;
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = '\0';
}

int
ls_out_start(ls_t *ls)
{
    if (ls->cfg.out == LS_OUT_STDOUT) {
        ls->out_fd = STDOUT_FILENO;
        return 0;
    }
    if (ls->cfg.out == LS_OUT_FILE) {
        ls->out_fd = open(ls->cfg.out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (ls->out_fd < 0) {
            yard_log(YARD_LOG_ERROR, "logship: cannot open the output file",
                     YF_STR("path", ls->cfg.out_path), YF_STR("error", strerror(errno)));
            return YARD_E_CONFIG;
        }
        return 0;
    }
    ls->out_fd = -1;
    /* an engine of its own, to keep sending while the replica drains; it trusts
     * elasticsearch.ca_file, else the operator's http_ca_file (file, variable or flag) */
    const char *ca = ls->cfg.ca_file ? ls->cfg.ca_file : yard_ctx_http_ca_file(ls->ctx);
    yard_http_opts_t ho = {.max_transfers = 4, .max_body = 64u << 20, .ca_file = ca};
    int rc = yard_http_new(&ho, &ls->http);
    if (rc == 0) {
        ls->http_src = yard_http_source(ls->http);
    }
    return rc;
}

void
ls_out_stop(ls_t *ls)
{
    yard_http_destroy(&ls->http); /* an in-flight request ends with YARD_E_SHUTDOWN */
    memset(&ls->http_src, 0, sizeof ls->http_src);
    if (ls->cfg.out == LS_OUT_FILE && ls->out_fd >= 0) {
        close(ls->out_fd);
    }
    ls->out_fd = -1;
}

static size_t
s_item_end(const ls_batch_t *b, uint32_t i)
{
    return i + 1 < b->nitems ? b->items[i + 1] : b->body.len;
}

int
ls_dead_letter(ls_t *ls, const char *item, size_t n, int status, const char *type,
               const char *reason)
{
    const char *path = ls->cfg.dead_letter;
    struct stat st;
    if (stat(path, &st) == 0 && (uint64_t)st.st_size > LS_DEAD_LETTER_MAX) {
        char old[1200];
        snprintf(old, sizeof old, "%s.1", path);
        rename(path, old); /* one old generation: the file stays bounded */
    }
    FILE *fp = fopen(path, "ae");
    if (fp == NULL) {
        yard_log(YARD_LOG_ERROR, "logship: cannot write the dead-letter file", YF_STR("path", path),
                 YF_STR("error", strerror(errno)));
        return YARD_E_IO;
    }
    const char *nl = memchr(item, '\n', n);
    size_t alen = nl ? (size_t)(nl - item) : n;
    size_t dlen = nl ? n - alen - 1 : 0;
    while (dlen > 0 && item[alen + 1 + dlen - 1] == '\n') {
        dlen--;
    }
    fprintf(fp, "{\"status\":%d,\"error\":{\"type\":\"", status);
    for (const char *s = type ? type : ""; *s; s++) {
        fputc(*s == '"' || *s == '\\' || (unsigned char)*s < 0x20 ? '_' : *s, fp);
    }
    fputs("\",\"reason\":\"", fp);
    for (const char *s = reason ? reason : ""; *s; s++) {
        fputc(*s == '"' || *s == '\\' || (unsigned char)*s < 0x20 ? '_' : *s, fp);
    }
    fprintf(fp, "\"},\"action\":%.*s,\"document\":%.*s}\n", (int)alen, item, (int)dlen,
            dlen ? item + alen + 1 : "null");
    fclose(fp);
    ls->st.dead++;
    return 0;
}

/* Keeps only the items flagged in keep (in order), rebuilding the body. */
static void
s_compact(ls_batch_t *b, const bool *keep)
{
    ls_buf_t nb = {0};
    uint32_t n = 0;
    for (uint32_t i = 0; i < b->nitems; i++) {
        if (keep[i]) {
            size_t end = s_item_end(b, i);
            b->items[n++] = (uint32_t)nb.len;
            ls_buf_add(&nb, b->body.p + b->items[i], end - b->items[i]);
        }
    }
    ls_buf_free(&b->body);
    b->body = nb;
    b->nitems = n;
}

static uint64_t
s_rnd(void)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
        r = (uint64_t)yard_loop_now_ms() * 0x9e3779b97f4a7c15ull;
    }
    return r;
}

static int64_t
s_backoff(const ls_t *ls, uint32_t k, int64_t retry_after_ms)
{
    yard_http_retry_t p = {.base_ms = ls->cfg.backoff_base_ms, .cap_ms = ls->cfg.backoff_cap_ms};
    return yard_http_backoff_ms(&p, k ? k : 1, s_rnd(), retry_after_ms);
}

static int64_t
s_retry_after(const yard_http_resp_t *resp)
{
    const char *ra = yard_http_resp_header(resp, "Retry-After");
    int64_t ms;
    return ra && yard_http_retry_after_ms(ra, time(NULL), &ms) == 0 ? ms : -1;
}

/* Elasticsearch cannot take the batch now: it goes to the spool (or waits in memory), and the
 * next try comes after the backoff. */
static void
s_down(ls_t *ls, ls_batch_t *b, const yard_http_resp_t *resp, const char *why)
{
    ls->failures++;
    ls->st.failures++;
    if (!ls->down) {
        yard_log(YARD_LOG_WARN, "logship: Elasticsearch unavailable, spooling",
                 YF_STR("reason", why), YF_INT("status", yard_http_resp_status(resp)));
    }
    ls->down = true;
    int64_t now = yard_loop_now_ms();
    ls->retry_at_ms = now + s_backoff(ls, ls->failures, s_retry_after(resp));
    if (s_spool_on(ls)) {
        if (b->segment != 0 && b->attempts == 0) {
            ls_batch_free(&b); /* untouched on disk: it is still there */
            ls->inflight = NULL;
        } else if (ls_spool_write(ls, b) == 0) {
            ls->inflight = NULL;
        }
        ls_queue_spool_all(ls);
    }
}

static void
s_up(ls_t *ls)
{
    if (ls->down) {
        yard_log(YARD_LOG_INFO, "logship: Elasticsearch is back",
                 YF_UINT("spooled", ls->spool_items));
    }
    ls->down = false;
    ls->failures = 0;
}

/* 413: the body is over Elasticsearch's limit. Halves go on separately; one item alone is
 * dead-lettered. */
static void
s_split(ls_t *ls, ls_batch_t *b)
{
    if (b->nitems <= 1) {
        ls_dead_letter(ls, b->body.p, b->body.len, 413, "request_entity_too_large",
                       "the document alone is over Elasticsearch's http.max_content_length");
        ls->inflight = NULL;
        ls_batch_finish(ls, &b);
        return;
    }
    uint32_t half = b->nitems / 2;
    ls_batch_t *b2 = ls_batch_new();
    size_t from = b->items[half];
    ls_buf_add(&b2->body, b->body.p + from, b->body.len - from);
    for (uint32_t i = half; i < b->nitems; i++) {
        if (b2->nitems == b2->cap) {
            b2->cap = b2->cap ? b2->cap * 2 : 256;
            b2->items = realloc(b2->items, b2->cap * sizeof *b2->items);
        }
        b2->items[b2->nitems++] = (uint32_t)(b->items[i] - from);
    }
    memcpy(b2->commits, b->commits, sizeof b->commits); /* commit once the later half is done */
    b2->ncommits = b->ncommits;
    b->ncommits = 0;
    b->body.len = from;
    b->nitems = half;
    b2->segment = b->segment;
    b->segment = 0;
    b->attempts = b2->attempts = 1;
    b2->next = ls->head; /* next in line, before anything newer */
    ls->head = b2;
    if (ls->tail == NULL) {
        ls->tail = b2;
    }
    ls->queued_batches++;
    ls->queued_bytes += b2->body.len;
    ls->retry_at_ms = 0;
}

/* A string field of map copied into buf, cut to cap - 1 bytes (a reason may be long). */
static void
s_copy_field(const msgpack_object *map, const char *key, char *buf, size_t cap)
{
    yard_str_t v;
    if (yard_mp_get_str(map, key, &v, NULL, 0) == 0) {
        size_t n = v.len < cap - 1 ? v.len : cap - 1;
        memcpy(buf, v.ptr, n);
        buf[n] = '\0';
    }
}

/* One item of a _bulk answer, {"create": {status, error: {type, reason}}}: its status (0 when
 * there is none) and error. */
static void
s_item_result(const msgpack_object *it, int *status, char *type, size_t tcap, char *reason,
              size_t rcap)
{
    if (!it || it->type != MSGPACK_OBJECT_MAP || it->via.map.size != 1) {
        return;
    }
    const msgpack_object *r = &it->via.map.ptr[0].val;
    int64_t st = 0;
    if (yard_mp_get_int_range(r, "status", 100, 599, &st, NULL, 0) == 0) {
        *status = (int)st;
    }
    const msgpack_object *e = NULL;
    if (yard_mp_get_map(r, "error", &e, NULL, 0) == 0) {
        s_copy_field(e, "type", type, tcap);
        s_copy_field(e, "reason", reason, rcap);
    }
}

/* Walks the items of a 200 answer with errors. */
static void
s_items(ls_t *ls, ls_batch_t *b, const yard_http_resp_t *resp)
{
    void *mp = NULL;
    size_t size = 0;
    char err[128];
    msgpack_zone zone;
    msgpack_zone_init(&zone, 4096);
    msgpack_object root;
    const msgpack_object *items = NULL;
    if (yard_http_resp_json(resp, &mp, &size, err, sizeof err) == 0 &&
        yard_mp_decode(mp, size, &zone, &root, NULL, 0) == 0) {
        yard_mp_get_array(&root, "items", &items, NULL, 0);
    }
    bool *keep = calloc(b->nitems ? b->nitems : 1, sizeof *keep);
    uint32_t retry = 0;
    for (uint32_t i = 0; i < b->nitems; i++) {
        const msgpack_object *it =
            items && i < items->via.array.size ? &items->via.array.ptr[i] : NULL;
        int status = 0;
        char type[128] = "", reason[512] = "";
        s_item_result(it, &status, type, sizeof type, reason, sizeof reason);
        if ((status >= 200 && status < 300) || status == 409) {
            ls->st.shipped++;
        } else if (status == 429 || status >= 500 || status == 0) {
            keep[i] = true; /* 0: no result for it (a short answer): tried again */
            retry++;
        } else {
            size_t end = s_item_end(b, i);
            ls_dead_letter(ls, b->body.p + b->items[i], end - b->items[i], status, type, reason);
        }
    }
    msgpack_zone_destroy(&zone);
    free(mp);
    if (retry == 0) {
        free(keep);
        ls->inflight = NULL;
        ls_batch_finish(ls, &b);
        return;
    }
    s_compact(b, keep);
    free(keep);
    ls->st.retried += retry;
    b->attempts++;
    ls->retry_at_ms = yard_loop_now_ms() + s_backoff(ls, b->attempts, s_retry_after(resp));
    if (b->attempts > LS_ITEM_RETRIES && s_spool_on(ls) && ls_spool_write(ls, b) == 0) {
        ls->inflight = NULL; /* safe on disk; tried again after what is newer */
    }
}

static void
s_whole_fail(ls_t *ls, ls_batch_t *b, int status, const char *body)
{
    char reason[512] = "";
    const char *r = body ? strstr(body, "\"reason\":\"") : NULL;
    if (r) {
        r += 10;
        size_t n = strcspn(r, "\"");
        snprintf(reason, sizeof reason, "%.*s", (int)(n < 500 ? n : 500), r);
    }
    yard_log(YARD_LOG_ERROR, "logship: Elasticsearch refused a whole bulk request",
             YF_INT("status", status), YF_STR("reason", reason));
    for (uint32_t i = 0; i < b->nitems; i++) {
        size_t end = s_item_end(b, i);
        ls_dead_letter(ls, b->body.p + b->items[i], end - b->items[i], status, "bulk_refused",
                       reason);
    }
    ls->inflight = NULL;
    ls_batch_finish(ls, &b);
}

static void
s_done(const yard_http_resp_t *resp, void *arg)
{
    ls_t *ls = arg;
    ls_batch_t *b = ls->inflight;
    int err = yard_http_resp_error(resp);
    int status = yard_http_resp_status(resp);
    ls->sending = false;
    if (b == NULL || err == YARD_E_SHUTDOWN) {
        return; /* stopping: the batch is spooled by the stop */
    }
    size_t len = 0;
    const char *body = yard_http_resp_body(resp, &len);
    if (err != 0 || status == 429 || status >= 500 || status == 401 || status == 403 ||
        status == 0) {
        s_down(ls, b, resp, err ? yard_http_resp_error_text(resp) : "status");
        return;
    }
    s_up(ls);
    if (status == 413) {
        s_split(ls, b);
    } else if (status < 200 || status >= 300) {
        s_whole_fail(ls, b, status, body);
    } else if (len > 0 && memmem(body, len < 256 ? len : 256, "\"errors\":false", 14)) {
        ls->st.shipped += b->nitems; /* the common case: no item failed, nothing to parse */
        ls->inflight = NULL;
        ls_batch_finish(ls, &b);
    } else {
        s_items(ls, b, resp);
    }
}

static void
s_send(ls_t *ls, ls_batch_t *b)
{
    char url[2100];
    snprintf(url, sizeof url, "%s/_bulk", ls->cfg.es_url);
    yard_http_req_t *req = NULL;
    int rc = yard_http_req_new("POST", url, &req);
    if (rc == 0 && ls->cfg.api_key) {
        char h[YARD_OPT_FILE_MAX + 16];
        snprintf(h, sizeof h, "ApiKey %s", ls->cfg.api_key);
        rc = yard_http_req_header_secret(req, "Authorization", h);
        explicit_bzero(h, sizeof h);
    } else if (rc == 0 && ls->cfg.username) {
        size_t n = strlen(ls->cfg.username) + strlen(ls->cfg.password) + 2;
        char *plain = malloc(n), *enc = malloc(n * 4 / 3 + 16);
        snprintf(plain, n, "%s:%s", ls->cfg.username, ls->cfg.password);
        strcpy(enc, "Basic ");
        s_base64((const unsigned char *)plain, n - 1, enc + 6);
        rc = yard_http_req_header_secret(req, "Authorization", enc);
        explicit_bzero(plain, n);
        explicit_bzero(enc, strlen(enc));
        free(plain);
        free(enc);
    }
    if (rc == 0) {
        rc = yard_http_req_body(req, b->body.p, b->body.len, "application/x-ndjson");
    }
    yard_http_req_timeout(req, ls->cfg.timeout_ms);
    ls->inflight = b;
    if (rc == 0) {
        rc = yard_http_send(ls->http, &req, s_done, ls);
    } else {
        yard_http_req_destroy(&req);
    }
    if (rc != 0) {
        ls->retry_at_ms = yard_loop_now_ms() + 1000; /* engine full or stopping: later */
        return;
    }
    ls->sending = true;
    ls->st.requests++;
}

/* file: and stdout: write each document line. */
static void
s_write_docs(ls_t *ls, ls_batch_t *b)
{
    ls_buf_t out = {0};
    for (uint32_t i = 0; i < b->nitems; i++) {
        const char *a = b->body.p + b->items[i];
        size_t end = s_item_end(b, i);
        const char *nl = memchr(a, '\n', end - b->items[i]);
        if (nl) {
            ls_buf_add(&out, nl + 1, (size_t)(b->body.p + end - (nl + 1)));
        }
    }
    size_t off = 0;
    while (off < out.len) {
        ssize_t w = write(ls->out_fd, out.p + off, out.len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            break;
        }
        off += (size_t)w;
    }
    ls_buf_free(&out);
    ls->st.shipped += b->nitems;
    ls_batch_finish(ls, &b);
}

static ls_batch_t *
s_pop(ls_t *ls)
{
    ls_batch_t *b = ls->head;
    if (b) {
        ls->head = b->next;
        if (ls->head == NULL) {
            ls->tail = NULL;
        }
        ls->queued_batches--;
        ls->queued_bytes -= b->body.len;
        b->next = NULL;
    }
    return b;
}

void
ls_out_pump(ls_t *ls, int64_t now)
{
    if (ls->cfg.out != LS_OUT_ES) {
        ls_batch_t *b;
        while ((b = s_pop(ls)) != NULL) {
            s_write_docs(ls, b);
        }
        return;
    }
    if (ls->http == NULL || ls->sending || now < ls->retry_at_ms) {
        return;
    }
    ls_batch_t *b = ls->inflight;
    if (b == NULL && ls->head && ls->head->segment != 0) {
        b = s_pop(ls); /* the later half of a split spool segment, which is still on disk */
    }
    if (b == NULL) {
        b = ls->nsegs > 0 ? ls_spool_next(ls) : s_pop(ls);
    }
    if (b != NULL) {
        s_send(ls, b);
    }
}
