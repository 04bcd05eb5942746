#ifndef PSTRAIN_HALF_PRECISION_H
#define PSTRAIN_HALF_PRECISION_H

#include <stddef.h>
#include <stdint.h>

/// Whether this CPU converts between float and half in hardware (x86 F16C); the functions below need it.
int pstrain_half_hardware(void);

/// Rounds `values[0..<count]` to half precision (nearest even) into `out`, after clamping finite values to the
/// half range; leaves the decoded values in `values` and, where `residual` is not NULL, `value - decoded` in it
/// (0 for infinities and NaN). Only when `pstrain_half_hardware()`.
void pstrain_encode_half(float *values, float *residual, uint16_t *out, size_t count);

/// Converts `count` halves at `in` (any alignment) to floats, written over `destination` or, with `adding`, added to
/// it; returns the sum of squares of the decoded values. Only when `pstrain_half_hardware()`.
double pstrain_decode_half(const void *in, float *destination, size_t count, int adding);

#endif
