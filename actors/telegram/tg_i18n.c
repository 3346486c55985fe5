/* Message catalogues (tg_i18n.h). English is complete by construction: the test checks that
 * every entry of every language is present in English and uses the same placeholders. */
#include "tg_i18n.h"

#include <stdlib.h>
#include <string.h>

const char *const tg_languages[] = {"en", "de", NULL};

static const char *const s_en[TG_MSG_COUNT] = {
    [TG_MSG_WELCOME] = "Welcome! Send /help to see what I can do.",
    [TG_MSG_LINKED] = "Welcome, {1}! Your Telegram account is now linked.",
    [TG_MSG_INVALID_CODE] = "That invitation code is not valid (wrong, expired or used up).",
    [TG_MSG_ALREADY_LINKED] = "Your Telegram account is already linked.",
    [TG_MSG_NOT_LINKED] =
        "I don't know you yet. Ask an admin for an invitation code and send /start <code>.",
    [TG_MSG_NOT_PERMITTED] = "Sorry, you are not permitted to use /{1}.",
    [TG_MSG_HELP_HEADER] = "Commands:",
    [TG_MSG_HELP_FOOTER] = "Send /help <command> for one command.",
    [TG_MSG_HELP_UNKNOWN] = "There is no command /{1}. Send /help for the list.",
    [TG_MSG_UNKNOWN_COMMAND] = "Unknown command /{1}. Send /help for the list.",
    [TG_MSG_LANG_SET] = "I will speak English with you.",
    [TG_MSG_LANG_LIST] = "Languages: {1}. Send /lang <code> to choose one.",
    [TG_MSG_LANG_UNKNOWN] = "I don't speak \"{1}\". Languages: {2}.",
    [TG_MSG_CANCELLED] = "Cancelled.",
    [TG_MSG_NOTHING_TO_CANCEL] = "There is nothing to cancel.",
    [TG_MSG_CONV_TIMEOUT] = "That question timed out. Send /{1} again.",
    [TG_MSG_WHOAMI] = "You are {1} (Telegram id {2}). Scopes: {3}.",
    [TG_MSG_WHOAMI_UNLINKED] = "Telegram id {1}, not linked to an account.",
    [TG_MSG_SERVICE_ERROR] = "/{1} failed: {2}",
    [TG_MSG_UNAVAILABLE] = "That is not available right now. Please try again later.",
    [TG_MSG_DONE] = "Done.",
    [TG_MSG_TOO_LONG] = "That message is too long for a command.",
    [TG_MSG_NONE] = "none",
    [TG_MSG_HELP_START] = "Link your account: /start <code>",
    [TG_MSG_HELP_HELP] = "List the commands, or /help <command>",
    [TG_MSG_HELP_LANG] = "Choose your language: /lang <code>",
    [TG_MSG_HELP_CANCEL] = "Cancel the current question",
    [TG_MSG_HELP_WHOAMI] = "Show who you are and your scopes",
    [TG_MSG_NO_HELP] = "(no description)",
};

static const char *const s_de[TG_MSG_COUNT] = {
    [TG_MSG_WELCOME] = "Willkommen! Mit /help siehst du, was ich kann.",
    [TG_MSG_LINKED] = "Willkommen, {1}! Dein Telegram-Konto ist jetzt verknüpft.",
    [TG_MSG_INVALID_CODE] =
        "Dieser Einladungscode ist ungültig (falsch, abgelaufen oder aufgebraucht).",
    [TG_MSG_ALREADY_LINKED] = "Dein Telegram-Konto ist bereits verknüpft.",
    [TG_MSG_NOT_LINKED] = "Ich kenne dich noch nicht. Bitte einen Admin um einen "
                          "Einladungscode und sende /start <code>.",
    [TG_MSG_NOT_PERMITTED] = "Du darfst /{1} leider nicht verwenden.",
    [TG_MSG_HELP_HEADER] = "Befehle:",
    [TG_MSG_HELP_FOOTER] = "Sende /help <befehl> für einen einzelnen Befehl.",
    [TG_MSG_HELP_UNKNOWN] = "Den Befehl /{1} gibt es nicht. /help zeigt die Liste.",
    [TG_MSG_UNKNOWN_COMMAND] = "Unbekannter Befehl /{1}. /help zeigt die Liste.",
    [TG_MSG_LANG_SET] = "Ich spreche jetzt Deutsch mit dir.",
    [TG_MSG_LANG_LIST] = "Sprachen: {1}. Wähle eine mit /lang <code>.",
    [TG_MSG_LANG_UNKNOWN] = "\"{1}\" spreche ich nicht. Sprachen: {2}.",
    [TG_MSG_CANCELLED] = "Abgebrochen.",
    [TG_MSG_NOTHING_TO_CANCEL] = "Es gibt nichts abzubrechen.",
    [TG_MSG_CONV_TIMEOUT] = "Die Frage ist abgelaufen. Sende /{1} noch einmal.",
    [TG_MSG_WHOAMI] = "Du bist {1} (Telegram-ID {2}). Berechtigungen: {3}.",
    [TG_MSG_WHOAMI_UNLINKED] = "Telegram-ID {1}, mit keinem Konto verknüpft.",
    [TG_MSG_SERVICE_ERROR] = "/{1} ist fehlgeschlagen: {2}",
    [TG_MSG_UNAVAILABLE] = "Das ist gerade nicht verfügbar. Bitte versuche es später noch einmal.",
    [TG_MSG_DONE] = "Erledigt.",
    [TG_MSG_TOO_LONG] = "Diese Nachricht ist für einen Befehl zu lang.",
    [TG_MSG_NONE] = "keine",
    [TG_MSG_HELP_START] = "Konto verknüpfen: /start <code>",
    [TG_MSG_HELP_HELP] = "Befehle auflisten, oder /help <befehl>",
    [TG_MSG_HELP_LANG] = "Sprache wählen: /lang <code>",
    [TG_MSG_HELP_CANCEL] = "Die laufende Frage abbrechen",
    /* TG_MSG_HELP_WHOAMI and TG_MSG_NO_HELP are left out on purpose: they fall back to
     * English, which test_telegram_text checks. */
};

static const char *const *
s_table(const char *lang)
{
    if (lang && strcmp(lang, "de") == 0) {
        return s_de;
    }
    return lang && strcmp(lang, "en") == 0 ? s_en : NULL;
}

bool
tg_lang_known(const char *lang)
{
    return s_table(lang) != NULL;
}

const char *
tg_msg_raw(const char *lang, tg_msg_t id)
{
    const char *const *t = s_table(lang);
    return t && (unsigned)id < TG_MSG_COUNT ? t[id] : NULL;
}

const char *
tg_msg(const char *lang, tg_msg_t id)
{
    if ((unsigned)id >= TG_MSG_COUNT) {
        return "";
    }
    const char *s = tg_msg_raw(lang, id);
    if (!s) {
        s = s_en[id];
    }
    return s ? s : "";
}

char *
tg_fill(const char *tmpl, const char *const *args, size_t n)
{
    size_t cap = strlen(tmpl) + 1;
    for (size_t i = 0; i < n; i++) {
        cap += args[i] ? strlen(args[i]) * 4 : 0; /* a placeholder may repeat */
    }
    char *out = malloc(cap);
    if (!out) {
        abort();
    }
    size_t o = 0;
    for (const char *p = tmpl; *p;) {
        if (p[0] == '{' && p[1] >= '1' && p[1] <= '9' && p[2] == '}') {
            size_t k = (size_t)(p[1] - '1');
            const char *a = k < n && args[k] ? args[k] : "";
            size_t al = strlen(a);
            if (o + al + 1 > cap) {
                cap = (o + al + 1) * 2;
                out = realloc(out, cap);
                if (!out) {
                    abort();
                }
            }
            memcpy(out + o, a, al);
            o += al;
            p += 3;
            continue;
        }
        if (o + 2 > cap) {
            cap *= 2;
            out = realloc(out, cap);
            if (!out) {
                abort();
            }
        }
        out[o++] = *p++;
    }
    out[o] = '\0';
    return out;
}

char *
tg_msgf(const char *lang, tg_msg_t id, const char *const *args, size_t n)
{
    return tg_fill(tg_msg(lang, id), args, n);
}
