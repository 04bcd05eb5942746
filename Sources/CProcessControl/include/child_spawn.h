#ifndef PSTRAIN_CHILD_SPAWN_H
#define PSTRAIN_CHILD_SPAWN_H

#include <sys/types.h>

/// Starts `path` with `argv` and `envp` (each NULL-terminated) in a process group of its own, with no signal
/// blocked, its standard input, output and error on `stdin_fd`, `stdout_fd` and `stderr_fd`, and no other
/// descriptor of this process open in it. In C because posix_spawn_file_actions_addclosefrom_np needs
/// _GNU_SOURCE, which Swift's Glibc module does not see. Returns the child's pid, or -1 with errno set.
pid_t pstrain_spawn(const char *path, char *const argv[], char *const envp[], int stdin_fd, int stdout_fd, int stderr_fd);

/// A pipe whose two ends close on exec (pipe2 with O_CLOEXEC), so that no child started meanwhile, by any
/// thread, holds one open: `ends[0]` reads, `ends[1]` writes. Returns 0, or -1 with errno set.
int pstrain_pipe_closed_on_exec(int ends[2]);

/// Blocks until child `pid` has ended, leaving it to be reaped (waitid with WNOWAIT): until then its pid cannot
/// be reused, so a signal sent to it reaches it or its zombie. Retries EINTR. Returns 0, or -1 with errno set.
int pstrain_wait_for_end(pid_t pid);

#endif
