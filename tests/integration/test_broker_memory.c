/* The broker gives memory back after connection floods: a real yard-broker process takes five
 * floods of 5,000 DEALERs that each READY and vanish (raw libzmq sockets in this process,
 * opened in batches), and after each, once the broker has declared every one of them dead, its
 * resident size (VmRSS in /proc/PID/status) must come back within 2x of its idle size. Before
 * the broker trimmed its heap, one flood took it from 8 MB to 149 MB, and each repeat climbed
 * (326 MB after five) although only 2.5 MB was in use: glibc kept the freed arenas.
 *
 * The numbers are printed: idle, the peak during each flood, and the size after it. */
#include "harness.h"
#include "test_broker_util.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define S_FLOODS       5
#define S_PEERS        5000
#define S_STEP         100
#define S_HEARTBEAT_MS 50 /* the peers' own: the broker declares them dead after 3 */
#define S_SETTLE_MS    10000

/* Under AddressSanitizer the broker's heap is ASan's (freed memory waits in its quarantine),
 * not glibc's: the floods still run, for leaks and crashes, but its RSS says nothing here. */
#if defined(__SANITIZE_ADDRESS__)
#define S_SANITIZED 1
#else
#define S_SANITIZED 0
#endif

typedef struct {
    tb_env_t env; /* no broker of its own: ctx, codec and endpoint for the raw peers */
    char *dir;
    pid_t broker;
    void *client; /* asks $sys stats */
} s_bus_t;

/* The process's resident size in KiB, from /proc/PID/status. */
static long
s_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    assert_true(kb > 0);
    return kb;
}

static int
s_setup(void **state)
{
    s_bus_t *bus = calloc(1, sizeof *bus);
    assert_non_null(bus);
    bus->dir = yh_tmpdir();
    int port = yh_free_port();
    snprintf(bus->env.endpoint, sizeof bus->env.endpoint, "%s", yh_endpoint(port));
    char *argv[] = {"yard-broker", "--bind",      bus->env.endpoint, "--heartbeat-min-ms",
                    "50",          "--log-level", "error",           NULL};
    bus->broker = yh_spawn("yard-broker", argv, NULL, bus->dir);
    assert_true(bus->broker > 0);
    assert_true(yh_wait_port(port, 5000));
    bus->env.ctx = zmq_ctx_new();
    bus->env.codec = yard_codec_new();
    /* 5,000 sockets of our own at once, each a connection and a mailbox descriptor. */
    assert_int_equal(zmq_ctx_set(bus->env.ctx, ZMQ_MAX_SOCKETS, S_PEERS + 64), 0);
    bus->client = tb_peer(&bus->env);
    *state = bus;
    return 0;
}

static int
s_teardown(void **state)
{
    s_bus_t *bus = *state;
    zmq_close(bus->client);
    yard_codec_destroy(&bus->env.codec);
    zmq_ctx_term(bus->env.ctx);
    int status = yh_stop(bus->broker, SIGTERM, 10000);
    yh_rmtree(bus->dir);
    free(bus->dir);
    free(bus);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return 0;
}

/* One flood: S_PEERS DEALERs connect and READY, S_STEP at a time (the broker's listen backlog
 * is 100: more connecting at once would see their SYNs dropped and retried a second later),
 * and once the broker has acknowledged every one they are all closed at once. */
static void
s_flood(s_bus_t *bus, long *peak_kb)
{
    static void *socks[S_PEERS];
    yard_header_t h = {.service = yard_str("flood"), .credit = 1, .heartbeat_ms = S_HEARTBEAT_MS};
    for (int done = 0; done < S_PEERS; done += S_STEP) {
        for (int i = done; i < done + S_STEP; i++) {
            socks[i] = tb_peer(&bus->env);
            tb_send(socks[i], YARD_CMD_READY, &h, NULL, 0);
        }
        for (int i = done; i < done + S_STEP; i++) {
            tb_msg_t m;
            tb_expect(&bus->env, socks[i], YARD_CMD_READY, &m, 10000);
            tb_msg_close(&m);
        }
    }
    long kb = s_rss_kb(bus->broker);
    *peak_kb = kb > *peak_kb ? kb : *peak_kb;
    for (int i = 0; i < S_PEERS; i++) {
        zmq_close(socks[i]); /* linger 0: gone at once, without a word to the broker */
    }
}

/* Polls until the broker's RSS is at most limit_kb or the deadline passes; returns the last. */
static long
s_wait_rss(pid_t pid, long limit_kb, int timeout_ms)
{
    long long deadline = yh_now_ms() + timeout_ms;
    long kb;
    while ((kb = s_rss_kb(pid)) > limit_kb && yh_now_ms() < deadline) {
        zmq_poll(NULL, 0, 20); /* RSS has no event to wait on: this paces the reads */
    }
    return kb;
}

static void
test_rss_back_after_floods(void **state)
{
    s_bus_t *bus = *state;
    assert_int_equal(tb_stat(&bus->env, bus->client, NULL, "peers"), 0);
    long idle = s_rss_kb(bus->broker);
    print_message("broker idle: %ld KiB\n", idle);
    long long t0 = yh_now_ms();
    for (int flood = 1; flood <= S_FLOODS; flood++) {
        long long start = yh_now_ms();
        long peak = 0;
        s_flood(bus, &peak);
        long long flooded = yh_now_ms();
        /* Every peer silent for 3 of its heartbeats is declared dead, its state freed. */
        uint64_t left = tb_wait_stat(&bus->env, bus->client, NULL, "peers", 0, S_SETTLE_MS);
        assert_int_equal(left, 0);
        long after = s_wait_rss(bus->broker, 2 * idle, S_SANITIZED ? 0 : S_SETTLE_MS);
        print_message("flood %d: %d peers in %lld ms, peak %ld KiB, after %ld KiB (%.2fx idle), "
                      "settled in %lld ms\n",
                      flood, S_PEERS, flooded - start, peak, after, (double)after / (double)idle,
                      yh_now_ms() - flooded);
        if (after > 2 * idle && !S_SANITIZED) {
            fail_msg("flood %d: broker RSS %ld KiB is over 2x its idle %ld KiB", flood, after,
                     idle);
        }
    }
    print_message("%d floods in %lld ms\n", S_FLOODS, yh_now_ms() - t0);
    /* Still a working broker, which says how often it gave memory back. */
    uint64_t trims = tb_stat(&bus->env, bus->client, NULL, "memory_trims");
    print_message("memory_trims: %llu\n", (unsigned long long)trims);
    assert_true(trims >= S_FLOODS && trims != UINT64_MAX);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rss_back_after_floods),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
