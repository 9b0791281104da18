// Compiled with -mavx2 -mfma -mf16c (see src/CMakeLists.txt); called only when the CPU has them.
// No inline functions of shared headers are used here (the linker could keep this ISA's copy).
// f16_to_f32 is an out-of-line function compiled for the baseline.
#include <immintrin.h>

#include "kernels/dot.h"

namespace quantscope::detail {

namespace {
inline __m256 load_tail(const float* p, int64_t k) {  // k < 8 valid floats, rest zero
  alignas(32) float buf[8] = {};
  for (int64_t i = 0; i < k; ++i) buf[i] = p[i];
  return _mm256_load_ps(buf);
}
}  // namespace

float dot_f32_avx2(const float* a, const float* b, int64_t n) {
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();  // lanes 0-7 and 8-15
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    lo = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), lo);
    hi = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), hi);
  }
  if (i < n) {
    const int64_t r = n - i;
    const int64_t rlo = r < 8 ? r : 8, rhi = r - rlo;
    lo = _mm256_fmadd_ps(load_tail(a + i, rlo), load_tail(b + i, rlo), lo);
    hi = _mm256_fmadd_ps(load_tail(a + i + 8, rhi), load_tail(b + i + 8, rhi), hi);
  }
  __m256 s8 = _mm256_add_ps(lo, hi);                                                 // l + (l+8)
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));  // l + (l+4)
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));                                 // l + (l+2)
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));                             // 0 + 1
  return _mm_cvtss_f32(s1);
}

void f16_to_f32_row_avx2(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

}  // namespace quantscope::detail
