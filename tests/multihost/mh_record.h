/* What the multi-host driver saw, and what it concludes: every call it issued and how it ended,
 * every publication and when and how many times each subscriber received it, all cut into the named
 * phases the test script announces (steady, cut_a, restored, kill_b); then, once the load has
 * stopped, a JSON summary per phase and the checks made from it.
 *
 * Threads: the caller thread alone writes call records, the publisher alone publication
 * records, subscriber i alone its counts, the control thread alone phases and the rejoin and
 * probe results. A phase is published with a release store of the count, so a thread that
 * sees phase k sees its start time. mh_record_report() runs after every thread has joined.
 * Every array is sized at mh_record_new(); records past it are refused and counted. */
#ifndef MH_RECORD_H
#define MH_RECORD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MH_PHASES_MAX 8
#define MH_SUBS       2
#define MH_NAME_MAX   32

typedef struct {
    int64_t issued_us;
    int64_t done_us; /* 0: has not ended */
    int status;      /* 0: a reply; else the negative yard error it ended with */
    uint8_t phase;
    bool idempotent;
    bool wrong_body; /* a reply whose body is not this call's */
} mh_call_t;

typedef struct {
    char name[MH_NAME_MAX];
    int64_t start_us;
} mh_phase_t;

typedef struct {
    mh_phase_t phases[MH_PHASES_MAX];
    atomic_int n_phases;
    int64_t end_us; /* when the load stopped */

    mh_call_t *calls;
    size_t calls_cap, n_calls, calls_refused;

    int64_t *pub_us; /* publication seq s (from 0) was made at pub_us[s] ... */
    uint8_t *pub_phase;
    int *pub_status; /* ... and yard_client_publish() returned pub_status[s] */
    size_t pubs_cap, n_pubs;

    char sub_names[MH_SUBS][MH_NAME_MAX];
    uint16_t *got[MH_SUBS];      /* deliveries of seq s to subscriber i (saturating) */
    int64_t *first_us[MH_SUBS];  /* when subscriber i first received seq s */
    uint64_t got_stray[MH_SUBS]; /* bodies that were not a known seq */
    bool sub_warm[MH_SUBS];      /* received a warm-up publication before the load */

    int64_t rejoin_ms; /* -1: not measured or never rejoined */
    int rejoin_replicas;
    bool probed;
    int probe_n;     /* clients per group */
    int probe[2][2]; /* [group: list A,B / list B,A][landed on A / on B] */
} mh_record_t;

/* What the checks demand. */
typedef struct {
    int64_t window_ms; /* failover bound: longest gap without a reply, and the longest a
                        * publication may take to reach a subscriber to count as received */
    const char *clean[MH_PHASES_MAX]; /* phases without faults: no error, nothing missing */
    size_t n_clean;
    int64_t rejoin_max_ms; /* link restored to replicas on $sys again */
} mh_checks_t;

/* A record with room for calls_cap calls and pubs_cap publications. Caller owns the result;
 * free with mh_record_destroy(). Allocation failure aborts. */
mh_record_t *mh_record_new(size_t calls_cap, size_t pubs_cap);
void mh_record_destroy(mh_record_t **self_p);

/* Starts phase name at now_us. Returns its index, or -1 when MH_PHASES_MAX are taken or the
 * name is empty or too long. Control thread only. */
int mh_record_phase_begin(mh_record_t *self, const char *name, int64_t now_us);

/* The current phase's index, or -1 before the first. Any thread. */
int mh_record_phase(mh_record_t *self);

/* Prints the summary as one line `summary {JSON}` and one line per check, `check ok NAME
 * detail` or `check FAIL NAME detail`, to out. Returns the number of failed checks. */
int mh_record_report(const mh_record_t *self, const mh_checks_t *checks, FILE *out);

#endif
