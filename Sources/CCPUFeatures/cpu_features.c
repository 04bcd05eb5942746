#include "cpu_features.h"

#include <stdio.h>
#include <stdlib.h>

void pstrain_require_haswell(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2")
        && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("movbe") && __builtin_cpu_supports("popcnt")) {
        return;
    }
    fputs("pstrain: error: this pstrain was compiled for CPUs with AVX2 and FMA (Haswell, 2013, or later), "
          "and this CPU lacks them\n"
          "hint: build it for any x86-64 instead: PSTRAIN_TARGET_CPU=x86-64 swift build -c release\n", stderr);
    exit(70);
#endif
}
