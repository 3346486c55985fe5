/* The telegram actor's text handling without the actor: splitting long texts at paragraph,
 * line and word boundaries and never inside an entity, the escaping table for MarkdownV2 and
 * HTML (every reserved character), and the message catalogues (every message in English,
 * translations with the same placeholders, fallback to English, never a raw key). */
#include "tg_i18n.h"
#include "tg_text.h"
#include "yard/actor_test.h"
#include "yard/error.h"
#include "yard/registry.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* n copies of word joined by sep, in a fresh buffer. */
static char *
s_repeat(const char *word, const char *sep, size_t n)
{
    size_t wl = strlen(word), sl = strlen(sep);
    char *out = malloc(n * (wl + sl) + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(out + o, word, wl);
        o += wl;
        if (i + 1 < n) {
            memcpy(out + o, sep, sl);
            o += sl;
        }
    }
    out[o] = '\0';
    return out;
}

static void
test_short_text_is_one_piece(void **state)
{
    (void)state;
    tg_piece_t p[4];
    assert_int_equal(tg_split("hello", 5, TG_MODE_PLAIN, 4096, p, 4), 1);
    assert_int_equal(p[0].off, 0);
    assert_int_equal(p[0].len, 5);
    assert_int_equal(tg_split("  \n ", 4, TG_MODE_PLAIN, 4096, p, 4), 0);
    assert_int_equal(tg_split("", 0, TG_MODE_PLAIN, 4096, p, 4), 0);
}

static void
test_split_prefers_paragraphs_then_lines_then_words(void **state)
{
    (void)state;
    tg_piece_t p[8];
    /* paragraphs of 30 bytes with a line break inside: a cut at 50 takes the paragraph */
    const char *t = "aaaaaaaaaaaaa\nbbbbbbbbbbbbbbb\n\ncccccccccccccc\ndddddddddddddd";
    int n = tg_split(t, strlen(t), TG_MODE_PLAIN, 50, p, 8);
    assert_int_equal(n, 2);
    assert_int_equal(p[0].len, 29);
    assert_memory_equal(t + p[1].off, "cccc", 4);
    /* no paragraph break: the last line break that fits */
    t = "aaaaaaaaaa\nbbbbbbbbbb\ncccccccccc";
    n = tg_split(t, strlen(t), TG_MODE_PLAIN, 25, p, 8);
    assert_int_equal(n, 2);
    assert_int_equal(p[0].len, 21);
    /* no line break: the last space */
    t = "one two three four five six";
    n = tg_split(t, strlen(t), TG_MODE_PLAIN, 10, p, 8);
    assert_true(n >= 3);
    for (int i = 0; i < n; i++) {
        assert_true(p[i].len <= 10);
        assert_true(t[p[i].off] != ' ');
        assert_true(t[p[i].off + p[i].len - 1] != ' ');
    }
    /* one long word: cut at the limit */
    char *w = s_repeat("x", "", 25);
    n = tg_split(w, 25, TG_MODE_PLAIN, 10, p, 8);
    assert_int_equal(n, 3);
    assert_int_equal(p[0].len, 10);
    assert_int_equal(p[2].len, 5);
    free(w);
}

static void
test_long_text_pieces_fit_and_lose_nothing(void **state)
{
    (void)state;
    char *t = s_repeat("lorem ipsum dolor sit amet", " ", 1000); /* ~27 KB */
    tg_piece_t p[TG_SPLIT_MAX];
    int n = tg_split(t, strlen(t), TG_MODE_PLAIN, TG_TEXT_LIMIT, p, TG_SPLIT_MAX);
    assert_true(n >= 7);
    size_t words = 0;
    for (int i = 0; i < n; i++) {
        assert_true(tg_utf16_len(t + p[i].off, p[i].len) <= TG_TEXT_LIMIT);
        assert_true(t[p[i].off + p[i].len - 1] == 'm' || t[p[i].off + p[i].len - 1] == 'r' ||
                    t[p[i].off + p[i].len - 1] == 't' || t[p[i].off + p[i].len - 1] == 'e');
        for (size_t k = 0; k < p[i].len; k++) {
            words += t[p[i].off + k] == ' ';
        }
        words++;
    }
    assert_int_equal(words, 5000); /* every word kept, none cut in two */
    free(t);
    /* over max pieces: refused */
    char *big = s_repeat("x", " ", 5000);
    assert_int_equal(tg_split(big, strlen(big), TG_MODE_PLAIN, 10, p, 4), -1);
    free(big);
}

static void
test_utf16_units(void **state)
{
    (void)state;
    assert_int_equal(tg_utf16_len("abc", 3), 3);
    assert_int_equal(tg_utf16_len("\xc3\xa4", 2), 1);         /* ä */
    assert_int_equal(tg_utf16_len("\xe2\x82\xac", 3), 1);     /* € */
    assert_int_equal(tg_utf16_len("\xf0\x9f\x98\x80", 4), 2); /* an emoji: a surrogate pair */
    /* 3000 emoji = 6000 units: two pieces, never a pair cut in half */
    char *t = s_repeat("\xf0\x9f\x98\x80", "", 3000);
    tg_piece_t p[4];
    int n = tg_split(t, strlen(t), TG_MODE_PLAIN, TG_TEXT_LIMIT, p, 4);
    assert_int_equal(n, 2);
    assert_int_equal(p[0].len % 4, 0);
    assert_int_equal(tg_utf16_len(t + p[0].off, p[0].len), 4096);
    free(t);
}

static void
test_never_inside_an_entity(void **state)
{
    (void)state;
    tg_piece_t p[8];
    /* HTML: the space inside <b>...</b> is not a cut point; the one before it is */
    const char *h = "intro text <b>bold words here</b> tail";
    int n = tg_split(h, strlen(h), TG_MODE_HTML, 30, p, 8);
    assert_true(n >= 2);
    for (int i = 0; i < n; i++) {
        const char *s = h + p[i].off;
        int opens = 0, closes = 0;
        for (size_t k = 0; k + 2 < p[i].len; k++) {
            opens += strncmp(s + k, "<b>", 3) == 0;
            closes += strncmp(s + k, "</b", 3) == 0;
        }
        assert_int_equal(opens, closes);
    }
    /* HTML character references stay whole */
    const char *r = "aaaaaaa &amp;&amp;&amp; bbb";
    n = tg_split(r, strlen(r), TG_MODE_HTML, 12, p, 8);
    for (int i = 0; i < n; i++) {
        const char *amp = memchr(r + p[i].off, '&', p[i].len);
        if (amp) {
            assert_true(memchr(amp, ';', (size_t)(r + p[i].off + p[i].len - amp)) != NULL);
        }
    }
    /* MarkdownV2: *bold words* and [link text](url) are kept whole; \* is no marker */
    const char *m = "start \\* here *bold words in it* and [a link](http://x.y/z) end";
    n = tg_split(m, strlen(m), TG_MODE_MARKDOWN_V2, 36, p, 8);
    assert_true(n >= 2);
    for (int i = 0; i < n; i++) {
        int stars = 0;
        for (size_t k = 0; k < p[i].len; k++) {
            const char *c = m + p[i].off + k;
            stars += *c == '*' && (k == 0 || c[-1] != '\\');
        }
        assert_int_equal(stars % 2, 0);
        assert_true(memchr(m + p[i].off, '[', p[i].len) == NULL ||
                    memchr(m + p[i].off, ')', p[i].len) != NULL);
    }
    /* a code block with spaces inside is not cut at them */
    const char *c = "text ```\ncode with many spaces inside\n``` after";
    n = tg_split(c, strlen(c), TG_MODE_MARKDOWN_V2, 44, p, 8);
    assert_int_equal(n, 2);
    assert_int_equal(p[0].len, 41); /* the block whole, cut after it */
    n = tg_split(c, strlen(c), TG_MODE_MARKDOWN_V2, 30, p, 8);
    assert_true(n >= 2);
    assert_int_equal(p[0].len, 4); /* the block does not fit: cut before it */
}

static void
test_escaping_table(void **state)
{
    (void)state;
    /* every character MarkdownV2 reserves, and the backslash, gets one backslash */
    static const struct {
        const char *in, *md2, *html;
    } rows[] = {
        {"_", "\\_", "_"},
        {"*", "\\*", "*"},
        {"[", "\\[", "["},
        {"]", "\\]", "]"},
        {"(", "\\(", "("},
        {")", "\\)", ")"},
        {"~", "\\~", "~"},
        {"`", "\\`", "`"},
        {">", "\\>", "&gt;"},
        {"#", "\\#", "#"},
        {"+", "\\+", "+"},
        {"-", "\\-", "-"},
        {"=", "\\=", "="},
        {"|", "\\|", "|"},
        {"{", "\\{", "{"},
        {"}", "\\}", "}"},
        {".", "\\.", "."},
        {"!", "\\!", "!"},
        {"\\", "\\\\", "\\"},
        {"<", "<", "&lt;"},
        {"&", "&", "&amp;"},
        {"\"", "\"", "&quot;"},
        {"plain words 123", "plain words 123", "plain words 123"},
        {"Grüße 😀", "Grüße 😀", "Grüße 😀"},
        {"v1.2-rc (beta)!", "v1\\.2\\-rc \\(beta\\)\\!", "v1.2-rc (beta)!"},
        {"a<b && c>d", "a<b && c\\>d", "a&lt;b &amp;&amp; c&gt;d"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *m = tg_escape_md2(rows[i].in);
        char *h = tg_escape_html(rows[i].in);
        assert_string_equal(m, rows[i].md2);
        assert_string_equal(h, rows[i].html);
        free(m);
        free(h);
    }
    char *code = tg_escape_md2_code("a `b` \\c *d*");
    assert_string_equal(code, "a \\`b\\` \\\\c *d*");
    free(code);
    /* an escaped text splits without ever separating a backslash from its character */
    char *esc = tg_escape_md2("1.2.3.4.5.6.7.8.9.0");
    tg_piece_t p[16];
    int n = tg_split(esc, strlen(esc), TG_MODE_MARKDOWN_V2, 7, p, 16);
    assert_true(n >= 2);
    for (int i = 0; i < n; i++) {
        assert_true(esc[p[i].off + p[i].len - 1] != '\\');
    }
    free(esc);
}

static void
test_catalogues(void **state)
{
    (void)state;
    for (size_t l = 0; tg_languages[l]; l++) {
        for (int id = 0; id < TG_MSG_COUNT; id++) {
            const char *en = tg_msg_raw("en", (tg_msg_t)id);
            assert_non_null(en); /* English has every message */
            const char *s = tg_msg(tg_languages[l], (tg_msg_t)id);
            assert_non_null(s);
            assert_true(strlen(s) > 0);
            const char *own = tg_msg_raw(tg_languages[l], (tg_msg_t)id);
            if (!own) {
                assert_string_equal(s, en); /* the fallback */
                continue;
            }
            for (char k = '1'; k <= '9'; k++) { /* the same placeholders */
                char ph[4] = {'{', k, '}', '\0'};
                assert_int_equal(strstr(own, ph) != NULL, strstr(en, ph) != NULL);
            }
        }
    }
    /* a language without a message, and an unknown language, fall back to English */
    assert_null(tg_msg_raw("de", TG_MSG_HELP_WHOAMI));
    assert_string_equal(tg_msg("de", TG_MSG_HELP_WHOAMI), tg_msg("en", TG_MSG_HELP_WHOAMI));
    assert_string_equal(tg_msg("xx", TG_MSG_CANCELLED), "Cancelled.");
    assert_string_equal(tg_msg("de", TG_MSG_CANCELLED), "Abgebrochen.");
    const char *args[] = {"jobs"};
    char *t = tg_msgf("de", TG_MSG_NOT_PERMITTED, args, 1);
    assert_string_equal(t, "Du darfst /jobs leider nicht verwenden.");
    free(t);
    t = tg_fill("{2}-{1}-{3}", args, 1);
    assert_string_equal(t, "-jobs-");
    free(t);
    assert_true(tg_lang_known("de"));
    assert_false(tg_lang_known("fr"));
}

/* Bad settings stop the actor at start with YARD_E_CONFIG (the reason, with the file's line,
 * is logged); a good one starts and idles. */
static void
test_config_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "telegram: {api_base: http://127.0.0.1:1}\n", /* no token */
        "telegram: {token: \"not a token\"}\n",
        "telegram: {token: \"1:a\", mode: push}\n",
        "telegram: {token: \"1:a\", mode: webhook}\n", /* no url, no secret */
        "telegram: {token: \"1:a\", mode: webhook, webhook: {url: \"http://x\", "
        "secret_token: abc}}\n",
        "telegram: {token: \"1:a\", mode: webhook, webhook: {url: \"https://x\", "
        "secret_token: \"a b\"}}\n",
        "telegram: {token: \"1:a\", languages: [en, fr]}\n",
        "telegram: {token: \"1:a\", admin_chats: [abc]}\n",
        "telegram: {token: \"1:a\", commands: [{name: Jobs, service: s}]}\n",
        "telegram: {token: \"1:a\", commands: [{name: jobs}]}\n",
        "telegram: {token: \"1:a\", commands: [{name: help, service: s}]}\n",
        "telegram: {token: \"1:a\", commands: [{name: j, service: s, colour: red}]}\n",
        "telegram: {token: \"1:a\", commands: [{name: j, service: s, help: {fr: x}}]}\n",
        "telegram: {token: \"1:a\", commands: [{name: j, service: s}, {name: j, service: t}]}\n",
        "telegram: {token: \"1:a\", poll_timeout: 1500ms}\n",
        "telegram: {token: \"1:a\", surprise: 1}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yard_actor_test_t *t = NULL;
        int rc = yard_actor_test_new(&yard_actor_telegram, bad[i], &t);
        if (rc != YARD_E_CONFIG) {
            fail_msg("config %zu started (%d): %s", i, rc, bad[i]);
        }
        assert_null(t);
    }
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&yard_actor_telegram,
                                         "telegram: {token: \"1:a\", api_base: "
                                         "\"http://127.0.0.1:1\", commands: [{name: j, "
                                         "service: s, help: {en: J, de: J}}]}\n",
                                         &t),
                     0);
    yard_actor_test_destroy(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_text_is_one_piece),
        cmocka_unit_test(test_split_prefers_paragraphs_then_lines_then_words),
        cmocka_unit_test(test_long_text_pieces_fit_and_lose_nothing),
        cmocka_unit_test(test_utf16_units),
        cmocka_unit_test(test_never_inside_an_entity),
        cmocka_unit_test(test_escaping_table),
        cmocka_unit_test(test_catalogues),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
