// Compiled with -mavx2 -mfma; mirrors exp_f32 / exp_shift_sum_scalar operation for operation.
#include <immintrin.h>

#include "kernels/exp.h"
#include "kernels/ops.h"

namespace quantscope::detail {

namespace {
inline __m256 exp8(__m256 x) {
  using namespace exp_constants;
  const __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(kMin), _CMP_LT_OQ);
  const __m256 over = _mm256_cmp_ps(x, _mm256_set1_ps(kMax), _CMP_GT_OQ);
  const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(kMin)), _mm256_set1_ps(kMax));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 nk = _mm256_xor_ps(k, _mm256_set1_ps(-0.0f));  // -k exactly
  __m256 r = _mm256_fmadd_ps(nk, _mm256_set1_ps(kLn2Hi), xc);
  r = _mm256_fmadd_ps(nk, _mm256_set1_ps(kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kC7);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kC6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kC5));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kC4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kC3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kC2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i ki = _mm256_cvtps_epi32(k);
  const __m256 big = _mm256_castsi256_ps(_mm256_cmpgt_epi32(ki, _mm256_set1_epi32(127)));
  const __m256i e = _mm256_min_epi32(ki, _mm256_set1_epi32(127));
  const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23));
  __m256 y = _mm256_mul_ps(p, scale);
  y = _mm256_blendv_ps(y, _mm256_mul_ps(y, _mm256_set1_ps(2.0f)), big);
  y = _mm256_blendv_ps(y, _mm256_setzero_ps(), under);
  y = _mm256_blendv_ps(y, _mm256_set1_ps(__builtin_inff()), over);
  return _mm256_blendv_ps(y, x, nan);
}

inline __m256 load_tail(const float* p, int64_t k) {
  alignas(32) float buf[8] = {};
  for (int64_t i = 0; i < k; ++i) buf[i] = p[i];
  return _mm256_load_ps(buf);
}

// Exps of one 8-lane half; `valid` lanes are stored, the rest contribute +0 to the sum.
inline __m256 half(const float* x, __m256 s, float* y, int64_t valid, __m256 acc) {
  if (valid <= 0) return _mm256_add_ps(acc, _mm256_setzero_ps());
  if (valid >= 8) {
    const __m256 v = exp8(_mm256_sub_ps(_mm256_loadu_ps(x), s));
    _mm256_storeu_ps(y, v);
    return _mm256_add_ps(acc, v);
  }
  alignas(32) float out[8];
  const __m256 v = exp8(_mm256_sub_ps(load_tail(x, valid), s));
  _mm256_store_ps(out, v);
  alignas(32) float keep[8] = {};
  for (int64_t i = 0; i < valid; ++i) {
    y[i] = out[i];
    keep[i] = out[i];
  }
  return _mm256_add_ps(acc, _mm256_load_ps(keep));
}
}  // namespace

float exp_shift_sum_avx2(const float* x, float shift, float* y, int64_t n) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    lo = half(x + i, s, y + i, n - i, lo);
    hi = half(x + i + 8, s, y + i + 8, n - i - 8, hi);
  }
  __m256 s8 = _mm256_add_ps(lo, hi);
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

namespace {
// swiglu_scalar's operations lane by lane: (g / (1 + exp(-g))) * up (vdivps rounds as the scalar
// divide; negating g by its sign bit is exact).
inline __m256 swiglu8(__m256 g, __m256 up) {
  const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(_mm256_xor_ps(g, _mm256_set1_ps(-0.0f)))));
  return _mm256_mul_ps(silu, up);
}
}  // namespace

void swiglu_avx2(float* gate, const float* up, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(gate + i, swiglu8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (i < n) {  // the tail through load_tail's zero-padded buffer
    alignas(32) float out[8];
    _mm256_store_ps(out, swiglu8(load_tail(gate + i, n - i), load_tail(up + i, n - i)));
    for (int64_t t = 0; t < n - i; ++t) gate[i + t] = out[t];
  }
}

}  // namespace quantscope::detail
