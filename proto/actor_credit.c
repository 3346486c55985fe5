/* A replica's credit shared over its links (see actor_credit.h for the rules). Everything here
 * is arithmetic on the replica thread's own counters: the replica sends the READYs. */
#include "actor_credit.h"

static uint32_t
s_max(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

static uint32_t
s_min(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

uint32_t
yard__credit_reserved(const yard__credit_t *l)
{
    /* What it holds counts too: a share lowered below it is answered after those requests
     * arrived, and they still run. */
    uint32_t r = s_max(l->acked, l->held);
    for (uint32_t i = 0; i < l->n_sent; i++) {
        r = s_max(r, l->sent[i]);
    }
    return r + l->stale;
}

static uint32_t
s_reserved_all(const yard__credit_t *links, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += yard__credit_reserved(&links[i]);
    }
    return sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}

void
yard__credit_init(yard__credit_t *links, size_t n, uint32_t total)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t share = (uint32_t)(total / n + (i < total % n ? 1 : 0));
        links[i] = (yard__credit_t){.offer = share};
    }
}

uint32_t
yard__credit_ready(yard__credit_t *links, size_t n, size_t i, uint32_t total)
{
    yard__credit_t *l = &links[i];
    if (n == 1) {
        l->offer = l->acked = total;
        return total;
    }
    if (l->n_sent == YARD__CREDIT_PENDING_MAX) {
        /* Never reached by balance (it waits); a re-registration forgets first. Keep the
         * newest entries: the oldest answers are the ones most likely lost. */
        for (uint32_t k = 1; k < l->n_sent; k++) {
            l->sent[k - 1] = l->sent[k];
        }
        l->n_sent--;
        l->acked = s_max(l->acked, l->sent[0]);
    }
    l->sent[l->n_sent++] = l->offer;
    l->ready_due = false;
    return l->offer;
}

void
yard__credit_acked(yard__credit_t *l, uint32_t credit)
{
    /* Answers come in the order the READYs went out; the value says which one this is, so
     * an answer to a READY sent before a forget cannot settle a newer one. */
    for (uint32_t k = 0; k < l->n_sent; k++) {
        if (l->sent[k] != credit) {
            continue;
        }
        for (uint32_t m = k + 1; m < l->n_sent; m++) {
            l->sent[m - k - 1] = l->sent[m];
        }
        l->n_sent -= k + 1;
        l->acked = credit;
        return;
    }
}

void
yard__credit_demand(yard__credit_t *l, uint32_t queued)
{
    l->demand = queued;
}

void
yard__credit_forget(yard__credit_t *links, size_t n, size_t i, uint32_t total)
{
    yard__credit_t *l = &links[i];
    l->stale += l->held;
    l->held = 0;
    l->gen++;
    l->acked = 0;
    l->n_sent = 0;
    l->demand = 0;
    if (n == 1) {
        return;
    }
    uint32_t others = s_reserved_all(links, n) - yard__credit_reserved(l);
    uint32_t room = total > others + l->stale ? total - others - l->stale : 0;
    l->offer = s_min(l->offer, room);
}

uint32_t
yard__credit_took(yard__credit_t *l)
{
    l->held++;
    l->demand = 0; /* it is being served */
    return l->gen;
}

void
yard__credit_gave(yard__credit_t *l, uint32_t gen)
{
    if (gen == l->gen) {
        l->held -= l->held > 0;
    } else {
        l->stale -= l->stale > 0;
    }
}

/* How hungry a link is: its broker's queue, or 1 when its share is used up. */
static uint32_t
s_hunger(const yard__credit_t *l)
{
    if (!l->live) {
        return 0;
    }
    if (l->demand) {
        return l->demand;
    }
    return l->offer > 0 && l->held >= l->offer ? 1 : 0;
}

/* A share to give away: a live link with no change pending and unused credit; half of what
 * it does not use (rounded up), so two busy links settle instead of trading back. A link may
 * give all: its broker tells the replica at once when a request then waits for it. */
static uint32_t
s_spare(const yard__credit_t *l)
{
    if (!l->live || l->n_sent || l->ready_due || l->offer <= l->held) {
        return 0;
    }
    return (l->offer - l->held + 1) / 2;
}

void
yard__credit_balance(yard__credit_t *links, size_t n, uint32_t total)
{
    if (n < 2) {
        return;
    }
    size_t hungry = n;
    for (size_t i = 0; i < n; i++) {
        if (s_hunger(&links[i]) > (hungry < n ? s_hunger(&links[hungry]) : 0)) {
            hungry = i;
        }
    }
    if (hungry == n || links[hungry].n_sent == YARD__CREDIT_PENDING_MAX) {
        return;
    }
    uint32_t used = s_reserved_all(links, n);
    if (used < total) {
        links[hungry].offer += total - used;
        links[hungry].demand = 0;
        links[hungry].ready_due = true;
        return;
    }
    for (size_t j = 0; j < n; j++) {
        uint32_t give = j == hungry ? 0 : s_spare(&links[j]);
        if (give) {
            links[j].offer -= give; /* free once its broker answers the READY */
            links[j].ready_due = true;
            return;
        }
    }
}
