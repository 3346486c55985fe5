/* A fake of the Telegram Bot API (core.telegram.org/bots/api) for the telegram actor's tests,
 * on tests/harness/http_fake.h. It serves POST /bot<token>/<method> with a JSON body, answers
 * {"ok":true,"result":...} or {"ok":false,"error_code":N,"description":"...",
 * "parameters":{"retry_after"|"migrate_to_chat_id":N}} as the real API does, and enforces the
 * documented rules the actor must live with:
 *
 *   - a wrong token: 401 "Unauthorized"; an unknown method: 404 "Not Found";
 *   - getUpdates long-polls: it holds until an update is queued or its timeout passes;
 *     updates below offset are confirmed and forgotten; allowed_updates filters by type;
 *     a second getUpdates while one is held ends the held one with 409 "Conflict: terminated
 *     by other getUpdates request; ..."; while a webhook is set every getUpdates is 409
 *     "Conflict: can't use getUpdates method while webhook is active; ...";
 *   - sendMessage: text of 1..4096 UTF-16 units; parse_mode MarkdownV2 or HTML checked for
 *     unescaped reserved characters and unknown tags (400 "can't parse entities"); more than
 *     one message a second to one chat, 20 a minute to one group or 30 a second in all is
 *     429 with parameters.retry_after; a migrated group is 400 with migrate_to_chat_id; a
 *     chat that blocked the bot is 403;
 *   - setWebhook (an https:// url; secret_token of 1..256 of A-Z a-z 0-9 _ -), deleteWebhook,
 *     getWebhookInfo, setMyCommands (command 1..32 of a-z 0-9 _, description 1..256), getMe.
 *
 * Every function is thread-safe (the server answers on its own threads). */
#ifndef TELEGRAM_FAKE_H
#define TELEGRAM_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_fake tg_fake_t;

/* The bot's username, as getMe gives it. */
#define TG_FAKE_USERNAME "yard_test_bot"

/* Starts the fake for a bot token ("<bot id>:<secret>"). Caller owns the result; free with
 * tg_fake_stop(). Aborts the test program when the server cannot start. */
tg_fake_t *tg_fake_start(const char *token);
/* Ends held long polls, stops the server, frees *f_p and sets it to NULL. */
void tg_fake_stop(tg_fake_t **f_p);

/* "http://127.0.0.1:<port>": the actor's api_base. Borrowed; valid until stopped. */
const char *tg_fake_api_base(tg_fake_t *f);

/* Queues an update of type (e.g. "message", "callback_query") whose object is the JSON text
 * obj, and wakes a held getUpdates. Returns the update_id given (1, 2, ...). */
int64_t tg_fake_push(tg_fake_t *f, const char *type, const char *obj_json);
/* Queues a text message from user in chat (lang: the user's language_code, NULL: none);
 * text starting with '/' gets a bot_command entity at offset 0 for its first word. Returns
 * the update_id. */
int64_t tg_fake_push_text(tg_fake_t *f, int64_t chat_id, int64_t user_id, const char *lang,
                          const char *text);

/* While paused, queued updates are kept back from getUpdates (a long poll keeps waiting);
 * unpausing delivers them together, as one batch of up to limit. */
void tg_fake_pause(tg_fake_t *f, bool paused);

/* Messages sent (accepted) to chat_id so far; 0 for all chats. */
size_t tg_fake_sent(tg_fake_t *f, int64_t chat_id);
/* Waits up to timeout_ms until at least n messages were sent to chat_id (0: any chat).
 * Returns how many there are. */
size_t tg_fake_wait_sent(tg_fake_t *f, int64_t chat_id, size_t n, int timeout_ms);
/* The text of the i-th message sent to chat_id (0: any chat), and its parse_mode ("" when
 * none) into mode (may be NULL, 16 bytes). Caller owns the result (free()); NULL when none. */
char *tg_fake_sent_text(tg_fake_t *f, int64_t chat_id, size_t i, char *mode);
/* Milliseconds (monotonic) when the i-th message to chat_id was accepted; -1 when none. */
long long tg_fake_sent_at(tg_fake_t *f, int64_t chat_id, size_t i);

/* Calls of method so far (any outcome). */
size_t tg_fake_calls(tg_fake_t *f, const char *method);
/* Answers with error_code code given so far (429, 409, 400, ...). */
size_t tg_fake_errors(tg_fake_t *f, int code);
/* getUpdates calls being held right now. */
size_t tg_fake_polls_held(tg_fake_t *f);
/* The last allowed_updates a getUpdates named, as JSON ("" when none ever did). Copied into
 * buf. */
const char *tg_fake_allowed_updates(tg_fake_t *f, char *buf, size_t len);
/* The highest offset a getUpdates confirmed (0 when none). */
int64_t tg_fake_confirmed(tg_fake_t *f);

/* From now on, sendMessage to old_chat fails with migrate_to_chat_id new_chat. */
void tg_fake_migrate(tg_fake_t *f, int64_t old_chat, int64_t new_chat);
/* From now on, sendMessage to chat fails with 403 (the user blocked the bot). */
void tg_fake_block(tg_fake_t *f, int64_t chat);
/* The next n sendMessage calls to chat get 429 with retry_after seconds. */
void tg_fake_throttle(tg_fake_t *f, int64_t chat, int n, int retry_after);

/* The webhook URL set now ("" when none) and its secret_token, copied (each 512 bytes). */
void tg_fake_webhook(tg_fake_t *f, char *url, char *secret);
/* Sets a webhook as if another deployment had (getUpdates then gets 409). */
void tg_fake_set_webhook(tg_fake_t *f, const char *url);

/* The commands of the last setMyCommands for language_code lang ("" for the default list), as
 * "name=description\n" lines, copied into buf; "" when none was set. */
const char *tg_fake_commands(tg_fake_t *f, const char *lang, char *buf, size_t len);

#endif
