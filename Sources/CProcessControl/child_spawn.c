#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np */
#include "child_spawn.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

pid_t pstrain_spawn(const char *path, char *const argv[], char *const envp[], int stdin_fd, int stdout_fd, int stderr_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int failure = posix_spawn_file_actions_init(&actions);
    if (failure != 0) { errno = failure; return -1; }
    failure = posix_spawnattr_init(&attributes);
    if (failure != 0) {
        posix_spawn_file_actions_destroy(&actions);
        errno = failure;
        return -1;
    }
    pid_t pid = -1;
    /* A thread of a pool (libdispatch's) blocks most signals, and a child inherits its spawner's mask. */
    sigset_t no_signals;
    sigemptyset(&no_signals);
    /* Actions run in order: the three take their places before every other descriptor is closed (dup2 clears
       close-on-exec on the copy). */
    if ((failure = posix_spawn_file_actions_adddup2(&actions, stdin_fd, STDIN_FILENO)) == 0
        && (failure = posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO)) == 0
        && (failure = posix_spawn_file_actions_adddup2(&actions, stderr_fd, STDERR_FILENO)) == 0
        && (failure = posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1)) == 0
        && (failure = posix_spawnattr_setpgroup(&attributes, 0)) == 0
        && (failure = posix_spawnattr_setsigmask(&attributes, &no_signals)) == 0
        && (failure = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK)) == 0) {
        failure = posix_spawn(&pid, path, &actions, &attributes, argv, envp);
    }
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    if (failure != 0) { errno = failure; return -1; }
    return pid;
}

int pstrain_wait_for_end(pid_t pid) {
    siginfo_t info;
    int result;
    do {
        result = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT);
    } while (result != 0 && errno == EINTR);
    return result;
}

int pstrain_pipe_closed_on_exec(int ends[2]) { return pipe2(ends, O_CLOEXEC); }
