/* Structured logging: one JSON object per line on stderr, e.g.
 *   {"ts":"2026-11-22T10:00:00.123Z","level":"warn","component":"broker","replica":0,
 *    "msg":"replica declared dead","service":"echo","missed":3}
 * The component and replica come from the calling thread's context, which the runtime sets
 * for every thread it starts. A message logged at the same level with the same text more
 * than a few times a second is suppressed, and the next line that gets through says how many
 * were dropped ("suppressed":N), so a peer sending garbage in a loop cannot flood the log.
 *
 * Strings are escaped for JSON; bytes that are not well-formed UTF-8 become U+FFFD, so
 * client-controlled text cannot break a line.
 *
 * Fields are (key, type, value) triples built with the YF_* macros, e.g.
 *   yard_log(YARD_LOG_WARN, "bad frame", YF_STR("peer", id), YF_INT("size", n));
 * The yard_log macro evaluates nothing but the level when the level is off. */
#ifndef YARD_LOG_H
#define YARD_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    YARD_LOG_DEBUG = 0,
    YARD_LOG_INFO = 1,
    YARD_LOG_WARN = 2,
    YARD_LOG_ERROR = 3,
    YARD_LOG_OFF = 4,
} yard_log_level_t;

typedef enum {
    YARD_LOG_T_STR = 1, /* const char * (NULL prints null) */
    YARD_LOG_T_INT,     /* long long */
    YARD_LOG_T_UINT,    /* unsigned long long */
    YARD_LOG_T_DBL,     /* double */
    YARD_LOG_T_BOOL,    /* int */
    YARD_LOG_T_STRN,    /* const char *, then int length: for non-terminated strings */
} yard_log_type_t;

#define YF_STR(k, v)     (k), YARD_LOG_T_STR, (const char *)(v)
#define YF_STRN(k, v, n) (k), YARD_LOG_T_STRN, (const char *)(v), (int)(n)
#define YF_INT(k, v)     (k), YARD_LOG_T_INT, (long long)(v)
#define YF_UINT(k, v)    (k), YARD_LOG_T_UINT, (unsigned long long)(v)
#define YF_DBL(k, v)     (k), YARD_LOG_T_DBL, (double)(v)
#define YF_BOOL(k, v)    (k), YARD_LOG_T_BOOL, (int)(v)

#define yard_log(level, ...)                                                                       \
    do {                                                                                           \
        if (yard_log_enabled(level)) {                                                             \
            yard_log_emit((level), __VA_ARGS__, (const char *)0);                                  \
        }                                                                                          \
    } while (0)

/* Like yard_log, for records that must each be written however many arrive (an access log
 * line per request): never rate-limited. */
#define yard_log_record(level, ...)                                                                \
    do {                                                                                           \
        if (yard_log_enabled(level)) {                                                             \
            yard_log_emit_record((level), __VA_ARGS__, (const char *)0);                           \
        }                                                                                          \
    } while (0)

/* Process-wide threshold; default INFO. Thread-safe. */
void yard_log_set_level(yard_log_level_t level);
bool yard_log_enabled(yard_log_level_t level);

/* Parses "debug", "info", "warn", "error" or "off". Returns 0 or YARD_E_INVALID. */
int yard_log_level_parse(const char *text, yard_log_level_t *out);

/* Sets the calling thread's component name and replica index (-1: none). component is
 * borrowed and must outlive the thread's logging (use a string literal or the actor's def). */
void yard_log_set_context(const char *component, int replica);

/* Registers a secret value (a password, a token, a URL's password): from then on every line
 * shows it as <secret> wherever it appears in the message or a string field. The value is
 * copied. Values shorter than 4 bytes are not registered (redacting them would mangle
 * ordinary text; the options code never prints a secret itself anyway), nor more than 64
 * secrets or one longer than 64 KiB: the callers are the options code at start-up, not
 * requests. Thread-safe. */
void yard_log_add_secret(const char *value);

/* Copies text into out (cap bytes, truncated, NUL-terminated) with every registered secret
 * replaced by <secret>: for the few lines a program prints without the logger (an error on
 * stderr before it exits). */
void yard_log_redact(const char *text, char *out, size_t cap);

/* A line sink: receives every line the logger writes (the JSON text without its newline, and
 * the component that wrote it), e.g. to publish it on the bus (yard/log_publish.h). It runs on
 * the logging thread right after the line was written, so it must be quick, never block and
 * never log; line is borrowed for the call. */
typedef void(yard_log_sink_fn)(const char *component, const char *line, size_t len, void *arg);

/* Sets the process's one sink (fn NULL: none). Once this returns, the previous sink is no
 * longer running and will not be called again, so its arg may be freed. Thread-safe. */
void yard_log_set_sink(yard_log_sink_fn *fn, void *arg);

/* Writes one line. The variadic part is YF_* triples ended by a NULL key; use yard_log() and
 * yard_log_record(). */
void yard_log_emit(yard_log_level_t level, const char *msg, ...);
void yard_log_emit_record(yard_log_level_t level, const char *msg, ...);

#endif
