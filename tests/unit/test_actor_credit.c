/* The replica's shared credit (proto/actor_credit.c): the shares at start, and a simulation
 * of brokers and a replica exchanging READYs, requests, answers and heartbeats in random
 * order, with broker restarts, checking at every step that the replica never holds more than
 * its credit, and at the end that every waiting request was served. */
#include "../../proto/actor_credit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define S_LINKS 3
#define S_QCAP  4096

static void
test_initial_shares(void **state)
{
    (void)state;
    yard__credit_t l[3];
    yard__credit_init(l, 3, 64);
    assert_int_equal(l[0].offer + l[1].offer + l[2].offer, 64);
    assert_true(l[0].offer >= 21 && l[2].offer >= 21);
    yard__credit_init(l, 3, 2); /* less credit than brokers: some get none, never more */
    assert_int_equal(l[0].offer + l[1].offer + l[2].offer, 2);
    yard__credit_init(l, 1, 5);
    assert_int_equal(l[0].offer, 5);
}

static void
test_shrink_counts_until_answered(void **state)
{
    (void)state;
    yard__credit_t l[2];
    yard__credit_init(l, 2, 8);
    for (size_t i = 0; i < 2; i++) {
        l[i].live = true;
        yard__credit_acked(&l[i], yard__credit_ready(l, 2, i, 8));
    }
    /* Link 0 is used up; link 1 idle: link 1 gives half of what it does not use, but the
     * credit reaches link 0 only after link 1's broker answered the lower READY. */
    for (int k = 0; k < 4; k++) {
        yard__credit_took(&l[0]);
    }
    yard__credit_balance(l, 2, 8);
    assert_true(l[1].ready_due);
    assert_int_equal(l[1].offer, 2);
    assert_int_equal(yard__credit_ready(l, 2, 1, 8), 2);
    assert_int_equal(yard__credit_reserved(&l[1]), 4);
    yard__credit_balance(l, 2, 8);
    assert_int_equal(l[0].offer, 4); /* nothing free yet */
    yard__credit_acked(&l[1], 2);
    yard__credit_balance(l, 2, 8);
    assert_int_equal(l[0].offer, 6);
    assert_true(l[0].ready_due);
}

/* --- the simulation ----------------------------------------------------------------------- */

enum { M_READY, M_ANSWER, M_REQUEST, M_ACK, M_HEARTBEAT };

typedef struct {
    int kind;
    uint32_t value; /* READY/ACK credit, REQUEST/ANSWER id, HEARTBEAT queue */
    uint32_t epoch; /* the broker's life it belongs to */
} s_m_t;

typedef struct {
    s_m_t m[S_QCAP];
    size_t head, n;
} s_q_t;

typedef struct {
    uint32_t credit, held, queued, epoch;
    uint32_t ids[S_QCAP]; /* ids it sent and has not seen answered */
    size_t nids;
    s_q_t to_broker, to_replica;
} s_broker_t;

typedef struct {
    uint32_t id, gen, epoch;
    int link;
} s_work_t;

static void
s_push(s_q_t *q, int kind, uint32_t value, uint32_t epoch)
{
    assert_true(q->n < S_QCAP);
    q->m[(q->head + q->n++) % S_QCAP] = (s_m_t){kind, value, epoch};
}

static s_m_t
s_pop(s_q_t *q)
{
    s_m_t m = q->m[q->head];
    q->head = (q->head + 1) % S_QCAP;
    q->n--;
    return m;
}

static void
s_broker_step(s_broker_t *b, uint32_t *next_id)
{
    if (b->to_broker.n && rand() % 2) {
        s_m_t m = s_pop(&b->to_broker);
        if (m.epoch != b->epoch) {
            return; /* sent to its earlier life: lost with it */
        }
        if (m.kind == M_READY) {
            b->credit = m.value;
            s_push(&b->to_replica, M_ACK, m.value, b->epoch);
        } else {
            for (size_t i = 0; i < b->nids; i++) {
                if (b->ids[i] == m.value) {
                    b->ids[i] = b->ids[--b->nids];
                    b->held--;
                    break;
                }
            }
        }
        return;
    }
    if (b->queued && b->held < b->credit) {
        uint32_t id = (*next_id)++;
        b->ids[b->nids++] = id;
        b->held++;
        b->queued--;
        s_push(&b->to_replica, M_REQUEST, id, b->epoch);
    }
}

static void
s_simulate(uint32_t total, unsigned seed, int steps)
{
    srand(seed);
    s_broker_t *b = calloc(S_LINKS, sizeof *b);
    yard__credit_t l[S_LINKS];
    s_work_t work[S_QCAP];
    size_t nwork = 0;
    uint32_t next_id = 1, epochs[S_LINKS] = {0};
    yard__credit_init(l, S_LINKS, total);
    for (int i = 0; i < S_LINKS; i++) {
        l[i].live = true;
        yard__credit_forget(l, S_LINKS, (size_t)i, total);
        s_push(&b[i].to_broker, M_READY, yard__credit_ready(l, S_LINKS, (size_t)i, total), 0);
    }
    for (int step = 0; step < steps || nwork || b[0].queued || b[1].queued || b[2].queued; step++) {
        if (step >= steps + 2000000) {
            fprintf(stderr, "stuck total=%u seed=%u nwork=%zu\n", total, seed, nwork);
            for (int j = 0; j < S_LINKS; j++) {
                fprintf(stderr,
                        " link %d: offer %u acked %u nsent %u held %u stale %u demand %u live %d "
                        "due %d | "
                        "broker credit %u held %u queued %u tb %zu tr %zu\n",
                        j, l[j].offer, l[j].acked, l[j].n_sent, l[j].held, l[j].stale, l[j].demand,
                        l[j].live, l[j].ready_due, b[j].credit, b[j].held, b[j].queued,
                        b[j].to_broker.n, b[j].to_replica.n);
            }
        }
        assert_true(step < steps + 2000000); /* everything waiting gets served */
        int i = rand() % S_LINKS;
        int what = rand() % 10;
        if (step < steps && what == 0 && rand() % 8 == 0) {
            b[i].queued += (uint32_t)(rand() % (i == 0 ? 16 : 3)); /* uneven load */
        } else if (step < steps && what == 1 && rand() % 50 == 0) {
            /* The broker restarts: it forgets everything; the replica hears DISCONNECT. */
            b[i].epoch++;
            b[i].credit = b[i].held = 0;
            b[i].nids = 0;
            b[i].to_broker.n = b[i].to_replica.n = 0;
            epochs[i] = b[i].epoch;
            yard__credit_forget(l, S_LINKS, (size_t)i, total);
            s_push(&b[i].to_broker, M_READY, yard__credit_ready(l, S_LINKS, (size_t)i, total),
                   b[i].epoch);
        } else if (what <= 4) {
            s_broker_step(&b[i], &next_id);
        } else if (what <= 6 && b[i].to_replica.n) {
            s_m_t m = s_pop(&b[i].to_replica);
            if (m.kind == M_REQUEST) {
                uint32_t gen = yard__credit_took(&l[i]);
                work[nwork++] = (s_work_t){m.value, gen, m.epoch, i};
                assert_true(nwork <= total); /* the point of it all */
            } else if (m.kind == M_ACK) {
                yard__credit_acked(&l[i], m.value);
            } else {
                yard__credit_demand(&l[i], m.value);
            }
        } else if (what == 7 && nwork) {
            size_t k = (size_t)rand() % nwork;
            s_work_t w = work[k];
            work[k] = work[--nwork];
            yard__credit_gave(&l[w.link], w.gen);
            s_push(&b[w.link].to_broker, M_ANSWER, w.id, epochs[w.link]);
        } else if (what == 8) {
            s_push(&b[i].to_replica, M_HEARTBEAT, b[i].queued, b[i].epoch);
        } else {
            yard__credit_balance(l, S_LINKS, total);
            for (size_t j = 0; j < S_LINKS; j++) {
                if (l[j].ready_due) {
                    s_push(&b[j].to_broker, M_READY, yard__credit_ready(l, S_LINKS, j, total),
                           epochs[j]);
                }
            }
        }
    }
    free(b);
}

static void
test_never_more_than_the_credit(void **state)
{
    (void)state;
    uint32_t totals[] = {1, 2, 3, 5, 16, 64};
    for (unsigned seed = 1; seed <= 20; seed++) {
        for (size_t t = 0; t < sizeof totals / sizeof *totals; t++) {
            s_simulate(totals[t], seed * 7919u + (unsigned)t, 20000);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initial_shares),
        cmocka_unit_test(test_shrink_counts_until_answered),
        cmocka_unit_test(test_never_more_than_the_credit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
