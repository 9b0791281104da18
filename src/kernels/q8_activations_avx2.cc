// AVX2 row quantizer of kernels/q8_activations.h: the scalar definition's fp32 operations (max of |x|,
// amax / 127, 1 / d, x * id) eight lanes at a time, and std::round (half away from zero) done exactly:
// t = trunc(v) and f = v - t are exact for |v| < 2^23, so q = t + (|f| >= 0.5 ? sign(v) : 0).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/q8_activations.h"

namespace quantscope::detail {
namespace {

inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline int32_t hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// round-half-away-from-zero of v (|v| < 2^23), as int32 lanes.
inline __m256i round_half_away(__m256 v) {
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_sub_ps(v, t);
  const __m256 away = _mm256_cmp_ps(abs_ps(f), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  const __m256 step = _mm256_or_ps(_mm256_and_ps(v, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(1.0f));  // +-1
  return _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(away, step)));
}

}  // namespace

bool quantize_q8_row_avx2(const float* x, int64_t k, int8_t* q, float* d, int32_t* qsum) {
  const __m256 inf = _mm256_set1_ps(__builtin_inff());
  const int64_t nb = (k + kQ8Block - 1) / kQ8Block;
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x + b * kQ8Block;
    alignas(32) float tail[kQ8Block];
    if (b * kQ8Block + kQ8Block > k) {  // the last, partial block: zeros change neither amax nor q
      std::fill_n(tail, kQ8Block, 0.0f);
      std::memcpy(tail, xb, size_t(k - b * kQ8Block) * sizeof(float));
      xb = tail;
    }
    __m256 v[4], amax = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    for (int j = 0; j < 4; ++j) {
      v[j] = _mm256_loadu_ps(xb + 8 * j);
      const __m256 a = abs_ps(v[j]);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, inf, _CMP_NLT_UQ));  // inf or NaN
      amax = _mm256_max_ps(amax, a);
    }
    if (_mm256_movemask_ps(bad)) return false;
    const float db = hmax(amax) / 127.0f;
    const float id = db != 0.0f ? 1.0f / db : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i r[4], sum = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {
      r[j] = round_half_away(_mm256_mul_ps(v[j], vid));
      sum = _mm256_add_epi32(sum, r[j]);
    }
    // int32 -> int8 (|q| <= 127: the saturating packs are exact); the packs interleave 128-bit lanes,
    // the permute restores column order.
    const __m256i p16 = _mm256_packs_epi16(_mm256_packs_epi32(r[0], r[1]), _mm256_packs_epi32(r[2], r[3]));
    const __m256i p8 = _mm256_permutevar8x32_epi32(p16, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * kQ8Block), p8);
    qsum[b] = hsum(sum);
    d[b] = db;
  }
  return true;
}

}  // namespace quantscope::detail
