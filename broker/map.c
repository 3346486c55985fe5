/* Open-addressing hash map from a byte-string key to an item that holds its own key
 * (services by name, peers by routing id). Linear probing at most half full, deletion by
 * backward shift (no tombstones), so a lookup touches a few adjacent slots and the table
 * never degrades. It allocates only when it grows past half full or shrinks below an eighth
 * (to half its size: a quarter full, so that a count moving around one size never rehashes
 * back and forth), so that a table a flood of peers grew does not keep its size after. */
#include "broker_priv.h"

#include <stdlib.h>
#include <string.h>

#define S_MIN_CAP 64u

uint32_t
yard__hash(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h ^ (h >> 15);
}

void
yard__map_init(yard__map_t *m, yard__key_fn key_of)
{
    m->cap = S_MIN_CAP;
    m->count = 0;
    m->key_of = key_of;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        abort();
    }
}

void
yard__map_fini(yard__map_t *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

void *
yard__map_get(const yard__map_t *m, const void *key, size_t len, uint32_t hash)
{
    uint32_t mask = m->cap - 1;
    for (uint32_t i = hash & mask;; i = (i + 1) & mask) {
        const yard__slot_t *s = &m->slots[i];
        if (!s->val) {
            return NULL;
        }
        if (s->hash == hash) {
            yard_str_t k = m->key_of(s->val);
            if (k.len == len && memcmp(k.ptr, key, len) == 0) {
                return s->val;
            }
        }
    }
}

static void
s_insert(yard__slot_t *slots, uint32_t cap, void *val, uint32_t hash)
{
    uint32_t mask = cap - 1;
    uint32_t i = hash & mask;
    while (slots[i].val) {
        i = (i + 1) & mask;
    }
    slots[i].hash = hash;
    slots[i].val = val;
}

static void
s_resize(yard__map_t *m, uint32_t cap)
{
    yard__slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots) {
        abort();
    }
    for (uint32_t i = 0; i < m->cap; i++) {
        if (m->slots[i].val) {
            s_insert(slots, cap, m->slots[i].val, m->slots[i].hash);
        }
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
}

void
yard__map_put(yard__map_t *m, void *val, uint32_t hash)
{
    if ((m->count + 1) * 2 > m->cap) {
        s_resize(m, m->cap * 2);
    }
    s_insert(m->slots, m->cap, val, hash);
    m->count++;
}

void
yard__map_del(yard__map_t *m, const void *val, uint32_t hash)
{
    uint32_t mask = m->cap - 1;
    uint32_t i = hash & mask;
    while (m->slots[i].val != val) {
        if (!m->slots[i].val) {
            return; /* not present */
        }
        i = (i + 1) & mask;
    }
    /* Backward shift: pull later entries of the run into the hole when their home allows. */
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask; m->slots[j].val; j = (j + 1) & mask) {
        uint32_t home = m->slots[j].hash & mask;
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].val = NULL;
    m->slots[hole].hash = 0;
    m->count--;
    if (m->cap > S_MIN_CAP && m->count * 8 < m->cap) {
        s_resize(m, m->cap / 2);
    }
}
