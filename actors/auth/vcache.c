/* The verified-token cache (vcache.h). */
#include "vcache.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char hash[16];
    bool used;
    auth_claims_t claims;
} s_slot_t;

struct auth_vcache {
    s_slot_t *slots;
    size_t n;
};

auth_vcache_t *
auth_vcache_new(size_t slots)
{
    auth_vcache_t *self = calloc(1, sizeof *self);
    if (!self || sodium_init() < 0) {
        abort();
    }
    self->n = slots ? slots : 1;
    self->slots = calloc(self->n, sizeof *self->slots);
    if (!self->slots) {
        abort();
    }
    return self;
}

void
auth_vcache_destroy(auth_vcache_t **self_p)
{
    auth_vcache_t *self = self_p ? *self_p : NULL;
    if (!self) {
        return;
    }
    free(self->slots);
    free(self);
    *self_p = NULL;
}

static s_slot_t *
s_slot(auth_vcache_t *self, const char *token, unsigned char hash[16])
{
    crypto_generichash(hash, 16, (const unsigned char *)token, strlen(token), NULL, 0);
    uint64_t h;
    memcpy(&h, hash, sizeof h);
    return &self->slots[h % self->n];
}

bool
auth_vcache_get(auth_vcache_t *self, const auth_keyset_t *ks, const char *token,
                const auth_verify_opts_t *o, auth_claims_t *out)
{
    unsigned char hash[16];
    s_slot_t *s = s_slot(self, token, hash);
    if (!s->used || sodium_memcmp(s->hash, hash, sizeof hash) != 0) {
        return false;
    }
    const auth_claims_t *c = &s->claims;
    if (o->now > c->exp + o->leeway_s || (o->typ && strcmp(o->typ, c->typ) != 0) ||
        !auth_keyset_find(ks, c->kid, o->now)) {
        return false;
    }
    *out = *c;
    return true;
}

void
auth_vcache_put(auth_vcache_t *self, const char *token, const auth_claims_t *c)
{
    unsigned char hash[16];
    s_slot_t *s = s_slot(self, token, hash);
    memcpy(s->hash, hash, sizeof hash);
    s->claims = *c;
    s->used = true;
}
