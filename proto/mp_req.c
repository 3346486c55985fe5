/* Request readers (contract: yard/mp.h): the map readers of mp.c applied to a request's body,
 * failing the request with the reader's reason. Copies live in the request's msgpack zone,
 * which the runtime frees when the request ends.
 *
 * Invariant: every reader that returns an error has failed the request first (unless it was
 * already answered), so `return rc` from a handler sends nothing twice. */
#include "actor_internal.h"
#include "mp_internal.h"
#include "yard/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define S_ERR_MAX  256
#define S_STRS_MAX 1024 /* items in a string array read by yard_req_strs */

static const msgpack_object s_empty_map = {.type = MSGPACK_OBJECT_MAP};

static int
s_fail(yard_request_t *req, int rc, const char *why)
{
    yard_request_fail(req, YARD_E_BAD_REQUEST, NULL, why);
    return rc == YARD_E_NOT_FOUND ? YARD_E_BAD_REQUEST : rc;
}

int
yard_req_body_map(yard_request_t *req, const msgpack_object **out)
{
    size_t size = 0;
    const void *body = yard_request_body(req, &size);
    if (size == 0) {
        *out = &s_empty_map;
        return 0;
    }
    const msgpack_object *o = yard_request_object(req);
    char why[S_ERR_MAX];
    if (!o) {
        char reason[160] = "";
        yard_mp_check(body, size, reason, sizeof reason);
        snprintf(why, sizeof why, "the body is not valid msgpack: %s", reason);
        return s_fail(req, YARD_E_BAD_REQUEST, why);
    }
    if (o->type != MSGPACK_OBJECT_MAP) {
        snprintf(why, sizeof why, "the body must be a map, not %s", yard_mp_type_name(o));
        return s_fail(req, YARD_E_BAD_REQUEST, why);
    }
    *out = o;
    return 0;
}

bool
yard_req_has(yard_request_t *req, const char *key)
{
    size_t size = 0;
    yard_request_body(req, &size);
    const msgpack_object *o = size ? yard_request_object(req) : NULL;
    const msgpack_object *v = yard_mp_find(o, key);
    return v && v->type != MSGPACK_OBJECT_NIL;
}

/* What a reader reads. */
typedef enum { S_STR, S_INT, S_RANGE, S_UINT, S_BOOL, S_DOUBLE, S_MAP, S_STRS } s_kind_t;

typedef struct {
    s_kind_t kind;
    int64_t min, max; /* S_RANGE */
    size_t *n;        /* S_STRS */
} s_want_t;

/* Reads key from the body into out (of the type kind says). Returns 0; YARD_E_NOT_FOUND,
 * failing nothing, when it is absent or nil and optional; otherwise fails req with the
 * reason and returns YARD_E_BAD_REQUEST. */
static int
s_read(yard_request_t *req, const char *key, bool optional, s_want_t want, void *out)
{
    const msgpack_object *map;
    char why[S_ERR_MAX];
    int rc = yard_req_body_map(req, &map);
    if (rc) {
        return rc;
    }
    switch (want.kind) {
    case S_STR:
        rc = yard_mp_get_cstr(map, key, req->zone, out, why, sizeof why);
        break;
    case S_INT:
        rc = yard_mp_get_int(map, key, out, why, sizeof why);
        break;
    case S_RANGE:
        rc = yard_mp_get_int_range(map, key, want.min, want.max, out, why, sizeof why);
        break;
    case S_UINT:
        rc = yard_mp_get_uint(map, key, out, why, sizeof why);
        break;
    case S_BOOL:
        rc = yard_mp_get_bool(map, key, out, why, sizeof why);
        break;
    case S_DOUBLE:
        rc = yard_mp_get_double(map, key, out, why, sizeof why);
        break;
    case S_MAP:
        rc = yard_mp_get_map(map, key, out, why, sizeof why);
        break;
    case S_STRS:
        rc = yard_mp_get_strs(map, key, req->zone, S_STRS_MAX, out, want.n, why, sizeof why);
        break;
    }
    if (rc == YARD_E_NOT_FOUND && optional) {
        return rc;
    }
    return rc ? s_fail(req, rc, why) : 0;
}

#define S_WANT(k) ((s_want_t){.kind = (k)})

int
yard_req_str(yard_request_t *req, const char *key, const char **out)
{
    return s_read(req, key, false, S_WANT(S_STR), out);
}

int
yard_req_str_or(yard_request_t *req, const char *key, const char *dflt, const char **out)
{
    int rc = s_read(req, key, true, S_WANT(S_STR), out);
    if (rc == YARD_E_NOT_FOUND) {
        *out = dflt;
        return 0;
    }
    return rc;
}

/* After a string read (rc): its length checked against max. */
static int
s_str_max(yard_request_t *req, int rc, const char *key, size_t max, const char **out)
{
    if (rc == 0 && *out && strlen(*out) > max) {
        char why[S_ERR_MAX];
        yard_mp_field_err(why, sizeof why, key, "must be at most %zu bytes", max);
        return s_fail(req, YARD_E_BAD_REQUEST, why);
    }
    return rc;
}

int
yard_req_str_max(yard_request_t *req, const char *key, size_t max, const char **out)
{
    return s_str_max(req, yard_req_str(req, key, out), key, max, out);
}

int
yard_req_str_max_or(yard_request_t *req, const char *key, size_t max, const char *dflt,
                    const char **out)
{
    return s_str_max(req, yard_req_str_or(req, key, dflt, out), key, max, out);
}

int
yard_req_int(yard_request_t *req, const char *key, int64_t *out)
{
    return s_read(req, key, false, S_WANT(S_INT), out);
}

int
yard_req_int_or(yard_request_t *req, const char *key, int64_t dflt, int64_t *out)
{
    int rc = s_read(req, key, true, S_WANT(S_INT), out);
    if (rc == YARD_E_NOT_FOUND) {
        *out = dflt;
        return 0;
    }
    return rc;
}

int
yard_req_int_range(yard_request_t *req, const char *key, int64_t min, int64_t max, int64_t *out)
{
    return s_read(req, key, false, (s_want_t){.kind = S_RANGE, .min = min, .max = max}, out);
}

int
yard_req_int_range_or(yard_request_t *req, const char *key, int64_t min, int64_t max, int64_t dflt,
                      int64_t *out)
{
    int rc = s_read(req, key, true, (s_want_t){.kind = S_RANGE, .min = min, .max = max}, out);
    if (rc == YARD_E_NOT_FOUND) {
        *out = dflt;
        return 0;
    }
    return rc;
}

int
yard_req_uint(yard_request_t *req, const char *key, uint64_t *out)
{
    return s_read(req, key, false, S_WANT(S_UINT), out);
}

int
yard_req_uint_or(yard_request_t *req, const char *key, uint64_t dflt, uint64_t *out)
{
    int rc = s_read(req, key, true, S_WANT(S_UINT), out);
    if (rc == YARD_E_NOT_FOUND) {
        *out = dflt;
        return 0;
    }
    return rc;
}

int
yard_req_bool(yard_request_t *req, const char *key, bool *out)
{
    return s_read(req, key, false, S_WANT(S_BOOL), out);
}

int
yard_req_bool_or(yard_request_t *req, const char *key, bool dflt, bool *out)
{
    int rc = s_read(req, key, true, S_WANT(S_BOOL), out);
    if (rc == YARD_E_NOT_FOUND) {
        *out = dflt;
        return 0;
    }
    return rc;
}

int
yard_req_double(yard_request_t *req, const char *key, double *out)
{
    return s_read(req, key, false, S_WANT(S_DOUBLE), out);
}

int
yard_req_double_or(yard_request_t *req, const char *key, double dflt, double *out)
{
    int rc = s_read(req, key, true, S_WANT(S_DOUBLE), out);
    if (rc == YARD_E_NOT_FOUND) {
        *out = dflt;
        return 0;
    }
    return rc;
}

int
yard_req_strs(yard_request_t *req, const char *key, const char *const **out, size_t *n)
{
    return s_read(req, key, false, (s_want_t){.kind = S_STRS, .n = n}, out);
}

int
yard_req_strs_or_none(yard_request_t *req, const char *key, const char *const **out, size_t *n)
{
    static const char *const none[1] = {NULL};
    int rc = s_read(req, key, true, (s_want_t){.kind = S_STRS, .n = n}, out);
    if (rc == YARD_E_NOT_FOUND) {
        *out = none;
        *n = 0;
        return 0;
    }
    return rc;
}

int
yard_req_map(yard_request_t *req, const char *key, const msgpack_object **out)
{
    return s_read(req, key, false, S_WANT(S_MAP), out);
}

int
yard_req_fail_field(yard_request_t *req, const char *key, const char *fmt, ...)
{
    char what[S_ERR_MAX], why[S_ERR_MAX + 80];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    yard_mp_field_err(why, sizeof why, key, "%s", what);
    return s_fail(req, YARD_E_BAD_REQUEST, why);
}
