/* logship against the Elasticsearch fake, through the runtime's own code (yard/actor_test.h, the
 * loop source turned in real time): shipping a file, per-item statuses (409, 429, 400, 503),
 * 413 splits, long lines, multiline presets, JSON lines, authentication, the file: output, the
 * spool across a restart while Elasticsearch is unreachable, and an idle actor. */
#include "lst.h"

#include "http_fake.h"
#include "yard/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static yard_actor_test_t *
s_start(const char *files, const char *extra, const char *es, const char *url)
{
    char *cfg = lst_config(&lst_env, files, extra, es, url);
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&yard_actor_logship, cfg, &t), 0);
    free(cfg);
    return t;
}

static const char *
s_path(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/logs/%s", lst_env.dir, name);
    return p;
}

static char *
s_files(const char *body)
{
    char *out = malloc(2048);
    snprintf(out, 2048, "    - {paths: [\"%s/logs/*.log\"]%s}\n", lst_env.dir, body ? body : "");
    return out;
}

/* The actor on every *.log in logs/. */
static yard_actor_test_t *
s_start_logs(const char *extra, const char *es, const char *url)
{
    char *files = s_files(NULL);
    yard_actor_test_t *t = s_start(files, extra, es, url);
    free(files);
    return t;
}

/* Elasticsearch requiring the Authorization value want; secret is written to dir/name, which
 * es_key (the elasticsearch: keys, ending with the file's key) names; n lines of app.log must
 * then all arrive. */
static yard_actor_test_t *
s_auth_ships(const char *name, const char *secret, const char *es_key, const char *want, unsigned n)
{
    char file[512], es[700];
    snprintf(file, sizeof file, "%s/%s", lst_env.dir, name);
    lst_append(file, secret);
    snprintf(es, sizeof es, "%s%s\n", es_key, file);
    es_fake_require_auth(lst_env.es, want);
    lst_write_lines(s_path("app.log"), 0, n, 60);
    yard_actor_test_t *t = s_start_logs(NULL, es, NULL);
    assert_int_equal(lst_run_docs(t, lst_env.es, n, 20000), 0);
    return t;
}

/* Lines present at start and lines that come later all arrive, once each, with the fields. */
static void
test_ships_file(void **state)
{
    (void)state;
    lst_write_lines(s_path("app.log"), 0, 500, 100);
    lst_write_lines(s_path("skip.gz.log"), 0, 10, 50);
    char *files = s_files(", exclude: [\"*.gz.log\"]");
    yard_actor_test_t *t = s_start(files, NULL, NULL, NULL);
    free(files);
    assert_int_equal(lst_run_docs(t, lst_env.es, 500, 20000), 0);
    lst_write_lines(s_path("app.log"), 500, 700, 100);
    lst_write_lines(s_path("new.log"), 1200, 50, 100); /* found at the next scan, from its head */
    assert_int_equal(lst_run_docs(t, lst_env.es, 1250, 20000), 0);
    size_t docs = 0;
    assert_int_equal(lst_found(lst_env.es, 1250, &docs), 1250);
    assert_int_equal(docs, 1250); /* the excluded file was not read */
    char buf[4096];
    assert_int_equal(lst_docs_with(lst_env.es, "seq=00000007 ", buf, sizeof buf), 1);
    assert_non_null(strstr(buf, "\"@timestamp\":\"20"));
    assert_non_null(strstr(buf, "\"log\":{\"file\":{\"path\":\""));
    assert_non_null(strstr(buf, "app.log\"},\"offset\":707}"));
    assert_non_null(strstr(buf, "\"host\":{\"name\":\"testhost\"}"));
    assert_non_null(strstr(buf, "\"service\":{\"name\":\"app\"}"));
    assert_non_null(strstr(buf, "\"agent\":{\"type\":\"logship\",\"version\":\""));
    char *st = lst_status(t);
    assert_int_equal(lst_json_num(st, "shipped"), 1250);
    assert_int_equal(lst_json_num(st, "lag_bytes"), 0);
    assert_int_equal(lst_json_num(st, "dead_lettered"), 0);
    free(st);
    yard_actor_test_destroy(&t);
}

/* 2xx and 409 done, 429 and 503 retried for those items only, 400 dead-lettered with the
 * reason. */
static void
test_mixed_item_statuses(void **state)
{
    (void)state;
    int statuses[10] = {201, 409, 429, 400, 201, 503, 201, 429, 400, 201};
    es_fake_item_statuses(lst_env.es, statuses, 10);
    lst_write_lines(s_path("app.log"), 0, 10, 60);
    yard_actor_test_t *t = s_start_logs(NULL, NULL, NULL);
    /* 10 lines: 2 dead-lettered (400), 1 answered 409 (a duplicate: done, not stored) */
    assert_int_equal(lst_run_docs(t, lst_env.es, 7, 20000), 0);
    lst_run_for(t, 200);
    assert_int_equal(es_fake_docs(lst_env.es), 7);
    assert_int_equal(es_fake_items(lst_env.es), 13); /* 10, then the 3 retried ones */
    char *st = lst_status(t);
    assert_int_equal(lst_json_num(st, "retried"), 3);
    assert_int_equal(lst_json_num(st, "dead_lettered"), 2);
    assert_int_equal(lst_json_num(st, "shipped"), 8);
    free(st);
    char dl[512], text[8192] = "";
    snprintf(dl, sizeof dl, "%s/spool/testhost.0/dead-letter.ndjson", lst_env.dir);
    FILE *fp = fopen(dl, "r");
    assert_non_null(fp);
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    assert_non_null(strstr(text, "\"status\":400"));
    assert_non_null(strstr(text, "mapper_parsing_exception"));
    assert_non_null(strstr(text, "failed to parse field [message]"));
    assert_non_null(strstr(text, "seq=00000003"));
    assert_non_null(strstr(text, "seq=00000008"));
    yard_actor_test_destroy(&t);
}

/* A body over Elasticsearch's limit is split until it fits; a document alone over it goes to
 * the dead-letter file. */
static void
test_413_splits(void **state)
{
    (void)state;
    es_fake_max_body(lst_env.es, 8000);
    lst_write_lines(s_path("app.log"), 0, 150, 100);
    lst_write_lines(s_path("app.log"), 150, 1, 9000);
    lst_write_lines(s_path("app.log"), 151, 49, 100);
    yard_actor_test_t *t = s_start_logs(NULL, NULL, NULL);
    assert_int_equal(lst_run_docs(t, lst_env.es, 199, 30000), 0);
    size_t docs;
    assert_int_equal(lst_found(lst_env.es, 200, &docs), 199);
    char *st = lst_status(t);
    assert_int_equal(lst_json_num(st, "dead_lettered"), 1);
    assert_int_equal(lst_json_num(st, "lag_bytes"), 0);
    free(st);
    yard_actor_test_destroy(&t);
}

/* A line over max_line is shipped truncated and counted; the file keeps being tailed. */
static void
test_long_lines(void **state)
{
    (void)state;
    lst_write_lines(s_path("app.log"), 0, 1, 100);
    lst_write_lines(s_path("app.log"), 1, 1, 200000);
    lst_write_lines(s_path("app.log"), 2, 3, 100);
    yard_actor_test_t *t = s_start_logs("  max_line: 1KiB\n", NULL, NULL);
    assert_int_equal(lst_run_docs(t, lst_env.es, 5, 20000), 0);
    lst_write_lines(s_path("app.log"), 5, 2, 100);
    assert_int_equal(lst_run_docs(t, lst_env.es, 7, 20000), 0);
    assert_int_equal(lst_found(lst_env.es, 7, NULL), 7);
    static char buf[65536];
    assert_int_equal(lst_docs_with(lst_env.es, "seq=00000001 ", buf, sizeof buf), 1);
    assert_non_null(strstr(buf, "\"flags\":[\"truncated\"]"));
    const char *m = strstr(buf, "\"message\":\"");
    assert_non_null(m);
    assert_int_equal(strcspn(m + 11, "\""), 1024);
    char *st = lst_status(t);
    assert_int_equal(lst_json_num(st, "truncated"), 1);
    free(st);
    yard_actor_test_destroy(&t);
}

static const char s_python[] =
    "2026-12-04 10:00:00 INFO start\n"
    "2026-12-04 10:00:01 ERROR failed\n"
    "Traceback (most recent call last):\n"
    "  File \"app.py\", line 3, in <module>\n"
    "    main()\n"
    "ValueError: bad value\n"
    "\n"
    "During handling of the above exception, another exception occurred:\n"
    "\n"
    "Traceback (most recent call last):\n"
    "  File \"app.py\", line 5, in <module>\n"
    "KeyError: 'x'\n"
    "2026-12-04 10:00:02 INFO next\n";

static const char s_java[] = "2026-12-04 10:00:00 INFO start\n"
                             "2026-12-04 10:00:01 ERROR request failed\n"
                             "java.lang.IllegalStateException: boom\n"
                             "\tat com.example.Foo.bar(Foo.java:10)\n"
                             "\tat com.example.Main.main(Main.java:3)\n"
                             "Caused by: java.io.IOException: disk\n"
                             "\tat com.example.Disk.read(Disk.java:7)\n"
                             "\t... 2 more\n"
                             "2026-12-04 10:00:02 INFO next\n";

static void
s_multiline(const char *preset, const char *text, const char *needle, const char *inside)
{
    lst_append(s_path("app.log"), text);
    char body[256];
    snprintf(body, sizeof body, ", multiline: %s", preset);
    char *files = s_files(body);
    yard_actor_test_t *t = s_start(files, NULL, NULL, NULL);
    free(files);
    assert_int_equal(lst_run_docs(t, lst_env.es, 3, 20000), 0);
    lst_run_for(t, 300);
    assert_int_equal(es_fake_docs(lst_env.es), 3);
    static char buf[65536];
    assert_int_equal(lst_docs_with(lst_env.es, needle, buf, sizeof buf), 1);
    assert_non_null(strstr(buf, inside));
    assert_non_null(strstr(buf, "\"flags\":[\"multiline\"]"));
    assert_int_equal(lst_docs_with(lst_env.es, "INFO next", buf, sizeof buf), 1);
    yard_actor_test_destroy(&t);
}

static void
test_multiline_python(void **state)
{
    (void)state;
    s_multiline("python", s_python, "ERROR failed", "KeyError: 'x'");
}

static void
test_multiline_java(void **state)
{
    (void)state;
    s_multiline("java", s_java, "ERROR request failed", "\\t... 2 more");
}

static void
test_multiline_regex(void **state)
{
    (void)state;
    s_multiline("{start: \"^[0-9]{4}-\"}", s_java, "ERROR request failed", "Caused by:");
}

/* A JSON line's fields become the document's; a Switchyard log line's ts, msg and component
 * map to @timestamp, message and service.name; clashing members go under json. */
static void
test_json_lines(void **state)
{
    (void)state;
    lst_append(s_path("app.log"),
               "{\"ts\":\"2026-12-04T10:00:00.000Z\",\"level\":\"warn\",\"component\":\"broker\","
               "\"msg\":\"replica declared dead\",\"service\":\"echo\",\"missed\":3}\n"
               "not json {\n");
    yard_actor_test_t *t = s_start_logs(NULL, NULL, NULL);
    assert_int_equal(lst_run_docs(t, lst_env.es, 2, 20000), 0);
    char buf[4096];
    assert_int_equal(lst_docs_with(lst_env.es, "replica declared dead", buf, sizeof buf), 1);
    assert_non_null(strstr(buf, "\"@timestamp\":\"2026-12-04T10:00:00.000Z\""));
    assert_non_null(strstr(buf, "\"message\":\"replica declared dead\""));
    assert_non_null(strstr(buf, "\"service\":{\"name\":\"broker\"}"));
    assert_non_null(strstr(buf, "\"missed\":3"));
    assert_non_null(strstr(buf, "\"json\":{\"service\":\"echo\"}"));
    assert_non_null(strstr(buf, "\"level\":\"warn\""));
    assert_int_equal(lst_docs_with(lst_env.es, "\"message\":\"not json {\"", buf, sizeof buf), 1);
    yard_actor_test_destroy(&t);
}

/* api_key_file sends Authorization: ApiKey; the key never shows in status. */
static void
test_api_key(void **state)
{
    (void)state;
    yard_actor_test_t *t = s_auth_ships("es-key", "c2VjcmV0LWtleS0xMjM=\n",
                                        "    api_key_file: ", "ApiKey c2VjcmV0LWtleS0xMjM=", 20);
    char *st = lst_status(t);
    assert_null(strstr(st, "c2VjcmV0"));
    free(st);
    yard_actor_test_destroy(&t);
}

/* HTTPS with the operator's CA bundle (elasticsearch.ca_file; the section's http_ca_file works
 * the same): the fake's certificate is trusted only through it. */
static void
test_https_ca_file(void **state)
{
    (void)state;
    es_fake_t *tls = es_fake_start_tls();
    char ca[512], es[700];
    snprintf(ca, sizeof ca, "%s/ca.pem", lst_env.dir);
    lst_append(ca, yh_test_cert_pem);
    snprintf(es, sizeof es, "    ca_file: %s\n", ca);
    lst_write_lines(s_path("app.log"), 0, 40, 60);
    char url[128];
    snprintf(url, sizeof url, "%s", es_fake_url(tls));
    assert_int_equal(strncmp(url, "https://", 8), 0);
    yard_actor_test_t *t = s_start_logs(NULL, es, url);
    assert_int_equal(lst_run_docs(t, tls, 40, 20000), 0);
    assert_int_equal(lst_found(tls, 40, NULL), 40);
    yard_actor_test_destroy(&t);
    es_fake_stop(&tls);

    /* the same trust from the operator's http_ca_file of the section, which the actor's own
     * engine takes from the runtime (yard_ctx_http_ca_file) */
    tls = es_fake_start_tls();
    snprintf(url, sizeof url, "%s", es_fake_url(tls));
    lst_write_lines(s_path("app.log"), 40, 40, 60);
    char extra[600];
    snprintf(extra, sizeof extra, "  http_ca_file: %s\n", ca);
    t = s_start_logs(extra, NULL, url);
    assert_int_equal(lst_run_docs(t, tls, 40, 20000), 0);
    yard_actor_test_destroy(&t);
    es_fake_stop(&tls);
}

/* username + password_file sends basic authentication. */
static void
test_basic_auth(void **state)
{
    (void)state;
    yard_actor_test_t *t = s_auth_ships(
        "es-pw", "hunter22\n",
        "    username: elastic\n    password_file: ", "Basic ZWxhc3RpYzpodW50ZXIyMg==", 5);
    yard_actor_test_destroy(&t);
}

/* Elasticsearch unreachable: the lines go to the spool; a restart pointed at a live
 * Elasticsearch ships them all from there, and the file is not read twice. */
static void
test_spool_survives_restart(void **state)
{
    (void)state;
    lst_write_lines(s_path("app.log"), 0, 1000, 80);
    yard_actor_test_t *t = s_start_logs(NULL, NULL, es_fake_closed_url());
    lst_run_for(t, 1500);
    char *st = lst_status(t);
    assert_int_equal(lst_json_num(st, "spooled"), 1000);
    assert_non_null(strstr(st, "\"elasticsearch_down\":true"));
    assert_int_equal(lst_json_num(st, "lag_bytes"), 0); /* committed: safe in the spool */
    free(st);
    yard_actor_test_destroy(&t);
    lst_write_lines(s_path("app.log"), 1000, 100, 80);
    t = s_start_logs(NULL, NULL, NULL);
    assert_int_equal(lst_run_docs(t, lst_env.es, 1100, 30000), 0);
    size_t docs;
    assert_int_equal(lst_found(lst_env.es, 1100, &docs), 1100);
    assert_int_equal(docs, 1100);
    lst_run_for(t, 100);
    st = lst_status(t);
    assert_int_equal(lst_json_num(st, "spooled"), 0);
    free(st);
    yard_actor_test_destroy(&t);
}

/* A whole-request 429 (Elasticsearch's write queue full) counts as down: batches are spooled,
 * tried again after the backoff, and all arrive once it takes them. */
static void
test_whole_429_then_recovers(void **state)
{
    (void)state;
    es_fake_mode(lst_env.es, ES_FAKE_REJECTING);
    lst_write_lines(s_path("app.log"), 0, 600, 80);
    yard_actor_test_t *t = s_start_logs(NULL, NULL, NULL);
    char *st = NULL;
    for (int i = 0; i < 200; i++) {
        lst_run_for(t, 20);
        free(st);
        st = lst_status(t);
        if (lst_json_num(st, "spooled") == 600) {
            break;
        }
    }
    assert_non_null(strstr(st, "\"elasticsearch_down\":true"));
    assert_int_equal(lst_json_num(st, "spooled"), 600);
    assert_true(lst_json_num(st, "failures") >= 1);
    free(st);
    assert_int_equal(es_fake_docs(lst_env.es), 0);
    es_fake_mode(lst_env.es, ES_FAKE_UP);
    assert_int_equal(lst_run_docs(t, lst_env.es, 600, 20000), 0);
    lst_run_for(t, 100);
    st = lst_status(t);
    assert_non_null(strstr(st, "\"elasticsearch_down\":false"));
    assert_int_equal(lst_json_num(st, "spooled"), 0);
    free(st);
    yard_actor_test_destroy(&t);
}

/* Stopping (SIGTERM: the replica drains) sends what was read and queued within drain_ms and
 * writes the offsets: a restart goes on from there, sending nothing twice. */
static void
test_drain_flushes_and_persists(void **state)
{
    (void)state;
    es_fake_delay(lst_env.es, 40); /* a slow Elasticsearch: batches wait in the queue */
    lst_write_lines(s_path("app.log"), 0, 3000, 100);
    yard_actor_test_t *t = s_start_logs(NULL, NULL, NULL);
    assert_int_equal(lst_run_docs(t, lst_env.es, 400, 20000), 0);
    char *st = lst_status(t);
    long long queued = lst_json_num(st, "queued");
    free(st);
    assert_true(queued > 0);
    yard_actor_test_destroy(&t); /* drains: what is queued goes out now */
    size_t at_stop = es_fake_docs(lst_env.es);
    assert_true(at_stop >= 400 + (size_t)queued - 200); /* the queue went out, not dropped */
    es_fake_delay(lst_env.es, 0);
    t = s_start_logs(NULL, NULL, NULL);
    assert_int_equal(lst_run_docs(t, lst_env.es, 3000, 20000), 0);
    lst_run_for(t, 100);
    size_t docs;
    assert_int_equal(lst_found(lst_env.es, 3000, &docs), 3000);
    assert_int_equal(docs, 3000);
    assert_int_equal(es_fake_conflicts(lst_env.es), 0); /* the offsets were written at stop */
    yard_actor_test_destroy(&t);
}

/* The file: output writes each document as one line. */
static void
test_file_output(void **state)
{
    (void)state;
    char out[512], extra[700];
    snprintf(out, sizeof out, "%s/out.ndjson", lst_env.dir);
    snprintf(extra, sizeof extra, "  output: file:%s\n", out);
    lst_write_lines(s_path("app.log"), 0, 30, 60);
    yard_actor_test_t *t = s_start_logs(extra, NULL, NULL);
    char *st = NULL;
    for (int i = 0; i < 200; i++) {
        lst_run_for(t, 20);
        free(st);
        st = lst_status(t);
        if (lst_json_num(st, "shipped") == 30) {
            break;
        }
    }
    assert_int_equal(lst_json_num(st, "shipped"), 30);
    free(st);
    yard_actor_test_destroy(&t);
    FILE *fp = fopen(out, "r");
    assert_non_null(fp);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, fp)) {
        assert_non_null(strstr(line, "\"message\":\"seq="));
        n++;
    }
    fclose(fp);
    assert_int_equal(n, 30);
}

/* Nothing configured: starts, idles, says so. */
static void
test_idle(void **state)
{
    (void)state;
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&yard_actor_logship, NULL, &t), 0);
    char *st = lst_status(t);
    assert_non_null(strstr(st, "\"active\":false"));
    free(st);
    yard_actor_test_destroy(&t);
}

/* A bad key is refused with the file's line. */
static void
test_bad_config(void **state)
{
    (void)state;
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&yard_actor_logship,
                                         "logship:\n  files:\n    - {paths: [a], multiline: "
                                         "perl}\n",
                                         &t),
                     YARD_E_CONFIG);
    assert_int_equal(
        yard_actor_test_new(&yard_actor_logship, "logship:\n  elasticsearch: {urll: x}\n", &t),
        YARD_E_CONFIG);
    assert_null(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ships_file, lst_test_setup, lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_mixed_item_statuses, lst_test_setup,
                                        lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_413_splits, lst_test_setup, lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_long_lines, lst_test_setup, lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_multiline_python, lst_test_setup, lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_multiline_java, lst_test_setup, lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_multiline_regex, lst_test_setup, lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_json_lines, lst_test_setup, lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_api_key, lst_test_setup, lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_basic_auth, lst_test_setup, lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_https_ca_file, lst_test_setup, lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_spool_survives_restart, lst_test_setup,
                                        lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_whole_429_then_recovers, lst_test_setup,
                                        lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_drain_flushes_and_persists, lst_test_setup,
                                        lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_file_output, lst_test_setup, lst_test_teardown),
        cmocka_unit_test(test_idle),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
