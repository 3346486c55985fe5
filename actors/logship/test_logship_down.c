/* Elasticsearch down for a while (503 to every request) while a writer appends 1,000 lines/s:
 * the lines go to the spool on disk, memory stays bounded (the queue under memory_limit, and
 * the process's RSS grows by less than the limit), and once Elasticsearch is back every line
 * arrives exactly once, with nothing dropped. The down time is LST_DOWN_MS: a few seconds in
 * the default suite (test_logship_down), two minutes in test_logship_down_slow (LABELS slow). */
#include "lst.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef LST_DOWN_MS
#define LST_DOWN_MS 4000
#endif

#if defined(__SANITIZE_ADDRESS__)
#define S_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define S_ASAN 1
#endif
#endif

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_es_down(void **state)
{
    (void)state;
    const uint64_t limit = 4u << 20;
    char path[512], files[1024];
    snprintf(path, sizeof path, "%s/logs/app.log", lst_env.dir);
    snprintf(files, sizeof files, "    - {paths: [\"%s/logs/*.log\"]}\n", lst_env.dir);
    char *cfg = lst_config(&lst_env, files, "  memory_limit: 4MiB\n  spool_max: 1GiB\n",
                           "    backoff: {base: 200ms, cap: 3s}\n", NULL);
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&yard_actor_logship, cfg, &t), 0);
    free(cfg);
    const unsigned rate = 1000;
    const unsigned total = (unsigned)((LST_DOWN_MS + 2000) / 1000 * rate);
    lst_writer_t *w = lst_writer_start(path, LST_ROTATE_NONE, rate, total, 0, 120);
    assert_int_equal(lst_run_docs(t, lst_env.es, 500, 20000), 0); /* shipping while up */
    es_fake_mode(lst_env.es, ES_FAKE_UNAVAILABLE);
    size_t rss0 = lst_rss(), rss_max = rss0;
    long long queued_max = 0, spooled = 0;
    int64_t until = s_now_ms() + LST_DOWN_MS;
    while (s_now_ms() < until) {
        lst_run_for(t, 100);
        char *st = lst_status(t);
        long long q = lst_json_num(st, "queued_bytes");
        queued_max = q > queued_max ? q : queued_max;
        spooled = lst_json_num(st, "spooled");
        assert_int_equal(lst_json_num(st, "dropped"), 0);
        free(st);
        size_t rss = lst_rss();
        rss_max = rss > rss_max ? rss : rss_max;
    }
    size_t docs_down = es_fake_docs(lst_env.es);
    print_message("down %d ms: spooled %lld, queue peak %lld bytes, RSS +%zu KiB, docs %zu\n",
                  LST_DOWN_MS, spooled, queued_max, (rss_max - rss0) / 1024, docs_down);
    assert_true(spooled > 0);
    assert_true((uint64_t)queued_max <= limit);
#ifndef S_ASAN
    /* The fake's request log lives in this process too: the shipper's own share is the queue
     * bound above; the whole process stays within twice the limit. (Not under ASan, whose heap
     * keeps what was freed.) */
    assert_true(rss_max - rss0 < 2 * limit);
#endif
    es_fake_mode(lst_env.es, ES_FAKE_UP);
    while (lst_writer_count(w) < total) {
        lst_run_for(t, 50);
    }
    assert_int_equal(lst_writer_join(&w), total);
    assert_int_equal(lst_run_docs(t, lst_env.es, total, 120000), 0);
    lst_run_for(t, 300);
    size_t docs = 0;
    assert_int_equal(lst_found(lst_env.es, total, &docs), total);
    assert_int_equal(docs, total);
    char *st = lst_status(t);
    assert_int_equal(lst_json_num(st, "dropped"), 0);
    assert_int_equal(lst_json_num(st, "spooled"), 0);
    free(st);
    yard_actor_test_destroy(&t);
}

/* A small spool fills up: the oldest segments are dropped and counted, never silently. */
static void
test_spool_full_drops_counted(void **state)
{
    (void)state;
    char path[512], files[1024];
    snprintf(path, sizeof path, "%s/logs/app.log", lst_env.dir);
    snprintf(files, sizeof files, "    - {paths: [\"%s/logs/*.log\"]}\n", lst_env.dir);
    lst_write_lines(path, 0, 3000, 100);
    char *cfg = lst_config(&lst_env, files, "  spool_max: 200KiB\n", NULL, es_fake_closed_url());
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&yard_actor_logship, cfg, &t), 0);
    free(cfg);
    char *st = NULL;
    for (int i = 0; i < 100; i++) {
        lst_run_for(t, 50);
        free(st);
        st = lst_status(t);
        if (lst_json_num(st, "lag_bytes") == 0) {
            break;
        }
    }
    long long spooled = lst_json_num(st, "spooled"), dropped = lst_json_num(st, "dropped");
    assert_true(dropped > 0);
    assert_int_equal(spooled + dropped, 3000);
    assert_true(lst_json_num(st, "spool_bytes") <= 200 * 1024);
    free(st);
    yard_actor_test_destroy(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_es_down, lst_test_setup, lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_spool_full_drops_counted, lst_test_setup,
                                        lst_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
