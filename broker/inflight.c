/* Request slots: every request the broker accepted lives in one slot from acceptance until
 * its single answer (and, if it timed out while a replica held it, until that replica
 * answers or dies, so its credit comes back). Slots come in fixed chunks that never move
 * (a zmq_msg_t must not be relocated behind libzmq's back) and are recycled through a free
 * list: no allocation per message once warm. A slot's wire id is (generation << 32 | index),
 * so a stale or forged id is detected without a hash lookup. The deadline heap is indexed
 * (each slot knows its position) so an answered request leaves it at once: the heap never
 * holds more than the requests open. */
#include "broker_priv.h"

#include <stdlib.h>

void
yard__pool_init(yard__pool_t *p, uint32_t max)
{
    *p = (yard__pool_t){.max = max, .free_head = YARD__NIL};
    p->max_chunks = (max + YARD__CHUNK - 1) / YARD__CHUNK;
    p->chunks = calloc(p->max_chunks, sizeof *p->chunks);
    if (!p->chunks) {
        abort();
    }
}

void
yard__pool_fini(yard__pool_t *p)
{
    for (uint32_t c = 0; c < p->nchunks; c++) {
        for (uint32_t i = 0; i < YARD__CHUNK; i++) {
            yard__req_t *r = &p->chunks[c][i];
            zmq_msg_close(&r->rid);
            zmq_msg_close(&r->hdr);
            zmq_msg_close(&r->body);
        }
        free(p->chunks[c]);
    }
    free(p->chunks);
    free(p->heap);
    *p = (yard__pool_t){0};
}

static bool
s_add_chunk(yard__pool_t *p)
{
    if (p->nchunks == p->max_chunks) {
        return false;
    }
    yard__req_t *chunk = calloc(YARD__CHUNK, sizeof *chunk);
    if (!chunk) {
        abort();
    }
    uint32_t base = p->nchunks * YARD__CHUNK;
    for (uint32_t i = YARD__CHUNK; i-- > 0;) {
        yard__req_t *r = &chunk[i];
        r->idx = base + i;
        r->gen = 1;
        r->heap_pos = YARD__NIL;
        zmq_msg_init(&r->rid);
        zmq_msg_init(&r->hdr);
        zmq_msg_init(&r->body);
        r->next = p->free_head;
        p->free_head = r->idx;
    }
    p->chunks[p->nchunks++] = chunk;
    p->cap += YARD__CHUNK;
    return true;
}

yard__req_t *
yard__req_at(const yard__pool_t *p, uint32_t idx)
{
    return &p->chunks[idx >> YARD__CHUNK_BITS][idx & (YARD__CHUNK - 1)];
}

yard__req_t *
yard__req_alloc(yard__pool_t *p)
{
    if (p->live >= p->max || (p->free_head == YARD__NIL && !s_add_chunk(p))) {
        return NULL;
    }
    yard__req_t *r = yard__req_at(p, p->free_head);
    p->free_head = r->next;
    p->live++;
    r->prev = r->next = YARD__NIL;
    r->svc = NULL;
    r->replica = NULL;
    r->flags = 0;
    r->sensitive = false;
    r->client_id = 0;
    return r;
}

void
yard__req_free(yard__pool_t *p, yard__req_t *r)
{
    if (r->heap_pos != YARD__NIL) {
        yard__heap_remove(p, r);
    }
    /* close + init empties a frame; for a moved-out (empty) frame it costs nothing */
    zmq_msg_close(&r->rid);
    zmq_msg_close(&r->hdr);
    zmq_msg_close(&r->body);
    zmq_msg_init(&r->rid);
    zmq_msg_init(&r->hdr);
    zmq_msg_init(&r->body);
    r->state = YARD__REQ_FREE;
    r->gen = r->gen == UINT32_MAX ? 1 : r->gen + 1;
    r->next = p->free_head;
    p->free_head = r->idx;
    p->live--;
}

uint64_t
yard__req_id(const yard__req_t *r)
{
    return ((uint64_t)r->gen << 32) | r->idx;
}

yard__req_t *
yard__req_by_id(const yard__pool_t *p, uint64_t id)
{
    uint32_t idx = (uint32_t)id;
    if (idx >= p->cap) {
        return NULL;
    }
    yard__req_t *r = yard__req_at(p, idx);
    if (r->gen != (uint32_t)(id >> 32) || r->state == YARD__REQ_FREE) {
        return NULL;
    }
    return r;
}

/* --- deadline heap ---------------------------------------------------------------------- */

static uint64_t
s_key(const yard__pool_t *p, uint32_t i)
{
    return yard__req_at(p, p->heap[i])->deadline;
}

static void
s_place(yard__pool_t *p, uint32_t i, uint32_t idx)
{
    p->heap[i] = idx;
    yard__req_at(p, idx)->heap_pos = i;
}

static void
s_sift_up(yard__pool_t *p, uint32_t i)
{
    uint32_t idx = p->heap[i];
    uint64_t key = yard__req_at(p, idx)->deadline;
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (s_key(p, parent) <= key) {
            break;
        }
        s_place(p, i, p->heap[parent]);
        i = parent;
    }
    s_place(p, i, idx);
}

static void
s_sift_down(yard__pool_t *p, uint32_t i)
{
    uint32_t idx = p->heap[i];
    uint64_t key = yard__req_at(p, idx)->deadline;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= p->heap_len) {
            break;
        }
        if (c + 1 < p->heap_len && s_key(p, c + 1) < s_key(p, c)) {
            c++;
        }
        if (key <= s_key(p, c)) {
            break;
        }
        s_place(p, i, p->heap[c]);
        i = c;
    }
    s_place(p, i, idx);
}

void
yard__heap_push(yard__pool_t *p, yard__req_t *r)
{
    if (p->heap_len == p->heap_cap) {
        yard__grow((void **)&p->heap, &p->heap_cap, p->heap_len + 1, sizeof *p->heap);
    }
    p->heap[p->heap_len++] = r->idx;
    s_sift_up(p, p->heap_len - 1);
}

void
yard__heap_remove(yard__pool_t *p, yard__req_t *r)
{
    uint32_t i = r->heap_pos;
    r->heap_pos = YARD__NIL;
    uint32_t last = p->heap[--p->heap_len];
    if (i == p->heap_len) {
        return;
    }
    s_place(p, i, last);
    s_sift_up(p, i);
    s_sift_down(p, yard__req_at(p, last)->heap_pos);
}

yard__req_t *
yard__heap_top(const yard__pool_t *p)
{
    return p->heap_len ? yard__req_at(p, p->heap[0]) : NULL;
}

/* --- intrusive lists (a service's queue, a replica's held requests) --------------------- */

void
yard__list_init(yard__list_t *l)
{
    l->head = l->tail = YARD__NIL;
    l->count = 0;
}

void
yard__list_push_back(yard__pool_t *p, yard__list_t *l, yard__req_t *r)
{
    r->next = YARD__NIL;
    r->prev = l->tail;
    if (l->tail != YARD__NIL) {
        yard__req_at(p, l->tail)->next = r->idx;
    } else {
        l->head = r->idx;
    }
    l->tail = r->idx;
    l->count++;
}

void
yard__list_push_front(yard__pool_t *p, yard__list_t *l, yard__req_t *r)
{
    r->prev = YARD__NIL;
    r->next = l->head;
    if (l->head != YARD__NIL) {
        yard__req_at(p, l->head)->prev = r->idx;
    } else {
        l->tail = r->idx;
    }
    l->head = r->idx;
    l->count++;
}

void
yard__list_remove(yard__pool_t *p, yard__list_t *l, yard__req_t *r)
{
    if (r->prev != YARD__NIL) {
        yard__req_at(p, r->prev)->next = r->next;
    } else {
        l->head = r->next;
    }
    if (r->next != YARD__NIL) {
        yard__req_at(p, r->next)->prev = r->prev;
    } else {
        l->tail = r->prev;
    }
    r->prev = r->next = YARD__NIL;
    l->count--;
}

yard__req_t *
yard__list_head(const yard__pool_t *p, const yard__list_t *l)
{
    return l->head == YARD__NIL ? NULL : yard__req_at(p, l->head);
}
