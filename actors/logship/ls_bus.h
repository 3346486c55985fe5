/* logship's bus input: subscribes to the configured subjects (log.> for the lines every program
 * publishes with log_publish: true) under the lease "logship:bus", so that one replica among
 * all that share the store ships them, and queues each line as a record with log.subject. */
#ifndef LS_BUS_H
#define LS_BUS_H

#include "ls.h"

/* Starts the bus input when subjects are configured (replica thread, from init). Returns 0 or
 * the error of yard_ctx_lease(). */
int ls_bus_start(ls_t *ls);

/* Queues one line that came from subject (text, n bytes). Exposed for tests. */
void ls_bus_line(ls_t *ls, const char *subject, const char *text, size_t n);

#endif
