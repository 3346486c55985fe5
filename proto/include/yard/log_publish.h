/* Publishing the log on the bus: with `log_publish: true` at the top of the config file (or
 * YARD_LOG_PUBLISH=true), every Switchyard program also publishes each of its JSON log lines on
 * the subject log.<component> (log.broker, log.gateway, log.echo, ...), as a msgpack map of the
 * line's fields, so that a shipper (actors/logship) reads the logs straight off the bus.
 *
 * Logging never waits for the bus: the logger hands each line to a bounded queue (at most
 * YARD_LOG_PUBLISH_QUEUE lines and YARD_LOG_PUBLISH_BYTES bytes) that a thread of its own empties
 * through a bus client; when the queue is full the line is dropped and counted, and the thread
 * logs the count (at most every 10 s; that line is published too). The program skeleton
 * (yard/program.h) starts and stops it. */
#ifndef YARD_LOG_PUBLISH_H
#define YARD_LOG_PUBLISH_H

#include "yard/options.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YARD_LOG_PUBLISH_QUEUE 4096u
#define YARD_LOG_PUBLISH_BYTES (1u << 20)

typedef struct yard_log_publish yard_log_publish_t;

/* Whether log_publish is on: the top-level key of cfg (may be NULL), overridden by the
 * environment variable YARD_LOG_PUBLISH. Returns 0 with *on set, or YARD_E_CONFIG with err
 * naming the file and line (or the variable) when the value is not a boolean. */
int yard_log_publish_enabled(const yard_config_t *cfg, bool *on, char *err, size_t errlen);

/* The broker endpoints a program's publisher connects to: the top-level `broker` key of cfg,
 * else YARD_BROKER, else YARD_OPT_DEFAULT_BROKER. Borrowed (from cfg, the environment or a
 * literal); valid while cfg lives. */
const char *yard_log_publish_broker(const yard_config_t *cfg);

/* Starts publishing every log line of the process through a client of its own connected to
 * endpoints (zmq_context may be NULL: its own). Returns 0 and sets *out (caller owns it; stop
 * and free with yard_log_publish_stop()), or the error of yard_client_new(). One publisher per
 * process: it takes the logger's line sink (yard_log_set_sink()). */
int yard_log_publish_start(const char *endpoints, void *zmq_context, yard_log_publish_t **out);

/* Stops publishing: removes the sink, publishes what is queued (bounded by the queue), closes
 * the client, frees *self_p and sets it to NULL. NULL is fine. */
void yard_log_publish_stop(yard_log_publish_t **self_p);

/* Lines published, and lines dropped because the queue was full (or the client refused them).
 * Thread-safe. */
uint64_t yard_log_publish_sent(yard_log_publish_t *self);
uint64_t yard_log_publish_dropped(yard_log_publish_t *self);

#endif
