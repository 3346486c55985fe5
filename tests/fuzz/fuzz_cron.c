/* Fuzzes the scheduler's cron parser (sched_cron_parse), which reads expressions from
 * job.add requests and the config file, and the next-fire search over what it accepts, in UTC
 * and in a zone with daylight saving. What must hold: a refusal says why, and a next fire
 * time is strictly after the instant asked about and within the bounds given. */
#include "cron.h"
#include "zone.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_check_next(const sched_cron_t *c, const sched_zone_t *z, int64_t after, int64_t start,
             int64_t end)
{
    int64_t t = sched_cron_next(c, z, after, start, end);
    if (t != -1 && (t <= after || (start && t < start) || (end && t > end))) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sched_zone_t *utc, *berlin;
    if (!utc) {
        char why[256];
        if (sched_zone_open("UTC", &utc, why, sizeof why) != 0) {
            abort();
        }
        if (sched_zone_open("Europe/Berlin", &berlin, why, sizeof why) != 0) {
            berlin = NULL; /* no tzdata: UTC only */
        }
    }
    if (size > 2 * SCHED_CRON_EXPR_MAX) {
        return 0;
    }
    char *expr = malloc(size + 1);
    memcpy(expr, data, size);
    expr[size] = '\0';
    sched_cron_t *c = NULL;
    char why[256] = "";
    if (sched_cron_parse(expr, &c, why, sizeof why) == 0) {
        /* 2026-03-29 00:30 UTC, just before Berlin springs forward; and a far year. */
        s_check_next(c, utc, 1774744200, 0, 0);
        s_check_next(c, utc, 253370764800 - 86400, 0, 0);
        if (berlin) {
            s_check_next(c, berlin, 1774744200, 0, 0);
            s_check_next(c, berlin, 1792880000, 1792880000, 1792880000 + 86400 * 40);
        }
        sched_cron_destroy(&c);
    } else if (why[0] == '\0') {
        abort();
    }
    free(expr);
    return 0;
}
