// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma; called only when the CPU has them. The tile
// of syrk.h: 8 rows x 24 columns of doubles, 24 zmm accumulators held over the chunk's tokens.
#include <immintrin.h>

#include "kernels/syrk.h"

namespace quantscope::detail {

// Files compiled for one ISA must not instantiate inline functions of shared headers: the linker could keep
// this ISA's copy for the whole program. Local helpers have internal linkage.
namespace {

__mmask8 lanes(int valid) {
  valid = valid < 0 ? 0 : valid > 8 ? 8 : valid;
  return __mmask8((1u << valid) - 1u);
}

// out[c] = column c of the 8x8 block whose rows are r[0..8).
void transpose8(const __m512d* r, __m512d* out) {
  __m512d lo[4], hi[4];
  for (int q = 0; q < 4; ++q) {
    lo[q] = _mm512_unpacklo_pd(r[2 * q], r[2 * q + 1]);  // 128-bit lane l: rows 2q, 2q+1 of column 2l
    hi[q] = _mm512_unpackhi_pd(r[2 * q], r[2 * q + 1]);  // ... of column 2l+1
  }
  const __m512d* half[2] = {lo, hi};
  for (int e = 0; e < 2; ++e) {  // even, odd columns
    const __m512d* t = half[e];
    const __m512d u0 = _mm512_shuffle_f64x2(t[0], t[1], _MM_SHUFFLE(2, 0, 2, 0));  // lanes 0, 2
    const __m512d u1 = _mm512_shuffle_f64x2(t[0], t[1], _MM_SHUFFLE(3, 1, 3, 1));  // lanes 1, 3
    const __m512d u2 = _mm512_shuffle_f64x2(t[2], t[3], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512d u3 = _mm512_shuffle_f64x2(t[2], t[3], _MM_SHUFFLE(3, 1, 3, 1));
    out[e + 0] = _mm512_shuffle_f64x2(u0, u2, _MM_SHUFFLE(2, 0, 2, 0));
    out[e + 4] = _mm512_shuffle_f64x2(u0, u2, _MM_SHUFFLE(3, 1, 3, 1));
    out[e + 2] = _mm512_shuffle_f64x2(u1, u3, _MM_SHUFFLE(2, 0, 2, 0));
    out[e + 6] = _mm512_shuffle_f64x2(u1, u3, _MM_SHUFFLE(3, 1, 3, 1));
  }
}

template <int NP, bool kFma>
void tile(const SyrkTile& w) {
  const double* pa = w.pa;
  const double* pb = w.pb;
  const int64_t ps = w.ps, n = w.n, ldh = w.ldh;
  __m512d acc[8][NP];
#pragma GCC unroll 8
  for (int r = 0; r < 8; ++r) {
    const double* row = w.ncols[r] > 0 ? w.h + r * ldh : w.h;  // rows past k are skipped (mask 0)
#pragma GCC unroll 3
    for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_maskz_loadu_pd(lanes(w.ncols[r] - 8 * p), row + 8 * p);
  }
  for (int64_t t = 0; t < n; ++t) {
    __m512d b[NP];
#pragma GCC unroll 3
    for (int p = 0; p < NP; ++p) b[p] = _mm512_load_pd(pb + p * ps + t * 8);
    const double* at = pa + t * 8;
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r) {
      const __m512d a = _mm512_set1_pd(at[r]);
#pragma GCC unroll 3
      for (int p = 0; p < NP; ++p) {
        if constexpr (kFma) {
          acc[r][p] = _mm512_fmadd_pd(a, b[p], acc[r][p]);
        } else {
          __m512d prod = _mm512_mul_pd(a, b[p]);
          __asm__("" : "+v"(prod));  // keep the product rounded: no contraction into an FMA
          acc[r][p] = _mm512_add_pd(acc[r][p], prod);
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < 8; ++r) {
    double* row = w.ncols[r] > 0 ? w.h + r * ldh : w.h;
#pragma GCC unroll 3
    for (int p = 0; p < NP; ++p) _mm512_mask_storeu_pd(row + 8 * p, lanes(w.ncols[r] - 8 * p), acc[r][p]);
  }
  if (!w.ht) return;
  const __m256i tcols = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.tcols));
  for (int p = 0; p < NP; ++p) {
    __m512d rows[8], cols[8];
    for (int r = 0; r < 8; ++r) rows[r] = acc[r][p];
    transpose8(rows, cols);
    for (int c = 0; c < 8; ++c) {
      // lane r of column c is written where c < tcols[r]; a column with no lane is not touched
      const __mmask8 m = _mm256_cmpgt_epi32_mask(tcols, _mm256_set1_epi32(8 * p + c));
      if (m) _mm512_mask_storeu_pd(w.ht + (8 * p + c) * ldh, m, cols[c]);
    }
  }
}

template <bool kFma>
void tile_np(const SyrkTile& w) {
  switch (w.np) {
    case 1: return tile<1, kFma>(w);
    case 2: return tile<2, kFma>(w);
    default: return tile<3, kFma>(w);
  }
}

}  // namespace

void syrk_tile_avx512(const SyrkTile& w) {
  if (w.fma) return tile_np<true>(w);
  tile_np<false>(w);
}

}  // namespace quantscope::detail
