// Compiled with AVX-512 flags (see src/CMakeLists.txt); called only when the CPU has them.
// Self-contained: no inline functions or templates of shared headers are instantiated here (the
// linker could keep this ISA's copy for the whole program); local helpers have internal linkage.
//
// Per output element the arithmetic is exactly dot_f32_avx512's: one zmm of 16 lane sums,
// acc = fma(a[p..p+15], b[p..p+15], acc) for each chunk of 16 in order, the tail chunk zero-padded
// (a loaded with zero masking, b zero-padded in the packed panel), then (lo256 + hi256),
// (lo128 + hi128), (l + l+2), (0 + 1). The micro-kernel shares each loaded chunk between 6 rows of a
// and the 4 rows of a packed group (24 outputs, 24 of the 32 zmm).
#include <immintrin.h>

#include <vector>

#include "kernels/gemm.h"

namespace quantscope::detail {

namespace {

constexpr int kMr = 6;                           // rows of a per micro-kernel
constexpr int kNr = int(kGemmGroupRows);         // rows of b per micro-kernel: one packed group
constexpr int64_t kGroupFloats = kNr * kGemmChunk;  // one chunk of one packed group

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

// Writes the reduced outputs of rows i0 .. i0+3 (those < MR) and columns j < NR.
template <int MR, int NR>
void store_four_rows(const __m512 (&acc)[MR][NR], int i0, float* c, int64_t ldc) {
  if constexpr (NR == 4) {
    __m512 q[16];
#pragma GCC unroll 16
    for (int x = 0; x < 16; ++x) {
      const int i = i0 + x % 4;  // rows past MR reduce zeros into lanes nobody stores
      q[x] = i < MR ? acc[i < MR ? i : 0][x / 4] : _mm512_setzero_ps();
    }
    // Through memory: vextractf32x4 takes its quarter as an immediate, which a loop index is only once
    // the loop is unrolled (not at -O0 or under the sanitizers).
    alignas(64) float v[16];
    _mm512_store_ps(v, reduce16(q));
    for (int i = 0; i < 4 && i0 + i < MR; ++i) _mm_storeu_ps(c + (i0 + i) * ldc, _mm_load_ps(v + 4 * i));
  } else {
    for (int i = i0; i < i0 + 4 && i < MR; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) c[i * ldc + j] = reduce1(acc[i][j]);
  }
}

// One pass over `steps` chunks for rows a[0..MR) and the first NR rows of one packed group (b: the
// group's first chunk of this pass). Accumulators come from `park` (or start at zero when first)
// and go back there, or, after the last pass, are reduced into c[i * ldc + j]. tail: the valid
// floats of the final chunk of the last pass (16 when k is a multiple of 16).
template <int MR, int NR>
void kernel(const float* a, int64_t lda, const float* b, int64_t steps, bool first, bool last, int tail, float* park,
            float* c, int64_t ldc) {
  __m512 acc[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) acc[i][j] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(park + (i * NR + j) * kGemmChunk);
  const int64_t full = last && tail < kGemmChunk ? steps - 1 : steps;
  for (int64_t s = 0; s < full; ++s) {
    __m512 av[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) av[i] = _mm512_loadu_ps(a + i * lda + s * kGemmChunk);
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) {
      const __m512 bv = _mm512_load_ps(b + s * kGroupFloats + j * kGemmChunk);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);
    }
  }
  if (full < steps) {  // zero-padded tail chunk: a masked here, b padded with zeros when packed
    const __mmask16 m = __mmask16((1u << tail) - 1u);
    __m512 av[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) av[i] = _mm512_maskz_loadu_ps(m, a + i * lda + full * kGemmChunk);
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) {
      const __m512 bv = _mm512_load_ps(b + full * kGroupFloats + j * kGemmChunk);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);
    }
  }
  if (last) {
    store_four_rows<MR, NR>(acc, 0, c, ldc);
    if constexpr (MR > 4) store_four_rows<MR, NR>(acc, 4, c, ldc);
  } else {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) _mm512_storeu_ps(park + (i * NR + j) * kGemmChunk, acc[i][j]);
  }
}

using Kernel = void (*)(const float*, int64_t, const float*, int64_t, bool, bool, int, float*, float*, int64_t);
template <int MR>
constexpr Kernel kRow[kNr] = {kernel<MR, 1>, kernel<MR, 2>, kernel<MR, 3>, kernel<MR, 4>};
// kKernels[mr - 1][nr - 1]: full blocks are 6 x 4; the last rows of a and a last partial group take
// the smaller shapes.
constexpr const Kernel* kKernels[kMr] = {kRow<1>, kRow<2>, kRow<3>, kRow<4>, kRow<5>, kRow<6>};

}  // namespace

void gemm_packed_f32_avx512(const float* a, int64_t lda, int64_t m, const float* panel, int64_t n, int64_t k,
                            float* c, int64_t ldc, int64_t chunks_per_pass) {
  const int64_t chunks = (k + kGemmChunk - 1) / kGemmChunk, groups = (n + kNr - 1) / kNr;
  const int tail = int(k - (chunks - 1) * kGemmChunk);
  if (chunks == 0) {  // k = 0: every dot is the reduction of zero sums
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = reduce1(_mm512_setzero_ps());
    return;
  }
  // Accumulators of one block of rows of a against every group, parked between passes over k.
  thread_local std::vector<float> park;
  const int64_t park_per_group = kMr * kNr * kGemmChunk;
  if (park.size() < size_t(groups * park_per_group)) park.resize(size_t(groups * park_per_group));
  for (int64_t i = 0; i < m; i += kMr) {  // MR rows of a: a piece of each (chunks_per_pass) stays in L1
    const int64_t mr = min_i64(kMr, m - i);
    const Kernel* row = kKernels[mr - 1];
    for (int64_t q0 = 0; q0 < chunks; q0 += chunks_per_pass) {
      const int64_t steps = min_i64(chunks_per_pass, chunks - q0);
      const bool first = q0 == 0, last = q0 + steps == chunks;
      for (int64_t g = 0; g < groups; ++g) {  // the packed panel streams from L2
        const int64_t nr = min_i64(kNr, n - g * kNr);
        row[nr - 1](a + i * lda + q0 * kGemmChunk, lda, panel + (g * chunks + q0) * kGroupFloats, steps, first, last,
                    tail, park.data() + g * park_per_group, c + i * ldc + g * kNr, ldc);
      }
    }
  }
}

}  // namespace quantscope::detail
