/* Telegram message text: escaping for the two parse modes and splitting long texts into
 * messages the Bot API accepts. Pure functions, no I/O.
 *
 * Lengths are counted as Telegram counts them, in UTF-16 code units (a character outside the
 * Basic Multilingual Plane, an emoji, counts 2), so a piece never exceeds the API's 4096 limit
 * (core.telegram.org/bots/api#sendmessage: "1-4096 characters after entities parsing"; counting
 * the markup too only makes a piece shorter). */
#ifndef TG_TEXT_H
#define TG_TEXT_H

#include <stddef.h>

/* The API's limit on one message's text. */
#define TG_TEXT_LIMIT 4096u
/* The most pieces one text is split into (the send op caps texts well below this). */
#define TG_SPLIT_MAX 64u

typedef enum {
    TG_MODE_PLAIN = 0, /* no parse_mode */
    TG_MODE_MARKDOWN_V2,
    TG_MODE_HTML,
} tg_mode_t;

/* The mode for a parse_mode value ("MarkdownV2", "HTML"; NULL or "": plain). Returns 0, or -1
 * for any other value (legacy "Markdown" included: its escaping is ambiguous, so refused). */
int tg_mode_parse(const char *parse_mode, tg_mode_t *out);

/* One piece of a split text: bytes [off, off + len) of the input. */
typedef struct {
    size_t off;
    size_t len;
} tg_piece_t;

/* Splits text (len bytes of UTF-8) into at most max pieces of at most limit UTF-16 units
 * each, cutting at the last paragraph break ("\n\n") that fits, else the last line break,
 * else the last space, else the last character boundary; never inside an entity of mode (an
 * HTML tag pair or character reference, a MarkdownV2 marker pair, code block or link) unless
 * one entity alone is longer than limit. White space at a cut is dropped from both sides;
 * pieces that would be empty are not produced. Returns the number of pieces (0 for a text
 * that is empty or only white space), or -1 when more than max pieces would be needed. */
int tg_split(const char *text, size_t len, tg_mode_t mode, size_t limit, tg_piece_t *out,
             size_t max);

/* UTF-16 code units in len bytes of UTF-8 (a malformed byte counts as one unit). */
size_t tg_utf16_len(const char *text, size_t len);

/* Escapes text for MarkdownV2 plain text: every one of _*[]()~`>#+-=|{}.! and the backslash
 * is preceded by a backslash (core.telegram.org/bots/api#markdownv2-style). Caller owns the
 * result; free with free(). */
char *tg_escape_md2(const char *text);
/* Escapes text for the inside of a MarkdownV2 pre or code entity: only ` and \. Caller owns
 * the result; free with free(). */
char *tg_escape_md2_code(const char *text);
/* Escapes text for HTML mode: & < > and " become &amp; &lt; &gt; &quot; (the only named
 * references the API supports, besides &apos;). Caller owns the result; free with free(). */
char *tg_escape_html(const char *text);

#endif
