/* Telegram message text: escaping and splitting (tg_text.h). The splitter scans a text once
 * per piece, keeping just enough of the parse mode's grammar to know whether a position is
 * outside every entity; only such positions are cut points. */
#include "tg_text.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int
tg_mode_parse(const char *parse_mode, tg_mode_t *out)
{
    if (!parse_mode || !*parse_mode) {
        *out = TG_MODE_PLAIN;
    } else if (strcmp(parse_mode, "MarkdownV2") == 0) {
        *out = TG_MODE_MARKDOWN_V2;
    } else if (strcmp(parse_mode, "HTML") == 0) {
        *out = TG_MODE_HTML;
    } else {
        return -1;
    }
    return 0;
}

/* Bytes in the UTF-8 sequence starting with b (1 for a stray byte), and its UTF-16 units. */
static size_t
s_cp_len(unsigned char b, size_t *units)
{
    *units = 1;
    if (b >= 0xF0 && b < 0xF8) {
        *units = 2;
        return 4;
    }
    if (b >= 0xE0 && b < 0xF0) {
        return 3;
    }
    if (b >= 0xC0 && b < 0xE0) {
        return 2;
    }
    return 1;
}

size_t
tg_utf16_len(const char *text, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t u;
        size_t b = s_cp_len((unsigned char)text[i], &u);
        i += b <= len - i ? b : len - i;
        n += u;
    }
    return n;
}

/* --- entity state ---------------------------------------------------------------------- */

typedef struct {
    tg_mode_t mode;
    /* HTML */
    int depth;    /* open tags */
    bool in_tag;  /* between < and > */
    bool closing; /* the tag being read starts with </ */
    bool in_ref;  /* between & and ; */
    /* MarkdownV2 */
    bool escaped;   /* the previous character was an unescaped backslash */
    unsigned marks; /* open markers: bit per marker below */
    bool in_code, in_pre, in_link_text, in_link_url;
    int ticks; /* backquotes seen in a row */
} s_state_t;

enum { M_BOLD = 1, M_ITALIC = 2, M_UNDER = 4, M_STRIKE = 8, M_SPOILER = 16 };

static void
s_html_step(s_state_t *s, const char *p, size_t i)
{
    char c = p[i];
    if (s->in_tag) {
        if (c == '>') {
            s->in_tag = false;
            s->depth += s->closing ? -1 : 1;
            if (s->depth < 0) {
                s->depth = 0;
            }
        }
        return;
    }
    if (s->in_ref) {
        s->in_ref = c != ';';
        return;
    }
    if (c == '<') {
        s->in_tag = true;
        s->closing = p[i + 1] == '/';
    } else if (c == '&') {
        s->in_ref = true;
    }
}

/* One MarkdownV2 character at p[i] (the text is NUL-terminated past its end, or a byte of it
 * follows). Returns how many bytes it consumed (2 for "__" and "||"). */
static size_t
s_md_step(s_state_t *s, const char *p, size_t i, size_t len)
{
    char c = p[i];
    char next = i + 1 < len ? p[i + 1] : '\0';
    if (s->escaped) {
        s->escaped = false;
        return 1;
    }
    if (c == '\\') {
        s->escaped = true;
        return 1;
    }
    if (s->in_pre || s->in_code) {
        if (c == '`') {
            bool three = next == '`' && i + 2 < len && p[i + 2] == '`';
            if (s->in_pre && three) {
                s->in_pre = false;
                return 3;
            }
            if (s->in_code) {
                s->in_code = false;
            }
        }
        return 1;
    }
    if (s->in_link_url) {
        s->in_link_url = c != ')';
        return 1;
    }
    switch (c) {
    case '`':
        if (next == '`' && i + 2 < len && p[i + 2] == '`') {
            s->in_pre = true;
            return 3;
        }
        s->in_code = true;
        return 1;
    case '*':
        s->marks ^= M_BOLD;
        return 1;
    case '~':
        s->marks ^= M_STRIKE;
        return 1;
    case '_':
        if (next == '_') {
            s->marks ^= M_UNDER;
            return 2;
        }
        s->marks ^= M_ITALIC;
        return 1;
    case '|':
        if (next == '|') {
            s->marks ^= M_SPOILER;
            return 2;
        }
        return 1;
    case '[':
        s->in_link_text = true;
        return 1;
    case ']':
        if (s->in_link_text) {
            s->in_link_text = false;
            s->in_link_url = next == '(';
            return s->in_link_url ? 2 : 1;
        }
        return 1;
    default:
        return 1;
    }
}

static bool
s_safe(const s_state_t *s)
{
    if (s->mode == TG_MODE_HTML) {
        return s->depth == 0 && !s->in_tag && !s->in_ref;
    }
    if (s->mode == TG_MODE_MARKDOWN_V2) {
        return !s->escaped && !s->marks && !s->in_code && !s->in_pre && !s->in_link_text &&
               !s->in_link_url;
    }
    return true;
}

/* --- splitting ------------------------------------------------------------------------- */

static bool
s_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* The end of the piece starting at pos: all of the rest when it fits in limit units, else the
 * best cut point (see tg_split). */
static size_t
s_cut(const char *text, size_t len, tg_mode_t mode, size_t limit, size_t pos)
{
    s_state_t st = {.mode = mode};
    size_t units = 0, para = 0, line = 0, word = 0, safe = 0, any = 0;
    size_t i = pos;
    while (i < len) {
        size_t u;
        size_t b = s_cp_len((unsigned char)text[i], &u);
        if (b > len - i) {
            b = len - i;
        }
        size_t consumed = b;
        if (b == 1 && mode == TG_MODE_MARKDOWN_V2) {
            consumed = s_md_step(&st, text, i, len);
            if (consumed > len - i) {
                consumed = len - i;
            }
            u = consumed; /* markers are ASCII: one unit per byte */
        } else if (b == 1 && mode == TG_MODE_HTML) {
            s_html_step(&st, text, i);
        } else if (mode == TG_MODE_MARKDOWN_V2) {
            st.escaped = false;
        }
        if (units + u > limit) {
            break;
        }
        units += u;
        i += consumed;
        any = i;
        if (!s_safe(&st)) {
            continue;
        }
        safe = i;
        char c = text[i - 1];
        if (c == '\n' && i - pos >= 2 && text[i - 2] == '\n') {
            para = i;
        } else if (c == '\n') {
            line = i;
        } else if (c == ' ') {
            word = i;
        }
    }
    if (i >= len) {
        return len;
    }
    size_t best = para ? para : line ? line : word ? word : safe ? safe : any;
    return best > pos ? best : (any > pos ? any : len);
}

int
tg_split(const char *text, size_t len, tg_mode_t mode, size_t limit, tg_piece_t *out, size_t max)
{
    size_t n = 0, pos = 0;
    if (limit == 0) {
        return -1;
    }
    while (pos < len) {
        while (pos < len && s_space(text[pos]) && n > 0) {
            pos++; /* white space right after a cut */
        }
        if (pos >= len) {
            break;
        }
        size_t end = s_cut(text, len, mode, limit, pos);
        size_t trim = end;
        while (trim > pos && s_space(text[trim - 1])) {
            trim--;
        }
        bool blank = true;
        for (size_t k = pos; k < trim && blank; k++) {
            blank = s_space(text[k]);
        }
        if (!blank) {
            if (n == max) {
                return -1;
            }
            out[n].off = pos;
            out[n].len = trim - pos;
            n++;
        }
        pos = end;
    }
    return (int)n;
}

/* --- escaping -------------------------------------------------------------------------- */

static char *
s_escape(const char *text, const char *special, bool html)
{
    size_t len = strlen(text);
    char *out = malloc(len * 6 + 1); /* "&quot;" is the longest replacement */
    if (!out) {
        abort();
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (html) {
            const char *rep = c == '&'   ? "&amp;"
                              : c == '<' ? "&lt;"
                              : c == '>' ? "&gt;"
                              : c == '"' ? "&quot;"
                                         : NULL;
            if (rep) {
                memcpy(out + o, rep, strlen(rep));
                o += strlen(rep);
                continue;
            }
        } else if (c && strchr(special, c)) {
            out[o++] = '\\';
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

char *
tg_escape_md2(const char *text)
{
    return s_escape(text, "_*[]()~`>#+-=|{}.!\\", false);
}

char *
tg_escape_md2_code(const char *text)
{
    return s_escape(text, "`\\", false);
}

char *
tg_escape_html(const char *text)
{
    return s_escape(text, "", true);
}
