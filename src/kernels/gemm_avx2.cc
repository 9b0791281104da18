// Compiled with -mavx2 -mfma -mf16c (see src/CMakeLists.txt); called only when the CPU has them.
// Self-contained: no inline functions or templates of shared headers are instantiated here (the
// linker could keep this ISA's copy for the whole program); local helpers have internal linkage.
//
// Per output element the arithmetic is exactly dot_f32_avx2's: lanes 0-7 and 8-15 in two ymm,
// fma over each chunk of 16 in order, the tail chunk zero-padded (both halves, even when the high
// half is empty: a masked here, b zero-padded in the packed panel), then (lo + hi), (lo128 + hi128),
// (l + l+2), (0 + 1). The micro-kernel shares each loaded half-chunk between 3 rows of a and 2 rows
// of a packed group (6 outputs = 12 accumulators of the 16 ymm).
#include <immintrin.h>

#include <vector>

#include "kernels/gemm.h"

namespace quantscope::detail {

namespace {

constexpr int kMr = 3;                              // rows of a per micro-kernel
constexpr int kNr = 2;                              // rows of b per micro-kernel: half a packed group
constexpr int64_t kGroupFloats = kGemmGroupRows * kGemmChunk;  // one chunk of one packed group
constexpr int64_t kParkPerHalf = kMr * kNr * kGemmChunk;  // floats parked per half group: MR x NR lane sums

int64_t min_i64(int64_t x, int64_t y) { return x < y ? x : y; }

float reduce1(__m256 lo, __m256 hi) {
  __m256 s8 = _mm256_add_ps(lo, hi);
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

// One pass over `steps` chunks for rows a[0..MR) and NR rows of one packed group (b: the first of
// those rows in the group's first chunk of this pass). Accumulators come from `park` (or start at
// zero when first) and go back there, or, after the last pass, are reduced into c[i * ldc + j].
// tail: the valid floats of the final chunk of the last pass (16 when k is a multiple of 16).
template <int MR, int NR>
void kernel(const float* a, int64_t lda, const float* b, int64_t steps, bool first, bool last, int tail, float* park,
            float* c, int64_t ldc) {
  __m256 lo[MR][NR], hi[MR][NR];
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < NR; ++j) {
      lo[i][j] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(park + (i * NR + j) * kGemmChunk);
      hi[i][j] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(park + (i * NR + j) * kGemmChunk + 8);
    }
  const int64_t full = last && tail < kGemmChunk ? steps - 1 : steps;
  for (int64_t s = 0; s < full; ++s) {
    const float* bs = b + s * kGroupFloats;
    __m256 av[MR];
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) av[i] = _mm256_loadu_ps(a + i * lda + s * kGemmChunk);
#pragma GCC unroll 2
    for (int j = 0; j < NR; ++j) {
      const __m256 bv = _mm256_load_ps(bs + j * kGemmChunk);
#pragma GCC unroll 4
      for (int i = 0; i < MR; ++i) lo[i][j] = _mm256_fmadd_ps(av[i], bv, lo[i][j]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) av[i] = _mm256_loadu_ps(a + i * lda + s * kGemmChunk + 8);
#pragma GCC unroll 2
    for (int j = 0; j < NR; ++j) {
      const __m256 bv = _mm256_load_ps(bs + j * kGemmChunk + 8);
#pragma GCC unroll 4
      for (int i = 0; i < MR; ++i) hi[i][j] = _mm256_fmadd_ps(av[i], bv, hi[i][j]);
    }
  }
  if (full < steps) {  // zero-padded tail (maskload reads zeros where the mask is clear)
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i r = _mm256_set1_epi32(tail);
    const __m256i mlo = _mm256_cmpgt_epi32(r, idx);
    const __m256i mhi = _mm256_cmpgt_epi32(r, _mm256_add_epi32(idx, _mm256_set1_epi32(8)));
    const float* bs = b + full * kGroupFloats;
#pragma GCC unroll 2
    for (int j = 0; j < NR; ++j) {
      const __m256 blo = _mm256_load_ps(bs + j * kGemmChunk);
      const __m256 bhi = _mm256_load_ps(bs + j * kGemmChunk + 8);
#pragma GCC unroll 4
      for (int i = 0; i < MR; ++i) {
        const float* ai = a + i * lda + full * kGemmChunk;
        lo[i][j] = _mm256_fmadd_ps(_mm256_maskload_ps(ai, mlo), blo, lo[i][j]);
        hi[i][j] = _mm256_fmadd_ps(_mm256_maskload_ps(ai + 8, mhi), bhi, hi[i][j]);
      }
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < NR; ++j) {
      if (last) {
        c[i * ldc + j] = reduce1(lo[i][j], hi[i][j]);
      } else {
        _mm256_storeu_ps(park + (i * NR + j) * kGemmChunk, lo[i][j]);
        _mm256_storeu_ps(park + (i * NR + j) * kGemmChunk + 8, hi[i][j]);
      }
    }
}

using Kernel = void (*)(const float*, int64_t, const float*, int64_t, bool, bool, int, float*, float*, int64_t);
template <int MR>
constexpr Kernel kRow[kNr] = {kernel<MR, 1>, kernel<MR, 2>};
// kKernels[mr - 1][nr - 1]: full blocks are 3 x 2; the last rows of a and a last partial group take
// the smaller shapes.
constexpr const Kernel* kKernels[kMr] = {kRow<1>, kRow<2>, kRow<3>};

}  // namespace

void gemm_packed_f32_avx2(const float* a, int64_t lda, int64_t m, const float* panel, int64_t n, int64_t k, float* c,
                          int64_t ldc, int64_t chunks_per_pass) {
  const int64_t chunks = (k + kGemmChunk - 1) / kGemmChunk, groups = (n + kGemmGroupRows - 1) / kGemmGroupRows;
  const int tail = int(k - (chunks - 1) * kGemmChunk);
  if (chunks == 0) {  // k = 0: every dot is the reduction of zero sums
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = reduce1(_mm256_setzero_ps(), _mm256_setzero_ps());
    return;
  }
  // Accumulators of one block of rows of a against every half group, parked between passes over k.
  thread_local std::vector<float> park;
  if (park.size() < size_t(2 * groups * kParkPerHalf)) park.resize(size_t(2 * groups * kParkPerHalf));
  for (int64_t i = 0; i < m; i += kMr) {
    const int64_t mr = min_i64(kMr, m - i);
    const Kernel* row = kKernels[mr - 1];
    for (int64_t q0 = 0; q0 < chunks; q0 += chunks_per_pass) {
      const int64_t steps = min_i64(chunks_per_pass, chunks - q0);
      const bool first = q0 == 0, last = q0 + steps == chunks;
      for (int64_t j = 0; j < n; j += kNr) {  // two micro-kernels per packed group
        const int64_t nr = min_i64(kNr, n - j), g = j / kGemmGroupRows, in_group = j % kGemmGroupRows;
        row[nr - 1](a + i * lda + q0 * kGemmChunk, lda, panel + (g * chunks + q0) * kGroupFloats + in_group * kGemmChunk,
                    steps, first, last, tail, park.data() + j / kNr * kParkPerHalf, c + i * ldc + j, ldc);
      }
    }
  }
}

}  // namespace quantscope::detail
