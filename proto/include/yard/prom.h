/* The Prometheus text exposition format (version 0.0.4), the small part every /metrics
 * endpoint of the project shares (the gateway's, the broker's): a family's HELP and TYPE
 * lines, and label values written so that any bytes, whoever chose them (a route name from a
 * config, a service name from a peer), give a well-formed scrape.
 * Format: https://prometheus.io/docs/instrumenting/exposition_formats/ */
#ifndef YARD_PROM_H
#define YARD_PROM_H

#include <stddef.h>
#include <stdio.h>

/* The content type of a scrape in this format. */
#define YARD_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Writes "# HELP name help" and "# TYPE name type" (type: counter, gauge, histogram,
 * summary, untyped). name, type and help are the program's own text, written as given. */
void yard_prom_family(FILE *out, const char *name, const char *type, const char *help);

/* Writes the len bytes at value as the inside of a quoted label value: \ as \\, " as \",
 * newline as \n (the format's three escapes), and every byte that is not part of well-formed
 * UTF-8, or is NUL, as U+FFFD, since one bad byte would make a scraper reject the whole
 * scrape. */
void yard_prom_label(FILE *out, const char *value, size_t len);

#endif
