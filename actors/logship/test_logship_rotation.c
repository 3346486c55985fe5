/* logship's file guarantees under load: rename rotation and copytruncate rotation while a
 * writer appends 1,000 lines/s lose no line and ship none twice; a shipper killed with SIGKILL
 * and started again ships every line, resending at most one batch, which Elasticsearch refuses
 * as duplicates (409) because the _id is the same. The killed shipper is this program itself,
 * started again with --child CONFIG (the same runtime code as the other tests). */
#include "lst.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void
s_rotation(lst_rotate_t mode, const char *glob)
{
    char path[512], files[1024];
    snprintf(path, sizeof path, "%s/logs/app.log", lst_env.dir);
    snprintf(files, sizeof files, "    - {paths: [\"%s/logs/%s\"]}\n", lst_env.dir, glob);
    char *cfg = lst_config(&lst_env, files, NULL, NULL, NULL);
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&yard_actor_logship, cfg, &t), 0);
    free(cfg);
    const unsigned total = 4000;
    lst_writer_t *w = lst_writer_start(path, mode, 1000, total, 1000, 80);
    while (lst_writer_count(w) < total) {
        lst_run_for(t, 50);
        /* The shipper stalls now and then (a slow disk, a busy core), so that rotations
         * happen with lines not yet read: those are the lines rotation loses elsewhere. */
        usleep(250000);
    }
    assert_int_equal(lst_writer_join(&w), total);
    assert_int_equal(lst_run_docs(t, lst_env.es, total, 30000), 0);
    lst_run_for(t, 300); /* anything shipped twice would arrive now */
    size_t docs = 0;
    assert_int_equal(lst_found(lst_env.es, total, &docs), total);
    assert_int_equal(docs, total);
    assert_int_equal(es_fake_conflicts(lst_env.es), 0);
    yard_actor_test_destroy(&t);
}

/* app.log renamed to app.log.N, the writer goes on in the old file a little, then reopens;
 * only app.log is in the globs, so the old inode is read until drained through its
 * descriptor. */
static void
test_rotation_rename(void **state)
{
    (void)state;
    s_rotation(LST_ROTATE_RENAME, "app.log");
}

/* The same with the rotated names in the globs: the renamed file is the same inode. */
static void
test_rotation_rename_globbed(void **state)
{
    (void)state;
    s_rotation(LST_ROTATE_RENAME, "app.log*");
}

/* copytruncate: the file shrinks to 0 (read again from the start under a new id) and its copy,
 * found by the glob, is recognised by its fingerprint and read from where reading stopped. */
static void
test_rotation_copytruncate(void **state)
{
    (void)state;
    s_rotation(LST_ROTATE_COPYTRUNCATE, "app.log*");
}

static pid_t
s_child(const char *cfgpath)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/proc/self/exe", "test_logship_rotation", "--child", cfgpath, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* SIGKILL in the middle of shipping, then a restart: every line arrives; what is sent again
 * is at most one batch, and Elasticsearch keeps one copy (409 for the resend). */
static void
test_kill9_restart(void **state)
{
    (void)state;
    char path[512], files[1024], cfgpath[512];
    snprintf(path, sizeof path, "%s/logs/app.log", lst_env.dir);
    snprintf(files, sizeof files, "    - {paths: [\"%s/logs/*.log\"]}\n", lst_env.dir);
    char *cfg = lst_config(&lst_env, files, NULL, NULL, NULL);
    snprintf(cfgpath, sizeof cfgpath, "%s/config.yaml", lst_env.dir);
    lst_append(cfgpath, cfg);
    free(cfg);
    const unsigned total = 30000;
    es_fake_delay(lst_env.es, 30); /* acknowledgements lag the stored items: a kill loses some */
    lst_writer_t *w = lst_writer_start(path, LST_ROTATE_NONE, 10000, total, 0, 100);
    pid_t pid = s_child(cfgpath);
    for (int i = 0; i < 3000 && es_fake_docs(lst_env.es) < 8000; i++) {
        usleep(5000); /* polling the fake with a deadline */
    }
    assert_true(es_fake_docs(lst_env.es) >= 8000);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    size_t at_kill = es_fake_docs(lst_env.es);
    assert_true(at_kill < total);
    pid = s_child(cfgpath);
    assert_int_equal(lst_writer_join(&w), total);
    for (int i = 0; i < 6000 && es_fake_docs(lst_env.es) < total; i++) {
        usleep(5000);
    }
    usleep(300000);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    size_t docs = 0;
    assert_int_equal(lst_found(lst_env.es, total, &docs), total);
    assert_int_equal(docs, total);
    print_message("kill -9 at %zu docs; resent after restart: %zu (batch: 200)\n", at_kill,
                  es_fake_conflicts(lst_env.es));
    assert_true(es_fake_conflicts(lst_env.es) <= 200);
}

static int
s_child_main(const char *cfgpath)
{
    FILE *fp = fopen(cfgpath, "r");
    if (!fp) {
        return 1;
    }
    static char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    yard_actor_test_t *t = NULL;
    if (yard_actor_test_new(&yard_actor_logship, text, &t) != 0) {
        return 1;
    }
    for (;;) {
        lst_run_for(t, 1000); /* until SIGKILL */
    }
}

int
main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--child") == 0) {
        return s_child_main(argv[2]);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rotation_rename, lst_test_setup, lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_rotation_rename_globbed, lst_test_setup,
                                        lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_rotation_copytruncate, lst_test_setup,
                                        lst_test_teardown),
        cmocka_unit_test_setup_teardown(test_kill9_restart, lst_test_setup, lst_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
