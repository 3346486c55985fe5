/* mh_driver: the client host of the multi-host test (tests/multihost/run_multihost.sh).
 *
 * Over the brokers A and B it runs, each on its own thread and client:
 *   - a caller: calls `--service` at `--rate` calls/s with `--timeout-ms` deadlines, every
 *     second call marked idempotent, body {n: index}; records when each was issued and how it
 *     ended (the reply, checked to carry its own n, or the error);
 *   - a publisher: publishes {seq} on `mh.tick` at `--pub-rate`/s;
 *   - two subscribers to `mh.*`, one listing the brokers A,B and one B,A, counting the
 *     deliveries of every seq and when the first came (so missing, late and duplicate ones
 *     show).
 * Its stdin takes the test script's commands, one a line, each answered on stdout with one
 * line `ok ...` or `error ...`:
 *   phase NAME   a new phase begins now (the records are cut by phase)
 *   rejoin       waits until broker A lists `--replicas` replicas of the service again
 *   probe        `--probe-n` new clients listing A,B and as many listing B,A: where they land
 *   counters NAME  the `$sys stats` counter NAME of broker A and of broker B (-1: no answer)
 *   end          (or end of input) stops the load, drains, prints the summary and the checks
 * It prints `ready` once both brokers list the replicas and both subscribers have heard a
 * warm-up publication (or 3 s passed), and exits 0 when every check passed, 1 when one
 * failed, 2 on bad usage or when the bus never became ready. `--max-run-s` bounds the run
 * even if the script never says `end`. */
#include "mh_record.h"
#include "mh_sys.h"

#include "yard/client.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/mp.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_WARM_MS  3000
#define S_READY_MS 15000
#define S_LINE_MAX 256

typedef struct {
    /* options */
    const char *ep_a, *ep_b, *service;
    char list_ab[512], list_ba[512];
    double rate, pub_rate;
    uint32_t timeout_ms, heartbeat_ms;
    int replicas, probe_n, max_run_s;
    mh_checks_t checks;
    char clean_buf[256];
    /* run */
    mh_record_t *rec;
    atomic_bool stop_load, stop_subs;
    atomic_bool warm[MH_SUBS];
    atomic_bool warm_done;
} s_driver_t;

typedef struct {
    s_driver_t *d;
    int index;
} s_sub_arg_t;

static int64_t
s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The msgpack map {key: v}, into buf (at least 32 bytes). Returns its size, or 0. */
static size_t
s_body(const char *key, uint64_t v, unsigned char *buf, size_t cap)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kuint(w, key, v);
    yard_mpw_end(w);
    const void *data;
    size_t size = 0;
    if (yard_mpw_finish(w, &data, &size) != 0 || size > cap) {
        size = 0;
    } else {
        memcpy(buf, data, size);
    }
    yard_mpw_destroy(&w);
    return size;
}

/* The number under key in a msgpack map body, or -1. */
static int64_t
s_body_value(const void *body, size_t size, const char *key)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 256);
    msgpack_object o;
    uint64_t v = 0;
    int64_t out = -1;
    if (yard_mp_decode(body, size, &zone, &o, NULL, 0) == 0 &&
        yard_mp_get_uint(&o, key, &v, NULL, 0) == 0 && v <= INT64_MAX) {
        out = (int64_t)v;
    }
    msgpack_zone_destroy(&zone);
    return out;
}

static yard_client_t *
s_client(const s_driver_t *d, const char *list)
{
    yard_client_t *c = NULL;
    yard_client_opts_t o = {.heartbeat_ms = d->heartbeat_ms, .default_timeout_ms = d->timeout_ms};
    if (yard_client_new(list, &o, &c) != 0) {
        fprintf(stderr, "mh_driver: cannot start a client for %s\n", list);
        exit(2);
    }
    return c;
}

/* --- the caller -------------------------------------------------------------------------- */

typedef struct {
    s_driver_t *d;
    size_t index;
} s_call_ref_t;

static void
s_on_reply(const yard_msg_t *reply, void *arg)
{
    s_driver_t *d = ((s_call_ref_t *)arg)->d;
    size_t i = ((s_call_ref_t *)arg)->index;
    free(arg);
    mh_call_t *k = &d->rec->calls[i];
    k->done_us = s_now_us();
    k->status = yard_msg_status(reply);
    if (k->status == 0) {
        size_t size = 0;
        const void *body = yard_msg_body(reply, &size);
        k->wrong_body = s_body_value(body, size, "n") != (int64_t)i;
    }
}

static void
s_issue(s_driver_t *d, yard_client_t *c, int phase)
{
    mh_record_t *r = d->rec;
    if (r->n_calls == r->calls_cap) {
        r->calls_refused++;
        return;
    }
    size_t i = r->n_calls;
    unsigned char body[32];
    size_t size = s_body("n", i, body, sizeof body);
    mh_call_t *k = &r->calls[i];
    k->phase = (uint8_t)phase;
    k->idempotent = i % 2 == 1;
    k->issued_us = s_now_us();
    yard_call_opts_t co = {.timeout_ms = d->timeout_ms,
                           .flags = k->idempotent ? YARD_FLAG_IDEMPOTENT : 0};
    s_call_ref_t *ref = malloc(sizeof *ref);
    if (!ref) {
        abort();
    }
    *ref = (s_call_ref_t){d, i};
    r->n_calls++;
    int rc = yard_client_call_async(c, d->service, body, size, &co, s_on_reply, ref);
    if (rc != 0) {
        /* Refused before it left: it ended here, with that error. */
        free(ref);
        k->done_us = s_now_us();
        k->status = rc;
    }
}

static void *
s_caller(void *arg)
{
    s_driver_t *d = arg;
    yard_log_set_context("caller", -1);
    yard_client_t *c = s_client(d, d->list_ab);
    int64_t period = (int64_t)(1e6 / d->rate), next = 0;
    while (!atomic_load(&d->stop_load)) {
        int phase = mh_record_phase(d->rec);
        int64_t now = s_now_us();
        if (phase < 0) {
            yard_client_dispatch(c, 20);
            continue;
        }
        if (next == 0) {
            next = now;
        }
        for (; next <= now; next += period) {
            s_issue(d, c, phase); /* a late loop catches up: the rate holds on average */
        }
        yard_client_dispatch(c, (int)((next - now) / 1000) + 1);
    }
    /* Every issued call ends: by its reply or error, at the latest at its deadline. */
    int64_t until = s_now_us() + ((int64_t)d->timeout_ms + 2000) * 1000;
    while (yard_client_pending(c) > 0 && s_now_us() < until) {
        yard_client_dispatch(c, 100);
    }
    yard_client_destroy(&c); /* any left end SHUTDOWN, and are counted so */
    return NULL;
}

/* --- the publisher and the subscribers --------------------------------------------------- */

static void
s_warm_up(s_driver_t *d, yard_client_t *c)
{
    static const unsigned char empty_map = 0x80;
    int64_t until = s_now_us() + S_WARM_MS * 1000;
    while (s_now_us() < until) {
        bool all = true;
        for (int i = 0; i < MH_SUBS; i++) {
            all = all && atomic_load(&d->warm[i]);
        }
        if (all) {
            break;
        }
        yard_client_publish(c, "mh.warm", &empty_map, 1);
        yard_client_dispatch(c, 50);
    }
    atomic_store(&d->warm_done, true);
}

static void *
s_publisher(void *arg)
{
    s_driver_t *d = arg;
    mh_record_t *r = d->rec;
    yard_log_set_context("publisher", -1);
    yard_client_t *c = s_client(d, d->list_ab);
    s_warm_up(d, c);
    int64_t period = (int64_t)(1e6 / d->pub_rate), next = 0;
    while (!atomic_load(&d->stop_load)) {
        int phase = mh_record_phase(r);
        int64_t now = s_now_us();
        if (phase >= 0 && next == 0) {
            next = now;
        }
        for (; phase >= 0 && next <= now && r->n_pubs < r->pubs_cap; next += period) {
            size_t s = r->n_pubs;
            unsigned char body[32];
            size_t size = s_body("seq", s, body, sizeof body);
            r->pub_us[s] = s_now_us();
            r->pub_phase[s] = (uint8_t)phase;
            r->pub_status[s] = yard_client_publish(c, "mh.tick", body, size);
            r->n_pubs++;
        }
        yard_client_dispatch(c, next > now ? (int)((next - now) / 1000) + 1 : 20);
    }
    yard_client_destroy(&c);
    return NULL;
}

static void
s_on_publication(const yard_msg_t *m, void *arg)
{
    s_sub_arg_t *a = arg;
    mh_record_t *r = a->d->rec;
    const char *subject = yard_msg_subject(m);
    if (subject && strcmp(subject, "mh.warm") == 0) {
        atomic_store(&a->d->warm[a->index], true);
        return;
    }
    size_t size = 0;
    const void *body = yard_msg_body(m, &size);
    int64_t seq = s_body_value(body, size, "seq");
    if (seq < 0 || (size_t)seq >= r->pubs_cap) {
        r->got_stray[a->index]++;
        return;
    }
    if (r->got[a->index][seq] == 0) {
        r->first_us[a->index][seq] = s_now_us();
    }
    if (r->got[a->index][seq] < UINT16_MAX) {
        r->got[a->index][seq]++;
    }
}

static void *
s_subscriber(void *arg)
{
    s_sub_arg_t *a = arg;
    const char *list = a->index == 0 ? a->d->list_ab : a->d->list_ba;
    yard_log_set_context(a->d->rec->sub_names[a->index], -1);
    yard_client_t *c = s_client(a->d, list);
    if (yard_client_subscribe(c, "mh.*", s_on_publication, a) != 0) {
        fprintf(stderr, "mh_driver: cannot subscribe\n");
        exit(2);
    }
    while (!atomic_load(&a->d->stop_subs)) {
        yard_client_dispatch(c, 100);
    }
    yard_client_destroy(&c);
    return NULL;
}

/* --- the control thread's commands ------------------------------------------------------- */

static void s_reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
s_reply(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void
s_cmd_rejoin(s_driver_t *d)
{
    mh_record_t *r = d->rec;
    int count = 0;
    int64_t ms = mh_sys_wait_replicas(d->ep_a, d->service, d->replicas,
                                      d->checks.rejoin_max_ms + 3000, d->heartbeat_ms, &count);
    r->rejoin_ms = ms;
    r->rejoin_replicas = count;
    s_reply("ok rejoin ms=%lld replicas=%d", (long long)ms, count);
}

static void
s_cmd_probe(s_driver_t *d)
{
    mh_record_t *r = d->rec;
    const char *lists[2] = {d->list_ab, d->list_ba};
    int rc = 0;
    for (int g = 0; g < 2 && rc == 0; g++) {
        rc = mh_sys_probe(lists[g], d->ep_a, d->ep_b, d->service, d->probe_n, d->heartbeat_ms,
                          &r->probe[g][0], &r->probe[g][1]);
    }
    r->probed = rc == 0;
    r->probe_n = d->probe_n;
    if (rc != 0) {
        s_reply("error probe: %s", yard_strerror(rc));
        return;
    }
    s_reply("ok probe list_ab: %d on A, %d on B; list_ba: %d on A, %d on B", r->probe[0][0],
            r->probe[0][1], r->probe[1][0], r->probe[1][1]);
}

static void
s_cmd_counters(s_driver_t *d, const char *name)
{
    const char *eps[2] = {d->ep_a, d->ep_b};
    long long v[2];
    for (int i = 0; i < 2; i++) {
        uint64_t x = 0;
        v[i] = mh_sys_counter(eps[i], name, d->heartbeat_ms, &x) == 0 ? (long long)x : -1;
    }
    s_reply("ok counters %s A=%lld B=%lld", name, v[0], v[1]);
}

/* Runs one command line. Returns false on `end`. */
static bool
s_command(s_driver_t *d, char *line)
{
    line[strcspn(line, "\r\n")] = '\0';
    if (strncmp(line, "phase ", 6) == 0) {
        int p = mh_record_phase_begin(d->rec, line + 6, s_now_us());
        if (p < 0) {
            s_reply("error phase: a name of 1 to %d bytes, at most %d phases", MH_NAME_MAX - 1,
                    MH_PHASES_MAX);
        } else {
            s_reply("ok phase %s", line + 6);
        }
    } else if (strcmp(line, "rejoin") == 0) {
        s_cmd_rejoin(d);
    } else if (strcmp(line, "probe") == 0) {
        s_cmd_probe(d);
    } else if (strncmp(line, "counters ", 9) == 0) {
        s_cmd_counters(d, line + 9);
    } else if (strcmp(line, "end") == 0) {
        return false;
    } else if (line[0]) {
        s_reply("error unknown command '%.64s' (phase NAME, rejoin, probe, counters NAME, end)",
                line);
    }
    return true;
}

/* Reads commands until `end`, end of input, or the run's bound. */
static void
s_control(s_driver_t *d)
{
    int64_t until = s_now_us() + (int64_t)d->max_run_s * 1000000;
    char buf[S_LINE_MAX];
    size_t len = 0;
    for (;;) {
        int64_t left = (until - s_now_us()) / 1000;
        if (left <= 0) {
            fprintf(stderr, "mh_driver: no `end` within %d s; stopping\n", d->max_run_s);
            return;
        }
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int n = poll(&p, 1, left > 1000 ? 1000 : (int)left);
        if (n <= 0) {
            continue;
        }
        ssize_t got = read(0, buf + len, sizeof buf - 1 - len);
        if (got <= 0 && !(got < 0 && errno == EINTR)) {
            return; /* end of input */
        }
        len += got > 0 ? (size_t)got : 0;
        buf[len] = '\0';
        char *nl;
        while ((nl = strchr(buf, '\n'))) {
            *nl = '\0';
            bool more = s_command(d, buf);
            len -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len + 1);
            if (!more) {
                return;
            }
        }
        if (len == sizeof buf - 1) {
            len = 0; /* a line longer than any command: drop it */
        }
    }
}

/* --- options and main -------------------------------------------------------------------- */

static void
s_usage(void)
{
    fprintf(stderr,
            "usage: mh_driver --broker-a EP --broker-b EP [--service echo] [--replicas N]\n"
            "       [--rate CALLS_PER_S] [--pub-rate PER_S] [--timeout-ms MS]\n"
            "       [--heartbeat-ms MS] [--window-ms MS] [--clean PHASE,...]\n"
            "       [--rejoin-max-ms MS] [--probe-n N] [--max-run-s S]\n"
            "Commands on stdin: phase NAME | rejoin | probe | counters NAME | end (see the\n"
            "source's header).\n");
    exit(2);
}

static void
s_split_clean(s_driver_t *d, const char *text)
{
    snprintf(d->clean_buf, sizeof d->clean_buf, "%s", text);
    d->checks.n_clean = 0;
    for (char *save = NULL, *t = strtok_r(d->clean_buf, ",", &save);
         t && d->checks.n_clean < MH_PHASES_MAX; t = strtok_r(NULL, ",", &save)) {
        d->checks.clean[d->checks.n_clean++] = t;
    }
}

static void
s_options(s_driver_t *d, int argc, char **argv)
{
    static const struct option opts[] = {{"broker-a", 1, 0, 'a'},      {"broker-b", 1, 0, 'b'},
                                         {"service", 1, 0, 's'},       {"replicas", 1, 0, 'n'},
                                         {"rate", 1, 0, 'r'},          {"pub-rate", 1, 0, 'p'},
                                         {"timeout-ms", 1, 0, 't'},    {"heartbeat-ms", 1, 0, 'h'},
                                         {"window-ms", 1, 0, 'w'},     {"clean", 1, 0, 'c'},
                                         {"rejoin-max-ms", 1, 0, 'j'}, {"probe-n", 1, 0, 'q'},
                                         {"max-run-s", 1, 0, 'm'},     {0, 0, 0, 0}};
    *d = (s_driver_t){.service = "echo",
                      .replicas = 2,
                      .rate = 100,
                      .pub_rate = 50,
                      .timeout_ms = 3000,
                      .heartbeat_ms = 500,
                      .probe_n = 12,
                      .max_run_s = 80,
                      .checks = {.window_ms = 2000, .rejoin_max_ms = 5000}};
    s_split_clean(d, "steady");
    for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (o) {
        case 'a':
            d->ep_a = optarg;
            break;
        case 'b':
            d->ep_b = optarg;
            break;
        case 's':
            d->service = optarg;
            break;
        case 'n':
            d->replicas = atoi(optarg);
            break;
        case 'r':
            d->rate = atof(optarg);
            break;
        case 'p':
            d->pub_rate = atof(optarg);
            break;
        case 't':
            d->timeout_ms = (uint32_t)atoi(optarg);
            break;
        case 'h':
            d->heartbeat_ms = (uint32_t)atoi(optarg);
            break;
        case 'w':
            d->checks.window_ms = atoi(optarg);
            break;
        case 'c':
            s_split_clean(d, optarg);
            break;
        case 'j':
            d->checks.rejoin_max_ms = atoi(optarg);
            break;
        case 'q':
            d->probe_n = atoi(optarg);
            break;
        case 'm':
            d->max_run_s = atoi(optarg);
            break;
        default:
            s_usage();
        }
    }
    if (!d->ep_a || !d->ep_b || d->rate < 1 || d->rate > 1000 || d->pub_rate < 1 ||
        d->pub_rate > 1000 || d->timeout_ms < 100 || d->heartbeat_ms < 10 || d->replicas < 1 ||
        d->probe_n < 1 || d->probe_n > 100 || d->max_run_s < 1 || d->max_run_s > 600) {
        s_usage();
    }
    snprintf(d->list_ab, sizeof d->list_ab, "%s,%s", d->ep_a, d->ep_b);
    snprintf(d->list_ba, sizeof d->list_ba, "%s,%s", d->ep_b, d->ep_a);
}

/* Both brokers list the replicas: the bus is up. */
static bool
s_bus_ready(const s_driver_t *d)
{
    const char *eps[2] = {d->ep_a, d->ep_b};
    for (int i = 0; i < 2; i++) {
        int count = 0;
        if (mh_sys_wait_replicas(eps[i], d->service, d->replicas, S_READY_MS, d->heartbeat_ms,
                                 &count) < 0) {
            printf("error the broker at %s lists %d of %d replicas of %s after %d s\n", eps[i],
                   count, d->replicas, d->service, S_READY_MS / 1000);
            fflush(stdout);
            return false;
        }
    }
    return true;
}

int
main(int argc, char **argv)
{
    static s_driver_t d;
    s_options(&d, argc, argv);
    yard_log_set_context("mh_driver", -1);
    if (!s_bus_ready(&d)) {
        return 2;
    }
    size_t calls_cap = (size_t)(d.rate * d.max_run_s) + 16;
    size_t pubs_cap = (size_t)(d.pub_rate * d.max_run_s) + 16;
    d.rec = mh_record_new(calls_cap, pubs_cap);
    snprintf(d.rec->sub_names[0], MH_NAME_MAX, "sub_ab");
    snprintf(d.rec->sub_names[1], MH_NAME_MAX, "sub_ba");
    pthread_t caller, publisher, subs[MH_SUBS];
    s_sub_arg_t sub_args[MH_SUBS];
    for (int i = 0; i < MH_SUBS; i++) {
        sub_args[i] = (s_sub_arg_t){&d, i};
        pthread_create(&subs[i], NULL, s_subscriber, &sub_args[i]);
    }
    pthread_create(&publisher, NULL, s_publisher, &d);
    pthread_create(&caller, NULL, s_caller, &d);
    while (!atomic_load(&d.warm_done)) {
        struct timespec ts = {0, 20 * 1000000L}; /* the warm-up is bounded by S_WARM_MS */
        nanosleep(&ts, NULL);
    }
    s_reply("ready");
    s_control(&d);
    d.rec->end_us = s_now_us();
    atomic_store(&d.stop_load, true);
    pthread_join(publisher, NULL);
    pthread_join(caller, NULL);
    /* Deliveries still on their way when the publisher stopped get a second and a half. */
    struct timespec settle = {1, 500 * 1000000L};
    nanosleep(&settle, NULL);
    atomic_store(&d.stop_subs, true);
    for (int i = 0; i < MH_SUBS; i++) {
        pthread_join(subs[i], NULL);
        d.rec->sub_warm[i] = atomic_load(&d.warm[i]);
    }
    int failed = mh_record_report(d.rec, &d.checks, stdout);
    mh_record_destroy(&d.rec);
    return failed ? 1 : 0;
}
