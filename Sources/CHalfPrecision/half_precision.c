// Float <-> half conversion with x86's F16C instructions, eight values at a time. Swift's own Float16 conversion
// is a software call per value on baseline x86-64, and its vector types do not lower to these instructions; the
// Swift code in Wire keeps a portable scalar path with the same rounding for other CPUs.
#include "half_precision.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

int pstrain_half_hardware(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
}

__attribute__((target("avx,f16c")))
void pstrain_encode_half(float *values, float *residual, uint16_t *out, size_t count) {
    const __m256 largest = _mm256_set1_ps(65504.0f), smallest = _mm256_set1_ps(-65504.0f);
    const __m256 exponent = _mm256_castsi256_ps(_mm256_set1_epi32(0x7F800000));
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 v = _mm256_loadu_ps(values + i);
        // Finite lanes: exponent bits not all ones. Clamp only those, so infinities and NaN pass unchanged.
        __m256 finite = _mm256_cmp_ps(_mm256_and_ps(v, exponent), exponent, _CMP_NEQ_OQ);
        __m256 clamped = _mm256_blendv_ps(v, _mm256_max_ps(_mm256_min_ps(v, largest), smallest), finite);
        __m128i halves = _mm256_cvtps_ph(clamped, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(out + i), halves);
        __m256 decoded = _mm256_cvtph_ps(halves);
        _mm256_storeu_ps(values + i, decoded);
        if (residual) _mm256_storeu_ps(residual + i, _mm256_and_ps(_mm256_sub_ps(v, decoded), finite));
    }
    for (; i < count; i++) {
        float v = values[i];
        int finite = (v - v) == 0.0f;
        float clamped = finite ? (v > 65504.0f ? 65504.0f : (v < -65504.0f ? -65504.0f : v)) : v;
        uint16_t h = _cvtss_sh(clamped, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        out[i] = h;
        float decoded = _cvtsh_ss(h);
        values[i] = decoded;
        if (residual) residual[i] = finite ? v - decoded : 0.0f;
    }
}

__attribute__((target("avx,f16c")))
double pstrain_decode_half(const void *in, float *destination, size_t count, int adding) {
    const unsigned char *bytes = in;
    __m256d low = _mm256_setzero_pd(), high = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(bytes + 2 * i)));
        __m256d a = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), b = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        low = _mm256_add_pd(low, _mm256_mul_pd(a, a));
        high = _mm256_add_pd(high, _mm256_mul_pd(b, b));
        _mm256_storeu_ps(destination + i, adding ? _mm256_add_ps(_mm256_loadu_ps(destination + i), v) : v);
    }
    double lanes[4], more[4];
    _mm256_storeu_pd(lanes, low);
    _mm256_storeu_pd(more, high);
    double sum = ((lanes[0] + more[0]) + (lanes[1] + more[1])) + ((lanes[2] + more[2]) + (lanes[3] + more[3]));
    for (; i < count; i++) {
        uint16_t h;
        memcpy(&h, bytes + 2 * i, 2);
        float v = _cvtsh_ss(h);
        sum += (double)v * (double)v;
        destination[i] = adding ? destination[i] + v : v;
    }
    return sum;
}

#else
int pstrain_half_hardware(void) { return 0; }
void pstrain_encode_half(float *values, float *residual, uint16_t *out, size_t count) { (void)values; (void)residual; (void)out; (void)count; }
double pstrain_decode_half(const void *in, float *destination, size_t count, int adding) { (void)in; (void)destination; (void)count; (void)adding; return 0; }
#endif
