#ifndef PSTRAIN_PROCESS_CONTROL_H
#define PSTRAIN_PROCESS_CONTROL_H

/// Asks the kernel to send `signal` to this process when its parent dies (Linux PR_SET_PDEATHSIG).
/// A C function because prctl is variadic, which Swift cannot call. Returns 0 on success, -1 with errno set.
int pstrain_signal_on_parent_death(int signal);

/// Installs a handler for SIGINT and SIGTERM that writes the signal's number, as one byte, into a pipe, unblocks them
/// in the calling thread (call it from the main thread, first), and returns the pipe's read end for a thread to read. The handler runs on whichever thread the kernel picks, so no thread's
/// signal mask matters, not even that of threads started before `main` (OpenBLAS starts its pool as the library
/// loads). In C because a signal handler may only do async-signal-safe things: here, one write(2). Returns -1 with
/// errno set on failure.
int pstrain_forward_stop_signals(void);

#endif
