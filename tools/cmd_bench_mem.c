/* yard bench memory: what the broker holds in memory idle, with N peers connected, and after
 * they left, next to a raw ZeroMQ proxy holding the same peers in the same run, so that what
 * ZeroMQ costs per connection is told apart from what the broker adds.
 *
 * Each side is its own process (yard-broker, yard-bench-proxy; both next to this program),
 * read from /proc/PID/status: VmRSS after it started and settled; again once N DEALER peers
 * of this process have connected, each been answered (half clients whose HEARTBEAT the broker
 * answered, half replicas whose READY it acknowledged) and heartbeated for the settle time;
 * and again after they all left (replicas with a DISCONNECT) and the settle time passed, the
 * broker trimming its heap when its connections fall (broker/trim.c). RSS per peer is (RSS
 * at N - RSS idle) / N. bench_mem.h has the parts. */
#include "bench_mem.h"
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int yard__cmd_bench_mem(int argc, char **argv); /* called by yard.c */

#define S_WHO "yard bench memory"
#define S_USAGE                                                                                    \
    "usage: yard bench memory [--peers N] [--settle-ms MS] [--json]\n"                             \
    "  Starts yard-broker, then a raw ZeroMQ proxy (yard-bench-proxy), each as its own\n"          \
    "  process, and reads its RSS (/proc/PID/status) idle, with N peers connected and\n"           \
    "  answered (default 1000, at most 20000: half clients, half replicas), and after they\n"      \
    "  left. Each reading waits MS milliseconds first (default 3000). Needs 2 file\n"              \
    "  descriptors per peer here: the soft limit is raised to that when the hard one allows.\n"

typedef struct {
    yard_mem_sample_t idle, peers, after;
    int64_t admit_ms;
    double per_peer_kib;
} s_side_t;

typedef struct {
    int peers;
    uint32_t settle_ms;
    bool json;
} s_opts_t;

/* Raises the soft RLIMIT_NOFILE for peers: 2 descriptors each here, 1 in the server (which
 * inherits the limit), and a margin. Returns 0, or -1 with the reason on stderr. */
static int
s_raise_nofile(int peers)
{
    rlim_t need = (rlim_t)peers * 2 + 256;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "%s: getrlimit: %s\n", S_WHO, strerror(errno));
        return -1;
    }
    if (rl.rlim_cur >= need) {
        return 0;
    }
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        fprintf(stderr,
                "%s: --peers %d needs about %llu open files here (2 per peer: its connection "
                "and its socket's mailbox) but the hard limit is %llu (ulimit -Hn): lower "
                "--peers or raise the limit\n",
                S_WHO, peers, (unsigned long long)need, (unsigned long long)rl.rlim_max);
        return -1;
    }
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "%s: setrlimit(RLIMIT_NOFILE, %llu): %s\n", S_WHO, (unsigned long long)need,
                strerror(errno));
        return -1;
    }
    return 0;
}

static int
s_sample(const yard_mem_server_t *srv, yard_mem_sample_t *out)
{
    if (yard__mem_sample(srv->pid, out) == 0) {
        return 0;
    }
    fprintf(stderr, "%s: %s is gone (its output: %s)\n", S_WHO, yard__mem_kind_program(srv->kind),
            srv->log);
    return -1;
}

/* Peers join, settle, are read, leave, settle, are read; srv is running and idle-read. */
static int
s_with_peers(const s_opts_t *o, const yard_mem_server_t *srv, s_side_t *out)
{
    char why[512];
    yard_mem_peers_t *peers = yard__mem_peers_new(o->peers, srv->kind);
    if (!peers) {
        fprintf(stderr, "%s: cannot make %d peers (out of memory)\n", S_WHO, o->peers);
        return -1;
    }
    int rc = yard__mem_peers_connect(peers, srv->endpoint, &out->admit_ms, why, sizeof why);
    if (rc != 0) {
        fprintf(stderr, "%s: %s: %s (its output: %s)\n", S_WHO, yard__mem_kind_program(srv->kind),
                why, srv->log);
    }
    if (rc == 0) {
        yard__mem_peers_keep(peers, o->settle_ms);
        rc = s_sample(srv, &out->peers);
    }
    yard__mem_peers_destroy(&peers); /* they leave */
    if (rc == 0) {
        yard__sleep_ms((int)o->settle_ms); /* the broker notices and trims */
        rc = s_sample(srv, &out->after);
    }
    out->per_peer_kib = (double)(out->peers.rss_kib - out->idle.rss_kib) / o->peers;
    return rc;
}

static int
s_measure(const s_opts_t *o, yard_mem_kind_t kind, const char *dir, s_side_t *out)
{
    memset(out, 0, sizeof *out);
    char why[512];
    yard_mem_server_t srv;
    int rc = yard__mem_server_start(&srv, kind, o->peers + 64, dir, why, sizeof why);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", S_WHO, why);
    } else {
        yard__sleep_ms((int)o->settle_ms); /* its start-up allocations done */
        rc = s_sample(&srv, &out->idle);
    }
    if (rc == 0) {
        rc = s_with_peers(o, &srv, out);
    }
    yard__mem_server_stop(&srv);
    return rc;
}

static double
s_mib(long kib)
{
    return (double)kib / 1024.0;
}

static void
s_print_row(const char *name, const s_side_t *s)
{
    printf("  %-16s %8.1f MiB %11.1f MiB %7.1f KiB %12.1f MiB %10.1f MiB %8lld ms\n", name,
           s_mib(s->idle.rss_kib), s_mib(s->peers.rss_kib), s->per_peer_kib,
           s_mib(s->after.rss_kib), s_mib(s->after.hwm_kib), (long long)s->admit_ms);
}

static void
s_print_table(const s_opts_t *o, const s_side_t *b, const s_side_t *p)
{
    printf("yard bench memory: %d peers (clients %d, replicas %d), each answered; RSS read "
           "%.1f s after each step\n",
           o->peers, (o->peers + 1) / 2, o->peers / 2, o->settle_ms / 1000.0);
    printf("  %-16s %12s %15s %11s %16s %14s %11s\n", "process", "idle", "with peers", "per peer",
           "after they left", "peak (VmHWM)", "admitting");
    s_print_row("yard-broker", b);
    s_print_row("raw zmq_proxy", p);
    printf("  the broker's own per peer (broker - proxy): %.1f KiB\n",
           b->per_peer_kib - p->per_peer_kib);
    printf("  idle: broker %.1f MiB heap and stacks + %.1f MiB program and libraries (%d "
           "threads); proxy %.1f + %.1f MiB (%d threads)\n",
           s_mib(b->idle.anon_kib), s_mib(b->idle.file_kib), b->idle.threads,
           s_mib(p->idle.anon_kib), s_mib(p->idle.file_kib), p->idle.threads);
}

static void
s_json_sample(const char *key, const yard_mem_sample_t *s)
{
    printf("\"%s\":{\"rss_kib\":%ld,\"hwm_kib\":%ld,\"anon_kib\":%ld,\"file_kib\":%ld,"
           "\"threads\":%d}",
           key, s->rss_kib, s->hwm_kib, s->anon_kib, s->file_kib, s->threads);
}

static void
s_json_side(const char *key, const s_side_t *s)
{
    printf("\"%s\":{", key);
    s_json_sample("idle", &s->idle);
    putchar(',');
    s_json_sample("peers", &s->peers);
    putchar(',');
    s_json_sample("after", &s->after);
    printf(",\"per_peer_kib\":%.2f,\"admit_ms\":%lld}", s->per_peer_kib, (long long)s->admit_ms);
}

static void
s_print_json(const s_opts_t *o, const s_side_t *b, const s_side_t *p)
{
    printf("{\"peers\":%d,\"clients\":%d,\"replicas\":%d,\"settle_ms\":%u,", o->peers,
           (o->peers + 1) / 2, o->peers / 2, o->settle_ms);
    s_json_side("broker", b);
    putchar(',');
    s_json_side("proxy", p);
    printf(",\"broker_own_per_peer_kib\":%.2f}\n", b->per_peer_kib - p->per_peer_kib);
}

static int
s_parse(int argc, char **argv, s_opts_t *o)
{
    static const struct option opts[] = {{"peers", required_argument, NULL, 'n'},
                                         {"settle-ms", required_argument, NULL, 's'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *o = (s_opts_t){.peers = 1000, .settle_ms = 3000};
    optind = 1;
    for (int ch; (ch = getopt_long(argc, argv, ":n:s:jh", opts, NULL)) != -1;) {
        uint64_t v = 0;
        if (ch == 'h') {
            fputs(S_USAGE, stdout);
            return 1;
        } else if (ch == 'j') {
            o->json = true;
        } else if (ch == 'n' && yard__parse_u64(optarg, 1, YARD_MEM_PEERS_MAX, &v) == 0) {
            o->peers = (int)v;
        } else if (ch == 's' && yard__parse_u64(optarg, 0, 600000, &v) == 0) {
            o->settle_ms = (uint32_t)v;
        } else if (ch == 'n') {
            return yard__opt_bad_value(S_WHO, optarg, "--peers: 1..20000");
        } else if (ch == 's') {
            return yard__opt_bad_value(S_WHO, optarg, "--settle-ms: 0..600000");
        } else {
            return yard__opt_reject(S_WHO, ch, argv[optind - 1], S_USAGE);
        }
    }
    if (optind < argc) {
        return yard__opt_operand(S_WHO, argv[optind], S_USAGE);
    }
    return 0;
}

int
yard__cmd_bench_mem(int argc, char **argv)
{
    s_opts_t o;
    int rc = s_parse(argc, argv, &o);
    if (rc != 0) {
        return rc > 0 ? YARD_EXIT_OK : YARD_EXIT_USAGE;
    }
    if (s_raise_nofile(o.peers) != 0) {
        return YARD_EXIT_ERROR;
    }
    char dir[] = "/tmp/yard-bench-mem-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "%s: mkdtemp: %s\n", S_WHO, strerror(errno));
        return YARD_EXIT_ERROR;
    }
    s_side_t broker, proxy;
    rc = s_measure(&o, YARD_MEM_BROKER, dir, &broker);
    if (rc == 0) {
        rc = s_measure(&o, YARD_MEM_PROXY, dir, &proxy);
    }
    if (rc != 0) {
        return YARD_EXIT_ERROR; /* the logs stay in dir, named in the message */
    }
    if (o.json) {
        s_print_json(&o, &broker, &proxy);
    } else {
        s_print_table(&o, &broker, &proxy);
    }
    char path[64];
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s.log", dir, yard__mem_kind_program((yard_mem_kind_t)k));
        unlink(path);
    }
    rmdir(dir);
    return YARD_EXIT_OK;
}
