/* The telegram actor on a real broker, with a real auth actor and a test service, against the
 * Bot API fake (tests/fakes/telegram_fake.h): commands and their events, /help per language
 * (and setMyCommands from the same registry), invitation redemption through auth, scopes
 * refused without calling the service, replies and errors rendered, long texts split,
 * MarkdownV2 escaping accepted by the API, conversations with /cancel and a timeout, notify and
 * alert.> to the admin chats, 429 for one chat while another flows, a migrated group, a
 * webhook set by someone else (deleted before polling), a second poller (409, backed off, not a
 * hot loop), and webhook mode (secret token, once per update_id). */
#include "bus_json.h"
#include "fixture.h"
#include "harness.h"
#include "json_doc.h"
#include "telegram_fake.h"
#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/json.h"
#include "yard/mp.h"
#include "yard/msg.h"
#include "yard/registry.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_TOKEN   "123456:TEST-token_abc"
#define S_WAIT_MS 15000

/* --- a service the registry's commands call ---------------------------------------------- */

static struct {
    pthread_mutex_t lock;
    int jobs, status, remind;
    char last_args[256];
} SVC = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void
s_svc_args(yard_request_t *req)
{
    const msgpack_object *o = yard_request_object(req);
    char args[256] = "";
    if (o) {
        yard_mp_get_strbuf(o, "args", args, sizeof args, NULL, 0);
    }
    snprintf(SVC.last_args, sizeof SVC.last_args, "%s", args);
}

static int
s_svc_jobs(yard_request_t *req, void *state)
{
    (void)state;
    pthread_mutex_lock(&SVC.lock);
    SVC.jobs++;
    s_svc_args(req);
    pthread_mutex_unlock(&SVC.lock);
    /* ["nightly", "weekly"] */
    return yard_request_reply(req, "\x92\xa7nightly\xa6weekly", 16);
}

static int
s_svc_status(yard_request_t *req, void *state)
{
    (void)state;
    pthread_mutex_lock(&SVC.lock);
    SVC.status++;
    pthread_mutex_unlock(&SVC.lock);
    return yard_request_reply(req, "\x81\xa2ok\xc3", 5);
}

static int
s_svc_remind(yard_request_t *req, void *state)
{
    (void)state;
    pthread_mutex_lock(&SVC.lock);
    SVC.remind++;
    s_svc_args(req);
    pthread_mutex_unlock(&SVC.lock);
    if (strcmp(SVC.last_args, "fail") == 0) {
        return yard_request_fail(req, YARD_E_SERVICE, "NO_SUCH_THING", "nothing to remind");
    }
    return yard_request_reply(req, "\x81\xa5saved\xc3", 8);
}

static const yard_handler_def_t s_svc_handlers[] = {
    {"job.list", s_svc_jobs, ""},
    {"status", s_svc_status, ""},
    {"remind", s_svc_remind, ""},
    {NULL, NULL, NULL},
};

static const yard_actor_def_t s_svc_def = {
    .name = "svc", .description = "test service", .handlers = s_svc_handlers};

/* --- the fixture ------------------------------------------------------------------------- */

static struct {
    char *dir;
    int bport;
    yard_broker_t *broker;
    yard_config_t *cfg;
    yard_actor_t *auth, *svc, *tg;
    yard_client_t *client;
    tg_fake_t *fake;
    char admin[4096];
    /* events seen */
    pthread_mutex_t lock;
    char events[256][64];
    size_t n_events;
} F = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char *s_config_fmt =
    "store: memory\n"
    "auth:\n"
    "  admin_user: admin\n"
    "  admin_password: a long passphrase\n"
    "telegram:\n"
    "  token: \"" S_TOKEN "\"\n"
    "  api_base: %s\n"
    "  poll_timeout: 2s\n"
    "  lease: 2s\n"
    "  drain_ms: 500\n"
    "  admin_chats: [900]\n"
    "  languages: [en, de]\n"
    "  conversation_timeout: 1s\n"
    "  commands:\n"
    "    - {name: jobs, service: svc, op: job.list, scope: jobs.read,\n"
    "       help: {en: Scheduled jobs, de: Geplante Jobs}}\n"
    "    - {name: status, service: svc, op: status, scope: admin, help: Bus status}\n"
    "    - {name: verbose, service: svc, op: status, scope: admin, help: \"%s\"}\n"
    "    - name: remind\n"
    "      service: svc\n"
    "      op: remind\n"
    "      help: {en: Remember something}\n"
    "      ask: {en: What should I remember?, de: Was soll ich mir merken?}\n";

static void
s_event(const yard_msg_t *msg, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&F.lock);
    if (F.n_events < 256) {
        snprintf(F.events[F.n_events++], 64, "%s", yard_msg_subject(msg));
    }
    pthread_mutex_unlock(&F.lock);
}

static size_t
s_events(const char *subject)
{
    size_t n = 0;
    pthread_mutex_lock(&F.lock);
    for (size_t i = 0; i < F.n_events; i++) {
        n += strcmp(F.events[i], subject) == 0;
    }
    pthread_mutex_unlock(&F.lock);
    return n;
}

/* Dispatches the client (events) until the fake holds n messages for chat, or fails. */
static void
s_wait_sent(int64_t chat, size_t n)
{
    long long until = yh_now_ms() + S_WAIT_MS;
    while (tg_fake_sent(F.fake, chat) < n) {
        if (yh_now_ms() > until) {
            fail_msg("chat %lld: %zu messages, wanted %zu", (long long)chat,
                     tg_fake_sent(F.fake, chat), n);
        }
        yard_client_dispatch(F.client, 20);
    }
}

/* Waits until an event subject was seen n times. */
static void
s_wait_event(const char *subject, size_t n)
{
    long long until = yh_now_ms() + S_WAIT_MS;
    while (s_events(subject) < n) {
        if (yh_now_ms() > until) {
            fail_msg("event %s seen %zu times, wanted %zu", subject, s_events(subject), n);
        }
        yard_client_dispatch(F.client, 20);
    }
}

/* User user (language lang) says text in chat; returns the bot's next message to chat. */
static char *
s_say(int64_t chat, int64_t user, const char *lang, const char *text)
{
    size_t before = tg_fake_sent(F.fake, chat);
    tg_fake_push_text(F.fake, chat, user, lang, text);
    s_wait_sent(chat, before + 1);
    char *t = tg_fake_sent_text(F.fake, chat, before, NULL);
    assert_non_null(t);
    return t;
}

static void
s_expect(int64_t chat, int64_t user, const char *lang, const char *text, const char *want)
{
    char *got = s_say(chat, user, lang, text);
    if (!strstr(got, want)) {
        fail_msg("'%s' answered '%s', wanted it to hold '%s'", text, got, want);
    }
    free(got);
}

/* The string at key of a JSON reply, through the harness's JSON reader. */
static void
s_get(const char *json, const char *key, char *out, size_t cap)
{
    assert_non_null(json);
    yh_json_t *doc = yh_json_parse(json, strlen(json));
    assert_non_null(doc);
    const char *v = yh_json_str(yh_json_root(doc), key);
    assert_non_null(v);
    assert_true(strlen(v) < cap);
    snprintf(out, cap, "%s", v);
    yh_json_destroy(&doc);
}

/* A fresh invitation code for scopes (a JSON array). */
static void
s_invite(const char *scopes, char *code, size_t cap)
{
    char body[256];
    snprintf(body, sizeof body, "{\"scopes\":%s,\"uses\":1}", scopes);
    const char *kv[] = {"auth.token", F.admin, NULL};
    yh_result_t r = yh_call_json(F.client, "auth", "invite.create", body, kv, 5000);
    assert_int_equal(r.status, 0);
    s_get(r.json, "code", code, cap);
    yh_result_free(&r);
}

static int
s_setup(void **state)
{
    (void)state;
    F.fake = tg_fake_start(S_TOKEN);
    F.dir = yh_tmpdir();
    char text[4096];
    char help[301];
    memset(help, 'h', 300); /* longer than setMyCommands' 256: sent shortened */
    help[300] = '\0';
    snprintf(text, sizeof text, s_config_fmt, tg_fake_api_base(F.fake), help);
    F.cfg = yh_config_in(F.dir, text);
    F.broker = yh_broker_start(&F.bport);
    F.auth = yh_actor_start(yard_registry_find("auth"), F.cfg, F.bport, NULL);
    F.svc = yh_actor_start(&s_svc_def, NULL, F.bport, NULL);
    F.tg = yh_actor_start(yard_registry_find("telegram"), F.cfg, F.bport, NULL);
    yard_client_opts_t co = {.default_timeout_ms = 5000};
    assert_int_equal(yard_client_new(yh_endpoint(F.bport), &co, &F.client), 0);
    assert_int_equal(yard_client_subscribe(F.client, "telegram.>", s_event, NULL), 0);
    yh_result_t r = yh_call_json_ready(
        F.client, "auth", "login", "{\"username\":\"admin\",\"password\":\"a long passphrase\"}",
        NULL, 15000);
    assert_int_equal(r.status, 0);
    s_get(r.json, "access_token", F.admin, sizeof F.admin);
    yh_result_free(&r);
    r = yh_call_json_ready(F.client, "telegram", "status", NULL, NULL, 15000);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    yard_client_destroy(&F.client);
    yard_actor_destroy(&F.tg);
    yard_actor_destroy(&F.svc);
    yard_actor_destroy(&F.auth);
    yard_broker_destroy(&F.broker);
    yard_config_destroy(&F.cfg);
    tg_fake_stop(&F.fake);
    yh_rmtree(F.dir);
    free(F.dir);
    return 0;
}

/* --- the tests --------------------------------------------------------------------------- */

static void
test_help_and_events(void **state)
{
    (void)state;
    char *t = s_say(1, 1, "en", "/help");
    assert_non_null(strstr(t, "Commands:"));
    assert_non_null(strstr(t, "/jobs - Scheduled jobs"));
    assert_non_null(strstr(t, "/remind - Remember something"));
    assert_non_null(strstr(t, "/start - Link your account"));
    free(t);
    s_wait_event("telegram.update.message", 1);
    s_wait_event("telegram.command.help", 1);
    /* allowed_updates is always explicit */
    char au[512];
    assert_non_null(strstr(tg_fake_allowed_updates(F.fake, au, sizeof au), "\"message\""));
    /* the offset moved past the update: the fake saw it confirmed by the next poll */
    long long until = yh_now_ms() + S_WAIT_MS;
    while (tg_fake_confirmed(F.fake) < 1 && yh_now_ms() < until) {
        yard_client_dispatch(F.client, 20);
    }
    assert_true(tg_fake_confirmed(F.fake) >= 1);
    /* one command, with the help of one command, and an unknown one */
    s_expect(2, 1, "en", "/help jobs", "/jobs - Scheduled jobs");
    s_expect(3, 1, "en", "/help nope", "There is no command /nope");
    s_expect(4, 1, "en", "/frobnicate", "Unknown command /frobnicate");
}

static void
test_help_per_language(void **state)
{
    (void)state;
    char *t = s_say(10, 10, "de", "/help");
    assert_non_null(strstr(t, "Befehle:"));
    assert_non_null(strstr(t, "/jobs - Geplante Jobs"));
    assert_non_null(strstr(t, "/status - Bus status"));       /* no German help: the English one */
    assert_non_null(strstr(t, "/whoami - Show who you are")); /* a catalogue fallback */
    free(t);
    /* language_code de-AT counts as de; an unknown one is English */
    s_expect(11, 11, "de-AT", "/cancel", "Es gibt nichts abzubrechen.");
    s_expect(12, 12, "fr", "/cancel", "There is nothing to cancel.");
    /* /lang switches, and wins over language_code */
    s_expect(13, 13, "de", "/lang en", "I will speak English with you.");
    s_expect(14, 13, "de", "/help", "Commands:");
    s_expect(15, 13, "de", "/lang xx", "I don't speak \"xx\". Languages: en, de.");
    s_expect(16, 13, "en", "/lang", "Languages: en, de");
    /* the "/" menu, per language, from the same registry */
    char buf[2048];
    long long until = yh_now_ms() + S_WAIT_MS;
    while (!tg_fake_commands(F.fake, "de", buf, sizeof buf)[0] && yh_now_ms() < until) {
        yard_client_dispatch(F.client, 20);
    }
    assert_non_null(strstr(tg_fake_commands(F.fake, "de", buf, sizeof buf), "jobs=Geplante Jobs"));
    assert_non_null(strstr(buf, "help=Befehle auflisten"));
    assert_non_null(strstr(tg_fake_commands(F.fake, "en", buf, sizeof buf), "jobs=Scheduled jobs"));
    assert_non_null(strstr(tg_fake_commands(F.fake, "", buf, sizeof buf), "remind=Remember"));
    assert_non_null(strstr(buf, "hhh\xe2\x80\xa6\n")); /* the long help, cut to 256 */
}

static void
test_invitation_and_scopes(void **state)
{
    (void)state;
    s_expect(20, 20, "en", "/jobs", "I don't know you yet");
    s_expect(21, 20, "en", "/whoami", "Telegram id 20, not linked");
    char code[128], cmd[160];
    s_invite("[\"jobs.read\"]", code, sizeof code);
    snprintf(cmd, sizeof cmd, "/start %s", code);
    s_expect(22, 20, "en", cmd, "Welcome, tg:20!");
    /* the code is spent: another user gets "not valid" */
    s_expect(23, 21, "de", cmd, "Dieser Einladungscode ist ungültig");
    s_expect(24, 20, "en", "/start", "Welcome! Send /help");
    s_expect(25, 20, "en", "/whoami", "You are tg:20 (Telegram id 20). Scopes: jobs.read.");
    /* a command the scope allows: the service is called and its reply rendered */
    s_expect(26, 20, "en", "/jobs", "- nightly\n- weekly");
    pthread_mutex_lock(&SVC.lock);
    int jobs = SVC.jobs;
    pthread_mutex_unlock(&SVC.lock);
    assert_int_equal(jobs, 1);
    s_expect(27, 20, "en", "/jobs@" TG_FAKE_USERNAME " all", "- nightly");
    pthread_mutex_lock(&SVC.lock);
    assert_string_equal(SVC.last_args, "all");
    pthread_mutex_unlock(&SVC.lock);
    /* a scope the user lacks: refused in their language, the service never called */
    s_expect(28, 20, "en", "/status", "Sorry, you are not permitted to use /status.");
    s_expect(29, 20, "de", "/lang de", "Ich spreche jetzt Deutsch");
    s_expect(30, 20, "en", "/status", "Du darfst /status leider nicht verwenden.");
    pthread_mutex_lock(&SVC.lock);
    assert_int_equal(SVC.status, 0);
    pthread_mutex_unlock(&SVC.lock);
    s_wait_event("telegram.command.status", 2);
    /* a command for another bot in a group is not ours: the next one is the only answer */
    size_t before = tg_fake_sent(F.fake, -31);
    tg_fake_push_text(F.fake, -31, 20, "en", "/jobs@other_bot");
    s_expect(-31, 20, "en", "/whoami@" TG_FAKE_USERNAME, "tg:20");
    assert_int_equal(tg_fake_sent(F.fake, -31), before + 1);
}

static void
test_conversation(void **state)
{
    (void)state;
    char code[128], cmd[160];
    s_invite("[]", code, sizeof code);
    snprintf(cmd, sizeof cmd, "/start %s", code);
    s_expect(40, 40, "en", cmd, "Welcome, tg:40!");
    /* asked, answered: the answer is the command's argument */
    s_expect(41, 40, "en", "/remind", "What should I remember?");
    s_expect(41, 40, "en", "water the plants", "saved: yes");
    pthread_mutex_lock(&SVC.lock);
    assert_string_equal(SVC.last_args, "water the plants");
    int calls = SVC.remind;
    pthread_mutex_unlock(&SVC.lock);
    /* a service error is one short line naming it */
    s_expect(41, 40, "en", "/remind fail", "/remind failed: NO_SUCH_THING: nothing to remind");
    /* asked, cancelled: the next plain message is no answer (the marker after it is the only
     * reply) */
    s_expect(42, 40, "de", "/remind", "Was soll ich mir merken?");
    s_expect(42, 40, "de", "/cancel", "Abgebrochen.");
    size_t before = tg_fake_sent(F.fake, 42);
    tg_fake_push_text(F.fake, 42, 40, "en", "not an answer");
    s_expect(42, 40, "en", "/cancel", "nothing to cancel");
    assert_int_equal(tg_fake_sent(F.fake, 42), before + 1);
    /* asked, answered too late (conversation_timeout 1 s) */
    s_expect(43, 40, "en", "/remind", "What should I remember?");
    long long late = yh_now_ms() + 1200;
    while (yh_now_ms() < late) {
        yard_client_dispatch(F.client, 50); /* the timeout itself is what is tested */
    }
    s_expect(43, 40, "en", "too late", "That question timed out. Send /remind again.");
    pthread_mutex_lock(&SVC.lock);
    assert_int_equal(SVC.remind, calls + 1); /* only the "fail" call since */
    pthread_mutex_unlock(&SVC.lock);
}

static void
test_bad_input(void **state)
{
    (void)state;
    /* a callback with data the bot never issued, the bot removed from a group, a message
     * that is not text, an entity-less "/", a command over 1 KiB: answered or ignored */
    tg_fake_push(F.fake, "callback_query",
                 "{\"id\":\"1\",\"from\":{\"id\":44,\"is_bot\":false,\"first_name\":\"X\"},"
                 "\"data\":\"admin:delete_all\",\"chat_instance\":\"1\"}");
    tg_fake_push(F.fake, "my_chat_member",
                 "{\"chat\":{\"id\":-45,\"type\":\"group\"},\"from\":{\"id\":44},\"date\":1,"
                 "\"old_chat_member\":{\"status\":\"member\"},\"new_chat_member\":"
                 "{\"status\":\"kicked\"}}");
    tg_fake_push(F.fake, "message",
                 "{\"message_id\":9,\"date\":1,\"chat\":{\"id\":46,\"type\":\"private\"},"
                 "\"from\":{\"id\":46},\"photo\":[{\"file_id\":\"x\"}]}");
    tg_fake_push(F.fake, "message",
                 "{\"message_id\":10,\"date\":1,\"chat\":{\"id\":46,\"type\":\"private\"},"
                 "\"from\":{\"id\":46},\"text\":\"/\",\"entities\":[]}");
    tg_fake_push(F.fake, "message", "{\"message_id\":11}"); /* no chat, no sender */
    char *big = malloc(1200);
    memset(big, 'a', 1199);
    big[1199] = '\0';
    memcpy(big, "/jobs ", 6);
    s_expect(47, 47, "en", big, "That message is too long for a command.");
    free(big);
    s_wait_event("telegram.update.callback_query", 1);
    s_wait_event("telegram.update.my_chat_member", 1);
    /* still polling and answering */
    s_expect(46, 46, "en", "/help jobs", "/jobs - Scheduled jobs");
    assert_int_equal(tg_fake_sent(F.fake, 46), 1);
    assert_int_equal(tg_fake_sent(F.fake, -45), 0);
}

static yh_result_t
s_tg(const char *op, const char *json)
{
    return yh_call_json(F.client, "telegram", op, json, NULL, 20000);
}

static void
test_long_text_split(void **state)
{
    (void)state;
    /* 10,000 bytes in paragraphs of words: three messages, each within 4096, nothing lost */
    char *text = malloc(10001);
    size_t o = 0;
    while (o < 9990) {
        const char *para = (o / 1000) % 2 ? "para graph words here.\n\n" : "some more words ";
        size_t n = strlen(para);
        memcpy(text + o, para, n);
        o += n;
    }
    text[o] = '\0';
    char *json = malloc(o + 64);
    snprintf(json, o + 64, "{\"chat_id\":50,\"text\":\"%s\"}", text);
    for (char *p = json; *p; p++) {
        if (*p == '\n') {
            *p = ' '; /* JSON needs \n escaped: keep paragraph breaks as spaces here */
        }
    }
    yh_result_t r = s_tg("send", json);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    size_t n = tg_fake_sent(F.fake, 50);
    assert_int_equal(n, 3);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        char *t = tg_fake_sent_text(F.fake, 50, i, NULL);
        assert_true(strlen(t) <= 4096);
        assert_true(t[strlen(t) - 1] != ' ');
        total += strlen(t);
        free(t);
    }
    assert_true(total >= o - 20 && total <= o); /* only white space at the cuts was dropped */
    /* the pieces of one chat went out at least chat_interval apart */
    assert_true(tg_fake_sent_at(F.fake, 50, 1) - tg_fake_sent_at(F.fake, 50, 0) >= 1000);
    free(json);
    free(text);
}

static void
test_escaping_accepted(void **state)
{
    (void)state;
    /* every reserved character, escaped as tg_escape_md2 does: the API parses it */
    yh_result_t r = s_tg("send", "{\"chat_id\":51,\"parse_mode\":\"MarkdownV2\",\"text\":"
                                 "\"\\\\_\\\\*\\\\[\\\\]\\\\(\\\\)\\\\~\\\\`\\\\>\\\\#\\\\+"
                                 "\\\\-\\\\=\\\\|\\\\{\\\\}\\\\.\\\\! *bold* done\"}");
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    r = s_tg("send", "{\"chat_id\":52,\"parse_mode\":\"HTML\",\"text\":"
                     "\"a &lt;b&gt; &amp; <b>bold</b>\"}");
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    /* unescaped: refused for good, a short error and a telegram.error event */
    size_t errors = s_events("telegram.error");
    r = s_tg("send", "{\"chat_id\":53,\"parse_mode\":\"MarkdownV2\",\"text\":\"v1.5\"}");
    assert_int_equal(r.status, YARD_E_SERVICE);
    assert_string_equal(r.app, "TELEGRAM");
    assert_non_null(strstr(r.json, "reserved"));
    yh_result_free(&r);
    s_wait_event("telegram.error", errors + 1);
    /* bad requests name the field */
    r = s_tg("send", "{\"chat_id\":53,\"text\":\"x\",\"parse_mode\":\"Markdown\"}");
    assert_int_equal(r.status, YARD_E_BAD_REQUEST);
    yh_result_free(&r);
    r = s_tg("send", "{\"text\":\"x\"}");
    assert_int_equal(r.status, YARD_E_BAD_REQUEST);
    assert_non_null(strstr(r.json, "chat_id"));
    yh_result_free(&r);
}

static void
test_notify_and_alerts(void **state)
{
    (void)state;
    yh_result_t r = s_tg("notify", "{\"text\":\"disk almost full\"}");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"sent\":1"));
    yh_result_free(&r);
    char *t = tg_fake_sent_text(F.fake, 900, tg_fake_sent(F.fake, 900) - 1, NULL);
    assert_string_equal(t, "disk almost full");
    free(t);
    /* any actor's alert.> publication reaches the admin chat, once */
    size_t before = tg_fake_sent(F.fake, 900);
    assert_int_equal(yard_client_publish(F.client, "alert.disk", "\x81\xa3msg\xa9sda1 95 %", 15),
                     0);
    s_wait_sent(900, before + 1);
    t = tg_fake_sent_text(F.fake, 900, before, NULL);
    assert_non_null(strstr(t, "alert.disk"));
    assert_non_null(strstr(t, "msg: sda1 95 %"));
    free(t);
}

static void
test_429_and_migration(void **state)
{
    (void)state;
    /* chat 60 gets one 429 with retry_after 2: it waits, chat 61 does not */
    tg_fake_throttle(F.fake, 60, 1, 2);
    assert_int_equal(yard_client_send(F.client, "telegram",
                                      "\x82\xa7"
                                      "chat_id"
                                      "\x3c\xa4text\xa5"
                                      "first",
                                      21, &(yard_call_opts_t){.op = "send"}),
                     0);
    long long t0 = yh_now_ms();
    yh_result_t r = s_tg("send", "{\"chat_id\":61,\"text\":\"other chat\"}");
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    assert_int_equal(tg_fake_sent(F.fake, 60), 0); /* still waiting out its retry_after */
    s_wait_sent(60, 1);
    assert_true(yh_now_ms() - t0 >= 1500);
    /* a group: at most 20 a minute, so three messages go out 3 s apart */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(yard_client_send(F.client, "telegram",
                                          "\x82\xa7"
                                          "chat_id"
                                          "\xd0\x9d\xa4text\xa1g",
                                          18, &(yard_call_opts_t){.op = "send"}),
                         0);
    }
    s_wait_sent(-99, 3);
    for (size_t i = 1; i < 3; i++) {
        long long gap = tg_fake_sent_at(F.fake, -99, i) - tg_fake_sent_at(F.fake, -99, i - 1);
        assert_true(gap >= 2900);
    }
    assert_int_equal(tg_fake_errors(F.fake, 429), 1); /* only the one scripted above */
    /* a group that became a supergroup: resent there, and remembered */
    tg_fake_migrate(F.fake, -70, -1070);
    r = s_tg("send", "{\"chat_id\":-70,\"text\":\"to the group\"}");
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    assert_int_equal(tg_fake_sent(F.fake, -1070), 1);
    size_t e400 = tg_fake_errors(F.fake, 400);
    r = s_tg("send", "{\"chat_id\":-70,\"text\":\"again\"}");
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    assert_int_equal(tg_fake_sent(F.fake, -1070), 2);
    assert_int_equal(tg_fake_errors(F.fake, 400), e400); /* no second round trip to -70 */
    /* a user who blocked the bot: failed for good */
    tg_fake_block(F.fake, 80);
    r = s_tg("send", "{\"chat_id\":80,\"text\":\"hello\"}");
    assert_int_equal(r.status, YARD_E_SERVICE);
    assert_non_null(strstr(r.json, "blocked"));
    yh_result_free(&r);
}

static void
test_webhook_set_elsewhere_is_deleted(void **state)
{
    (void)state;
    size_t deletes = tg_fake_calls(F.fake, "deleteWebhook");
    tg_fake_set_webhook(F.fake, "https://elsewhere.example/hook");
    /* the leader's next getUpdates gets 409 ("webhook is active"), deletes it, polls again */
    s_expect(90, 90, "en", "/help jobs", "/jobs - Scheduled jobs");
    assert_true(tg_fake_calls(F.fake, "deleteWebhook") > deletes);
    char url[512], secret[512];
    tg_fake_webhook(F.fake, url, secret);
    assert_string_equal(url, "");
}

/* Another deployment's poller: getUpdates with a 1 s timeout in a loop over plain sockets,
 * for as long as run says. */
static struct {
    volatile int run;
    size_t polls;
    int port;
} P;

static void *
s_foreign_poller(void *arg)
{
    (void)arg;
    const char *body = "{\"timeout\":1}";
    char req[512];
    snprintf(req, sizeof req,
             "POST /bot" S_TOKEN "/getUpdates HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
             "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
             strlen(body), body);
    while (P.run) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)P.port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
            write(fd, req, strlen(req)) == (ssize_t)strlen(req)) {
            char buf[1024];
            while (read(fd, buf, sizeof buf) > 0) {
            }
            P.polls++;
        }
        if (fd >= 0) {
            close(fd);
        }
    }
    return NULL;
}

static void
test_second_poller_backs_off(void **state)
{
    (void)state;
    /* a second deployment polls the same token: every overlap is a 409 for one of the two */
    size_t c409 = tg_fake_errors(F.fake, 409);
    size_t polls = tg_fake_calls(F.fake, "getUpdates");
    P.run = 1;
    P.polls = 0;
    P.port = atoi(strrchr(tg_fake_api_base(F.fake), ':') + 1);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_foreign_poller, NULL), 0);
    long long until = yh_now_ms() + 4000;
    while (yh_now_ms() < until) {
        yard_client_dispatch(F.client, 50); /* 4 s of two pollers */
    }
    P.run = 0;
    pthread_join(th, NULL);
    size_t conflicts = tg_fake_errors(F.fake, 409) - c409;
    size_t ours = tg_fake_calls(F.fake, "getUpdates") - polls - P.polls;
    print_message("two pollers for 4 s: the actor made %zu getUpdates, the other %zu; %zu "
                  "answered 409\n",
                  ours, P.polls, conflicts);
    assert_true(conflicts >= 1);
    assert_true(ours <= 12); /* backed off (lease / 2, doubling): not a hot loop */
    /* and the poller still works once the other is gone */
    s_expect(91, 91, "en", "/help jobs", "/jobs - Scheduled jobs");
}

static void
test_webhook_mode(void **state)
{
    (void)state;
    char text[4096];
    snprintf(text, sizeof text,
             "store: memory\n"
             "telegram:\n"
             "  token: \"" S_TOKEN "\"\n"
             "  api_base: %s\n"
             "  mode: webhook\n"
             "  webhook: {url: \"https://bot.example.com/telegram/hook\",\n"
             "            secret_token_file: %s/hook}\n"
             "  lease: 2s\n",
             tg_fake_api_base(F.fake), F.dir);
    char path[512];
    snprintf(path, sizeof path, "%s/hook", F.dir);
    yh_write_file(path, "s3cret-Token_1\n");
    char *dir = yh_tmpdir();
    yard_config_t *cfg = yh_config_in(dir, text);
    yard_actor_destroy(&F.tg); /* the poller steps back; the webhook deployment takes over */
    yard_actor_t *hook = yh_actor_start(yard_registry_find("telegram"), cfg, F.bport, NULL);
    char url[512] = "", secret[512];
    long long until = yh_now_ms() + S_WAIT_MS;
    while (!url[0] && yh_now_ms() < until) {
        yard_client_dispatch(F.client, 20);
        tg_fake_webhook(F.fake, url, secret);
    }
    assert_string_equal(url, "https://bot.example.com/telegram/hook");
    assert_string_equal(secret, "s3cret-Token_1");
    /* an update POSTed through the gateway's route: the secret header is checked */
    const char *update = "{\"update_id\":7001,\"message\":{\"message_id\":1,\"chat\":{\"id\":95,"
                         "\"type\":\"private\"},\"from\":{\"id\":95,\"is_bot\":false,"
                         "\"first_name\":\"T\"},\"text\":\"/help jobs\",\"entities\":[{\"type\":"
                         "\"bot_command\",\"offset\":0,\"length\":5}]}}";
    const char *bad[] = {"http.header.x-telegram-bot-api-secret-token", "s3cret-Token_2", NULL};
    yh_result_t r = yh_call_json_ready(F.client, "telegram", "webhook", update, bad, 15000);
    assert_int_equal(r.status, YARD_E_UNAUTHENTICATED);
    yh_result_free(&r);
    const char *good[] = {"http.header.x-telegram-bot-api-secret-token", "s3cret-Token_1", NULL};
    r = yh_call_json(F.client, "telegram", "webhook", update, good, 5000);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    s_wait_sent(95, 1);
    /* Telegram delivering the same update again: handled once */
    r = yh_call_json(F.client, "telegram", "webhook", update, good, 5000);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    const char *next = "{\"update_id\":7002,\"message\":{\"message_id\":2,\"chat\":{\"id\":95,"
                       "\"type\":\"private\"},\"from\":{\"id\":95,\"is_bot\":false,"
                       "\"first_name\":\"T\"},\"text\":\"/cancel\",\"entities\":[{\"type\":"
                       "\"bot_command\",\"offset\":0,\"length\":7}]}}";
    r = yh_call_json(F.client, "telegram", "webhook", next, good, 5000);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    s_wait_sent(95, 2);
    char *t = tg_fake_sent_text(F.fake, 95, 1, NULL);
    assert_string_equal(t, "There is nothing to cancel."); /* 7001 was not handled twice */
    free(t);
    yard_actor_destroy(&hook);
    yard_config_destroy(&cfg);
    yh_rmtree(dir);
    free(dir);
    /* switching back to polling: deleteWebhook comes before the first getUpdates */
    size_t polls = tg_fake_calls(F.fake, "getUpdates");
    size_t deletes = tg_fake_calls(F.fake, "deleteWebhook");
    size_t c409 = tg_fake_errors(F.fake, 409);
    F.tg = yh_actor_start(yard_registry_find("telegram"), F.cfg, F.bport, NULL);
    s_expect(97, 97, "en", "/help jobs", "/jobs - Scheduled jobs");
    assert_true(tg_fake_calls(F.fake, "deleteWebhook") > deletes);
    assert_true(tg_fake_calls(F.fake, "getUpdates") > polls);
    assert_int_equal(tg_fake_errors(F.fake, 409), c409); /* no getUpdates met the webhook */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_events),
        cmocka_unit_test(test_help_per_language),
        cmocka_unit_test(test_invitation_and_scopes),
        cmocka_unit_test(test_conversation),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_long_text_split),
        cmocka_unit_test(test_escaping_accepted),
        cmocka_unit_test(test_notify_and_alerts),
        cmocka_unit_test(test_429_and_migration),
        cmocka_unit_test(test_webhook_set_elsewhere_is_deleted),
        cmocka_unit_test(test_second_poller_backs_off),
        cmocka_unit_test(test_webhook_mode),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
