/* yard bench logship: lines per second that the logship actor ships from a file of 200-byte
 * lines into an Elasticsearch _bulk sink, beside `cat` of the same file into the same sink in
 * the same run (the file read and POSTed as bulk bodies with nothing else done: the ceiling the
 * sink and the loopback allow), and logship's CPU time and resident memory while it ships.
 *
 * The sink is a bare libmicrohttpd server that answers POST .../_bulk as Elasticsearch does when
 * every item succeeded ({"took","errors":false,"items":[...201...]}), counting items. logship
 * runs as its own process (`yard-actor logship`, next to this program), so its RSS and CPU
 * time are its own; its figures are taken from /proc. Debian packages neither Fluent Bit nor
 * Filebeat (apt-cache policy fluent-bit filebeat: no candidate), so they are not run here. */
#include "cli.h"

#include <curl/curl.h>
#include <microhttpd.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int yard__cmd_bench_logship(int argc, char **argv); /* called by yard.c */

#define S_WHO "yard bench logship"
#define S_USAGE                                                                                    \
    "usage: yard bench logship [--lines N] [--width BYTES] [--batch N] [--timeout SECONDS]\n"      \
    "  Ships a file of N lines (default 500000) of BYTES bytes (default 200) with the logship\n"   \
    "  actor into a local Elasticsearch _bulk sink, and POSTs the same file as bulk bodies\n"      \
    "  (the `cat` baseline); prints lines/s, logship's CPU time and RSS.\n"

/* --- the _bulk sink ------------------------------------------------------------------------- */

typedef struct {
    struct MHD_Daemon *mhd;
    atomic_ullong items;
    atomic_llong first_ms, last_ms;
} s_sink_t;

typedef struct {
    size_t newlines;
} s_upload_t;

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum MHD_Result
s_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
         const char *version, const char *data, size_t *size, void **con_cls)
{
    (void)url;
    (void)method;
    (void)version;
    s_sink_t *sink = cls;
    s_upload_t *up = *con_cls;
    if (up == NULL) {
        *con_cls = calloc(1, sizeof *up);
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*size > 0) {
        for (const char *p = data; (p = memchr(p, '\n', (size_t)(data + *size - p))) != NULL; p++) {
            up->newlines++;
        }
        *size = 0;
        return MHD_YES;
    }
    size_t n = up->newlines / 2;
    static const char item[] = "{\"create\":{\"_index\":\"bench\",\"_id\":\"x\",\"status\":201}}";
    size_t cap = 64 + n * sizeof item;
    char *body = malloc(cap);
    size_t len = (size_t)snprintf(body, cap, "{\"took\":1,\"errors\":false,\"items\":[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            body[len++] = ',';
        }
        memcpy(body + len, item, sizeof item - 1);
        len += sizeof item - 1;
    }
    memcpy(body + len, "]}", 2);
    len += 2;
    int64_t now = s_now_ms();
    long long zero = 0;
    atomic_compare_exchange_strong(&sink->first_ms, &zero, now);
    atomic_store(&sink->last_ms, now);
    atomic_fetch_add(&sink->items, n);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return rc;
}

static void
s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
            enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static void
s_sink_reset(s_sink_t *s)
{
    atomic_store(&s->items, 0);
    atomic_store(&s->first_ms, 0);
    atomic_store(&s->last_ms, 0);
}

static uint16_t
s_sink_port(s_sink_t *s)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    return di ? di->port : 0;
}

/* --- the `cat` baseline --------------------------------------------------------------------- */

static size_t
s_discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static int
s_cat(const char *path, const char *url, unsigned batch, double *secs)
{
    FILE *fp = fopen(path, "r");
    CURL *curl = curl_easy_init();
    if (fp == NULL || curl == NULL) {
        return -1;
    }
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-ndjson");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_discard);
    char *body = NULL, line[65536];
    size_t cap = 0, len = 0;
    unsigned n = 0;
    int64_t t0 = s_now_ms();
    bool more = true;
    while (more) {
        more = fgets(line, sizeof line, fp) != NULL;
        if (more) {
            size_t l = strcspn(line, "\n");
            if (len + l + 64 > cap) {
                cap = (len + l + 64) * 2;
                body = realloc(body, cap);
            }
            len += (size_t)snprintf(body + len, cap - len,
                                    "{\"create\":{}}\n{\"message\":\"%.*s\"}\n", (int)l, line);
            n++;
        }
        if ((n == batch || (!more && n > 0)) && body) {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)len);
            curl_easy_perform(curl);
            len = 0;
            n = 0;
        }
    }
    *secs = (double)(s_now_ms() - t0) / 1000.0;
    free(body);
    curl_slist_free_all(h);
    curl_easy_cleanup(curl);
    fclose(fp);
    return 0;
}

/* --- logship as a process ------------------------------------------------------------------- */

/* VmRSS of pid in KiB; *anon (may be NULL) gets RssAnon, the heap and stacks without the
 * shared libraries' pages. */
static size_t
s_rss_kib(pid_t pid, size_t *anon)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *fp = fopen(path, "r");
    size_t kib = 0;
    while (fp && fgets(line, sizeof line, fp)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtoul(line + 6, NULL, 10);
        } else if (anon != NULL && strncmp(line, "RssAnon:", 8) == 0) {
            *anon = strtoul(line + 8, NULL, 10);
        }
    }
    if (fp) {
        fclose(fp);
    }
    return kib;
}

static double
s_cpu_s(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp) {
        fclose(fp);
    }
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
        return 0;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int
s_cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double secs, cpu;
    size_t rss_median, rss_max, anon_median;
} s_ship_t;

static pid_t
s_spawn(const char *dir, const char *config)
{
    char exe[PATH_MAX], actor[PATH_MAX + 16], log[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = '\0';
    }
    snprintf(actor, sizeof actor, "%s/yard-actor", exe);
    snprintf(log, sizeof log, "%s/logship.log", dir);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *err = freopen(log, "w", stderr);
        (void)err;
        setenv("YARD_BROKER", "tcp://127.0.0.1:9", 1); /* no broker: logship needs none */
        execl(actor, actor, "logship", "--config", config, "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int
s_ship(s_sink_t *sink, const char *dir, unsigned lines, unsigned batch, int timeout_s,
       s_ship_t *out)
{
    char config[PATH_MAX], file[PATH_MAX];
    snprintf(config, sizeof config, "%s/yard.yaml", dir);
    snprintf(file, sizeof file, "%s/app.log", dir);
    FILE *fp = fopen(config, "w");
    if (fp == NULL) {
        return -1;
    }
    fprintf(fp,
            "logship:\n  files:\n    - {paths: [\"%s\"]}\n  refresh: 1s\n  spool_dir: %s/spool\n"
            "  elasticsearch:\n    url: http://127.0.0.1:%u\n    batch: {max_items: %u}\n",
            file, dir, s_sink_port(sink), batch);
    fclose(fp);
    s_sink_reset(sink);
    pid_t pid = s_spawn(dir, config);
    size_t samples[4096], anons[4096], ns = 0;
    int64_t deadline = s_now_ms() + (int64_t)timeout_s * 1000;
    while (atomic_load(&sink->items) < lines && s_now_ms() < deadline) {
        if (atomic_load(&sink->items) > 0 && ns < 4096) {
            samples[ns] = s_rss_kib(pid, &anons[ns]);
            ns++;
        }
        usleep(20000); /* sampling the child's RSS */
    }
    out->cpu = s_cpu_s(pid);
    size_t final_anon = 0, final_rss = s_rss_kib(pid, &final_anon);
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    if (atomic_load(&sink->items) < lines) {
        fprintf(stderr, "%s: logship shipped %llu of %u lines in %d s (see %s/logship.log)\n",
                S_WHO, (unsigned long long)atomic_load(&sink->items), lines, timeout_s, dir);
        return -1;
    }
    out->secs = (double)(atomic_load(&sink->last_ms) - atomic_load(&sink->first_ms)) / 1000.0;
    if (ns == 0) {
        samples[ns] = final_rss;
        anons[ns++] = final_anon;
    }
    qsort(samples, ns, sizeof *samples, s_cmp_size);
    qsort(anons, ns, sizeof *anons, s_cmp_size);
    out->anon_median = anons[ns / 2];
    out->rss_median = samples[ns / 2];
    out->rss_max = samples[ns - 1];
    return 0;
}

/* --- the command ---------------------------------------------------------------------------- */

static int
s_write_file(const char *path, unsigned lines, unsigned width)
{
    FILE *fp = fopen(path, "w");
    if (fp == NULL) {
        return -1;
    }
    char *line = malloc(width + 2);
    for (unsigned i = 0; i < lines; i++) {
        int k = snprintf(line, width + 1, "2026-12-04T10:00:00.000Z INFO req=%08u ", i);
        for (unsigned j = (unsigned)k; j < width; j++) {
            line[j] = (char)('a' + (i + j) % 26);
        }
        line[width] = '\n';
        fwrite(line, 1, width + 1, fp);
    }
    free(line);
    return fclose(fp);
}

int
yard__cmd_bench_logship(int argc, char **argv)
{
    unsigned lines = 500000, width = 200, batch = 1600;
    int timeout_s = 120;
    static const struct option opts[] = {
        {"lines", required_argument, NULL, 'n'}, {"width", required_argument, NULL, 'w'},
        {"batch", required_argument, NULL, 'b'}, {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":n:w:b:t:h", opts, NULL)) != -1) {
        long v = optarg ? strtol(optarg, NULL, 10) : 0;
        if (ch == 'h') {
            fputs(S_USAGE, stdout);
            return 0;
        } else if (ch == 'n' && v >= 1000 && v <= 100000000) {
            lines = (unsigned)v;
        } else if (ch == 'w' && v >= 40 && v <= 60000) {
            width = (unsigned)v;
        } else if (ch == 'b' && v >= 1 && v <= 100000) {
            batch = (unsigned)v;
        } else if (ch == 't' && v >= 1 && v <= 3600) {
            timeout_s = (int)v;
        } else if (ch == 'n' || ch == 'w' || ch == 'b' || ch == 't') {
            return yard__opt_bad_value(S_WHO, optarg,
                                       "--lines 1000.., --width 40..60000, --batch 1..100000, "
                                       "--timeout 1..3600");
        } else {
            return yard__opt_reject(S_WHO, ch, argv[optind - 1], S_USAGE);
        }
    }
    if (optind < argc) {
        return yard__opt_operand(S_WHO, argv[optind], S_USAGE);
    }
    char dir[] = "/tmp/yard-bench-logship-XXXXXX", file[64], url[96];
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "%s: mkdtemp: %s\n", S_WHO, strerror(errno));
        return 1;
    }
    snprintf(file, sizeof file, "%s/app.log", dir);
    if (s_write_file(file, lines, width) != 0) {
        fprintf(stderr, "%s: cannot write %s\n", S_WHO, file);
        return 1;
    }
    s_sink_t sink = {0};
    sink.mhd =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, s_access,
                         &sink, MHD_OPTION_NOTIFY_COMPLETED, s_completed, NULL, MHD_OPTION_END);
    if (sink.mhd == NULL) {
        fprintf(stderr, "%s: cannot start the _bulk sink\n", S_WHO);
        return 1;
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%u/_bulk", s_sink_port(&sink));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    double cat_s = 0;
    s_sink_reset(&sink);
    s_cat(file, url, batch, &cat_s);
    unsigned long long cat_items = atomic_load(&sink.items);
    s_ship_t ship = {0};
    int rc = s_ship(&sink, dir, lines, batch, timeout_s, &ship);
    MHD_stop_daemon(sink.mhd);
    curl_global_cleanup();
    printf("yard bench logship: %u lines of %u bytes, batches of %u, into a local _bulk sink\n",
           lines, width, batch);
    printf("  cat -> _bulk      %10.0f lines/s  (%llu lines in %.2f s)\n",
           cat_s > 0 ? (double)cat_items / cat_s : 0, cat_items, cat_s);
    if (rc == 0) {
        printf("  logship -> _bulk  %10.0f lines/s  (first to last item %.2f s)\n",
               ship.secs > 0 ? lines / ship.secs : 0, ship.secs);
        printf("  logship CPU       %10.2f s  (%.0f lines per CPU-second)\n", ship.cpu,
               ship.cpu > 0 ? lines / ship.cpu : 0);
        printf("  logship RSS       %10.1f MiB median while shipping, %.1f MiB max (heap and "
               "stacks: %.1f MiB; the rest is shared libraries' pages)\n",
               ship.rss_median / 1024.0, ship.rss_max / 1024.0, ship.anon_median / 1024.0);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "%s: could not remove %s\n", S_WHO, dir);
        }
    }
    return rc == 0 ? 0 : 1;
}
