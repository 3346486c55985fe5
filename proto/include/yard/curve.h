/* CURVE on the bus: the key settings every program, client and `yard` command shares, and
 * what libyard does with them when it opens a bus socket.
 *
 * Keys are certificate files in CZMQ's format (zcert): `yard keygen NAME` writes NAME (the
 * public certificate, to hand out) and NAME_secret (mode 0600, to keep). The settings live in
 * the config file's `curve:` section, and are the same everywhere (yard/options.h):
 *   curve.key        YARD_CURVE_KEY        --key PATH         this process's own secret cert
 *   curve.broker_key YARD_CURVE_BROKER_KEY --broker-key PATH  the broker's public cert
 *   curve.keys_dir   YARD_CURVE_KEYS_DIR   --keys-dir PATH    (broker) the allowed public certs
 *
 * A peer with broker_key set speaks CURVE to the broker with its own key pair (key); without
 * it, it speaks plain ZeroMQ. The broker with key and keys_dir set accepts only CURVE peers
 * whose public key has a certificate in keys_dir (yard/broker.h). */
#ifndef YARD_CURVE_H
#define YARD_CURVE_H

#include "yard/options.h"

#include <stdbool.h>
#include <stddef.h>

/* The `curve:` section. Strings are owned by the struct; free with yard_options_free(). */
typedef struct {
    char *key;        /* path of this process's secret certificate (NAME_secret) */
    char *broker_key; /* path of the broker's public certificate */
    char *keys_dir;   /* broker: directory of allowed client public certificates */
} yard_curve_opts_t;

/* The options table for yard_curve_opts_t; section "curve". Every program applies it
 * (yard/program.h), and `yard` commands read it from the file and the environment. */
extern const yard_option_t yard_curve_options[];

/* Sets the client side of every bus socket this process opens from now on (the client, the
 * actor runtime's links, the gateway, `yard` commands): with o->broker_key set, CURVE with
 * o->key's key pair; otherwise plain. o NULL or all empty: plain. Loads both certificates
 * now, so a missing or unreadable file, or a key file without its secret half, is
 * YARD_E_CONFIG with errbuf naming the setting and the path (never a key). Returns 0 or
 * YARD_E_CONFIG. Thread-safe; o is borrowed. Without any call, the first bus socket reads
 * YARD_CURVE_KEY and YARD_CURVE_BROKER_KEY from the environment (a bad one is logged and the
 * socket is not opened). */
int yard_curve_configure(const yard_curve_opts_t *o, char *errbuf, size_t errlen);

/* True when bus sockets opened now speak CURVE (after yard_curve_configure() or the
 * environment). */
bool yard_curve_enabled(void);

/* Writes a new key pair as NAME (public) and NAME_secret (mode 0600) in CZMQ's certificate
 * format, with meta (pairs of key and value, NULL ended; may be NULL) in both files' metadata
 * (the broker reads permissions from there: docs/security.md). Refuses to overwrite an
 * existing file. Returns 0, or YARD_E_IO / YARD_E_INVALID with errbuf saying why. */
int yard_curve_keygen(const char *name, const char *const *meta, char *errbuf, size_t errlen);

#endif
