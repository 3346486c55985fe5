/* Helpers shared by logship's tests: a temporary folder with logs/ and spool/, the config text
 * pointing at a fake Elasticsearch, line writers, and checks of what the fake stored. */
#ifndef LST_H
#define LST_H

#include "elasticsearch_fake.h"
#include "yard/actor_test.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

extern const yard_actor_def_t yard_actor_logship;

typedef struct {
    char dir[256];
    es_fake_t *es;
} lst_env_t;

void lst_setup(lst_env_t *e);
void lst_teardown(lst_env_t *e);

/* The environment of the test that runs now: lst_test_setup and lst_test_teardown, as cmocka's
 * per-test setup and teardown, fill it (lst_setup) and remove it (lst_teardown). */
extern lst_env_t lst_env;
int lst_test_setup(void **state);
int lst_test_teardown(void **state);

/* The config text (caller frees): files is the YAML of the files: list (may be NULL), extra
 * more keys of the logship section (each line indented by two spaces, may be NULL), es more
 * keys of the elasticsearch: map (indented by four spaces, may be NULL; a backoff: there replaces
 * the tests' short one), url NULL for the fake. */
char *lst_config(const lst_env_t *e, const char *files, const char *extra, const char *es,
                 const char *url);

/* Appends lines "seq=%08u ..." padded with 'x' to width bytes (newline excluded), for seq in
 * [from, from + n). */
void lst_write_lines(const char *path, unsigned from, unsigned n, size_t width);
void lst_append(const char *path, const char *text);

/* How many of seq in [0, n) the fake holds (counting each once), and how many documents carry
 * a seq at all (so duplicates under different _ids show as *docs > found). */
size_t lst_found(es_fake_t *es, unsigned n, size_t *docs);

/* Runs t until the fake holds at least n documents or max_ms passed. */
int lst_run_docs(yard_actor_test_t *t, es_fake_t *es, size_t n, int64_t max_ms);
/* Runs t for ms of real time. */
void lst_run_for(yard_actor_test_t *t, int64_t ms);

/* The status op's reply as JSON text (caller frees). */
char *lst_status(yard_actor_test_t *t);
/* The value of "key":N in JSON text (first occurrence), or -1. */
long long lst_json_num(const char *json, const char *key);

/* The documents whose text contains needle, copied into out (NUL-separated, cap bytes); the
 * count is returned. */
size_t lst_docs_with(es_fake_t *es, const char *needle, char *out, size_t cap);

#endif

/* A writer thread appending "seq=" lines (width bytes) to path at rate lines/s, total lines,
 * rotating every rotate_every lines (0: never) by renaming (the writer keeps writing a few
 * lines to the old file before it reopens, as an application does until its SIGHUP) or by
 * copytruncate (copy to path.N, then truncate; no line is written in between). */
typedef enum { LST_ROTATE_NONE = 0, LST_ROTATE_RENAME, LST_ROTATE_COPYTRUNCATE } lst_rotate_t;
typedef struct lst_writer lst_writer_t;
lst_writer_t *lst_writer_start(const char *path, lst_rotate_t mode, unsigned rate, unsigned total,
                               unsigned rotate_every, size_t width);
/* Waits for the writer to finish and frees it; returns the lines written. */
unsigned lst_writer_join(lst_writer_t **w_p);
/* Lines written so far. */
unsigned lst_writer_count(lst_writer_t *w);

/* Resident set size of this process, bytes (0 when unknown). */
size_t lst_rss(void);
