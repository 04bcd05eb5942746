#ifndef PSTRAIN_PROCESS_CONTROL_H
#define PSTRAIN_PROCESS_CONTROL_H

/// Asks the kernel to send `signal` to this process when its parent dies (Linux PR_SET_PDEATHSIG).
/// A C function because prctl is variadic, which Swift cannot call. Returns 0 on success, -1 with errno set.
int pstrain_signal_on_parent_death(int signal);

#endif
