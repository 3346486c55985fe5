/* The queue between the inputs and the output: one batch being built, closed batches in memory
 * (bounded by memory_limit), and the spool on disk (bounded by spool_max), where batches go
 * while Elasticsearch is down, when memory is full of bus lines, and at stop.
 *
 * A spool segment is exactly a bulk body (one batch) in its own file, written to a temporary
 * name, fsynced and renamed, so a segment on disk is always whole. Once it is there, the files'
 * offsets of its lines are committed: the spool, not the file, now holds them. When the spool
 * would outgrow spool_max the oldest segments are deleted and their items counted as dropped:
 * the only place logship ever drops data, and always counted and logged. */
#include "ls.h"

#include "yard/error.h"
#include "yard/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ls_batch_t *
ls_batch_new(void)
{
    ls_batch_t *b = calloc(1, sizeof *b);
    if (b == NULL) {
        abort();
    }
    return b;
}

void
ls_batch_free(ls_batch_t **b_p)
{
    if (*b_p == NULL) {
        return;
    }
    ls_buf_free(&(*b_p)->body);
    free((*b_p)->items);
    free(*b_p);
    *b_p = NULL;
}

ls_batch_t *
ls_queue_building(ls_t *ls, int64_t now)
{
    if (ls->building == NULL) {
        ls->building = ls_batch_new();
        ls->building->first_ms = now;
    }
    return ls->building;
}

static bool
s_spool_on(const ls_t *ls)
{
    return ls->o->spool_max > 0 && ls->cfg.out == LS_OUT_ES;
}

static void
s_push(ls_t *ls, ls_batch_t *b)
{
    b->next = NULL;
    if (ls->tail) {
        ls->tail->next = b;
    } else {
        ls->head = b;
    }
    ls->tail = b;
    ls->queued_batches++;
    ls->queued_bytes += b->body.len;
}

void
ls_queue_close(ls_t *ls, int64_t now, bool force)
{
    ls_batch_t *b = ls->building;
    if (b == NULL || b->nitems == 0) {
        return;
    }
    uint64_t room = ls->o->max_line * 2 + 4096; /* the largest item that could come next */
    bool full = b->nitems >= ls->cfg.max_items || b->body.len + room > ls->cfg.max_bytes ||
                now - b->first_ms >= (int64_t)ls->cfg.flush_ms;
    if (!force && !full) {
        return;
    }
    ls->building = NULL;
    if (ls->down && s_spool_on(ls) && ls_spool_write(ls, b) == 0) {
        return; /* Elasticsearch is down: straight to disk, memory stays small */
    }
    s_push(ls, b);
}

bool
ls_queue_files_full(const ls_t *ls)
{
    /* Files are their own buffer: reading stays a few batches ahead of the output instead of
     * filling memory_limit (bus lines, which have no other copy, may use all of it). */
    return ls->queued_batches >= LS_FILE_AHEAD || ls_queue_full(ls);
}

bool
ls_queue_full(const ls_t *ls)
{
    uint64_t building = ls->building ? ls->building->body.len : 0;
    return ls->queued_bytes + building >= ls->o->memory_limit / 2;
}

static void
s_seg_path(const ls_t *ls, const struct ls_seg *s, char *out, size_t cap)
{
    snprintf(out, cap, "%s/spool/seg-%020llu-%u.ndjson", ls->dir, (unsigned long long)s->seq,
             s->items);
}

static int
s_seg_cmp(const void *a, const void *b)
{
    const struct ls_seg *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int
ls_spool_open(ls_t *ls)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/spool", ls->dir);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        return YARD_E_IO;
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        return YARD_E_IO;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        unsigned long long seq;
        unsigned items;
        char full[1400];
        struct stat st;
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        if (strstr(e->d_name, ".tmp") != NULL) {
            unlink(full); /* a write that never finished: its lines were never committed */
            continue;
        }
        if (sscanf(e->d_name, "seg-%llu-%u.ndjson", &seq, &items) != 2 || stat(full, &st) != 0) {
            continue;
        }
        ls->segs = realloc(ls->segs, (ls->nsegs + 1) * sizeof *ls->segs);
        ls->segs[ls->nsegs++] = (struct ls_seg){seq, (uint64_t)st.st_size, items};
        ls->spool_bytes += (uint64_t)st.st_size;
        ls->spool_items += items;
        ls->seg_next = seq + 1 > ls->seg_next ? seq + 1 : ls->seg_next;
    }
    closedir(d);
    if (ls->nsegs > 1) {
        qsort(ls->segs, ls->nsegs, sizeof *ls->segs, s_seg_cmp);
    }
    if (ls->nsegs > 0) {
        yard_log(YARD_LOG_INFO, "logship: spool found", YF_UINT("segments", ls->nsegs),
                 YF_UINT("items", ls->spool_items), YF_UINT("bytes", ls->spool_bytes));
    }
    ls->seg_next = ls->seg_next ? ls->seg_next : 1;
    return 0;
}

static void
s_seg_remove(ls_t *ls, size_t i)
{
    char path[1400];
    s_seg_path(ls, &ls->segs[i], path, sizeof path);
    unlink(path);
    ls->spool_bytes -= ls->segs[i].bytes;
    ls->spool_items -= ls->segs[i].items;
    memmove(ls->segs + i, ls->segs + i + 1, (ls->nsegs - i - 1) * sizeof *ls->segs);
    ls->nsegs--;
}

void
ls_spool_done(ls_t *ls, uint64_t segment)
{
    for (size_t i = 0; i < ls->nsegs; i++) {
        if (ls->segs[i].seq == segment) {
            s_seg_remove(ls, i);
            return;
        }
    }
}

/* Makes room for bytes more in the spool by dropping the oldest segments (counted). */
static void
s_spool_room(ls_t *ls, uint64_t bytes, uint64_t keep)
{
    while (ls->nsegs > 0 && ls->spool_bytes + bytes > ls->o->spool_max) {
        if (ls->segs[0].seq == keep) {
            break; /* in flight: finishing it frees its room */
        }
        yard_log(YARD_LOG_ERROR, "logship: spool full, dropping its oldest segment",
                 YF_UINT("items", ls->segs[0].items), YF_UINT("spool_max", ls->o->spool_max));
        ls->st.dropped += ls->segs[0].items;
        s_seg_remove(ls, 0);
    }
}

static int
s_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return YARD_E_IO;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int
ls_spool_write(ls_t *ls, ls_batch_t *b)
{
    if (!s_spool_on(ls) || b->body.len > ls->o->spool_max) {
        return YARD_E_INVALID;
    }
    s_spool_room(ls, b->body.len, ls->inflight ? ls->inflight->segment : 0);
    struct ls_seg seg = {ls->seg_next++, b->body.len, b->nitems};
    char path[1400], tmp[1410];
    s_seg_path(ls, &seg, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 ? YARD_E_IO : s_write_all(fd, b->body.p, b->body.len);
    if (rc == 0 && fdatasync(fd) != 0) {
        rc = YARD_E_IO;
    }
    if (fd >= 0) {
        close(fd);
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = YARD_E_IO;
    }
    if (rc != 0) {
        unlink(tmp);
        yard_log(YARD_LOG_ERROR, "logship: cannot write to the spool", YF_STR("path", path),
                 YF_STR("error", strerror(errno)));
        return rc;
    }
    ls->segs = realloc(ls->segs, (ls->nsegs + 1) * sizeof *ls->segs);
    ls->segs[ls->nsegs++] = seg;
    ls->spool_bytes += seg.bytes;
    ls->spool_items += seg.items;
    ls->st.spooled += b->nitems;
    if (b->segment != 0) {
        ls_spool_done(ls, b->segment); /* the rest of an older segment, written anew */
        b->segment = 0;
    }
    ls_batch_finish(ls, &b); /* its lines are safe on disk: commit the files' offsets */
    return 0;
}

/* Splits a bulk body into items: each is an action line and a document line. */
static void
s_index_items(ls_batch_t *b)
{
    size_t i = 0;
    while (i < b->body.len) {
        const char *nl = memchr(b->body.p + i, '\n', b->body.len - i);
        const char *nl2 =
            nl ? memchr(nl + 1, '\n', b->body.len - (size_t)(nl + 1 - b->body.p)) : NULL;
        if (nl2 == NULL) {
            b->body.len = i; /* a torn tail: never written whole, so never committed */
            break;
        }
        if (b->nitems == b->cap) {
            b->cap = b->cap ? b->cap * 2 : 256;
            b->items = realloc(b->items, b->cap * sizeof *b->items);
        }
        b->items[b->nitems++] = (uint32_t)i;
        i = (size_t)(nl2 + 1 - b->body.p);
    }
}

ls_batch_t *
ls_spool_next(ls_t *ls)
{
    while (ls->nsegs > 0) {
        char path[1400];
        s_seg_path(ls, &ls->segs[0], path, sizeof path);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ls_batch_t *b = ls_batch_new();
        b->segment = ls->segs[0].seq;
        char chunk[65536];
        ssize_t n;
        while (fd >= 0 && (n = read(fd, chunk, sizeof chunk)) > 0) {
            ls_buf_add(&b->body, chunk, (size_t)n);
        }
        if (fd >= 0) {
            close(fd);
        }
        s_index_items(b);
        if (b->nitems > 0) {
            return b;
        }
        yard_log(YARD_LOG_ERROR, "logship: unreadable spool segment dropped", YF_STR("path", path));
        ls->st.dropped += ls->segs[0].items;
        s_seg_remove(ls, 0);
        ls_batch_free(&b);
    }
    return NULL;
}

void
ls_batch_finish(ls_t *ls, ls_batch_t **b_p)
{
    ls_batch_t *b = *b_p;
    for (size_t i = 0; i < b->ncommits; i++) {
        ls_tail_commit(ls, &b->commits[i]);
    }
    b->ncommits = 0;
    if (b->segment != 0) {
        ls_spool_done(ls, b->segment);
    }
    ls_batch_free(b_p);
}

void
ls_queue_spool_all(ls_t *ls)
{
    ls_queue_close(ls, 0, true);
    while (ls->head) {
        ls_batch_t *b = ls->head, *next = b->next;
        uint64_t bytes = b->body.len;
        if (ls_spool_write(ls, b) != 0) {
            return; /* kept in memory: the spool is off or the disk refused */
        }
        ls->head = next; /* spool_write freed b */
        ls->queued_batches--;
        ls->queued_bytes -= bytes;
        if (ls->head == NULL) {
            ls->tail = NULL;
        }
    }
}

void
ls_queue_free(ls_t *ls)
{
    ls_batch_free(&ls->building);
    while (ls->head) {
        ls_batch_t *b = ls->head;
        ls->head = b->next;
        ls_batch_free(&b);
    }
    ls->tail = NULL;
    free(ls->segs);
    ls->segs = NULL;
    ls->nsegs = 0;
}
