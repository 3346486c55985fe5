/* Pub/sub subjects: dot-separated tokens ("jobs.mail.sent"). A pattern may use `*` for
 * exactly one token and `>` as its last token for one or more remaining tokens, with the
 * same meaning as NATS subjects. Tokens are non-empty and hold printable ASCII other than
 * space; `*` and `>` are wildcards only as whole tokens and never appear in a published
 * subject. */
#ifndef YARD_SUBJECT_H
#define YARD_SUBJECT_H

#include "yard/wire.h"

#include <stdbool.h>

/* True when s is a valid subject to publish on (no wildcards). */
bool yard_subject_valid(yard_str_t s);

/* True when p is a valid subscription pattern (wildcards allowed as whole tokens, `>` last). */
bool yard_subject_pattern_valid(yard_str_t p);

/* True when subject s matches pattern p. Both must be valid; an invalid one never matches. */
bool yard_subject_match(yard_str_t p, yard_str_t s);

#endif
