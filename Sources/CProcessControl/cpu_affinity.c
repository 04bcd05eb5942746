#define _GNU_SOURCE /* sched_getaffinity, CPU_SET */
#include "cpu_affinity.h"
#include <errno.h>
#include <sched.h>

int pstrain_allowed_cpus(int *cpus, int capacity) {
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof mask, &mask) != 0) return -1;
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &mask)) continue;
        if (count < capacity) cpus[count] = cpu;
        count++;
    }
    return count;
}

int pstrain_pin_calling_thread(int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) {
        errno = EINVAL;
        return -1;
    }
    cpu_set_t mask;
    CPU_ZERO(&mask);
    CPU_SET(cpu, &mask);
    return sched_setaffinity(0, sizeof mask, &mask);
}
