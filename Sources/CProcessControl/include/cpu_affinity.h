#ifndef PSTRAIN_CPU_AFFINITY_H
#define PSTRAIN_CPU_AFFINITY_H

/// Writes the numbers of the CPUs the calling thread may run on (its sched_getaffinity mask) into `cpus`, lowest
/// first, up to `capacity` of them, and returns how many there are. In C because the mask's CPU_* accessors are
/// macros, which Swift cannot call. Returns -1 with errno set on failure.
int pstrain_allowed_cpus(int *cpus, int capacity);

/// Restricts the calling thread to `cpu`. Threads it starts afterwards, and processes it spawns, inherit the
/// restriction. Returns 0, or -1 with errno set (EINVAL for a CPU this process may not use).
int pstrain_pin_calling_thread(int cpu);

#endif
