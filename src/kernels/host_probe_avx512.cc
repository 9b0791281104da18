// Host probe kernels for AVX-512 (F/BW/VL/DQ + FMA; called only when the CPU has them).
// No inline functions of shared headers are instantiated here (see dot_avx512.cc).
#include <immintrin.h>

#include "kernels/host_probe.h"

namespace quantscope::detail {

namespace {
constexpr int64_t kPrefetchFloats = 2048 / sizeof(float);  // see read_sum_avx512

__mmask16 tail_mask(int64_t count) {  // lanes < count active (count may be <= 0 or >= 16)
  return count <= 0 ? __mmask16(0) : count >= 16 ? __mmask16(0xffff) : __mmask16((1u << count) - 1u);
}
}  // namespace

// 64 lanes (4 zmm): lane = i mod 64, then acc[l] += acc[l+32], +16, +8, +4, +2, +1 (as the scalar
// and AVX2 versions).
// Each line is prefetched 2 KiB ahead, as the decode kernels do (gemv_avx512.cc): the roofline must be
// the best streaming read this machine does, not what the hardware prefetchers alone reach. Intel Xeon
// VM, 2 threads, alternated runs: once 28.4 / 29.7 GB/s without against 31.3 / 31.3 with, an hour
// later (the host busier) 26.7-27.2 against 27.0-27.3.
float read_sum_avx512(const float* x, int64_t n, int64_t* elements) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0, counted = 0;
  for (; i + 64 <= n; i += 64) {
    for (int l = 0; l < 4; ++l) _mm_prefetch(reinterpret_cast<const char*>(x + i + 16 * l + kPrefetchFloats), _MM_HINT_T0);
    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_loadu_ps(x + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_loadu_ps(x + i + 48));
    counted += 64;
  }
  if (i < n) {
    const int64_t r = n - i;
    a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(tail_mask(r), x + i));
    a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(tail_mask(r - 16), x + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_maskz_loadu_ps(tail_mask(r - 32), x + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_maskz_loadu_ps(tail_mask(r - 48), x + i + 48));
    counted += r;
  }
  a0 = _mm512_add_ps(a0, a2);  // +32
  a1 = _mm512_add_ps(a1, a3);
  a0 = _mm512_add_ps(a0, a1);  // +16
  __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(a0), _mm512_extractf32x8_ps(a0, 1));
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  *elements = counted;
  return _mm_cvtss_f32(s1);
}

int64_t triad_avx512(float* a, const float* b, const float* c, float s, int64_t n) {
  const __m512 vs = _mm512_set1_ps(s);
  int64_t i = 0, counted = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(a + i, _mm512_fmadd_ps(vs, _mm512_loadu_ps(c + i), _mm512_loadu_ps(b + i)));
    counted += 16;
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(a + i, m, _mm512_fmadd_ps(vs, _mm512_maskz_loadu_ps(m, c + i), _mm512_maskz_loadu_ps(m, b + i)));
    counted += n - i;
  }
  return counted;
}

int64_t fma_peak_avx512(int64_t iters, float mul, float add, const float* init, float* out) {
  constexpr int K = kFmaAccumulators;
  const __m512 m = _mm512_set1_ps(mul), d = _mm512_set1_ps(add);
  __m512 acc[K];
#pragma GCC unroll 12
  for (int k = 0; k < K; ++k) acc[k] = _mm512_loadu_ps(init + 16 * k);
  int64_t fmas = 0;
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int k = 0; k < K; ++k) acc[k] = _mm512_fmadd_ps(acc[k], m, d);
    fmas += K * 16;
  }
#pragma GCC unroll 12
  for (int k = 0; k < K; ++k) _mm512_storeu_ps(out + 16 * k, acc[k]);
  return fmas;
}

}  // namespace quantscope::detail
