/* Giving memory back after a flood of connections. Each connection costs the broker's libzmq
 * some 28 KiB (its engine's buffers, pipes and session) and each tracked peer a little more of
 * the broker's own; all of it is freed when the peer goes, but glibc keeps freed memory in its
 * arenas, so 5,000 peers that READY and vanish left the process at 149 MB with 2.5 MB in use,
 * and each repeat fragmented the arenas further (326 MB after five).
 *
 * The load here is the connections the monitor saw open (accepted, not yet disconnected)
 * plus the peers the broker tracks. When it has fallen to half of its peak since the last trim,
 * by at least S_DROP_MIN, the tick calls malloc_trim(0), which returns the free pages of every
 * arena to the kernel; at most once per S_GAP_MS, because it walks the whole heap (5 to 50 ms
 * after a flood of 5,000, measured; the loop does not poll meanwhile, as after any busy batch). A
 * broker whose load only grows or holds steady never trims.
 *
 * The arrays that grow with the peers shrink with them too (yard__shrink, and the maps in
 * map.c), so that what a flood grew is freed for the trim to return. */
#include "broker_priv.h"
#include "yard/log.h"

#include <stdlib.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#define S_DROP_MIN 256u /* connections and peers gone before a trim is worth its walk */
#define S_GAP_MS   500u /* between two trims */

static uint32_t
s_load(const yard_broker_t *b)
{
    return b->conns + b->npeers;
}

void
yard__trim_note(yard_broker_t *b)
{
    uint32_t load = s_load(b);
    if (load > b->trim_peak) {
        b->trim_peak = load;
    }
}

void
yard__trim_tick(yard_broker_t *b)
{
    yard__trim_note(b);
    uint32_t load = s_load(b);
    if (b->trim_peak - load < S_DROP_MIN || load > b->trim_peak / 2 ||
        b->now - b->trim_ms < S_GAP_MS) {
        return;
    }
    uint32_t peak = b->trim_peak;
    b->trim_peak = load;
    b->trim_ms = b->now;
    b->counters[YARD__C_TRIMS]++;
    uint64_t t0 = yard__stats_now_us();
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    yard_log(YARD_LOG_DEBUG, "memory returned after a drop in connections", YF_UINT("peak", peak),
             YF_UINT("now", load), YF_UINT("took_us", yard__stats_now_us() - t0));
}

void
yard__shrink(void **arr, uint32_t *cap, uint32_t count, size_t elem)
{
    if (*cap <= 16 || (uint64_t)count * 4 > *cap) {
        return;
    }
    void *p = realloc(*arr, (size_t)(*cap / 2) * elem);
    if (!p) {
        abort();
    }
    *arr = p;
    *cap /= 2;
}
