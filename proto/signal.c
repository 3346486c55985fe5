/* Signals are taken synchronously with sigtimedwait(), so there is no async handler and no
 * state shared with one. */
#include "yard/signal.h"

#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <time.h>

static void
s_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

void
yard_signal_block(void)
{
    sigset_t set;
    s_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int
yard_signal_wait(int timeout_ms)
{
    sigset_t set;
    s_set(&set);
    for (;;) {
        int sig;
        if (timeout_ms < 0) {
            sig = sigwaitinfo(&set, NULL);
        } else {
            struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
            sig = sigtimedwait(&set, NULL, &ts);
        }
        if (sig > 0) {
            return sig;
        }
        if (errno == EAGAIN) {
            return 0;
        }
        /* EINTR from another signal: wait again. */
    }
}
