/* Helpers of logship's tests (lst.h). */
#include "lst.h"

#include "yard/json.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void
lst_setup(lst_env_t *e)
{
    snprintf(e->dir, sizeof e->dir, "/tmp/logship-test-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    char p[400];
    snprintf(p, sizeof p, "%s/logs", e->dir);
    assert_int_equal(mkdir(p, 0700), 0);
    e->es = es_fake_start();
}

void
lst_teardown(lst_env_t *e)
{
    es_fake_stop(&e->es);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    assert_int_equal(system(cmd), 0);
}

lst_env_t lst_env;

int
lst_test_setup(void **state)
{
    (void)state;
    lst_setup(&lst_env);
    return 0;
}

int
lst_test_teardown(void **state)
{
    (void)state;
    lst_teardown(&lst_env);
    return 0;
}

char *
lst_config(const lst_env_t *e, const char *files, const char *extra, const char *es,
           const char *url)
{
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);
    fprintf(fp, "logship:\n");
    if (files) {
        fprintf(fp, "  files:\n%s", files);
    }
    fprintf(fp, "  refresh: 100ms\n  poll: 10ms\n  spool_dir: %s/spool\n  host_name: testhost\n",
            e->dir);
    if (extra) {
        fputs(extra, fp);
    }
    fprintf(fp, "  elasticsearch:\n    url: %s\n    batch: {max_items: 200, flush: 50ms}\n",
            url ? url : es_fake_url(e->es));
    if (es == NULL || strstr(es, "backoff:") == NULL) {
        fprintf(fp, "    backoff: {base: 20ms, cap: 200ms}\n");
    }
    if (es) {
        fputs(es, fp);
    }
    fclose(fp);
    return out;
}

void
lst_write_lines(const char *path, unsigned from, unsigned n, size_t width)
{
    FILE *fp = fopen(path, "a");
    assert_non_null(fp);
    for (unsigned i = from; i < from + n; i++) {
        int k = fprintf(fp, "seq=%08u ", i);
        for (size_t j = (size_t)k; j < width; j++) {
            fputc('x', fp);
        }
        fputc('\n', fp);
    }
    assert_int_equal(fclose(fp), 0);
}

void
lst_append(const char *path, const char *text)
{
    FILE *fp = fopen(path, "a");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

typedef struct {
    unsigned n;
    unsigned char *seen;
    size_t found, docs;
} s_found_t;

static void
s_found(const char *id, const char *index, const char *doc, void *arg)
{
    (void)id;
    (void)index;
    s_found_t *f = arg;
    const char *p = strstr(doc, "seq=");
    if (!p) {
        return;
    }
    f->docs++;
    unsigned seq = (unsigned)strtoul(p + 4, NULL, 10);
    if (seq < f->n && !f->seen[seq]) {
        f->seen[seq] = 1;
        f->found++;
    }
}

size_t
lst_found(es_fake_t *es, unsigned n, size_t *docs)
{
    s_found_t f = {n, calloc(n + 1, 1), 0, 0};
    es_fake_each(es, s_found, &f);
    free(f.seen);
    if (docs) {
        *docs = f.docs;
    }
    return f.found;
}

typedef struct {
    es_fake_t *es;
    size_t n;
} s_until_t;

static bool
s_until_docs(void *arg)
{
    s_until_t *u = arg;
    return es_fake_docs(u->es) >= u->n;
}

int
lst_run_docs(yard_actor_test_t *t, es_fake_t *es, size_t n, int64_t max_ms)
{
    s_until_t u = {es, n};
    return yard_actor_test_run(t, max_ms, s_until_docs, &u);
}

static bool
s_never(void *arg)
{
    (void)arg;
    return false;
}

void
lst_run_for(yard_actor_test_t *t, int64_t ms)
{
    yard_actor_test_run(t, ms, s_never, NULL);
}

char *
lst_status(yard_actor_test_t *t)
{
    yard_request_t *req = yard_actor_test_call(t, "status", NULL, 0);
    const void *out;
    size_t size;
    assert_int_equal(yard_request_outcome_test(req, &out, &size, NULL), 0);
    char *json = NULL;
    assert_int_equal(yard_json_from_msgpack(out, size, &json, NULL, NULL, 0), 0);
    yard_request_destroy_test(&req);
    return json;
}

long long
lst_json_num(const char *json, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

typedef struct {
    const char *needle;
    char *out;
    size_t cap, len, n;
} s_with_t;

static void
s_with(const char *id, const char *index, const char *doc, void *arg)
{
    (void)id;
    (void)index;
    s_with_t *w = arg;
    if (strstr(doc, w->needle) == NULL) {
        return;
    }
    w->n++;
    size_t n = strlen(doc) + 1;
    if (w->len + n <= w->cap) {
        memcpy(w->out + w->len, doc, n);
        w->len += n;
    }
}

size_t
lst_docs_with(es_fake_t *es, const char *needle, char *out, size_t cap)
{
    s_with_t w = {needle, out, cap, 0, 0};
    if (cap > 0) {
        out[0] = '\0';
    }
    es_fake_each(es, s_with, &w);
    return w.n;
}

struct lst_writer {
    pthread_t thread;
    char path[512];
    lst_rotate_t mode;
    unsigned rate, total, rotate_every;
    size_t width;
    atomic_uint written;
};

static int
s_open_append(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static void
s_write_line(int fd, unsigned seq, size_t width)
{
    char line[4096];
    int k = snprintf(line, sizeof line, "seq=%08u ", seq);
    size_t n = width < sizeof line - 1 ? width : sizeof line - 1;
    for (size_t j = (size_t)k; j < n; j++) {
        line[j] = 'x';
    }
    line[n] = '\n';
    if (write(fd, line, n + 1) != (ssize_t)(n + 1)) {
        abort();
    }
}

static void
s_copy(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            abort();
        }
    }
    close(in);
    close(out);
}

static void *
s_writer(void *arg)
{
    lst_writer_t *w = arg;
    int fd = s_open_append(w->path);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    unsigned per_tick = w->rate / 100 ? w->rate / 100 : 1; /* 10 ms pacing */
    int stale = -1, stale_left = 0, gen = 0;
    for (unsigned seq = 0; seq < w->total; seq++) {
        if (w->rotate_every && seq > 0 && seq % w->rotate_every == 0) {
            char rotated[600];
            snprintf(rotated, sizeof rotated, "%s.%d", w->path, ++gen);
            if (w->mode == LST_ROTATE_RENAME) {
                rename(w->path, rotated);
                stale = fd; /* the application writes on until it reopens */
                stale_left = 5;
                fd = -1;
            } else if (w->mode == LST_ROTATE_COPYTRUNCATE) {
                s_copy(w->path, rotated);
                if (ftruncate(fd, 0) != 0) {
                    abort();
                }
            }
        }
        if (stale >= 0 && stale_left > 0) {
            s_write_line(stale, seq, w->width);
            if (--stale_left == 0) {
                close(stale);
                stale = -1;
                fd = s_open_append(w->path);
            }
        } else {
            s_write_line(fd, seq, w->width);
        }
        atomic_fetch_add(&w->written, 1);
        if ((seq + 1) % per_tick == 0) {
            next.tv_nsec += 10 * 1000 * 1000;
            if (next.tv_nsec >= 1000000000L) {
                next.tv_nsec -= 1000000000L;
                next.tv_sec++;
            }
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL); /* pacing, not sync */
        }
    }
    if (stale >= 0) {
        close(stale);
    }
    if (fd >= 0) {
        close(fd);
    }
    return NULL;
}

lst_writer_t *
lst_writer_start(const char *path, lst_rotate_t mode, unsigned rate, unsigned total,
                 unsigned rotate_every, size_t width)
{
    lst_writer_t *w = calloc(1, sizeof *w);
    snprintf(w->path, sizeof w->path, "%s", path);
    w->mode = mode;
    w->rate = rate;
    w->total = total;
    w->rotate_every = rotate_every;
    w->width = width;
    atomic_init(&w->written, 0);
    assert_int_equal(pthread_create(&w->thread, NULL, s_writer, w), 0);
    return w;
}

unsigned
lst_writer_count(lst_writer_t *w)
{
    return atomic_load(&w->written);
}

unsigned
lst_writer_join(lst_writer_t **w_p)
{
    lst_writer_t *w = *w_p;
    pthread_join(w->thread, NULL);
    unsigned n = atomic_load(&w->written);
    free(w);
    *w_p = NULL;
    return n;
}

size_t
lst_rss(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    while (fp && fgets(line, sizeof line, fp)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtoul(line + 6, NULL, 10);
        }
    }
    if (fp) {
        fclose(fp);
    }
    return kb * 1024;
}
