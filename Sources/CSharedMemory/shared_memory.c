#define _GNU_SOURCE
#include "shared_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/// Closes `fd`, keeping errno.
static void close_quietly(int fd) {
    int saved = errno;
    close(fd);
    errno = saved;
}

int pstrain_shared_memory_create(size_t bytes, void **mapping) {
    int fd = memfd_create("pstrain-payloads", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -1;
    int failure = ftruncate(fd, (off_t)bytes) != 0 ? errno : posix_fallocate(fd, 0, (off_t)bytes);
    if (failure == 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) failure = errno;
    void *mapped = failure == 0 ? mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (failure == 0 && mapped == MAP_FAILED) failure = errno;
    if (failure != 0) {
        close(fd);
        errno = failure;
        return -1;
    }
    *mapping = mapped;
    return fd;
}

void *pstrain_shared_memory_open(const char *path, size_t bytes) {
    int fd = open(path, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat status;
    if (fstat(fd, &status) != 0) {
        close_quietly(fd);
        return NULL;
    }
    if (!S_ISREG(status.st_mode) || (size_t)status.st_size != bytes) {
        close(fd);
        errno = EINVAL;
        return NULL;
    }
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
        close(fd);
        errno = EPERM;
        return NULL;
    }
    void *mapped = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close_quietly(fd);
    return mapped == MAP_FAILED ? NULL : mapped;
}

void pstrain_shared_memory_unmap(void *mapping, size_t bytes) { munmap(mapping, bytes); }

uint64_t pstrain_load_acquire(const uint64_t *address) { return __atomic_load_n(address, __ATOMIC_ACQUIRE); }

void pstrain_store_release(uint64_t *address, uint64_t value) { __atomic_store_n(address, value, __ATOMIC_RELEASE); }
