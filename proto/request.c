/* Requests inside a handler, deferred tokens, and the test-mode requests that let handlers be
 * tested without sockets. A request is answered exactly once: its state goes from OPEN to
 * ANSWERED (reply or fail) or DEFERRED (a token now owns the answer), and every answering
 * function refuses a request that has left OPEN. */
#include "alloc_internal.h"
#include "actor_internal.h"
#include "msg_internal.h"
#include "yard/error.h"
#include "yard/mp.h"

#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static char *
s_strdup_or_null(const char *s)
{
    if (!s || !*s) {
        return NULL;
    }
    char *d = yard__xstrdup(s);
    return d;
}

/* --- mailbox ----------------------------------------------------------------------------- */

yard__mailbox_t *
yard__mailbox_new(bool with_fd)
{
    yard__mailbox_t *mb = yard__xcalloc(1, sizeof *mb);
    atomic_init(&mb->refs, 1);
    atomic_init(&mb->stop, false);
    pthread_mutex_init(&mb->lock, NULL);
    mb->efd = with_fd ? eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) : -1;
    if (with_fd && mb->efd < 0) {
        abort();
    }
    return mb;
}

void
yard__mailbox_unref(yard__mailbox_t **mb_p)
{
    yard__mailbox_t *mb = *mb_p;
    *mb_p = NULL;
    if (!mb || atomic_fetch_sub(&mb->refs, 1) != 1) {
        return;
    }
    pthread_mutex_destroy(&mb->lock);
    if (mb->efd >= 0) {
        close(mb->efd);
    }
    free(mb);
}

void
yard__deferred_unref(yard_deferred_t *d)
{
    if (atomic_fetch_sub(&d->refs, 1) != 1) {
        return;
    }
    zmq_msg_close(&d->body);
    free(d->app_error);
    free(d->text);
    yard__hdrs_free(&d->hdrs);
    yard__mailbox_unref(&d->mbox);
    free(d);
}

/* --- answer headers ---------------------------------------------------------------------- */

int
yard__hdrs_add(yard__hdrs_t **h, const char *key, const char *value)
{
    if (!key || !value) {
        return YARD_E_INVALID;
    }
    if (!*key || strlen(key) > YARD_WIRE_NAME_MAX || strlen(value) > YARD_WIRE_VALUE_MAX) {
        return YARD_E_TOO_LARGE;
    }
    if (!*h) {
        *h = yard__xcalloc(1, sizeof **h);
    }
    yard__hdrs_t *hs = *h;
    for (uint32_t i = 0; i < hs->n; i++) {
        if (strcmp(hs->key[i], key) == 0) { /* set, not append: the last value wins */
            char *v = s_strdup_or_null(value);
            free(hs->value[i]);
            hs->value[i] = v;
            return 0;
        }
    }
    if (hs->n == YARD_WIRE_HEADERS_MAX) {
        return YARD_E_TOO_LARGE;
    }
    hs->key[hs->n] = s_strdup_or_null(key);
    hs->value[hs->n] = s_strdup_or_null(value);
    hs->n++;
    return 0;
}

uint32_t
yard__hdrs_view(const yard__hdrs_t *h, yard_kv_t *out)
{
    for (uint32_t i = 0; h && i < h->n; i++) {
        out[i].key = yard_str(h->key[i]);
        out[i].value = yard_str(h->value[i]);
    }
    return h ? h->n : 0;
}

void
yard__hdrs_free(yard__hdrs_t **h)
{
    if (!h || !*h) {
        return;
    }
    for (uint32_t i = 0; i < (*h)->n; i++) {
        free((*h)->key[i]);
        free((*h)->value[i]);
    }
    free(*h);
    *h = NULL;
}

int
yard_request_set_header(yard_request_t *req, const char *key, const char *value)
{
    if (!req || req->state != YARD__R_OPEN) {
        return YARD_E_INVALID;
    }
    return yard__hdrs_add(&req->hdrs, key, value);
}

int
yard_deferred_set_header(yard_deferred_t *d, const char *key, const char *value)
{
    if (!d) {
        return YARD_E_INVALID;
    }
    return yard__hdrs_add(&d->hdrs, key, value);
}

const char *
yard_request_answer_header_test(const yard_request_t *req, const char *key)
{
    for (uint32_t i = 0; req->hdrs && i < req->hdrs->n; i++) {
        if (strcmp(req->hdrs->key[i], key) == 0) {
            return req->hdrs->value[i];
        }
    }
    return NULL;
}

/* --- accessors --------------------------------------------------------------------------- */

const char *
yard_request_op(const yard_request_t *req)
{
    return req->op ? req->op : "";
}

const char *
yard_request_service(const yard_request_t *req)
{
    return req->service ? req->service : "";
}

const void *
yard_request_body(const yard_request_t *req, size_t *size)
{
    if (size) {
        *size = req->body_size;
    }
    return req->body_size ? req->body : "";
}

const msgpack_object *
yard_request_object(yard_request_t *req)
{
    if (req->obj_state == 0) {
        /* The bounded decoder: a peer's body cannot make msgpack-c allocate more than O(size). */
        req->obj_state = -1;
        if (req->body_size &&
            yard_mp_decode(req->body, req->body_size, req->zone, &req->obj, NULL, 0) == 0) {
            req->obj_state = 1;
        }
    }
    return req->obj_state == 1 ? &req->obj : NULL;
}

const char *
yard_request_header(const yard_request_t *req, const char *key)
{
    for (uint32_t i = 0; key && i < req->header_count; i++) {
        if (strcmp(req->headers[2 * i], key) == 0) {
            return req->headers[2 * i + 1];
        }
    }
    return NULL;
}

uint32_t
yard_request_remaining_ms(const yard_request_t *req)
{
    int64_t left = req->deadline - yard__clock_ms();
    return left <= 0 ? 0 : left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}

bool
yard_request_one_way(const yard_request_t *req)
{
    return req->one_way;
}

/* --- answering --------------------------------------------------------------------------- */

static void
s_test_record(yard_request_t *req, int err, const void *body, size_t size, const char *app_error,
              const char *text)
{
    req->t_status = err;
    free(req->t_body);
    req->t_body = NULL;
    req->t_size = 0;
    if (err == 0) {
        req->t_body = malloc(size ? size : 1);
        if (!req->t_body) {
            abort();
        }
        if (size) {
            memcpy(req->t_body, body, size);
        }
        req->t_size = size;
    }
    free(req->t_app_error);
    free(req->t_text);
    req->t_app_error = s_strdup_or_null(app_error);
    req->t_text = s_strdup_or_null(text);
}

static int
s_check_err(int err)
{
    return err < 0 && yard_err_to_wire(err) != 0 ? err : YARD_E_INTERNAL;
}

int
yard_request_reply(yard_request_t *req, const void *body, size_t size)
{
    if (!req || req->state != YARD__R_OPEN || (size && !body)) {
        return YARD_E_INVALID;
    }
    req->state = YARD__R_ANSWERED;
    if (!req->rep) {
        s_test_record(req, 0, body, size, NULL, NULL);
        return 0;
    }
    zmq_msg_t m;
    if (zmq_msg_init_size(&m, size) != 0) {
        abort();
    }
    if (size) {
        memcpy(zmq_msg_data(&m), body, size);
    }
    yard__rt_answer(req->rep, req->link, req->gen, req->id, 0, NULL, NULL, req->hdrs, &m);
    yard__hdrs_free(&req->hdrs);
    return 0;
}

int
yard_request_fail(yard_request_t *req, int err, const char *app_error, const char *text)
{
    if (!req || req->state != YARD__R_OPEN) {
        return YARD_E_INVALID;
    }
    req->state = YARD__R_ANSWERED;
    err = s_check_err(err);
    if (!req->rep) {
        s_test_record(req, err, NULL, 0, app_error, text);
        return 0;
    }
    yard__rt_answer(req->rep, req->link, req->gen, req->id, err, app_error, text, req->hdrs, NULL);
    yard__hdrs_free(&req->hdrs);
    return 0;
}

yard_deferred_t *
yard_request_defer(yard_request_t *req)
{
    if (!req || req->state != YARD__R_OPEN) {
        return NULL;
    }
    req->state = YARD__R_DEFERRED;
    yard_deferred_t *d = yard__xcalloc(1, sizeof *d);
    atomic_init(&d->refs, 2); /* the runtime's and the holder's */
    d->link = req->link;
    d->gen = req->gen;
    d->id = req->id;
    d->deadline = req->deadline;
    d->hdrs = req->hdrs; /* headers set so far travel with the token */
    req->hdrs = NULL;
    zmq_msg_init(&d->body);
    if (req->rep) {
        yard__rt_hold(req->rep, d); /* sets d->mbox */
    } else {
        d->mbox = req->t_mbox;
        atomic_fetch_add(&d->mbox->refs, 1);
        yard__deferred_unref(d); /* no runtime side in test mode */
    }
    return d;
}

static int
s_complete(yard_deferred_t **d_p, int err, const void *body, size_t size, const char *app_error,
           const char *text)
{
    if (!d_p || !*d_p) {
        return YARD_E_INVALID;
    }
    yard_deferred_t *d = *d_p;
    *d_p = NULL;
    yard__mailbox_t *mb = d->mbox;
    int rc = 0;
    pthread_mutex_lock(&mb->lock);
    if (d->state != YARD__D_PENDING || mb->closed) {
        rc = YARD_E_TIMEOUT;
    } else if (mb->test_req) {
        d->state = YARD__D_COMPLETED;
        s_test_record(mb->test_req, err, body, size, app_error, text);
        yard__hdrs_free(&mb->test_req->hdrs);
        mb->test_req->hdrs = d->hdrs; /* for yard_request_answer_header_test() */
        d->hdrs = NULL;
    } else {
        d->state = YARD__D_COMPLETED;
        d->err = err;
        if (err == 0) {
            if (zmq_msg_init_size(&d->body, size) != 0) {
                abort();
            }
            if (size) {
                memcpy(zmq_msg_data(&d->body), body, size);
            }
        } else {
            d->app_error = s_strdup_or_null(app_error);
            d->text = s_strdup_or_null(text);
        }
        atomic_fetch_add(&d->refs, 1); /* the queue's */
        d->qnext = NULL;
        if (mb->tail) {
            mb->tail->qnext = d;
        } else {
            mb->head = d;
        }
        mb->tail = d;
        uint64_t one = 1;
        ssize_t w = write(mb->efd, &one, sizeof one);
        (void)w; /* a full counter still wakes the replica */
    }
    pthread_mutex_unlock(&mb->lock);
    yard__deferred_unref(d);
    return rc;
}

int
yard_deferred_reply(yard_deferred_t **d_p, const void *body, size_t size)
{
    if (d_p && *d_p && size && !body) {
        return s_complete(d_p, YARD_E_INVALID, NULL, 0, NULL, "deferred reply without body");
    }
    return s_complete(d_p, 0, body, size, NULL, NULL);
}

int
yard_deferred_fail(yard_deferred_t **d_p, int err, const char *app_error, const char *text)
{
    return s_complete(d_p, s_check_err(err), NULL, 0, app_error, text);
}

/* --- test mode --------------------------------------------------------------------------- */

yard_request_t *
yard_request_new_test(const char *service, const char *op, const void *body, size_t size)
{
    yard_request_t *req = calloc(1, sizeof *req);
    size_t sl = service ? strlen(service) : 0, ol = op ? strlen(op) : 0;
    char *st = req ? malloc(sl + ol + size + 2) : NULL;
    if (!req || !st || !msgpack_zone_init(&req->t_zone, 1024)) {
        abort();
    }
    memcpy(st, service ? service : "", sl + 1);
    memcpy(st + sl + 1, op ? op : "", ol + 1);
    if (size) {
        memcpy(st + sl + ol + 2, body, size);
    }
    req->t_storage = st;
    req->service = st;
    req->op = st + sl + 1;
    req->body = st + sl + ol + 2;
    req->body_size = size;
    req->zone = &req->t_zone;
    req->deadline = yard__clock_ms() + 5000;
    req->t_status = 1;
    req->t_mbox = yard__mailbox_new(false);
    req->t_mbox->test_req = req;
    return req;
}

int
yard_request_outcome_test(const yard_request_t *req, const void **body, size_t *size,
                          const char **app_error)
{
    yard__mailbox_t *mb = req->t_mbox;
    pthread_mutex_lock(&mb->lock);
    int status = req->t_status;
    if (body) {
        *body = req->t_body;
    }
    if (size) {
        *size = req->t_size;
    }
    if (app_error) {
        *app_error = req->t_app_error ? req->t_app_error : "";
    }
    pthread_mutex_unlock(&mb->lock);
    return status;
}

void
yard_request_destroy_test(yard_request_t **req_p)
{
    if (!req_p || !*req_p) {
        return;
    }
    yard_request_t *req = *req_p;
    pthread_mutex_lock(&req->t_mbox->lock);
    req->t_mbox->closed = true; /* a token still out now completes with YARD_E_TIMEOUT */
    req->t_mbox->test_req = NULL;
    pthread_mutex_unlock(&req->t_mbox->lock);
    yard__mailbox_unref(&req->t_mbox);
    msgpack_zone_destroy(&req->t_zone);
    free(req->t_body);
    free(req->t_app_error);
    free(req->t_text);
    yard__hdrs_free(&req->hdrs);
    free(req->t_storage);
    free(req);
    *req_p = NULL;
}
