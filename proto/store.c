/* The state store's front: parses the URL, opens the matching backend and dispatches every
 * call through the backend's table. The front holds no state of its own besides the table and
 * the backend's handle, so thread safety is entirely the backend's (each guards itself). */
#include "yard/store.h"

#include "store_internal.h"
#include "yard/error.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct yard_store {
    const yard__store_ops_t *ops;
    void *impl;
};

char *
yard__store_dup(const void *val, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        abort();
    }
    if (len > 0) {
        memcpy(copy, val, len);
    }
    copy[len] = '\0';
    return copy;
}

/* Parses a decimal number of at most max from [s, end). */
static bool
s_number(const char *s, const char *end, long max, long *out)
{
    if (s == end || end - s > 10) {
        return false;
    }
    long v = 0;
    for (const char *p = s; p < end; p++) {
        if (!isdigit((unsigned char)*p)) {
            return false;
        }
        v = v * 10 + (*p - '0');
    }
    if (v > max) {
        return false;
    }
    *out = v;
    return true;
}

/* "redis://host[:port][/db]"; host may be "[v6addr]". Port defaults to 6379, db to 0. */
static int
s_parse_redis(const char *rest, char **host, int *port, int *db)
{
    const char *slash = strchr(rest, '/');
    const char *hp_end = slash != NULL ? slash : rest + strlen(rest);
    const char *host_start = rest, *host_end, *colon;
    if (*rest == '[') {
        host_start = rest + 1;
        host_end = memchr(host_start, ']', (size_t)(hp_end - host_start));
        if (host_end == NULL) {
            return YARD_E_CONFIG;
        }
        colon = host_end + 1 < hp_end && host_end[1] == ':' ? host_end + 1 : NULL;
        if (colon == NULL && host_end + 1 != hp_end) {
            return YARD_E_CONFIG;
        }
    } else {
        colon = memchr(rest, ':', (size_t)(hp_end - rest));
        host_end = colon != NULL ? colon : hp_end;
    }
    if (host_end == host_start) {
        return YARD_E_CONFIG;
    }
    long p = 6379, d = 0;
    if (colon != NULL && (!s_number(colon + 1, hp_end, 65535, &p) || p == 0)) {
        return YARD_E_CONFIG;
    }
    if (slash != NULL && slash[1] != '\0' &&
        !s_number(slash + 1, slash + strlen(slash), 1000000, &d)) {
        return YARD_E_CONFIG;
    }
    *host = yard__store_dup(host_start, (size_t)(host_end - host_start));
    *port = (int)p;
    *db = (int)d;
    return 0;
}

int
yard_store_open(const char *url, yard_store_t **out)
{
    *out = NULL;
    if (url == NULL) {
        return YARD_E_CONFIG;
    }
    const yard__store_ops_t *ops = NULL;
    void *impl = NULL;
    int rc;
    static const char redis[] = "redis://";
    if (strcmp(url, "memory") == 0 || strcmp(url, "memory://") == 0) {
        rc = yard__store_memory_open(&ops, &impl);
    } else if (strncmp(url, redis, sizeof redis - 1) == 0) {
        char *host = NULL;
        int port = 0, db = 0;
        rc = s_parse_redis(url + sizeof redis - 1, &host, &port, &db);
        if (rc == 0) {
            rc = yard__store_redis_open(host, port, db, &ops, &impl);
        }
        free(host);
    } else {
        rc = YARD_E_CONFIG;
    }
    if (rc != 0) {
        return rc;
    }
    yard_store_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        abort();
    }
    self->ops = ops;
    self->impl = impl;
    *out = self;
    return 0;
}

void
yard_store_destroy(yard_store_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    yard_store_t *self = *self_p;
    self->ops->destroy(self->impl);
    free(self);
    *self_p = NULL;
}

bool
yard_store_shared(const yard_store_t *self)
{
    return self->ops->shared;
}

int
yard_store_get(yard_store_t *self, const char *key, char **val, size_t *len)
{
    assert(self != NULL && key != NULL && val != NULL);
    size_t ignored;
    *val = NULL;
    return self->ops->get(self->impl, key, val, len != NULL ? len : &ignored);
}

int
yard_store_set(yard_store_t *self, const char *key, const void *val, size_t len, uint32_t ttl_ms)
{
    assert(self != NULL && key != NULL && (val != NULL || len == 0));
    return self->ops->set(self->impl, key, val != NULL ? val : "", len, ttl_ms);
}

int
yard_store_set_nx(yard_store_t *self, const char *key, const void *val, size_t len, uint32_t ttl_ms)
{
    assert(self != NULL && key != NULL && (val != NULL || len == 0));
    return self->ops->set_nx(self->impl, key, val != NULL ? val : "", len, ttl_ms);
}

int
yard_store_del(yard_store_t *self, const char *key)
{
    assert(self != NULL && key != NULL);
    return self->ops->del(self->impl, key);
}

int
yard_store_del_if(yard_store_t *self, const char *key, const void *val, size_t len)
{
    assert(self != NULL && key != NULL && (val != NULL || len == 0));
    return self->ops->del_if(self->impl, key, val != NULL ? val : "", len);
}

int
yard_store_incr(yard_store_t *self, const char *key, int64_t by, int64_t *out)
{
    assert(self != NULL && key != NULL);
    int64_t ignored;
    return self->ops->incr(self->impl, key, by, out != NULL ? out : &ignored);
}
