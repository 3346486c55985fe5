/* The bot's message catalogues: every text the bot says on its own, in each shipped language.
 * Messages are named by an enum, so a key that does not exist does not compile, and a lookup
 * never returns a key: a language without a message falls back to English, and English has
 * every message (test_telegram_text checks both).
 *
 * Placeholders are {1}, {2}, ... (not printf formats: a translation may reorder them, and a
 * catalogue text is never a format string). */
#ifndef TG_I18N_H
#define TG_I18N_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    TG_MSG_WELCOME,
    TG_MSG_LINKED,
    TG_MSG_INVALID_CODE,
    TG_MSG_ALREADY_LINKED,
    TG_MSG_NOT_LINKED,
    TG_MSG_NOT_PERMITTED,
    TG_MSG_HELP_HEADER,
    TG_MSG_HELP_FOOTER,
    TG_MSG_HELP_UNKNOWN,
    TG_MSG_UNKNOWN_COMMAND,
    TG_MSG_LANG_SET,
    TG_MSG_LANG_LIST,
    TG_MSG_LANG_UNKNOWN,
    TG_MSG_CANCELLED,
    TG_MSG_NOTHING_TO_CANCEL,
    TG_MSG_CONV_TIMEOUT,
    TG_MSG_WHOAMI,
    TG_MSG_WHOAMI_UNLINKED,
    TG_MSG_SERVICE_ERROR,
    TG_MSG_UNAVAILABLE,
    TG_MSG_DONE,
    TG_MSG_TOO_LONG,
    TG_MSG_NONE,
    TG_MSG_HELP_START,
    TG_MSG_HELP_HELP,
    TG_MSG_HELP_LANG,
    TG_MSG_HELP_CANCEL,
    TG_MSG_HELP_WHOAMI,
    TG_MSG_NO_HELP,
    TG_MSG_COUNT
} tg_msg_t;

/* The shipped languages, NULL-ended ("en" first). Static storage. */
extern const char *const tg_languages[];

/* True when lang is a shipped language. */
bool tg_lang_known(const char *lang);

/* The text of id in lang (NULL or unknown: English), falling back to English when lang lacks
 * it. Static storage; never NULL. */
const char *tg_msg(const char *lang, tg_msg_t id);

/* The message of id in lang with {1}..{n} replaced by args[0..n) (a missing arg by ""). Caller
 * owns the result; free with free(). */
char *tg_msgf(const char *lang, tg_msg_t id, const char *const *args, size_t n);

/* The text with placeholders replaced, as tg_msgf() for any template (the registry's help
 * texts use it too). Caller owns the result; free with free(). */
char *tg_fill(const char *tmpl, const char *const *args, size_t n);

/* The catalogue's own entry for id in lang, without fallback (NULL when lang lacks it): for
 * the catalogue checks. */
const char *tg_msg_raw(const char *lang, tg_msg_t id);

#endif
