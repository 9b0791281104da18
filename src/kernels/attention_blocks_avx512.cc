// Compiled with AVX-512 flags (see src/CMakeLists.txt); called only when the CPU has them.
// Self-contained: no inline functions or templates of shared headers are instantiated here.
//
// scores: a tile of NT positions x 64 keys is 4 x NT zmm accumulators held over the whole head
// dimension; each key chunk is loaded once for the NT positions (the plain loops load and store every
// score once per dimension). Each accumulator lane does fma(q, k, acc) for d = 0, 1, ... from +0:
// fma_axpy's arithmetic exactly.
// values: NT positions x 4 value rows are 4 x NT zmm of 16 lane sums, each lane accumulating
// fma(p, v, acc) over its chunks in order, the last chunk of each position zero-masked in both
// operands, then dot_f32_avx512's reduction: dot_f32 exactly, with each chunk of probabilities loaded
// once for 4 value rows and each chunk of a value row once for NT positions.
#include <immintrin.h>

#include <type_traits>

#include "kernels/attention_blocks.h"

namespace quantscope::detail {

namespace {

constexpr int kKeyChunks = 4;  // 64 key positions per tile

__mmask16 lanes_below(int64_t r) {  // lanes 0 .. r-1 of a chunk
  return r >= 16 ? __mmask16(0xFFFF) : r <= 0 ? __mmask16(0) : __mmask16((1u << r) - 1u);
}

float reduce1(__m512 acc) {  // dot_f32_avx512's tree
  __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

// Scores of positions t < NT for keys p0 .. p0+63 (those below `avail` are read; kFull: all 64 are).
template <int NT, bool kFull>
void score_tile(const float* q, int64_t ldq, const float* keys, int64_t ldk, int64_t hd, const int64_t* len,
                float* scores, int64_t lds, int64_t p0, int64_t avail) {
  __m512 acc[NT][kKeyChunks];
  __mmask16 km[kKeyChunks];
  for (int r = 0; r < kKeyChunks; ++r) km[r] = lanes_below(avail - p0 - 16 * r);
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < kKeyChunks; ++r) acc[t][r] = _mm512_setzero_ps();
  const float* kp = keys + p0;
  for (int64_t d = 0; d < hd; ++d, kp += ldk) {
    __m512 kv[kKeyChunks];
    for (int r = 0; r < kKeyChunks; ++r)
      kv[r] = kFull ? _mm512_loadu_ps(kp + 16 * r) : _mm512_maskz_loadu_ps(km[r], kp + 16 * r);
    for (int t = 0; t < NT; ++t) {
      const __m512 qv = _mm512_set1_ps(q[t * ldq + d]);
      for (int r = 0; r < kKeyChunks; ++r) acc[t][r] = _mm512_fmadd_ps(qv, kv[r], acc[t][r]);
    }
  }
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < kKeyChunks; ++r)
      _mm512_mask_storeu_ps(scores + t * lds + p0 + 16 * r, lanes_below(len[t] - p0 - 16 * r), acc[t][r]);
}

template <int NT>
void scores_nt(const float* q, int64_t ldq, const float* keys, int64_t ldk, int64_t hd, const int64_t* len,
               float* scores, int64_t lds) {
  int64_t longest = 0;
  for (int t = 0; t < NT; ++t) longest = len[t] > longest ? len[t] : longest;
  int64_t p0 = 0;
  for (; p0 + 16 * kKeyChunks <= longest; p0 += 16 * kKeyChunks)
    score_tile<NT, true>(q, ldq, keys, ldk, hd, len, scores, lds, p0, longest);
  if (p0 < longest) score_tile<NT, false>(q, ldq, keys, ldk, hd, len, scores, lds, p0, longest);
}

// Outputs (t, d0 + j) for t < NT, j < ND.
template <int NT, int ND>
void value_tile(const float* probs, int64_t ldp, const float* values, int64_t ldv, int64_t d0, const int64_t* len,
                float* out, int64_t ldo) {
  __m512 acc[NT][ND];
  for (int t = 0; t < NT; ++t)
    for (int j = 0; j < ND; ++j) acc[t][j] = _mm512_setzero_ps();
  const float* v = values + d0 * ldv;
  int64_t shortest = len[0];
  for (int t = 1; t < NT; ++t) shortest = len[t] < shortest ? len[t] : shortest;
  int64_t c = 0;
  for (; c + 16 <= shortest; c += 16) {  // chunks that are whole for every position
    __m512 vv[ND];
    for (int j = 0; j < ND; ++j) vv[j] = _mm512_loadu_ps(v + j * ldv + c);
    for (int t = 0; t < NT; ++t) {
      const __m512 pv = _mm512_loadu_ps(probs + t * ldp + c);
      for (int j = 0; j < ND; ++j) acc[t][j] = _mm512_fmadd_ps(pv, vv[j], acc[t][j]);
    }
  }
  for (int t = 0; t < NT; ++t)  // each position's remaining chunks, the last one masked to its length
    for (int64_t ct = c; ct < len[t]; ct += 16) {
      const __mmask16 m = lanes_below(len[t] - ct);
      const __m512 pv = _mm512_maskz_loadu_ps(m, probs + t * ldp + ct);
      for (int j = 0; j < ND; ++j)
        acc[t][j] = _mm512_fmadd_ps(pv, _mm512_maskz_loadu_ps(m, v + j * ldv + ct), acc[t][j]);
    }
  for (int t = 0; t < NT; ++t)
    for (int j = 0; j < ND; ++j) out[t * ldo + d0 + j] = reduce1(acc[t][j]);
}

template <int NT>
void values_nt(const float* probs, int64_t ldp, const float* values, int64_t ldv, int64_t hd, const int64_t* len,
               float* out, int64_t ldo) {
  int64_t d = 0;
  for (; d + 4 <= hd; d += 4) value_tile<NT, 4>(probs, ldp, values, ldv, d, len, out, ldo);
  for (; d < hd; ++d) value_tile<NT, 1>(probs, ldp, values, ldv, d, len, out, ldo);
}

// Calls body(std::integral_constant<int, NT>) for nt in 1..4 (the caller checked the range), so each
// block size runs a kernel with its accumulators in registers.
template <typename Body>
void with_block_rows(int nt, const Body& body) {
  switch (nt) {
    case 1: return body(std::integral_constant<int, 1>());
    case 2: return body(std::integral_constant<int, 2>());
    case 3: return body(std::integral_constant<int, 3>());
    default: return body(std::integral_constant<int, 4>());
  }
}

}  // namespace

void attention_scores_avx512(const float* q, int64_t ldq, int nt, const float* keys, int64_t ldk, int64_t hd,
                             const int64_t* len, float* scores, int64_t lds) {
  with_block_rows(nt, [&](auto rows) { scores_nt<rows()>(q, ldq, keys, ldk, hd, len, scores, lds); });
}

void attention_values_avx512(const float* probs, int64_t ldp, int nt, const float* values, int64_t ldv, int64_t hd,
                             const int64_t* len, float* out, int64_t ldo) {
  with_block_rows(nt, [&](auto rows) { values_nt<rows()>(probs, ldp, values, ldv, hd, len, out, ldo); });
}

}  // namespace quantscope::detail
