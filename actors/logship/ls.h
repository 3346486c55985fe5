/* logship's parts, shared between its files (not a public API): the configuration read from
 * the actor's section, the file tailer, the record builder, the batch queue with its spool
 * on disk, and the Elasticsearch bulk sender. All of it runs on one replica's thread, driven
 * by one loop source (logship.c), so nothing here locks.
 *
 * The key invariant ("nothing lost"): a file's offset is committed (written to the offsets
 * file and the store) only once every line before it is either acknowledged by the output or
 * written to the spool on disk; the spool's segments are deleted only once acknowledged. */
#ifndef LS_H
#define LS_H

#include "yard/actor.h"
#include "yard/http.h"
#include "yard/lease.h"

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bounds. */
#define LS_INPUTS_MAX      64            /* files: entries */
#define LS_GLOBS_MAX       32            /* paths / exclude per entry */
#define LS_FILES_MAX       1024          /* files tailed at once */
#define LS_FP_MAX          256           /* fingerprint bytes */
#define LS_FP_MIN_COPY     64            /* a copy is recognised by at least this many bytes */
#define LS_HISTORY_MAX     64            /* truncated generations remembered for copytruncate */
#define LS_BATCH_FILES     32            /* files one batch commits */
#define LS_ML_LINES_MAX    500           /* lines in one multiline event */
#define LS_READ_CHUNK      65536         /* bytes read per read(2) */
#define LS_READ_BUDGET     (1u << 20)    /* bytes read per loop turn, all files together */
#define LS_SUBJECTS_MAX    16            /* bus subjects */
#define LS_FILE_AHEAD      1             /* batches read ahead of the output from files */
#define LS_ITEM_RETRIES    8             /* per-item retries before the items go to the spool */
#define LS_DEAD_LETTER_MAX (64ull << 20) /* dead-letter file bytes before it is rotated */

typedef enum { LS_ML_NONE = 0, LS_ML_PYTHON, LS_ML_JAVA, LS_ML_REGEX } ls_ml_kind_t;
typedef enum { LS_OUT_ES = 0, LS_OUT_FILE, LS_OUT_STDOUT } ls_out_kind_t;

/* The actor's option struct (filled by the runtime from the `logship:` section). */
typedef struct {
    uint32_t refresh_ms;
    uint32_t poll_ms;
    uint64_t max_line;
    char *spool_dir;
    uint64_t spool_max;
    uint64_t memory_limit;
    char *output;
    char *host_name;
    uint32_t lease_ttl_ms;
} ls_opts_t;

typedef struct {
    char *paths[LS_GLOBS_MAX];
    size_t npaths;
    char *exclude[LS_GLOBS_MAX];
    size_t nexclude;
    ls_ml_kind_t ml;
    regex_t start; /* LS_ML_REGEX */
    char *service; /* NULL: the file's name without its extension */
} ls_input_t;

/* Everything read from the section's structured keys. */
typedef struct {
    ls_input_t inputs[LS_INPUTS_MAX];
    size_t ninputs;
    char *subjects[LS_SUBJECTS_MAX];
    size_t nsubjects;
    ls_out_kind_t out;
    char *out_path;
    char *es_url; /* without a trailing slash */
    char *es_index;
    char *api_key; /* secret */
    char *username;
    char *password; /* secret */
    uint32_t max_items;
    uint64_t max_bytes;
    uint32_t flush_ms;
    uint32_t timeout_ms;
    uint32_t backoff_base_ms;
    uint32_t backoff_cap_ms;
    char *dead_letter; /* path */
    char *ca_file;     /* PEM bundle for https; NULL: the section's http_ca_file, or the system's */
} ls_config_t;

/* config.c: reads the structured keys of the section. Returns 0, or YARD_E_CONFIG with err
 * naming the file, line and key. Caller owns *cfg's contents: free with ls_config_free(). */
int ls_config_read(const yard_config_t *file, ls_config_t *cfg, char *err, size_t errlen);
void ls_config_free(ls_config_t *cfg);

/* A growable byte buffer. */
typedef struct {
    char *p;
    size_t len, cap;
} ls_buf_t;
void ls_buf_add(ls_buf_t *b, const void *data, size_t n);
void ls_buf_free(ls_buf_t *b);

/* multiline.c: whether line (n bytes, no newline) continues the event before it. state is the
 * matcher's memory between lines (zero it for a new file). */
typedef struct {
    bool in_traceback;
    bool prev_indented;
} ls_ml_state_t;
bool ls_ml_continues(const ls_input_t *in, ls_ml_state_t *st, const char *line, size_t n);

/* The commit a batch carries for one file: every line of (file serial, generation) before
 * end is in the batch or in an earlier one. */
typedef struct {
    uint64_t serial;
    uint32_t gen;
    uint64_t end;
} ls_commit_t;

typedef struct ls_batch ls_batch_t;
struct ls_batch {
    ls_batch_t *next;
    ls_buf_t body;   /* NDJSON: an action line and a document line per item */
    uint32_t *items; /* offset of each item's action line in body */
    uint32_t nitems, cap;
    ls_commit_t commits[LS_BATCH_FILES];
    size_t ncommits;
    uint64_t segment; /* the spool segment it came from; 0: memory */
    uint32_t attempts;
    int64_t first_ms;
};

/* record.c: appends one item (action + document) for a line to batch b. */
typedef struct {
    const char *line;
    size_t len;
    const char *path;    /* log.file.path, or NULL */
    const char *subject; /* log.subject, or NULL */
    uint64_t offset;
    const char *service;
    bool truncated;
    bool multiline;
    uint64_t id_hi, id_lo; /* the deterministic _id */
    int64_t wall_ms;
} ls_line_t;
void ls_record_add(ls_batch_t *b, const ls_line_t *l, const char *index_pattern, const char *host,
                   char *index_cache, int64_t *index_day);
/* 64-bit mixing, for ids and fingerprints. */
uint64_t ls_hash(const void *data, size_t n, uint64_t seed);

/* A file being tailed. */
typedef struct ls_file ls_file_t;
struct ls_file {
    ls_file_t *next;
    uint64_t serial;
    char *path;
    int fd;
    const ls_input_t *input;
    dev_t dev;
    ino_t ino;
    uint32_t fp_len;
    uint64_t fp_hash;
    uint64_t id; /* identity for _id: fixed at discovery, changes with each truncation */
    uint32_t gen;
    uint64_t pos;        /* bytes read from the file */
    uint64_t next_line;  /* offset where the next unfinished line starts */
    uint64_t committed;  /* acknowledged (or spooled) */
    uint64_t stored;     /* committed as last written to the store, plus 1 (0: never) */
    uint64_t queued_end; /* end of the last line queued in a batch */
    uint64_t size;
    ls_buf_t partial; /* the unfinished line's bytes (at most max_line) */
    bool skipping;    /* past max_line: skipping to the end of the line */
    ls_buf_t event;   /* the multiline event being gathered */
    uint64_t event_off, event_end;
    uint32_t event_lines;
    bool event_truncated;
    int64_t event_ms; /* when its last line came */
    ls_ml_state_t ml;
    bool seen;         /* in the last scan */
    bool gone;         /* no longer at any matching path */
    uint32_t inflight; /* batches holding a commit of this file */
    yard_lease_t *lease;
    bool held;
    int64_t renew_ms;
    uint64_t lines, truncated;
};

/* A spool segment: one batch's bulk body in <dir>/spool/seg-<seq>-<items>.ndjson. */
struct ls_seg {
    uint64_t seq, bytes;
    uint32_t items;
};

/* The shipper: one per replica. */
typedef struct ls ls_t;

/* Counters for status. */
typedef struct {
    uint64_t read_lines, shipped, retried, dead, dropped, truncated, spooled, bus_lines;
    uint64_t bus_dropped, requests, failures;
} ls_stats_t;

struct ls {
    yard_ctx_t *ctx;
    const ls_opts_t *o;
    ls_config_t cfg;
    char host[256];
    char dir[1024]; /* spool_dir/<host>.<replica> */
    int replica;
    bool active; /* has inputs */
    bool draining;
    /* tail.c */
    ls_file_t *files;
    size_t nfiles;
    uint64_t next_serial;
    int64_t next_scan_ms;
    struct {
        uint64_t fp_hash, id, off;
        uint32_t fp_len, gen;
    } history[LS_HISTORY_MAX];
    size_t nhistory;
    /* saved offsets loaded at start: matched against files as they are found */
    struct ls_saved *saved;
    size_t nsaved;
    /* queue.c */
    ls_batch_t *building;
    ls_batch_t *head, *tail; /* closed batches in memory, oldest first */
    size_t queued_batches;
    uint64_t queued_bytes;
    struct ls_seg *segs; /* spool segments on disk, oldest first */
    size_t nsegs;
    uint64_t seg_next;
    uint64_t spool_bytes;
    uint64_t spool_items;
    bool offsets_dirty;
    char index_cache[256];
    int64_t index_day;
    /* es.c */
    yard_http_t *http;
    yard_loop_source_t http_src;
    ls_batch_t *inflight; /* being sent, or waiting to be sent again */
    bool sending;         /* a request is in flight */
    bool down;
    int64_t retry_at_ms;
    uint32_t failures; /* consecutive, for the backoff */
    uint64_t bus_seq;
    uint64_t boot;
    ls_stats_t st;
    int out_fd; /* file:/stdout outputs */
    char *rbuf; /* LS_READ_CHUNK bytes */
};

/* tail.c */
void ls_tail_renew(ls_t *ls, int64_t now);
void ls_tail_scan(ls_t *ls, int64_t now);
size_t ls_tail_read(ls_t *ls, int64_t now, size_t budget);
void ls_tail_flush_events(ls_t *ls, int64_t now, bool all);
void ls_tail_commit(ls_t *ls, const ls_commit_t *c);
void ls_tail_free(ls_t *ls);
int ls_offsets_load(ls_t *ls);
int ls_offsets_save(ls_t *ls);
ls_file_t *ls_tail_find(ls_t *ls, uint64_t serial);

/* queue.c */
ls_batch_t *ls_batch_new(void);
void ls_batch_free(ls_batch_t **b_p);
/* The batch lines go into now (made on first use). */
ls_batch_t *ls_queue_building(ls_t *ls, int64_t now);
/* Closes the building batch when it is full or old (force: always) and queues it. */
void ls_queue_close(ls_t *ls, int64_t now, bool force);
bool ls_queue_full(const ls_t *ls);
/* Whether file reading should wait: LS_FILE_AHEAD batches queued, or memory full. */
bool ls_queue_files_full(const ls_t *ls);
/* Writes b to a new spool segment (fsynced), commits its files, frees it. Returns 0 or an
 * error (the batch is then kept by the caller). */
int ls_spool_write(ls_t *ls, ls_batch_t *b);
int ls_spool_open(ls_t *ls);
/* The oldest spool segment as a batch, or NULL. */
ls_batch_t *ls_spool_next(ls_t *ls);
void ls_spool_done(ls_t *ls, uint64_t segment);
/* A batch is finished: commits its files, deletes its segment, frees it. */
void ls_batch_finish(ls_t *ls, ls_batch_t **b_p);
/* Moves every batch held in memory to the spool (drain, Elasticsearch down). */
void ls_queue_spool_all(ls_t *ls);
void ls_queue_free(ls_t *ls);

/* es.c */
int ls_out_start(ls_t *ls);
/* Sends the next batch when nothing is in flight and no backoff waits. */
void ls_out_pump(ls_t *ls, int64_t now);
void ls_out_stop(ls_t *ls);
int ls_dead_letter(ls_t *ls, const char *item, size_t n, int status, const char *type,
                   const char *reason);

#endif
