#define _GNU_SOURCE /* pipe2 */
#include "process_control.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int pstrain_signal_on_parent_death(int signal) {
    return prctl(PR_SET_PDEATHSIG, signal);
}

static volatile sig_atomic_t stop_signal_fd = -1;

static void forward_stop_signal(int signal) {
    int saved = errno; /* the interrupted code may be about to read errno */
    unsigned char number = (unsigned char)signal;
    if (write(stop_signal_fd, &number, 1) < 0) { /* a full pipe already holds a stop request: nothing is lost */ }
    errno = saved;
}

int pstrain_forward_stop_signals(void) {
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) != 0) return -1;
    stop_signal_fd = ends[1];
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = forward_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &action, NULL) != 0 || sigaction(SIGTERM, &action, NULL) != 0) return -1;
    /* A process may start with them blocked (a parent's mask passes through fork and exec): unblocked here, in the
       thread that runs main, and so in every thread started later, at least one thread takes them. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL) != 0) return -1;
    return ends[0];
}
