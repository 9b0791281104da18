// Compiled with AVX-512 flags (see src/CMakeLists.txt); called only when the CPU has them.
// Self-contained: no inline functions or templates of shared headers are instantiated here (the
// linker could keep this ISA's copy for the whole program); local helpers have internal linkage.
//
// Per output element the arithmetic is exactly dot_f32_avx512's: one zmm of 16 lane sums,
// acc = fma(a[p..p+15], b[p..p+15], acc) for each chunk of 16 in order, the tail chunk loaded with
// zero masking, then (lo256 + hi256), (lo128 + hi128), (l + l+2), (0 + 1). The micro-kernel only
// shares each loaded chunk between MR x NR outputs.
#include <immintrin.h>

#include "kernels/gemm.h"

namespace quantscope::detail {

namespace {

constexpr int kMr = 4;  // rows of a per micro-kernel
constexpr int kNr = 4;  // rows of b per micro-kernel

int64_t min_i64(int64_t x, int64_t y) { return x < y ? x : y; }

// dot_f32_avx512's reduction of one accumulator.
float reduce1(__m512 acc) {
  __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

// The same tree for 16 accumulators at once, q[4 * jb + ia] holding output (ia, jb): every add
// has the same two operands, in the same order, as reduce1's. Returns v[4 * ia + jb].
__m512 reduce16(const __m512* q) {
  __m512 s[8], t[4], u[2];
  for (int p = 0; p < 8; ++p)  // [X lanes 0-7 | Y lanes 0-7] + [X lanes 8-15 | Y lanes 8-15]
    s[p] = _mm512_add_ps(_mm512_shuffle_f32x4(q[2 * p], q[2 * p + 1], 0x44),
                         _mm512_shuffle_f32x4(q[2 * p], q[2 * p + 1], 0xEE));
  for (int r = 0; r < 4; ++r)  // 128-bit quarters: (0 + 1) of each s8 -> four s4
    t[r] = _mm512_add_ps(_mm512_shuffle_f32x4(s[2 * r], s[2 * r + 1], 0x88),
                         _mm512_shuffle_f32x4(s[2 * r], s[2 * r + 1], 0xDD));
  for (int w = 0; w < 2; ++w)  // within each quarter: (l + l+2)
    u[w] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * w], t[2 * w + 1], 0x44), _mm512_shuffle_ps(t[2 * w], t[2 * w + 1], 0xEE));
  // (0 + 1): quarter j of the result holds outputs q[j], q[4 + j], q[8 + j], q[12 + j]
  return _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], 0x88), _mm512_shuffle_ps(u[0], u[1], 0xDD));
}

// c[i * ldc + j] = dot(a + i * lda, b + j * ldb, k) for i < MR, j < NR.
// next (or null): the next NR rows of b, for the row-tail kernels (MR < 4, the m = 1 GEMV above
// all): they are memory-bound, and NR short row streams starting at once keep the hardware
// prefetcher behind, so each chunk step also prefetches NR lines of the next block into L2, in
// address order: by the end of this block the next one is in L2.
template <int MR, int NR>
void kernel(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t k, float* c, int64_t ldc,
            const float* next) {
  const float* pf_row = next;
  int64_t pf_col = 0;
  __m512 acc[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  int64_t p = 0;
  for (; p + 16 <= k; p += 16) {
    __m512 av[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) av[i] = _mm512_loadu_ps(a + i * lda + p);
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      const __m512 bv = _mm512_loadu_ps(b + j * ldb + p);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);
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
  if (p < k) {  // zero-padded tail, as dot_f32_avx512
    const __mmask16 m = __mmask16((1u << (k - p)) - 1u);
    __m512 av[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) av[i] = _mm512_maskz_loadu_ps(m, a + i * lda + p);
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      const __m512 bv = _mm512_maskz_loadu_ps(m, b + j * ldb + p);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);
    }
  }
  if constexpr (MR == 4 && NR == 4) {
    __m512 q[16];
#pragma GCC unroll 16
    for (int x = 0; x < 16; ++x) q[x] = acc[x % 4][x / 4];
    const __m512 v = reduce16(q);
    _mm_storeu_ps(c, _mm512_extractf32x4_ps(v, 0));
    _mm_storeu_ps(c + ldc, _mm512_extractf32x4_ps(v, 1));
    _mm_storeu_ps(c + 2 * ldc, _mm512_extractf32x4_ps(v, 2));
    _mm_storeu_ps(c + 3 * ldc, _mm512_extractf32x4_ps(v, 3));
  } else {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) c[i * ldc + j] = reduce1(acc[i][j]);
  }
}

using Kernel = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*, int64_t, const float*);
// kKernels[mr - 1][nr - 1]: full blocks are 4 x 4; the last rows of a (mr < 4, including the m = 1
// GEMV) take up to 8 rows of b at a time: fewer passes, and 8 streams of b keep the memory busier.
constexpr int kNrMax = 8;
template <int MR>
constexpr Kernel kRow[kNrMax] = {kernel<MR, 1>, kernel<MR, 2>, kernel<MR, 3>, kernel<MR, 4>,
                                 kernel<MR, 5>, kernel<MR, 6>, kernel<MR, 7>, kernel<MR, 8>};
template <>
constexpr Kernel kRow<4>[kNrMax] = {kernel<4, 1>, kernel<4, 2>, kernel<4, 3>, kernel<4, 4>};
constexpr const Kernel* kKernels[kMr] = {kRow<1>, kRow<2>, kRow<3>, kRow<4>};

}  // namespace

void gemm_nt_f32_avx512(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t m, int64_t n, int64_t k,
                        float* c, int64_t ldc) {
  const int64_t nc = gemm_panel_rows(k);
  for (int64_t j0 = 0; j0 < n; j0 += nc) {  // a panel of b stays in L2 while all rows of a pass
    const int64_t j1 = min_i64(n, j0 + nc);
    for (int64_t i = 0; i < m; i += kMr) {  // MR rows of a stay in L1 across the panel
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
