/* The copy of curve.keys_dir that zauth reads (broker_priv.h).
 *
 * zauth's certificate store aborts the process when two files in its directory hold the same
 * public key (zcertstore_insert asserts), and an operator can easily put one there (alice and
 * alice.bak). So zauth watches a private directory (mode 0700 under $TMPDIR) that this file
 * fills from keys_dir: each readable certificate once, by public key, the first by file name
 * winning; a duplicate or a file that is not a certificate is skipped and logged once. A
 * certificate without a `name` gets its file name, so refusals name the key.
 *
 * The copy is rebuilt when keys_dir changes as CZMQ would notice it (newest modification
 * time, file count, total size), checked at most every S_CHECK_MS from the broker's tick.
 * Each file is written under a hidden name and renamed, so zauth never reads half a file. */
#include "broker_priv.h"
#include "yard/log.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_CHECK_MS 500
#define S_KEYS_MAX 100000 /* certificates copied at most; the rest are logged and skipped */

struct yard__keydir {
    char *src, *mirror;
    time_t modified;
    size_t count, size;
    bool synced;
    uint64_t next_check;
};

/* Deletes every regular file in dir (not recursive: the copy is flat). */
static void
s_clear(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0)) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d) {
        closedir(d);
    }
}

static bool
s_is_secret_name(const char *path)
{
    size_t n = strlen(path);
    return n >= 7 && strcmp(path + n - 7, "_secret") == 0;
}

/* Writes cert into the copy as file number i (hidden first, then renamed). */
static void
s_write(const yard__keydir_t *k, zcert_t *cert, size_t i)
{
    char tmp[4096], dst[4096];
    snprintf(tmp, sizeof tmp, "%s/.k%06zu", k->mirror, i);
    snprintf(dst, sizeof dst, "%s/k%06zu", k->mirror, i);
    if (zcert_save_public(cert, tmp) != 0 || rename(tmp, dst) != 0) {
        yard_log(YARD_LOG_ERROR, "cannot copy a certificate for zauth", YF_STR("path", dst),
                 YF_STR("error", strerror(errno)));
    }
}

static int
s_by_name(const void *a, const void *b)
{
    const zfile_t *fa = *(zfile_t *const *)a, *fb = *(zfile_t *const *)b;
    return strcmp(zfile_filename((zfile_t *)fa, NULL), zfile_filename((zfile_t *)fb, NULL));
}

/* Rebuilds the copy from the files of dir (already read). */
static void
s_rebuild(yard__keydir_t *k, zdir_t *dir)
{
    s_clear(k->mirror);
    zfile_t **files = zdir_flatten(dir);
    size_t n = 0;
    while (files && files[n]) {
        n++;
    }
    qsort(files, n, sizeof *files, s_by_name);
    zhashx_t *seen = zhashx_new(); /* public key -> the file that gave it */
    size_t copied = 0;
    for (size_t i = 0; files && i < n; i++) {
        const char *path = zfile_filename(files[i], NULL);
        if (!zfile_is_regular(files[i]) || s_is_secret_name(path)) {
            continue;
        }
        zcert_t *cert = zcert_load(path);
        const char *first = cert ? zhashx_lookup(seen, zcert_public_txt(cert)) : NULL;
        if (!cert || first || copied >= S_KEYS_MAX) {
            yard_log(YARD_LOG_WARN, "keys_dir: file skipped", YF_STR("path", path),
                     YF_STR("why", !cert   ? "not a CZMQ certificate"
                                   : first ? "the same public key as an earlier file"
                                           : "more certificates than the broker takes"),
                     YF_STR("earlier", first ? first : ""));
            zcert_destroy(&cert);
            continue;
        }
        if (!zcert_meta(cert, "name")) {
            const char *base = strrchr(path, '/');
            zcert_set_meta(cert, "name", "%s", base ? base + 1 : path);
        }
        zhashx_insert(seen, zcert_public_txt(cert), (void *)path);
        s_write(k, cert, copied++);
        zcert_destroy(&cert);
    }
    zhashx_destroy(&seen);
    zdir_flatten_free(&files);
    yard_log(YARD_LOG_INFO, "keys_dir loaded", YF_STR("keys_dir", k->src),
             YF_INT("certificates", (int64_t)copied));
}

void
yard__keydir_sync(yard__keydir_t *k, uint64_t now_ms)
{
    if (k->synced && now_ms < k->next_check) {
        return;
    }
    k->next_check = now_ms + S_CHECK_MS;
    zdir_t *dir = zdir_new(k->src, NULL);
    if (!dir) {
        if (!k->synced || k->count) { /* it went away: nobody is allowed any more */
            yard_log(YARD_LOG_ERROR, "keys_dir cannot be read: no key is accepted",
                     YF_STR("keys_dir", k->src));
            s_clear(k->mirror);
            k->count = 0;
            k->synced = true;
        }
        return;
    }
    time_t modified = zdir_modified(dir);
    size_t count = (size_t)zdir_count(dir), size = (size_t)zdir_cursize(dir);
    if (!k->synced || modified != k->modified || count != k->count || size != k->size) {
        s_rebuild(k, dir);
        k->modified = modified;
        k->count = count;
        k->size = size;
        k->synced = true;
    }
    zdir_destroy(&dir);
}

yard__keydir_t *
yard__keydir_new(const char *src)
{
    const char *tmp = getenv("TMPDIR");
    char templ[4096];
    snprintf(templ, sizeof templ, "%s/yard-keys-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(templ)) { /* mode 0700 */
        yard_log(YARD_LOG_ERROR, "cannot make the directory zauth reads",
                 YF_STR("error", strerror(errno)));
        return NULL;
    }
    yard__keydir_t *k = calloc(1, sizeof *k);
    if (!k || !(k->src = strdup(src)) || !(k->mirror = strdup(templ))) {
        abort();
    }
    yard__keydir_sync(k, 0);
    return k;
}

const char *
yard__keydir_path(const yard__keydir_t *k)
{
    return k->mirror;
}

void
yard__keydir_destroy(yard__keydir_t **k_p)
{
    yard__keydir_t *k = *k_p;
    if (!k) {
        return;
    }
    s_clear(k->mirror);
    rmdir(k->mirror);
    free(k->src);
    free(k->mirror);
    free(k);
    *k_p = NULL;
}
