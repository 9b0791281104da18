// AVX-512 VNNI kernel of kernels/q8_blocks.h: one zmm of int32 lanes = the 16 rows of a tile; for each
// block, vpdpbusd sums code (u8) x q (s8) quads exactly; the zero-point term, the scale product and the
// running fp32 sum are per lane in block order (separate multiply and add: this file is compiled with
// -ffp-contract=off, so the compiler never fuses them), so every lane computes the scalar reference's
// arithmetic for its row.
//
// Speed: up to four activation rows share each weight vector (loaded and unpacked once), and each row
// keeps four independent vpdpbusd chains per block (integer sums: any split is exact), so the dot
// products are not serialised on vpdpbusd's latency.
#include <immintrin.h>

#include <algorithm>

#include "kernels/q8_blocks.h"

namespace quantscope::detail {
namespace {

// How far ahead of the block being read the codes are prefetched (measured on the lm_head GEMV:
// bench_kernels BM_q8_blocks/4/1/153376/1536, 2 threads: ~26 GB/s without, 45-58 GB/s at 8-16 KiB).
constexpr int64_t kPrefetchBytes = 8192;

inline __m512i broadcast4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// Rows i0 .. i0 + R - 1 of y for tile t.
template <int R>
void tile_rows(const Q8Rows& x, const Q8TiledWeights& w, const float* bias, int64_t t, int64_t i0, float* y) {
  const int64_t kp = w.blocks * kQ8Block;
  const int64_t j0 = t * kQ8TileRows;
  const int64_t valid = std::min<int64_t>(kQ8TileRows, w.rows - j0);
  const __mmask16 store_mask = __mmask16((1u << valid) - 1u);
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  __m512 sum[R];
  for (int r = 0; r < R; ++r) sum[r] = _mm512_setzero_ps();
  for (int64_t blk = 0; blk < w.blocks; ++blk) {
    const int64_t idx = t * w.blocks + blk;
    const uint8_t* codes = w.codes.data() + idx * w.block_bytes();
    // Decode streams each tile once: ask for the codes a few blocks ahead (the hardware prefetcher alone
    // leaves a core at about half the read bandwidth `bench --host` measures).
    for (int64_t line = 0; line < w.block_bytes(); line += 64)
      _mm_prefetch(reinterpret_cast<const char*>(codes + kPrefetchBytes + line), _MM_HINT_T0);
    __m512i acc[R][4];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_setzero_si512();
    if (w.nibbles) {
      for (int p = 0; p < 4; ++p) {
        const __m512i v = _mm512_loadu_si512(codes + p * 64);
        const __m512i lo = _mm512_and_si512(v, low4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
        for (int r = 0; r < R; ++r) {
          const int8_t* qb = x.q + (i0 + r) * kp + blk * kQ8Block + 8 * p;
          acc[r][2 * (p & 1)] = _mm512_dpbusd_epi32(acc[r][2 * (p & 1)], lo, broadcast4(qb));
          acc[r][2 * (p & 1) + 1] = _mm512_dpbusd_epi32(acc[r][2 * (p & 1) + 1], hi, broadcast4(qb + 4));
        }
      }
    } else {
      for (int p = 0; p < 8; ++p) {
        const __m512i v = _mm512_loadu_si512(codes + p * 64);
        for (int r = 0; r < R; ++r) {
          const int8_t* qb = x.q + (i0 + r) * kp + blk * kQ8Block + 4 * p;
          acc[r][p & 3] = _mm512_dpbusd_epi32(acc[r][p & 3], v, broadcast4(qb));
        }
      }
    }
    const __m512i zeros = w.zeros.empty() ? _mm512_set1_epi32(w.zero)
                                          : _mm512_cvtepi16_epi32(_mm256_loadu_si256(
                                                reinterpret_cast<const __m256i*>(w.zeros.data() + idx * kQ8TileRows)));
    // fp16 -> fp32 is exact, so both forms give the scalar reference's values.
    const __m512 scales = w.scales_f16.empty() ? _mm512_loadu_ps(w.scales_f32.data() + idx * kQ8TileRows)
                                               : _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                                                     w.scales_f16.data() + idx * kQ8TileRows)));
    for (int r = 0; r < R; ++r) {
      const int64_t i = i0 + r;
      __m512i isum = _mm512_add_epi32(_mm512_add_epi32(acc[r][0], acc[r][1]), _mm512_add_epi32(acc[r][2], acc[r][3]));
      isum = _mm512_sub_epi32(isum, _mm512_mullo_epi32(zeros, _mm512_set1_epi32(x.qsum[i * w.blocks + blk])));
      const __m512 ds = _mm512_mul_ps(_mm512_set1_ps(x.d[i * w.blocks + blk]), scales);
      const __m512 prod = _mm512_mul_ps(_mm512_cvtepi32_ps(isum), ds);
      sum[r] = _mm512_add_ps(sum[r], prod);
    }
  }
  const __m512 b = bias ? _mm512_maskz_loadu_ps(store_mask, bias + j0) : _mm512_setzero_ps();
  for (int r = 0; r < R; ++r) {
    const __m512 out = bias ? _mm512_add_ps(sum[r], b) : sum[r];
    _mm512_mask_storeu_ps(y + (i0 + r) * w.rows + j0, store_mask, out);
  }
}

}  // namespace

void gemm_q8_blocks_vnni(const Q8Rows& x, const Q8TiledWeights& w, const float* bias, int64_t t0, int64_t t1, float* y) {
  // tile_rows asks for the codes kPrefetchBytes ahead of the block it reads: the range's first
  // kPrefetchBytes are asked for here, so a range does not start on demand misses.
  if (t0 < t1) {
    const uint8_t* first = w.codes.data() + t0 * w.blocks * w.block_bytes();
    const int64_t ahead = std::min<int64_t>(kPrefetchBytes, (t1 - t0) * w.blocks * w.block_bytes());
    for (int64_t line = 0; line < ahead; line += 64) _mm_prefetch(reinterpret_cast<const char*>(first + line), _MM_HINT_T0);
  }
  for (int64_t t = t0; t < t1; ++t) {
    int64_t i = 0;
    for (; i + 4 <= x.m; i += 4) tile_rows<4>(x, w, bias, t, i, y);
    switch (x.m - i) {
      case 3: tile_rows<3>(x, w, bias, t, i, y); break;
      case 2: tile_rows<2>(x, w, bias, t, i, y); break;
      case 1: tile_rows<1>(x, w, bias, t, i, y); break;
      default: break;
    }
  }
}

}  // namespace quantscope::detail
