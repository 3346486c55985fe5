/* The file tailer: finds files by glob every `refresh`, reads what each gained, cuts it into
 * lines (and multiline events), and queues one record per event.
 *
 * Identity. A file is the inode (device + inode number) whose first bytes hash to its
 * fingerprint; a saved offset (the offsets file, or the store for another replica's handoff)
 * is resumed only when both match, so a reused inode starts from the head. Each file gets a
 * random 64-bit id when first seen and a new one when truncated; the documents' _id is derived
 * from (id, offset), so a resend after a crash is a duplicate Elasticsearch refuses (409).
 *
 * Rotation. A renamed file keeps its descriptor and is read until drained (no new bytes at two
 * scans after it left the globs). A file whose size falls below what was read was truncated
 * (copytruncate): reading restarts at 0 under a new id, and the old position is remembered
 * with the fingerprint, so that the copy, if a glob finds it, resumes where reading stopped
 * instead of being shipped again. */
#include "ls.h"

#include "yard/error.h"
#include "yard/log.h"
#include "yard/store.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

struct ls_saved {
    dev_t dev;
    ino_t ino;
    uint32_t fp_len, gen;
    uint64_t fp_hash, id, committed;
    char *path;
};

static uint64_t
s_random(void)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
        r = ls_hash(&r, sizeof r, (uint64_t)yard_loop_now_ms() ^ (uint64_t)getpid());
    }
    return r;
}

/* Hashes the first len bytes of fd; false when fewer could be read. */
static bool
s_fp(int fd, uint32_t len, uint64_t *out)
{
    char buf[LS_FP_MAX];
    ssize_t n = len > 0 ? pread(fd, buf, len, 0) : 0;
    if (n != (ssize_t)len) {
        return false;
    }
    *out = ls_hash(buf, len, 0x6c6f6773686970ull);
    return true;
}

ls_file_t *
ls_tail_find(ls_t *ls, uint64_t serial)
{
    for (ls_file_t *f = ls->files; f; f = f->next) {
        if (f->serial == serial) {
            return f;
        }
    }
    return NULL;
}

static ls_file_t *
s_find_inode(ls_t *ls, dev_t dev, ino_t ino)
{
    for (ls_file_t *f = ls->files; f; f = f->next) {
        if (f->dev == dev && f->ino == ino) {
            return f;
        }
    }
    return NULL;
}

static bool
s_excluded(const ls_input_t *in, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < in->nexclude; i++) {
        if (fnmatch(in->exclude[i], path, 0) == 0 || fnmatch(in->exclude[i], base, 0) == 0) {
            return true;
        }
    }
    return false;
}

/* Parses a saved line "dev ino fp_len fp_hash id gen committed path". */
static bool
s_parse_saved(const char *line, struct ls_saved *s)
{
    unsigned long long dev, ino, fph, id, com;
    unsigned fpl, gen;
    int used = 0;
    if (sscanf(line, "%llu %llu %u %llx %llx %u %llu %n", &dev, &ino, &fpl, &fph, &id, &gen, &com,
               &used) < 7 ||
        fpl > LS_FP_MAX) {
        return false;
    }
    *s = (struct ls_saved){(dev_t)dev, (ino_t)ino, fpl, gen, fph, id, com, strdup(line + used)};
    size_t n = strlen(s->path);
    while (n > 0 && (s->path[n - 1] == '\n' || s->path[n - 1] == '\r')) {
        s->path[--n] = '\0';
    }
    return true;
}

static int
s_format_saved(char *out, size_t cap, const ls_file_t *f)
{
    return snprintf(out, cap, "%llu %llu %u %016llx %016llx %u %llu %s\n",
                    (unsigned long long)f->dev, (unsigned long long)f->ino, f->fp_len,
                    (unsigned long long)f->fp_hash, (unsigned long long)f->id, f->gen,
                    (unsigned long long)f->committed, f->path);
}

int
ls_offsets_load(ls_t *ls)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/offsets", ls->dir);
    FILE *fp = fopen(path, "re");
    if (fp == NULL) {
        return errno == ENOENT ? 0 : YARD_E_IO;
    }
    char line[4200];
    while (fgets(line, sizeof line, fp) != NULL && ls->nsaved < LS_FILES_MAX) {
        struct ls_saved s;
        if (s_parse_saved(line, &s)) {
            ls->saved = realloc(ls->saved, (ls->nsaved + 1) * sizeof *ls->saved);
            ls->saved[ls->nsaved++] = s;
        }
    }
    fclose(fp);
    return 0;
}

/* The store key of a file's offset, shared by replicas on one volume. */
static void
s_store_key(char *out, size_t cap, dev_t dev, ino_t ino)
{
    snprintf(out, cap, "logship:offset:%llu:%llu", (unsigned long long)dev,
             (unsigned long long)ino);
}

int
ls_offsets_save(ls_t *ls)
{
    if (!ls->offsets_dirty) {
        return 0;
    }
    char path[1100], tmp[1110], line[4200];
    snprintf(path, sizeof path, "%s/offsets", ls->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "we");
    if (fp == NULL) {
        yard_log(YARD_LOG_ERROR, "logship: cannot write the offsets file", YF_STR("path", tmp),
                 YF_STR("error", strerror(errno)));
        return YARD_E_IO;
    }
    yard_store_t *store = yard_ctx_store(ls->ctx);
    for (ls_file_t *f = ls->files; f; f = f->next) {
        int n = s_format_saved(line, sizeof line, f);
        fwrite(line, 1, (size_t)n, fp);
        char key[128];
        s_store_key(key, sizeof key, f->dev, f->ino);
        if (store != NULL && yard_store_shared(store) && f->stored != f->committed + 1) {
            /* only what moved: one SET per file that progressed, not per file per save */
            if (yard_store_set(store, key, line, (size_t)n, 7u * 86400000u) == 0) {
                f->stored = f->committed + 1;
            }
        }
    }
    for (size_t i = 0; i < ls->nsaved; i++) { /* not found yet: kept while the path exists */
        struct ls_saved *s = &ls->saved[i];
        struct stat st;
        if (stat(s->path, &st) == 0) {
            fprintf(fp, "%llu %llu %u %016llx %016llx %u %llu %s\n", (unsigned long long)s->dev,
                    (unsigned long long)s->ino, s->fp_len, (unsigned long long)s->fp_hash,
                    (unsigned long long)s->id, s->gen, (unsigned long long)s->committed, s->path);
        }
    }
    bool ok = fflush(fp) == 0 && !ferror(fp);
    ok = fclose(fp) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        yard_log(YARD_LOG_ERROR, "logship: cannot write the offsets file", YF_STR("path", path),
                 YF_STR("error", strerror(errno)));
        return YARD_E_IO;
    }
    ls->offsets_dirty = false;
    return 0;
}

/* Whether a saved entry s describes the open file fd (size bytes). */
static bool
s_saved_matches(const struct ls_saved *s, dev_t dev, ino_t ino, int fd, uint64_t size)
{
    uint64_t h;
    return s->dev == dev && s->ino == ino && s->fp_len <= size && s_fp(fd, s->fp_len, &h) &&
           h == s->fp_hash && s->committed <= size;
}

/* Takes over the store's record of f (written by the replica that read it before) when it
 * is further on: same id, so what is sent again is a 409, never a copy. */
static void
s_adopt(ls_t *ls, ls_file_t *f)
{
    yard_store_t *store = yard_ctx_store(ls->ctx);
    char key[128], *val = NULL;
    size_t len;
    struct ls_saved s;
    s_store_key(key, sizeof key, f->dev, f->ino);
    if (store && yard_store_shared(store) && yard_store_get(store, key, &val, &len) == 0 &&
        s_parse_saved(val, &s)) {
        if (s_saved_matches(&s, f->dev, f->ino, f->fd, f->size) &&
            (s.id != f->id || s.committed > f->committed)) {
            f->id = s.id;
            f->gen = s.gen;
            f->committed = s.committed;
            f->pos = f->next_line = f->queued_end = s.committed;
            f->partial.len = f->event.len = 0;
            f->event_lines = 0;
            f->skipping = false;
        }
        free(s.path);
    }
    free(val);
}

/* Where a newly found file starts: a saved offset (local or the store's), a copy of a
 * truncated generation, or the head. */
static void
s_resume(ls_t *ls, ls_file_t *f)
{
    for (size_t i = 0; i < ls->nsaved; i++) {
        struct ls_saved *s = &ls->saved[i];
        if (s_saved_matches(s, f->dev, f->ino, f->fd, f->size)) {
            f->id = s->id;
            f->gen = s->gen;
            f->committed = s->committed;
            free(s->path);
            ls->saved[i] = ls->saved[--ls->nsaved];
            break;
        }
    }
    s_adopt(ls, f); /* the store's record, written by whichever replica read it last */
    for (size_t i = 0; f->committed == 0 && i < ls->nhistory; i++) {
        uint64_t h;
        if (ls->history[i].fp_len >= LS_FP_MIN_COPY && ls->history[i].fp_len <= f->size &&
            s_fp(f->fd, ls->history[i].fp_len, &h) && h == ls->history[i].fp_hash) {
            f->id = ls->history[i].id; /* a copy of a truncated file: same documents */
            f->gen = ls->history[i].gen;
            f->committed = ls->history[i].off;
            ls->history[i] = ls->history[--ls->nhistory];
            break;
        }
    }
    f->pos = f->next_line = f->queued_end = f->committed;
}

static void
s_take_lease(ls_t *ls, ls_file_t *f, int64_t now)
{
    yard_store_t *store = yard_ctx_store(ls->ctx);
    if (store == NULL) {
        f->held = true; /* no store: nobody to share the file with */
        return;
    }
    if (f->lease == NULL) {
        char name[128];
        snprintf(name, sizeof name, "logship:file:%llu:%llu", (unsigned long long)f->dev,
                 (unsigned long long)f->ino);
        if (yard_lease_new(store, name, ls->o->lease_ttl_ms, &f->lease) != 0) {
            f->held = true;
            return;
        }
    }
    bool was = f->held;
    int rc = f->held ? yard_lease_renew(f->lease) : yard_lease_acquire(f->lease);
    f->held = rc == 1 || (rc < 0 && yard_lease_held(f->lease, yard_loop_now_ms()));
    f->renew_ms = now + ls->o->lease_ttl_ms / 3;
    if (!was && f->held && f->inflight == 0) {
        s_adopt(ls, f); /* another replica may have shipped it meanwhile: go on from there */
    }
}

void
ls_tail_renew(ls_t *ls, int64_t now)
{
    for (ls_file_t *f = ls->files; f; f = f->next) {
        if (f->lease != NULL && f->held && now >= f->renew_ms) {
            s_take_lease(ls, f, now);
        }
    }
}

static void s_truncated(ls_t *ls, ls_file_t *f);

/* Whether f was truncated (copytruncate) or rewritten from the start since it was read. */
static bool
s_was_truncated(ls_file_t *f)
{
    struct stat st;
    uint64_t h;
    if (fstat(f->fd, &st) != 0) {
        return false;
    }
    f->size = (uint64_t)st.st_size;
    return f->size < f->pos || (f->pos > 0 && f->fp_len > 0 && f->size >= f->fp_len &&
                                s_fp(f->fd, f->fp_len, &h) && h != f->fp_hash);
}

/* A new file whose first bytes are those of a file still being read is a copy in the making
 * (copytruncate before its truncate): it is looked at again at the next scan. */
static bool
s_copy_of_live(ls_t *ls, int fd, uint64_t size)
{
    for (ls_file_t *f = ls->files; f; f = f->next) {
        uint64_t h;
        if (f->fp_len >= LS_FP_MIN_COPY && f->fp_len <= size && s_fp(fd, f->fp_len, &h) &&
            h == f->fp_hash) {
            return true;
        }
    }
    return false;
}

static void
s_add_file(ls_t *ls, const ls_input_t *in, const char *path, const struct stat *st, int64_t now)
{
    if (ls->nfiles >= LS_FILES_MAX) {
        yard_log(YARD_LOG_WARN, "logship: too many files, not tailing", YF_STR("path", path),
                 YF_INT("max", LS_FILES_MAX));
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        yard_log(YARD_LOG_WARN, "logship: cannot open", YF_STR("path", path),
                 YF_STR("error", strerror(errno)));
        return;
    }
    for (ls_file_t *g = ls->files; g; g = g->next) {
        if (g->held && s_was_truncated(g)) {
            s_truncated(ls, g); /* first, so that a copy of it is recognised below */
        }
    }
    if (s_copy_of_live(ls, fd, (uint64_t)st->st_size)) {
        close(fd);
        return;
    }
    ls_file_t *f = calloc(1, sizeof *f);
    f->serial = ++ls->next_serial;
    f->path = strdup(path);
    f->fd = fd;
    f->input = in;
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->size = (uint64_t)st->st_size;
    f->fp_len = f->size < LS_FP_MAX ? (uint32_t)f->size : LS_FP_MAX;
    if (!s_fp(fd, f->fp_len, &f->fp_hash)) {
        f->fp_len = 0;
        s_fp(fd, 0, &f->fp_hash);
    }
    f->id = s_random();
    s_resume(ls, f);
    f->seen = true;
    f->next = ls->files;
    ls->files = f;
    ls->nfiles++;
    ls->offsets_dirty = true; /* the id is saved before any document carries it */
    s_take_lease(ls, f, now);
    yard_log(YARD_LOG_INFO, "logship: tailing", YF_STR("path", path),
             YF_UINT("offset", f->committed), YF_BOOL("held", f->held));
}

static void
s_scan_path(ls_t *ls, const ls_input_t *in, const char *path, int64_t now)
{
    struct stat st;
    if (s_excluded(in, path) || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        return;
    }
    ls_file_t *f = s_find_inode(ls, st.st_dev, st.st_ino);
    if (f != NULL) {
        if (strcmp(f->path, path) != 0 && !f->seen) {
            free(f->path); /* renamed and still matched: same file, new name */
            f->path = strdup(path);
        }
        f->seen = true;
        return;
    }
    s_add_file(ls, in, path, &st, now);
}

static void
s_close(ls_t *ls, ls_file_t **pp)
{
    ls_file_t *f = *pp;
    *pp = f->next;
    yard_log(YARD_LOG_INFO, "logship: done with", YF_STR("path", f->path),
             YF_UINT("lines", f->lines));
    if (f->lease) {
        yard_lease_release(f->lease);
        yard_lease_destroy(&f->lease);
    }
    close(f->fd);
    ls_buf_free(&f->partial);
    ls_buf_free(&f->event);
    free(f->path);
    free(f);
    ls->nfiles--;
    ls->offsets_dirty = true;
}

void
ls_tail_scan(ls_t *ls, int64_t now)
{
    for (ls_file_t *f = ls->files; f; f = f->next) {
        f->seen = false;
    }
    for (size_t i = 0; i < ls->cfg.ninputs; i++) {
        const ls_input_t *in = &ls->cfg.inputs[i];
        for (size_t k = 0; k < in->npaths; k++) {
            glob_t g;
            if (glob(in->paths[k], GLOB_NOSORT, NULL, &g) != 0) {
                continue;
            }
            for (size_t j = 0; j < g.gl_pathc; j++) {
                s_scan_path(ls, in, g.gl_pathv[j], now);
            }
            globfree(&g);
        }
    }
    for (ls_file_t **pp = &ls->files; *pp;) {
        ls_file_t *f = *pp;
        if (f->seen && !f->held) {
            s_take_lease(ls, f, now);
        }
        bool drained = f->pos >= f->size && f->partial.len == 0 && f->event.len == 0;
        if (!f->seen && f->gone && drained && f->inflight == 0 && f->committed >= f->pos) {
            s_close(ls, pp); /* left the globs two scans ago and nothing is left */
            continue;
        }
        f->gone = !f->seen;
        pp = &f->next;
    }
}

/* Adds one finished event of f to the building batch. */
static void
s_queue_event(ls_t *ls, ls_file_t *f, const char *text, size_t n, uint64_t off, uint64_t end,
              bool truncated, bool multi, int64_t now)
{
    ls_batch_t *b = ls_queue_building(ls, now);
    size_t c = 0;
    while (c < b->ncommits && b->commits[c].serial != f->serial) {
        c++;
    }
    if (c == LS_BATCH_FILES) {
        ls_queue_close(ls, now, true);
        b = ls_queue_building(ls, now);
        c = 0;
    }
    if (c == b->ncommits) {
        b->commits[b->ncommits++] = (ls_commit_t){f->serial, f->gen, end};
        f->inflight++;
    }
    b->commits[c].end = end;
    b->commits[c].gen = f->gen;
    char name[256];
    const char *service = f->input->service;
    if (service == NULL) {
        const char *base = strrchr(f->path, '/');
        base = base ? base + 1 : f->path;
        snprintf(name, sizeof name, "%s", base);
        char *dot = strchr(name, '.');
        if (dot && dot != name) {
            *dot = '\0';
        }
        service = name;
    }
    ls_line_t l = {.line = text,
                   .len = n,
                   .path = f->path,
                   .offset = off,
                   .service = service,
                   .truncated = truncated,
                   .multiline = multi,
                   .id_hi = f->id,
                   .id_lo = ls_hash(&off, sizeof off, f->id),
                   .wall_ms = yard_ctx_wall_ms(ls->ctx)};
    ls_record_add(b, &l, ls->cfg.es_index, ls->host, ls->index_cache, &ls->index_day);
    f->queued_end = end;
    f->lines++;
    ls->st.read_lines++;
    if (truncated) {
        f->truncated++;
        ls->st.truncated++;
    }
    ls_queue_close(ls, now, false);
}

static void
s_flush_event(ls_t *ls, ls_file_t *f, int64_t now)
{
    if (f->event_lines == 0) {
        return;
    }
    s_queue_event(ls, f, f->event.p, f->event.len, f->event_off, f->event_end, f->event_truncated,
                  f->event_lines > 1, now);
    f->event.len = 0;
    f->event_lines = 0;
    f->event_truncated = false;
}

/* One complete line of f (without its newline) at [off, end). */
static void
s_line(ls_t *ls, ls_file_t *f, const char *line, size_t n, uint64_t off, uint64_t end,
       bool truncated, int64_t now)
{
    if (n > 0 && line[n - 1] == '\r') {
        n--;
    }
    if (f->input->ml == LS_ML_NONE) {
        s_queue_event(ls, f, line, n, off, end, truncated, false, now);
        return;
    }
    bool cont = ls_ml_continues(f->input, &f->ml, line, n);
    if (!cont || f->event_lines == 0 || f->event_lines >= LS_ML_LINES_MAX) {
        s_flush_event(ls, f, now);
        f->event_off = off;
    } else {
        ls_buf_add(&f->event, "\n", 1);
    }
    size_t room = f->event.len < ls->o->max_line ? ls->o->max_line - f->event.len : 0;
    if (n > room) {
        n = room;
        truncated = true;
    }
    ls_buf_add(&f->event, line, n);
    f->event_truncated = f->event_truncated || truncated;
    f->event_lines++;
    f->event_end = end;
    f->event_ms = now;
}

/* Cuts buf (n bytes read at file offset at) into lines. */
static void
s_cut(ls_t *ls, ls_file_t *f, const char *buf, size_t n, uint64_t at, int64_t now)
{
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t seg = nl ? (size_t)(nl - (buf + i)) : n - i;
        uint64_t end = at + i + seg + 1;
        if (nl && f->partial.len == 0 && !f->skipping && seg <= ls->o->max_line) {
            s_line(ls, f, buf + i, seg, f->next_line, end, false, now); /* the fast path */
        } else {
            size_t room = ls->o->max_line - f->partial.len;
            if (!f->skipping) {
                ls_buf_add(&f->partial, buf + i, seg < room ? seg : room);
                f->skipping = seg > room;
            }
            if (nl) {
                s_line(ls, f, f->partial.p, f->partial.len, f->next_line, end, f->skipping, now);
                f->partial.len = 0;
                f->skipping = false;
            }
        }
        if (nl) {
            f->next_line = end;
        }
        i += seg + (nl ? 1 : 0);
    }
}

/* A truncated file (copytruncate): remember where reading stopped, restart at 0. */
static void
s_truncated(ls_t *ls, ls_file_t *f)
{
    if (ls->nhistory == LS_HISTORY_MAX) {
        memmove(ls->history, ls->history + 1, (LS_HISTORY_MAX - 1) * sizeof ls->history[0]);
        ls->nhistory--;
    }
    uint64_t stop = f->event_lines ? f->event_off : f->next_line;
    ls->history[ls->nhistory].fp_hash = f->fp_hash;
    ls->history[ls->nhistory].fp_len = f->fp_len;
    ls->history[ls->nhistory].id = f->id;
    ls->history[ls->nhistory].gen = f->gen;
    ls->history[ls->nhistory++].off = stop;
    yard_log(YARD_LOG_INFO, "logship: truncated, reading from the start", YF_STR("path", f->path),
             YF_UINT("was_at", f->pos));
    f->gen++;
    f->id = s_random();
    f->stored = 0;
    f->pos = f->next_line = f->committed = f->queued_end = 0;
    f->partial.len = f->event.len = 0;
    f->event_lines = 0;
    f->skipping = false;
    memset(&f->ml, 0, sizeof f->ml);
    f->fp_len = 0;
    s_fp(f->fd, 0, &f->fp_hash);
    ls->offsets_dirty = true;
}

/* Widens the fingerprint while the file is shorter than LS_FP_MAX bytes. */
static void
s_grow_fp(ls_t *ls, ls_file_t *f)
{
    if (f->fp_len < LS_FP_MAX && f->size > f->fp_len) {
        uint32_t len = f->size < LS_FP_MAX ? (uint32_t)f->size : LS_FP_MAX;
        if (s_fp(f->fd, len, &f->fp_hash)) {
            f->fp_len = len;
            ls->offsets_dirty = true;
        }
    }
}

size_t
ls_tail_read(ls_t *ls, int64_t now, size_t budget)
{
    char *buf = ls->rbuf;
    size_t total = 0;
    for (ls_file_t *f = ls->files; f && total < budget; f = f->next) {
        if (!f->held) {
            continue;
        }
        uint64_t before = f->size;
        if (s_was_truncated(f)) {
            s_truncated(ls, f);
        } else if (f->size == before && f->pos >= f->size) {
            continue; /* nothing new */
        }
        s_grow_fp(ls, f);
        while (f->pos < f->size && total < budget && !ls_queue_files_full(ls)) {
            ssize_t n = pread(f->fd, buf, LS_READ_CHUNK, (off_t)f->pos);
            if (n <= 0) {
                break;
            }
            s_cut(ls, f, buf, (size_t)n, f->pos, now);
            f->pos += (uint64_t)n;
            total += (size_t)n;
        }
    }
    return total;
}

void
ls_tail_flush_events(ls_t *ls, int64_t now, bool all)
{
    for (ls_file_t *f = ls->files; f; f = f->next) {
        bool quiet = now - f->event_ms >= (int64_t)ls->cfg.flush_ms;
        if (f->event_lines > 0 && (all || (quiet && f->pos >= f->size))) {
            s_flush_event(ls, f, now);
        }
        if (f->partial.len > 0 && f->gone && f->pos >= f->size) {
            /* a rotated file's last line without a newline: nothing more will come */
            s_line(ls, f, f->partial.p, f->partial.len, f->next_line, f->pos, f->skipping, now);
            s_flush_event(ls, f, now);
            f->partial.len = 0;
            f->next_line = f->pos;
        }
    }
}

void
ls_tail_commit(ls_t *ls, const ls_commit_t *c)
{
    ls_file_t *f = ls_tail_find(ls, c->serial);
    if (f == NULL) {
        return;
    }
    if (f->inflight > 0) {
        f->inflight--;
    }
    if (c->gen == f->gen && c->end > f->committed) {
        f->committed = c->end;
        ls->offsets_dirty = true;
    }
}

void
ls_tail_free(ls_t *ls)
{
    while (ls->files) {
        ls_file_t *f = ls->files;
        ls->files = f->next;
        yard_lease_destroy(&f->lease);
        close(f->fd);
        ls_buf_free(&f->partial);
        ls_buf_free(&f->event);
        free(f->path);
        free(f);
    }
    for (size_t i = 0; i < ls->nsaved; i++) {
        free(ls->saved[i].path);
    }
    free(ls->saved);
    ls->saved = NULL;
    ls->nsaved = 0;
    ls->nfiles = 0;
}
