// Compiled with -mavx2 -mfma -mf16c (see src/CMakeLists.txt); called only when the CPU has them.
// Self-contained: no inline functions or templates of shared headers are instantiated here (the
// linker could keep this ISA's copy for the whole program); local helpers have internal linkage.
//
// Per output element the arithmetic is exactly dot_f32_avx2's: lanes 0-7 and 8-15 in two ymm,
// fma over each chunk of 16 in order, the tail chunk zero-padded (both halves, even when the high
// half is empty), then (lo + hi), (lo128 + hi128), (l + l+2), (0 + 1). The micro-kernel shares each
// loaded half-chunk between MR x NR outputs (2 x 3 outputs = 12 accumulators of the 16 ymm;
// 1 x 6 for a last single row).
#include <immintrin.h>

#include "kernels/gemm.h"

namespace quantscope::detail {

namespace {

constexpr int kMr = 2;  // rows of a per micro-kernel
constexpr int kNr = 3;  // rows of b per micro-kernel

int64_t min_i64(int64_t x, int64_t y) { return x < y ? x : y; }

float reduce1(__m256 lo, __m256 hi) {
  __m256 s8 = _mm256_add_ps(lo, hi);
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

// c[i * ldc + j] = dot(a + i * lda, b + j * ldb, k) for i < MR, j < NR. next (or null): the next
// NR rows of b, prefetched into L2 in address order by the memory-bound single-row kernels (see
// gemm_avx512.cc).
template <int MR, int NR>
void kernel(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t k, float* c, int64_t ldc,
            const float* next) {
  const float* pf_row = next;
  int64_t pf_col = 0;
  __m256 lo[MR][NR], hi[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) lo[i][j] = hi[i][j] = _mm256_setzero_ps();
  int64_t p = 0;
  for (; p + 16 <= k; p += 16) {
    __m256 av[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) av[i] = _mm256_loadu_ps(a + i * lda + p);
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      const __m256 bv = _mm256_loadu_ps(b + j * ldb + p);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) lo[i][j] = _mm256_fmadd_ps(av[i], bv, lo[i][j]);
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) av[i] = _mm256_loadu_ps(a + i * lda + p + 8);
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      const __m256 bv = _mm256_loadu_ps(b + j * ldb + p + 8);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) hi[i][j] = _mm256_fmadd_ps(av[i], bv, hi[i][j]);
    }
    if constexpr (MR < kMr) {
      if (pf_row) {
#pragma GCC unroll 8
        for (int j = 0; j < NR; ++j) {
          _mm_prefetch(reinterpret_cast<const char*>(pf_row + pf_col), _MM_HINT_T1);
          pf_col += 16;
          if (pf_col >= k) pf_col = 0, pf_row += ldb;
        }
      }
    }
  }
  if (p < k) {  // zero-padded tail, as dot_f32_avx2 (maskload reads zeros where the mask is clear)
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i r = _mm256_set1_epi32(int(k - p));
    const __m256i mlo = _mm256_cmpgt_epi32(r, idx);
    const __m256i mhi = _mm256_cmpgt_epi32(r, _mm256_add_epi32(idx, _mm256_set1_epi32(8)));
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      const __m256 blo = _mm256_maskload_ps(b + j * ldb + p, mlo);
      const __m256 bhi = _mm256_maskload_ps(b + j * ldb + p + 8, mhi);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        lo[i][j] = _mm256_fmadd_ps(_mm256_maskload_ps(a + i * lda + p, mlo), blo, lo[i][j]);
        hi[i][j] = _mm256_fmadd_ps(_mm256_maskload_ps(a + i * lda + p + 8, mhi), bhi, hi[i][j]);
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) c[i * ldc + j] = reduce1(lo[i][j], hi[i][j]);
}

using Kernel = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*, int64_t, const float*);
// kKernels[mr - 1][nr - 1]: full blocks are 2 x 3; a last single row of a (including the m = 1
// GEMV) takes up to 6 rows of b at a time: fewer passes, more streams of b in flight.
constexpr int kNrMax = 6;
constexpr Kernel kRow1[kNrMax] = {kernel<1, 1>, kernel<1, 2>, kernel<1, 3>, kernel<1, 4>, kernel<1, 5>, kernel<1, 6>};
constexpr Kernel kRow2[kNrMax] = {kernel<2, 1>, kernel<2, 2>, kernel<2, 3>};
constexpr const Kernel* kKernels[kMr] = {kRow1, kRow2};

}  // namespace

void gemm_nt_f32_avx2(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t m, int64_t n, int64_t k,
                      float* c, int64_t ldc) {
  const int64_t nc = gemm_panel_rows(k);
  for (int64_t j0 = 0; j0 < n; j0 += nc) {  // a panel of b stays in L2 while all rows of a pass
    const int64_t j1 = min_i64(n, j0 + nc);
    for (int64_t i = 0; i < m; i += kMr) {
      const int64_t mr = min_i64(kMr, m - i), nr = mr == kMr ? kNr : kNrMax;
      const Kernel* row = kKernels[mr - 1];
      int64_t j = j0;
      for (; j + nr <= j1; j += nr)
        row[nr - 1](a + i * lda, lda, b + j * ldb, ldb, k, c + i * ldc + j, ldc,
                    j + 2 * nr <= n ? b + (j + nr) * ldb : nullptr);
      if (j < j1) row[j1 - j - 1](a + i * lda, lda, b + j * ldb, ldb, k, c + i * ldc + j, ldc, nullptr);
    }
  }
}

}  // namespace quantscope::detail
