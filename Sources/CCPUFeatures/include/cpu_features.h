#ifndef PSTRAIN_CPU_FEATURES_H
#define PSTRAIN_CPU_FEATURES_H

/// Exits with status 70 and a message saying how to rebuild when this CPU cannot run code compiled for Haswell
/// (AVX2, FMA, BMI2, F16C, MOVBE, POPCNT: what Package.swift looks for); returns otherwise. Written in C and compiled for baseline x86-64, so it runs
/// on any CPU and can tell the user why pstrain will not, where Swift code built for Haswell might execute an
/// AVX2 instruction even on the way to printing a message.
void pstrain_require_haswell(void);

#endif
