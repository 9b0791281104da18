// AVX2 kernel of kernels/q8_blocks.h for codes of up to 4 bits (Q4_0 and the like): each 64-byte tile
// vector is taken as two halves of 8 rows; vpmaddubsw multiplies code (u8 <= 15) by q (s8) and adds
// pairs into int16 (at most 2 x 15 x 127 = 3810: never saturates), vpmaddwd by ones adds the pairs into
// one int32 lane per row: the exact block dot. Scaling and the fp32 sum per lane in block order, with
// separate multiply and add (this file is compiled with -ffp-contract=off), as the scalar reference.
#include <immintrin.h>

#include <algorithm>

#include "kernels/q8_blocks.h"

namespace quantscope::detail {
namespace {

inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// Exact int32 dot per row lane of 8 rows x 4 codes (u8 <= 15) with 4 activations.
inline __m256i quad_dot(__m256i codes, __m256i q) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(codes, q), _mm256_set1_epi16(1));
}

// Rows [j0 + 8h, j0 + 8h + 8) of tile t (h = 0, 1), activation row i.
void half_tile(const Q8Rows& x, const Q8TiledWeights& w, const float* bias, int64_t t, int h, int64_t i, float* y) {
  const int64_t kp = w.blocks * kQ8Block;
  const int64_t j0 = t * kQ8TileRows + 8 * h;
  if (j0 >= w.rows) return;
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const int8_t* q = x.q + i * kp;
  __m256 sum = _mm256_setzero_ps();
  for (int64_t blk = 0; blk < w.blocks; ++blk) {
    const int64_t idx = t * w.blocks + blk;
    const uint8_t* codes = w.codes.data() + idx * w.block_bytes() + 32 * h;
    // As in the VNNI kernel: codes prefetched 8 KiB ahead of the block being read (the first half-tile
    // pass brings the lines in for the second).
    if (h == 0)
      for (int64_t line = 0; line < w.block_bytes(); line += 64)
        _mm_prefetch(reinterpret_cast<const char*>(codes + 8192 + line), _MM_HINT_T0);
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    for (int p = 0; p < 4; ++p) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + p * 64));
      const int8_t* qb = q + blk * kQ8Block + 8 * p;
      acc0 = _mm256_add_epi32(acc0, quad_dot(_mm256_and_si256(v, low4), broadcast4(qb)));
      acc1 = _mm256_add_epi32(acc1, quad_dot(_mm256_and_si256(_mm256_srli_epi16(v, 4), low4), broadcast4(qb + 4)));
    }
    const int64_t at = idx * kQ8TileRows + 8 * h;
    const __m256i zeros = w.zeros.empty() ? _mm256_set1_epi32(w.zero)
                                          : _mm256_cvtepi16_epi32(_mm_loadu_si128(
                                                reinterpret_cast<const __m128i*>(w.zeros.data() + at)));
    const __m256 scales = w.scales_f16.empty()
                              ? _mm256_loadu_ps(w.scales_f32.data() + at)
                              : _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales_f16.data() + at)));
    __m256i isum = _mm256_add_epi32(acc0, acc1);
    isum = _mm256_sub_epi32(isum, _mm256_mullo_epi32(zeros, _mm256_set1_epi32(x.qsum[i * w.blocks + blk])));
    const __m256 ds = _mm256_mul_ps(_mm256_set1_ps(x.d[i * w.blocks + blk]), scales);
    sum = _mm256_add_ps(sum, _mm256_mul_ps(_mm256_cvtepi32_ps(isum), ds));
  }
  alignas(32) float out[8];
  _mm256_store_ps(out, sum);
  const int64_t valid = std::min<int64_t>(8, w.rows - j0);
  for (int64_t r = 0; r < valid; ++r) y[i * w.rows + j0 + r] = bias ? out[r] + bias[j0 + r] : out[r];
}

}  // namespace

void gemm_q8_blocks_avx2(const Q8Rows& x, const Q8TiledWeights& w, const float* bias, int64_t t0, int64_t t1, float* y) {
  for (int64_t t = t0; t < t1; ++t)
    for (int64_t i = 0; i < x.m; ++i)
      for (int h = 0; h < 2; ++h) half_tile(x, w, bias, t, h, i, y);
}

}  // namespace quantscope::detail
