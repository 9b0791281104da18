// Compiled with -mavx2 -mfma; called only when the CPU has them. The tile of syrk.h: 4 rows x 8 columns of
// doubles, 8 ymm accumulators held over the chunk's tokens.
#include <immintrin.h>

#include "kernels/syrk.h"

namespace quantscope::detail {

// Files compiled for one ISA must not instantiate inline functions of shared headers: the linker could keep
// this ISA's copy for the whole program. Local helpers have internal linkage.
namespace {

__m256i lanes(int valid) {  // all-ones in the first `valid` 64-bit lanes
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(valid), _mm256_setr_epi64x(0, 1, 2, 3));
}

template <bool kFma>
void tile(const SyrkTile& w) {
  const double* pa = w.pa;
  const double* pb = w.pb;
  const int64_t n = w.n, ldh = w.ldh;
  __m256d acc[4][2];
  __m256i mask[4][2];
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r) {
    const double* row = w.ncols[r] > 0 ? w.h + r * ldh : w.h;  // rows past k are skipped (mask 0)
    for (int q = 0; q < 2; ++q) {
      mask[r][q] = lanes(w.ncols[r] - 4 * q);
      acc[r][q] = _mm256_maskload_pd(row + 4 * q, mask[r][q]);
    }
  }
  for (int64_t t = 0; t < n; ++t) {
    const __m256d b0 = _mm256_load_pd(pb + t * 8), b1 = _mm256_load_pd(pb + t * 8 + 4);
    const double* at = pa + t * 8;
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const __m256d a = _mm256_broadcast_sd(at + r);
      if constexpr (kFma) {
        acc[r][0] = _mm256_fmadd_pd(a, b0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_pd(a, b1, acc[r][1]);
      } else {
        __m256d p0 = _mm256_mul_pd(a, b0), p1 = _mm256_mul_pd(a, b1);
        __asm__("" : "+x"(p0), "+x"(p1));  // keep the products rounded: no contraction into an FMA
        acc[r][0] = _mm256_add_pd(acc[r][0], p0);
        acc[r][1] = _mm256_add_pd(acc[r][1], p1);
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r) {
    double* row = w.ncols[r] > 0 ? w.h + r * ldh : w.h;
    for (int q = 0; q < 2; ++q) _mm256_maskstore_pd(row + 4 * q, mask[r][q], acc[r][q]);
  }
  if (!w.ht) return;
  const __m256i tcols = _mm256_setr_epi64x(w.tcols[0], w.tcols[1], w.tcols[2], w.tcols[3]);
  for (int q = 0; q < 2; ++q) {
    const __m256d t0 = _mm256_unpacklo_pd(acc[0][q], acc[1][q]);  // rows 0, 1 of columns 0 and 2
    const __m256d t1 = _mm256_unpackhi_pd(acc[0][q], acc[1][q]);  // ... of columns 1 and 3
    const __m256d t2 = _mm256_unpacklo_pd(acc[2][q], acc[3][q]);
    const __m256d t3 = _mm256_unpackhi_pd(acc[2][q], acc[3][q]);
    const __m256d cols[4] = {_mm256_permute2f128_pd(t0, t2, 0x20), _mm256_permute2f128_pd(t1, t3, 0x20),
                             _mm256_permute2f128_pd(t0, t2, 0x31), _mm256_permute2f128_pd(t1, t3, 0x31)};
    for (int c = 0; c < 4; ++c) {
      // lane r of column c is written where c < tcols[r]
      const __m256i m = _mm256_cmpgt_epi64(tcols, _mm256_set1_epi64x(4 * q + c));
      if (!_mm256_testz_si256(m, m)) _mm256_maskstore_pd(w.ht + (4 * q + c) * ldh, m, cols[c]);
    }
  }
}

}  // namespace

void syrk_tile_avx2(const SyrkTile& w) {
  if (w.fma) return tile<true>(w);
  tile<false>(w);
}

}  // namespace quantscope::detail
