/* Leases on the state store (see yard/lease.h). The invariant: valid_until is never later than
 * the moment the key can expire on the server, because it counts the TTL from a time taken
 * before the command that set or renewed the key was sent, less a margin for clock rates. */
#include "alloc_internal.h"
#include "yard/lease.h"

#include "msg_internal.h"
#include "store_internal.h"
#include "yard/assert.h"
#include "yard/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_RANDOM_BYTES 16 /* 128 bits: two holders never draw the same token */
#define S_TOKEN_MAX    (2 * S_RANDOM_BYTES + 1 + 64 + 1 + 20 + 1)

struct yard_lease {
    yard_store_t *store; /* borrowed */
    char *name;
    uint32_t ttl_ms;
    char token[S_TOKEN_MAX];
    size_t token_len;
    int64_t valid_until; /* CLOCK_MONOTONIC ms; 0: not held */
};

/* The part of the TTL a holder may count on: less 1% and 2 ms, as Redlock allows for drift. */
static int64_t
s_validity_ms(uint32_t ttl_ms)
{
    return (int64_t)ttl_ms - (int64_t)ttl_ms / 100 - 2;
}

int
yard_lease_new(yard_store_t *store, const char *name, uint32_t ttl_ms, yard_lease_t **out)
{
    *out = NULL;
    if (store == NULL || name == NULL || name[0] == '\0' || strlen(name) > YARD_LEASE_NAME_MAX ||
        ttl_ms < YARD_LEASE_TTL_MIN || ttl_ms > YARD_LEASE_TTL_MAX) {
        return YARD_E_INVALID;
    }
    yard_lease_t *self = yard__xcalloc(1, sizeof *self);
    self->store = store;
    self->name = yard__store_dup(name, strlen(name));
    self->ttl_ms = ttl_ms;
    char rnd[2 * S_RANDOM_BYTES + 1];
    yard__store_random_hex(rnd, S_RANDOM_BYTES);
    char host[65] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0) {
        snprintf(host, sizeof host, "localhost");
    }
    int n = snprintf(self->token, sizeof self->token, "%s/%s/%ld", rnd, host, (long)getpid());
    self->token_len = n < 0                            ? 0
                      : (size_t)n < sizeof self->token ? (size_t)n
                                                       : sizeof self->token - 1;
    *out = self;
    return 0;
}

void
yard_lease_destroy(yard_lease_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    free((*self_p)->name);
    free(*self_p);
    *self_p = NULL;
}

/* Records a successful set or renewal made with a command sent at sent_ms. */
static void
s_held_from(yard_lease_t *self, int64_t sent_ms)
{
    int64_t until = sent_ms + s_validity_ms(self->ttl_ms);
    self->valid_until = until > 0 ? until : 1;
}

int
yard_lease_acquire(yard_lease_t *self)
{
    YARD_ASSERT(self != NULL);
    int64_t sent = yard__clock_ms();
    int rc = yard_store_set_nx(self->store, self->name, self->token, self->token_len, self->ttl_ms);
    if (rc == 1) {
        s_held_from(self, sent);
        return 1;
    }
    if (rc < 0) {
        return rc;
    }
    /* Taken: by us already (an earlier acquire whose answer was lost, or a held lease), in
     * which case the renewal succeeds, or by someone else. */
    return yard_lease_renew(self);
}

int
yard_lease_renew(yard_lease_t *self)
{
    YARD_ASSERT(self != NULL);
    int64_t sent = yard__clock_ms();
    int rc =
        yard_store_pexpire_if(self->store, self->name, self->token, self->token_len, self->ttl_ms);
    if (rc == 1) {
        s_held_from(self, sent);
    } else if (rc == 0 || rc == YARD_E_INVALID) {
        self->valid_until = 0; /* lapsed, or the key was taken or overwritten */
        rc = 0;
    }
    return rc;
}

int
yard_lease_release(yard_lease_t *self)
{
    YARD_ASSERT(self != NULL);
    self->valid_until = 0; /* the work stops now, whatever the store says */
    int rc = yard_store_del_if(self->store, self->name, self->token, self->token_len);
    return rc == YARD_E_INVALID ? 0 : rc;
}

bool
yard_lease_held(const yard_lease_t *self, int64_t now_ms)
{
    return self != NULL && self->valid_until != 0 && now_ms < self->valid_until;
}

int64_t
yard_lease_valid_until(const yard_lease_t *self)
{
    return self->valid_until;
}

const char *
yard_lease_name(const yard_lease_t *self)
{
    return self->name;
}

uint32_t
yard_lease_ttl_ms(const yard_lease_t *self)
{
    return self->ttl_ms;
}

const char *
yard_lease_token(const yard_lease_t *self)
{
    return self->token;
}
