/* See yard/prom.h. Label values are escaped byte by byte; well-formed multi-byte UTF-8
 * passes through unchanged, anything else becomes U+FFFD, so the output is always UTF-8. */
#include "yard/prom.h"
#include "yard/utf8.h"

void
yard_prom_family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
yard_prom_label(FILE *out, const char *value, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t n = yard_utf8_len(value + i, len - i);
        if (n == 0 || value[i] == '\0') {
            fputs("\xEF\xBF\xBD", out); /* U+FFFD REPLACEMENT CHARACTER */
            i++;
            continue;
        }
        switch (value[i]) {
        case '\\':
            fputs("\\\\", out);
            break;
        case '"':
            fputs("\\\"", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        default:
            fwrite(value + i, 1, n, out);
        }
        i += n;
    }
}
