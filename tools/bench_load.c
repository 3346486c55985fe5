/* The bus benches' load (contract in bench_load.h). Every call's send time rides in its
 * callback slot, so a reply needs no lookup to be timed.
 *
 * Invariant: a call's slot is free exactly when its callback has run, so `outstanding` is the
 * number of calls the client still owes us an outcome for. */
#include "bench_load.h"

#include "yard/client.h"
#include "yard/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_CALL_TIMEOUT_MS  5000
#define S_RETRY_TIMEOUT_MS 2000 /* a warm-up try: short, so that many fit in the warm-up */

typedef struct s_client s_client_t;

typedef struct {
    uint64_t t0;
    s_client_t *owner;
    int next_free;
} s_slot_t;

struct s_client {
    const yard_bench_load_t *load;
    yard_bench_gate_t *gate;
    pthread_t thread;
    s_slot_t *slots;
    int free_head;
    uint64_t outstanding, end_ns;
    bool closing;
    int setup_rc;
    yard_bench_result_t r;
};

/* --- one client --------------------------------------------------------------------------- */

static void
s_count_error(yard_bench_result_t *r, int err)
{
    uint32_t code = yard_err_to_wire(err);
    r->errors++;
    r->error_counts[code < 32 ? code : 0]++;
}

static void
s_slot_free(s_client_t *c, s_slot_t *slot)
{
    c->outstanding--;
    slot->next_free = c->free_head;
    c->free_head = (int)(slot - c->slots);
}

static void
s_on_reply(const yard_msg_t *reply, void *arg)
{
    s_slot_t *slot = arg;
    s_client_t *c = slot->owner;
    uint64_t now = yard__now_ns();
    s_slot_free(c, slot);
    if (c->closing) {
        return; /* ended by yard_client_destroy() after the drain deadline: counted as lost */
    }
    int status = reply ? yard_msg_status(reply) : YARD_E_INTERNAL;
    if (status != 0) {
        s_count_error(&c->r, status);
        yard__hist_record(&c->r.fail_hist, now - slot->t0);
        return;
    }
    c->r.replies++;
    if (now <= c->end_ns) {
        c->r.replies_in_window++;
    }
    yard__hist_record(&c->r.hist, now - slot->t0);
}

/* The first call: connects, and proves the call succeeds before we count any. */
static int
s_warm_up(const yard_bench_load_t *l, yard_client_t *client)
{
    yard_call_opts_t opts = {
        .op = l->op, .timeout_ms = l->warmup_ms > 0 ? S_RETRY_TIMEOUT_MS : S_CALL_TIMEOUT_MS};
    uint64_t deadline = yard__now_ns() + (uint64_t)l->warmup_ms * 1000000u;
    for (;;) {
        yard_msg_t *reply = NULL;
        int rc = yard_client_call(client, l->service, l->body, l->size, &opts, &reply);
        yard_msg_destroy(&reply);
        if (rc == 0 || yard__now_ns() >= deadline) {
            return rc;
        }
        yard__sleep_ms(20); /* polling with a short back-off is fine in a tool */
    }
}

static void
s_slots_init(s_client_t *c)
{
    int window = c->load->window;
    c->slots = calloc((size_t)window, sizeof *c->slots);
    if (!c->slots) {
        abort();
    }
    for (int i = 0; i < window; i++) {
        c->slots[i].owner = c;
        c->slots[i].next_free = i + 1 < window ? i + 1 : -1;
    }
    c->free_head = 0;
}

/* Sends on every free slot. Stops early when a send fails: its callback will never run, so
 * the slot is given back here and the error counted. */
static void
s_fill_window(s_client_t *c, yard_client_t *client, const yard_call_opts_t *opts)
{
    const yard_bench_load_t *l = c->load;
    while (c->free_head >= 0) {
        s_slot_t *slot = &c->slots[c->free_head];
        c->free_head = slot->next_free;
        slot->t0 = yard__now_ns();
        c->outstanding++;
        c->r.sent++;
        int rc =
            yard_client_call_async(client, l->service, l->body, l->size, opts, s_on_reply, slot);
        if (rc) {
            s_slot_free(c, slot);
            s_count_error(&c->r, rc);
            return;
        }
    }
}

static void *
s_client_thread(void *arg)
{
    s_client_t *c = arg;
    const yard_bench_load_t *l = c->load;
    pthread_setname_np(pthread_self(), "bench-client");
    yard_client_t *client = NULL;
    yard_client_opts_t copts = {.zmq_context = l->zmq_ctx, .default_timeout_ms = S_CALL_TIMEOUT_MS};
    c->setup_rc = yard_client_new(l->endpoint, &copts, &client);
    if (c->setup_rc == 0) {
        c->setup_rc = s_warm_up(l, client);
    }
    s_slots_init(c);
    c->end_ns = yard__bench_gate_pass(c->gate, l->duration_s);
    yard_call_opts_t opts = {.op = l->op, .timeout_ms = S_CALL_TIMEOUT_MS};
    while (c->setup_rc == 0 && yard__now_ns() < c->end_ns) {
        /* Corked, the window's calls leave as one batch, as a pipelining caller's should. */
        yard_client_cork(client);
        s_fill_window(c, client, &opts);
        yard_client_uncork(client);
        int rc = yard_client_dispatch(client, 10);
        if (rc < 0) {
            s_count_error(&c->r, rc);
        }
    }
    /* Drain: every call is due to end by its deadline plus a heartbeat; allow a second more. */
    uint64_t deadline = c->end_ns + (uint64_t)(S_CALL_TIMEOUT_MS + 2000) * 1000000u;
    while (c->setup_rc == 0 && c->outstanding > 0 && yard__now_ns() < deadline) {
        yard_client_dispatch(client, 50);
    }
    c->closing = true;
    yard_client_destroy(&client);
    c->r.lost = c->r.sent - c->r.replies - c->r.errors;
    c->r.seconds = l->duration_s;
    free(c->slots);
    c->slots = NULL;
    return NULL;
}

/* --- the load ----------------------------------------------------------------------------- */

int
yard__bench_load_run(const yard_bench_load_t *load, yard_bench_result_t *out)
{
    memset(out, 0, sizeof *out);
    s_client_t *clients = calloc((size_t)load->clients, sizeof *clients);
    if (!clients) {
        abort();
    }
    yard_bench_gate_t gate;
    yard__bench_gate_init(&gate, load->clients);
    for (int i = 0; i < load->clients; i++) {
        clients[i].load = load;
        clients[i].gate = &gate;
        if (pthread_create(&clients[i].thread, NULL, s_client_thread, &clients[i])) {
            abort();
        }
    }
    yard__bench_gate_open(&gate);
    int rc = 0;
    for (int i = 0; i < load->clients; i++) {
        pthread_join(clients[i].thread, NULL);
        if (rc == 0) {
            rc = clients[i].setup_rc;
        }
        yard__bench_result_add(out, &clients[i].r);
    }
    out->seconds = load->duration_s;
    yard__bench_gate_destroy(&gate);
    free(clients);
    return rc;
}

/* --- the gate and the figures ------------------------------------------------------------- */

void
yard__bench_gate_init(yard_bench_gate_t *gate, int threads)
{
    pthread_barrier_init(&gate->ready, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&gate->go, NULL, (unsigned)threads + 1);
    gate->start_ns = 0;
}

uint64_t
yard__bench_gate_pass(yard_bench_gate_t *gate, double duration_s)
{
    pthread_barrier_wait(&gate->ready);
    pthread_barrier_wait(&gate->go);
    return gate->start_ns + (uint64_t)(duration_s * 1e9);
}

void
yard__bench_gate_open(yard_bench_gate_t *gate)
{
    pthread_barrier_wait(&gate->ready);
    gate->start_ns = yard__now_ns();
    pthread_barrier_wait(&gate->go);
}

void
yard__bench_gate_destroy(yard_bench_gate_t *gate)
{
    pthread_barrier_destroy(&gate->ready);
    pthread_barrier_destroy(&gate->go);
}

void
yard__bench_result_add(yard_bench_result_t *into, const yard_bench_result_t *from)
{
    into->sent += from->sent;
    into->replies += from->replies;
    into->replies_in_window += from->replies_in_window;
    into->errors += from->errors;
    into->lost += from->lost;
    for (int k = 0; k < 32; k++) {
        into->error_counts[k] += from->error_counts[k];
    }
    yard__hist_merge(&into->hist, &from->hist);
    yard__hist_merge(&into->fail_hist, &from->fail_hist);
}

double
yard__bench_rate(const yard_bench_result_t *r)
{
    return r->seconds > 0 ? (double)r->replies_in_window / r->seconds : 0;
}

double
yard__bench_us(const yard_bench_result_t *r, double q)
{
    return (double)yard__hist_quantile(&r->hist, q) / 1000.0;
}

const char *
yard__bench_error_name(int code)
{
    return code ? yard_err_name(yard_err_from_wire((uint32_t)code)) : "LOCAL";
}

/* --- latency of ok, failed and all calls ------------------------------------------------------ */

typedef struct {
    const char *name;
    uint64_t count;
    yard_hist_t *hist; /* owned by the caller */
} s_lat_t;

/* ok, failed, all: all merges the two (heap: a histogram is ~30 KiB). */
static void
s_lat_views(const yard_bench_result_t *r, s_lat_t v[3])
{
    yard_hist_t *all = calloc(1, sizeof *all);
    if (!all) {
        abort();
    }
    yard__hist_merge(all, &r->hist);
    yard__hist_merge(all, &r->fail_hist);
    v[0] = (s_lat_t){"ok", r->replies, (yard_hist_t *)&r->hist};
    v[1] = (s_lat_t){"failed", r->errors, (yard_hist_t *)&r->fail_hist};
    v[2] = (s_lat_t){"all", r->replies + r->errors, all};
}

void
yard__bench_latency_json(const yard_bench_result_t *r)
{
    s_lat_t v[3];
    s_lat_views(r, v);
    for (int i = 0; i < 3; i++) {
        printf("%s\"%s\":{\"count\":%llu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}",
               i ? "," : "", v[i].name, (unsigned long long)v[i].count,
               (double)yard__hist_quantile(v[i].hist, 0.5) / 1000.0,
               (double)yard__hist_quantile(v[i].hist, 0.99) / 1000.0,
               (double)v[i].hist->max / 1000.0);
    }
    free(v[2].hist);
}

/* 850 us, 12.3 ms, 1.52 s */
static void
s_fmt_ns(char *out, size_t cap, uint64_t ns)
{
    double us = (double)ns / 1000.0;
    if (us < 1000) {
        snprintf(out, cap, "%.0f us", us);
    } else if (us < 1e6) {
        snprintf(out, cap, "%.2f ms", us / 1000.0);
    } else {
        snprintf(out, cap, "%.2f s", us / 1e6);
    }
}

void
yard__bench_latency_text(const yard_bench_result_t *r)
{
    s_lat_t v[3];
    s_lat_views(r, v);
    for (int i = 0; i < 3; i++) {
        char p50[32], p99[32], max[32];
        s_fmt_ns(p50, sizeof p50, yard__hist_quantile(v[i].hist, 0.5));
        s_fmt_ns(p99, sizeof p99, yard__hist_quantile(v[i].hist, 0.99));
        s_fmt_ns(max, sizeof max, v[i].hist->max);
        printf("latency %-7s count %-10llu p50 %-10s p99 %-10s max %s\n", v[i].name,
               (unsigned long long)v[i].count, p50, p99, max);
    }
    free(v[2].hist);
}

int
yard__bench_echo_load(const char *endpoint, const char *service, size_t size, int clients,
                      int window, double duration_s, int warmup_ms, yard_bench_result_t *out)
{
    size_t off = 0;
    void *body = yard__bench_body(size, &off);
    void *cctx = zmq_ctx_new();
    if (!cctx) {
        abort();
    }
    yard_bench_load_t load = {.endpoint = endpoint,
                              .zmq_ctx = cctx,
                              .service = service,
                              .body = body,
                              .size = size,
                              .clients = clients,
                              .window = window,
                              .duration_s = duration_s,
                              .warmup_ms = warmup_ms};
    int rc = yard__bench_load_run(&load, out);
    if (rc) {
        fprintf(stderr, "yard bench: service '%s' at %s does not answer: %s: %s\n", service,
                endpoint, yard_err_name(rc), yard_strerror(rc));
    }
    zmq_ctx_term(cctx);
    free(body);
    return rc ? -1 : 0;
}
