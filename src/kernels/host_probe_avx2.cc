// Host probe kernels for AVX2 + FMA (compiled with -mavx2 -mfma; called only when the CPU has them).
// No inline functions of shared headers are instantiated here (see dot_avx512.cc).
#include <immintrin.h>

#include "kernels/host_probe.h"

namespace quantscope::detail {

namespace {
constexpr int64_t kPrefetchFloats = 2048 / sizeof(float);  // see read_sum_avx2

// Lanes 0-7 of a ymm summed pairwise: l += l+4, l += l+2, l0 + l1.
float reduce8(__m256 v) {
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

__m256i tail_mask(int64_t count) {  // lanes < count active (count may be <= 0 or >= 8)
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int c = count < 0 ? 0 : (count > 8 ? 8 : int(count));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), idx);
}
}  // namespace

// 64 lanes (8 ymm): lane = i mod 64, then acc[l] += acc[l+32], +16, +8, +4, +2, +1 (as the scalar
// and AVX-512 versions).
// Each line prefetched 2 KiB ahead, as in read_sum_avx512 (and why).
float read_sum_avx2(const float* x, int64_t n, int64_t* elements) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  int64_t i = 0, counted = 0;
  for (; i + 64 <= n; i += 64) {
    for (int l = 0; l < 4; ++l) _mm_prefetch(reinterpret_cast<const char*>(x + i + 16 * l + kPrefetchFloats), _MM_HINT_T0);
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + i + 24));
    a4 = _mm256_add_ps(a4, _mm256_loadu_ps(x + i + 32));
    a5 = _mm256_add_ps(a5, _mm256_loadu_ps(x + i + 40));
    a6 = _mm256_add_ps(a6, _mm256_loadu_ps(x + i + 48));
    a7 = _mm256_add_ps(a7, _mm256_loadu_ps(x + i + 56));
    counted += 64;
  }
  if (i < n) {
    const int64_t r = n - i;
    a0 = _mm256_add_ps(a0, _mm256_maskload_ps(x + i, tail_mask(r)));
    a1 = _mm256_add_ps(a1, _mm256_maskload_ps(x + i + 8, tail_mask(r - 8)));
    a2 = _mm256_add_ps(a2, _mm256_maskload_ps(x + i + 16, tail_mask(r - 16)));
    a3 = _mm256_add_ps(a3, _mm256_maskload_ps(x + i + 24, tail_mask(r - 24)));
    a4 = _mm256_add_ps(a4, _mm256_maskload_ps(x + i + 32, tail_mask(r - 32)));
    a5 = _mm256_add_ps(a5, _mm256_maskload_ps(x + i + 40, tail_mask(r - 40)));
    a6 = _mm256_add_ps(a6, _mm256_maskload_ps(x + i + 48, tail_mask(r - 48)));
    a7 = _mm256_add_ps(a7, _mm256_maskload_ps(x + i + 56, tail_mask(r - 56)));
    counted += r;
  }
  // +32: lanes 0-31 += lanes 32-63; +16; then +8 is the ymm pair.
  a0 = _mm256_add_ps(a0, a4);
  a1 = _mm256_add_ps(a1, a5);
  a2 = _mm256_add_ps(a2, a6);
  a3 = _mm256_add_ps(a3, a7);
  a0 = _mm256_add_ps(a0, a2);
  a1 = _mm256_add_ps(a1, a3);
  a0 = _mm256_add_ps(a0, a1);
  *elements = counted;
  return reduce8(a0);
}

int64_t triad_avx2(float* a, const float* b, const float* c, float s, int64_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0, counted = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(a + i, _mm256_fmadd_ps(vs, _mm256_loadu_ps(c + i), _mm256_loadu_ps(b + i)));
    counted += 8;
  }
  for (; i < n; ++i) {
    a[i] = __builtin_fmaf(s, c[i], b[i]);
    ++counted;
  }
  return counted;
}

int64_t fma_peak_avx2(int64_t iters, float mul, float add, const float* init, float* out) {
  constexpr int K = kFmaAccumulators;
  const __m256 m = _mm256_set1_ps(mul), d = _mm256_set1_ps(add);
  __m256 acc[K];
#pragma GCC unroll 12
  for (int k = 0; k < K; ++k) acc[k] = _mm256_loadu_ps(init + 8 * k);
  int64_t fmas = 0;
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int k = 0; k < K; ++k) acc[k] = _mm256_fmadd_ps(acc[k], m, d);
    fmas += K * 8;
  }
#pragma GCC unroll 12
  for (int k = 0; k < K; ++k) _mm256_storeu_ps(out + 8 * k, acc[k]);
  return fmas;
}

int64_t int8_peak_avx2(int64_t iters, const uint8_t* a, const int8_t* b, const int32_t* init, int32_t* out) {
  constexpr int K = kInt8AccumulatorsAvx2;
  __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
  const __m256i vb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[K];
#pragma GCC unroll 8
  for (int k = 0; k < K; ++k) acc[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(init + 8 * k));
  int64_t macs = 0;
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 8
    for (int k = 0; k < K; ++k) {
      // The empty asm says va may have changed, so the (otherwise loop-invariant) products cannot be
      // hoisted out of the loop or shared between accumulators: each step really multiplies.
      asm volatile("" : "+x"(va));
      const __m256i pairs = _mm256_maddubs_epi16(va, vb);        // 16 x s16, 2 MACs each
      const __m256i quads = _mm256_madd_epi16(pairs, ones);      // 8 x s32, 4 MACs each
      acc[k] = _mm256_add_epi32(acc[k], quads);
    }
    macs += K * 8 * 4;
  }
#pragma GCC unroll 8
  for (int k = 0; k < K; ++k) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8 * k), acc[k]);
  return macs;
}

}  // namespace quantscope::detail
