/* A replica's held deferred tokens: the list of requests a handler deferred and has not
 * answered yet, the mailbox where completed tokens arrive from other threads, and their
 * deadlines.
 *
 * Invariant: each held token is answered exactly once, by whichever of the mailbox (the
 * holder completed it) and the expiry (the deadline or the stop passed) wins the token's
 * state under the mailbox lock; the loser only drops its reference. Runs on the replica
 * thread only. */
#include "actor_internal.h"
#include "yard/error.h"

#include <unistd.h>

void
yard__rt_hold(yard__rt_replica_t *rep, yard_deferred_t *d)
{
    d->mbox = rep->mbox;
    atomic_fetch_add(&rep->mbox->refs, 1);
    d->prev = NULL;
    d->next = rep->held;
    if (rep->held) {
        rep->held->prev = d;
    }
    rep->held = d;
    rep->n_held++;
    if (d->deadline < rep->next_expiry) {
        rep->next_expiry = d->deadline;
    }
}

static void
s_unhold(yard__rt_replica_t *rep, yard_deferred_t *d)
{
    if (d->prev) {
        d->prev->next = d->next;
    } else {
        rep->held = d->next;
    }
    if (d->next) {
        d->next->prev = d->prev;
    }
    d->prev = d->next = NULL;
    rep->n_held--;
    yard__deferred_unref(d); /* the runtime's reference */
}

/* Answers the completed tokens waiting in the mailbox. With close_box, also closes it so that
 * later completions are refused. */
void
yard__rt_drain_mailbox(yard__rt_replica_t *rep, bool close_box)
{
    yard__mailbox_t *mb = rep->mbox;
    uint64_t count;
    ssize_t r = read(mb->efd, &count, sizeof count);
    (void)r; /* EAGAIN: nothing was signalled, the queue is checked anyway */
    pthread_mutex_lock(&mb->lock);
    yard_deferred_t *q = mb->head;
    mb->head = mb->tail = NULL;
    if (close_box) {
        mb->closed = true;
    }
    pthread_mutex_unlock(&mb->lock);
    while (q) {
        yard_deferred_t *d = q;
        q = d->qnext;
        zmq_msg_t *body = d->err == 0 ? &d->body : NULL;
        yard__rt_answer(rep, d->link, d->gen, d->id, d->err, d->app_error, d->text, d->hdrs, body);
        s_unhold(rep, d);
        yard__deferred_unref(d); /* the queue's reference */
    }
}

/* Answers TIMEOUT for held tokens past their deadline (all of them with everything). */
void
yard__rt_expire(yard__rt_replica_t *rep, int64_t now, bool everything)
{
    if (!everything && now < rep->next_expiry) {
        return;
    }
    int64_t next = YARD__RT_NEVER;
    for (yard_deferred_t *d = rep->held, *nx; d; d = nx) {
        nx = d->next;
        if (!everything && d->deadline > now) {
            next = d->deadline < next ? d->deadline : next;
            continue;
        }
        pthread_mutex_lock(&rep->mbox->lock);
        bool mine = d->state == YARD__D_PENDING;
        if (mine) {
            d->state = YARD__D_EXPIRED;
        }
        pthread_mutex_unlock(&rep->mbox->lock);
        if (!mine) {
            continue; /* completed: the mailbox answers it */
        }
        yard__rt_answer(rep, d->link, d->gen, d->id, YARD_E_TIMEOUT, NULL,
                        everything ? "the replica stopped before the handler answered"
                                   : "the handler did not answer before the deadline",
                        NULL, NULL);
        s_unhold(rep, d);
    }
    rep->next_expiry = next;
}
