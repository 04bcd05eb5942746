#ifndef PSTRAIN_CHILD_SPAWN_H
#define PSTRAIN_CHILD_SPAWN_H

#include <sys/types.h>

/// Starts `path` with `argv` and `envp` (each NULL-terminated) in a process group of its own, with no signal
/// blocked, its standard output and error on `stdout_fd` and `stderr_fd`, standard input inherited, and no other
/// descriptor of this process open in it. In C because posix_spawn_file_actions_addclosefrom_np needs
/// _GNU_SOURCE, which Swift's Glibc module does not see. Returns the child's pid, or -1 with errno set.
pid_t pstrain_spawn(const char *path, char *const argv[], char *const envp[], int stdout_fd, int stderr_fd);

/// Blocks until child `pid` has ended, leaving it to be reaped (waitid with WNOWAIT): until then its pid cannot
/// be reused, so a signal sent to it reaches it or its zombie. Retries EINTR. Returns 0, or -1 with errno set.
int pstrain_wait_for_end(pid_t pid);

#endif
