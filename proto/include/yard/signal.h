/* Who owns SIGINT and SIGTERM: the main thread of each program, through this module, and
 * nobody else. main() calls yard_signal_block() before it creates any thread (a ZeroMQ
 * context starts I/O threads), so every thread inherits a mask with both signals blocked and
 * none is ever interrupted by them; the main thread then waits in yard_signal_wait() and, on
 * a signal, stops its broker or actors, which drain and exit. We do not link CZMQ, so its
 * handlers never get installed. */
#ifndef YARD_SIGNAL_H
#define YARD_SIGNAL_H

/* Blocks SIGINT and SIGTERM in the calling thread and ignores SIGPIPE. */
void yard_signal_block(void);

/* Waits up to timeout_ms (-1: forever) for SIGINT or SIGTERM. Returns the signal number, or
 * 0 when the time ran out. */
int yard_signal_wait(int timeout_ms);

#endif
