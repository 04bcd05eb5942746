#ifndef PSTRAIN_SHARED_MEMORY_H
#define PSTRAIN_SHARED_MEMORY_H

#include <stddef.h>
#include <stdint.h>

/// Makes an anonymous shared memory file (memfd) of `bytes`, its memory reserved up front, sealed against
/// shrinking and growing, and maps it into `*mapping`. Reserving matters: a write into a page that a full tmpfs
/// cannot supply kills the process with SIGBUS. Sealing matters to the processes that map it from this one: a
/// file shrunk under their mapping would do the same to them. Returns the file descriptor, which the other
/// processes open as /proc/PID/fd/FD, or -1 with errno set.
int pstrain_shared_memory_create(size_t bytes, void **mapping);

/// Maps the file at `path` (another process's /proc/PID/fd/FD) if it is a regular file of exactly `bytes`,
/// sealed against shrinking; returns NULL with errno set otherwise: ENOENT where there is no such process or
/// descriptor, EINVAL for another kind of file or size, EPERM for a file that may shrink. The path is opened
/// without blocking and without becoming a controlling terminal, whatever it names.
void *pstrain_shared_memory_open(const char *path, size_t bytes);

/// Unmaps what `pstrain_shared_memory_create` or `_open` mapped.
void pstrain_shared_memory_unmap(void *mapping, size_t bytes);

/// A 64-bit load that sees every write made before the matching release store, in any process.
uint64_t pstrain_load_acquire(const uint64_t *address);

/// A 64-bit store after which every earlier write is visible to an acquire load of the same address.
void pstrain_store_release(uint64_t *address, uint64_t value);

#endif
