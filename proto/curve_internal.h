/* Private to libyard and the programs in this tree: CURVE on the client side of a bus socket
 * (proto/curve.c), and the one place CZMQ is told to keep its hands off signals. */
#ifndef YARD_CURVE_INTERNAL_H
#define YARD_CURVE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* Sets the CURVE keys of this process's settings on sock (a DEALER, before connect), or
 * nothing when CURVE is off. Returns 0, YARD_E_CONFIG (bad settings in the environment: logged)
 * or YARD_E_INTERNAL. */
int yard__curve_apply(void *sock);

/* Tells CZMQ, once per process and before anything else of it runs, to install no signal
 * handler. Thread-safe. */
void yard__czmq_quiet(void);

/* Loads a CZMQ certificate from path: its public key (Z85, 40 characters) into pub, and its
 * secret one into sec when need_secret (sec may be NULL otherwise). setting names the option
 * in errbuf ("curve.key: ..."). Returns 0 or YARD_E_CONFIG. */
int yard__cert_load(const char *setting, const char *path, bool need_secret, char pub[41],
                    char sec[41], char *errbuf, size_t errlen);

#endif
