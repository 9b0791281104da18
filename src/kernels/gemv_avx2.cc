// Compiled with -mavx2 -mfma -mf16c (see src/CMakeLists.txt); called only when the CPU has them.
// Self-contained: no inline functions or templates of shared headers are instantiated here (the
// linker could keep this ISA's copy for the whole program); local helpers have internal linkage.
//
// Per output element the arithmetic is exactly dot_f32_avx2's over the fp32 row (see gemv.h): lanes
// 0-7 and 8-15 of the 16 lane sums in two ymm, acc = fma(x, w, acc) per chunk of 16 in order, the
// tail chunk zero-padded in both operands, then the fixed pairwise reduction. The weights are decoded
// in registers and shared between the m input rows.
#include <immintrin.h>

#include <cstring>

#include "kernels/gemv.h"

namespace quantscope::detail {

namespace {

// Weight rows interleaved per pass, each from its own span of the thread's rows (see gemv_avx512.cc:
// R forward streams that the hardware prefetchers follow, and R independent FMA chains); 16 ymm
// registers hold 2 x M x R accumulators plus the rows, so at most 4 rows for one input row.
constexpr int rows_at_once(int M) { return M == 1 ? 4 : 2; }

// Each stream prefetches the cache line 2 KiB ahead once per line, as gemv_avx512.cc does and why.
constexpr int64_t kPrefetchBytes = 2048;

struct V16 {  // lanes 0-7, 8-15
  __m256 lo, hi;
};

float reduce1(const V16& a) {
  __m256 s8 = _mm256_add_ps(a.lo, a.hi);
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

V16 fma16(const V16& x, const V16& w, const V16& acc) {
  return {_mm256_fmadd_ps(x.lo, w.lo, acc.lo), _mm256_fmadd_ps(x.hi, w.hi, acc.hi)};
}

V16 load_x(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }

V16 load_x_tail(const float* p, int64_t r) {  // r < 16 valid floats, rest zero
  alignas(32) float buf[16] = {};
  std::memcpy(buf, p, size_t(r) * sizeof(float));
  return {_mm256_load_ps(buf), _mm256_load_ps(buf + 8)};
}

// Lanes >= r set to +0 (an AND with all-ones keeps the bits).
V16 keep_first(const V16& v, int64_t r) {
  alignas(32) int32_t m[16];
  for (int l = 0; l < 16; ++l) m[l] = l < r ? -1 : 0;
  return {_mm256_and_ps(v.lo, _mm256_castsi256_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(m)))),
          _mm256_and_ps(v.hi, _mm256_castsi256_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(m + 8))))};
}

// ---- dense rows ----

template <DType D>
V16 widen16(const void* row, int64_t c) {
  if constexpr (D == DType::F32) {
    return load_x(static_cast<const float*>(row) + c);
  } else {
    const uint16_t* p = static_cast<const uint16_t*>(row) + c;
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8));
    if constexpr (D == DType::BF16)
      return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(a), 16)),
              _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16))};
    else return {_mm256_cvtph_ps(a), _mm256_cvtph_ps(b)};
  }
}

template <DType D>
V16 widen16_tail(const void* row, int64_t c, int64_t r) {
  if constexpr (D == DType::F32) {
    return load_x_tail(static_cast<const float*>(row) + c, r);
  } else {
    alignas(32) uint16_t buf[16] = {};  // 0x0000 is +0 in both bf16 and f16
    std::memcpy(buf, static_cast<const uint16_t*>(row) + c, size_t(r) * 2);
    return widen16<D>(buf, 0);
  }
}

// Rows j, j + step, ..., j + (R - 1) * step (R streams; see rows_at_once).
template <DType D, int M, int R>
void dense_rows(const float* x, int64_t k, const char* base, int64_t rb, int64_t j, int64_t step, float* y,
                int64_t n) {
  V16 acc[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) acc[i][r] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t c = 0;
  constexpr int64_t es = D == DType::F32 ? 4 : 2;  // bytes per weight
  for (; c + 16 <= k; c += 16) {
    if (((c * es) & 63) < 16 * es)
      for (int r = 0; r < R; ++r) _mm_prefetch(base + (j + r * step) * rb + c * es + kPrefetchBytes, _MM_HINT_T0);
    V16 w[R];
    for (int r = 0; r < R; ++r) w[r] = widen16<D>(base + (j + r * step) * rb, c);
    for (int i = 0; i < M; ++i) {
      const V16 xv = load_x(x + i * k + c);
      for (int r = 0; r < R; ++r) acc[i][r] = fma16(xv, w[r], acc[i][r]);
    }
  }
  if (c < k) {
    V16 w[R];
    for (int r = 0; r < R; ++r) w[r] = widen16_tail<D>(base + (j + r * step) * rb, c, k - c);
    for (int i = 0; i < M; ++i) {
      const V16 xv = load_x_tail(x + i * k + c, k - c);
      for (int r = 0; r < R; ++r) acc[i][r] = fma16(xv, w[r], acc[i][r]);
    }
  }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) y[i * n + j + r * step] = reduce1(acc[i][r]);
}

// Rows [j0, j1): R spans of `span` rows walked side by side, then the leftover rows one at a time.
template <DType D, int M>
void dense_range(const float* x, const DenseMatrix& w, int64_t j0, int64_t j1, float* y) {
  const int64_t k = w.cols, rb = k * (D == DType::F32 ? 4 : 2);
  const char* base = static_cast<const char*>(w.data);
  constexpr int R = rows_at_once(M);
  const int64_t span = (j1 - j0) / R;
  for (int64_t j = j0; j < j0 + span; ++j) dense_rows<D, M, R>(x, k, base, rb, j, span, y, w.rows);
  for (int64_t j = j0 + R * span; j < j1; ++j) dense_rows<D, M, 1>(x, k, base, rb, j, 1, y, w.rows);
}

template <DType D>
void dense_dispatch_m(const float* x, int64_t m, const DenseMatrix& w, int64_t j0, int64_t j1, float* y) {
  switch (m) {
    case 1: return dense_range<D, 1>(x, w, j0, j1, y);
    case 2: return dense_range<D, 2>(x, w, j0, j1, y);
    case 3: return dense_range<D, 3>(x, w, j0, j1, y);
    default: return dense_range<D, 4>(x, w, j0, j1, y);
  }
}

// ---- packed integer codes (the scheme of gemv_avx512.cc: vpshufb the two bytes holding each lane's
// code into the lane, variable shift, mask; both 128-bit halves hold the same 16 loaded bytes) ----

struct CodeDecoder {
  __m256i shuffle_lo, shuffle_hi, shift_lo, shift_hi, mask;
  explicit CodeDecoder(int b) {
    alignas(32) uint8_t shuf[64];
    alignas(32) uint32_t sh[16];
    for (int l = 0; l < 16; ++l) {
      const int bit = l * b;
      shuf[4 * l] = uint8_t(bit / 8);
      shuf[4 * l + 1] = uint8_t((bit / 8 + 1) & 15);
      shuf[4 * l + 2] = 0x80;
      shuf[4 * l + 3] = 0x80;
      sh[l] = uint32_t(bit % 8);
    }
    shuffle_lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(shuf));
    shuffle_hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(shuf + 32));
    shift_lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(sh));
    shift_hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(sh + 8));
    mask = _mm256_set1_epi32((1 << b) - 1);
  }
  template <int B>
  V16 decode(__m128i bytes) const {
    __m256i lo, hi;
    if constexpr (B == 8) {
      lo = _mm256_cvtepu8_epi32(bytes);
      hi = _mm256_cvtepu8_epi32(_mm_srli_si128(bytes, 8));
    } else {
      const __m256i v = _mm256_broadcastsi128_si256(bytes);
      lo = _mm256_and_si256(_mm256_srlv_epi32(_mm256_shuffle_epi8(v, shuffle_lo), shift_lo), mask);
      hi = _mm256_and_si256(_mm256_srlv_epi32(_mm256_shuffle_epi8(v, shuffle_hi), shift_hi), mask);
    }
    return {_mm256_cvtepi32_ps(lo), _mm256_cvtepi32_ps(hi)};
  }
};

// Exactly the 2B bytes of one full chunk.
template <int B>
__m128i load_chunk(const uint8_t* p) {
  if constexpr (B == 8) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  } else if constexpr (B == 4) {
    return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  } else if constexpr (B == 2) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm_cvtsi32_si128(v);
  } else {
    alignas(16) uint8_t buf[16] = {};
    std::memcpy(buf, p, 2 * B);
    return _mm_load_si128(reinterpret_cast<const __m128i*>(buf));
  }
}

template <int B>
__m128i load_chunk_tail(const uint8_t* p, int64_t r) {
  alignas(16) uint8_t buf[16] = {};
  std::memcpy(buf, p, size_t((r * B + 7) / 8));
  return _mm_load_si128(reinterpret_cast<const __m128i*>(buf));
}

V16 dequant(const V16& codes, __m256 zero, __m256 scale) {
  return {_mm256_mul_ps(_mm256_sub_ps(codes.lo, zero), scale), _mm256_mul_ps(_mm256_sub_ps(codes.hi, zero), scale)};
}

// Rows j, j + step, ..., j + (R - 1) * step (R streams; see rows_at_once).
template <int B, int M, int R>
void packed_rows(const float* x, const PackedCodesMatrix& w, const CodeDecoder& dec, int64_t j, int64_t step,
                 float* y) {
  const int64_t k = w.cols, gs = w.group_size;
  V16 acc[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) acc[i][r] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  const uint8_t* row[R];
  int64_t prow[R];
  for (int r = 0; r < R; ++r) {
    row[r] = w.codes + (j + r * step) * w.row_bytes;
    prow[r] = (w.per_tensor ? 0 : j + r * step) * w.groups;
  }
  for (int64_t g = 0; g < w.groups; ++g) {
    __m256 scale[R], zero[R];
    for (int r = 0; r < R; ++r) {
      scale[r] = _mm256_set1_ps(w.scales[prow[r] + g]);
      zero[r] = _mm256_set1_ps(w.zeros ? w.zeros[prow[r] + g] : w.zero);
    }
    const int64_t c1 = (g + 1) * gs < k ? (g + 1) * gs : k;
    int64_t c = g * gs;
    for (; c + 16 <= c1; c += 16) {
      if (((c * B / 8) & 63) < 2 * B)
        for (int r = 0; r < R; ++r)
          _mm_prefetch(reinterpret_cast<const char*>(row[r] + c * B / 8 + kPrefetchBytes), _MM_HINT_T0);
      V16 wv[R];
      for (int r = 0; r < R; ++r) wv[r] = dequant(dec.decode<B>(load_chunk<B>(row[r] + c * B / 8)), zero[r], scale[r]);
      for (int i = 0; i < M; ++i) {
        const V16 xv = load_x(x + i * k + c);
        for (int r = 0; r < R; ++r) acc[i][r] = fma16(xv, wv[r], acc[i][r]);
      }
    }
    if (c < c1) {  // only at the end of the row (group sizes are multiples of 16 or the whole row)
      V16 wv[R];
      for (int r = 0; r < R; ++r)
        wv[r] = keep_first(dequant(dec.decode<B>(load_chunk_tail<B>(row[r] + c * B / 8, c1 - c)), zero[r], scale[r]),
                           c1 - c);
      for (int i = 0; i < M; ++i) {
        const V16 xv = load_x_tail(x + i * k + c, c1 - c);
        for (int r = 0; r < R; ++r) acc[i][r] = fma16(xv, wv[r], acc[i][r]);
      }
    }
  }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) y[i * w.rows + j + r * step] = reduce1(acc[i][r]);
}

// As dense_range.
template <int B, int M>
void packed_range(const float* x, const PackedCodesMatrix& w, int64_t j0, int64_t j1, float* y) {
  const CodeDecoder dec(B);
  constexpr int R = rows_at_once(M);
  const int64_t span = (j1 - j0) / R;
  for (int64_t j = j0; j < j0 + span; ++j) packed_rows<B, M, R>(x, w, dec, j, span, y);
  for (int64_t j = j0 + R * span; j < j1; ++j) packed_rows<B, M, 1>(x, w, dec, j, 1, y);
}

template <int B>
void packed_dispatch_m(const float* x, int64_t m, const PackedCodesMatrix& w, int64_t j0, int64_t j1, float* y) {
  switch (m) {
    case 1: return packed_range<B, 1>(x, w, j0, j1, y);
    case 2: return packed_range<B, 2>(x, w, j0, j1, y);
    case 3: return packed_range<B, 3>(x, w, j0, j1, y);
    default: return packed_range<B, 4>(x, w, j0, j1, y);
  }
}

template <int B>
void dequantize_row_b(const PackedCodesMatrix& w, int64_t j, float* out) {
  const CodeDecoder dec(B);
  const int64_t k = w.cols, gs = w.group_size, prow = (w.per_tensor ? 0 : j) * w.groups;
  const uint8_t* row = w.codes + j * w.row_bytes;
  for (int64_t g = 0; g < w.groups; ++g) {
    const __m256 scale = _mm256_set1_ps(w.scales[prow + g]);
    const __m256 zero = _mm256_set1_ps(w.zeros ? w.zeros[prow + g] : w.zero);
    const int64_t c1 = (g + 1) * gs < k ? (g + 1) * gs : k;
    int64_t c = g * gs;
    for (; c + 16 <= c1; c += 16) {
      const V16 v = dequant(dec.decode<B>(load_chunk<B>(row + c * B / 8)), zero, scale);
      _mm256_storeu_ps(out + c, v.lo);
      _mm256_storeu_ps(out + c + 8, v.hi);
    }
    if (c < c1) {
      alignas(32) float buf[16];
      const V16 v = dequant(dec.decode<B>(load_chunk_tail<B>(row + c * B / 8, c1 - c)), zero, scale);
      _mm256_store_ps(buf, v.lo);
      _mm256_store_ps(buf + 8, v.hi);
      std::memcpy(out + c, buf, size_t(c1 - c) * sizeof(float));
    }
  }
}

}  // namespace

void gemv_dense_avx2(const float* x, int64_t m, const DenseMatrix& w, int64_t j0, int64_t j1, float* y) {
  switch (w.dtype) {
    case DType::F32: return dense_dispatch_m<DType::F32>(x, m, w, j0, j1, y);
    case DType::BF16: return dense_dispatch_m<DType::BF16>(x, m, w, j0, j1, y);
    default: return dense_dispatch_m<DType::F16>(x, m, w, j0, j1, y);
  }
}

void gemv_packed_avx2(const float* x, int64_t m, const PackedCodesMatrix& w, int64_t j0, int64_t j1, float* y) {
  switch (w.bits) {
    case 1: return packed_dispatch_m<1>(x, m, w, j0, j1, y);
    case 2: return packed_dispatch_m<2>(x, m, w, j0, j1, y);
    case 3: return packed_dispatch_m<3>(x, m, w, j0, j1, y);
    case 4: return packed_dispatch_m<4>(x, m, w, j0, j1, y);
    case 5: return packed_dispatch_m<5>(x, m, w, j0, j1, y);
    case 6: return packed_dispatch_m<6>(x, m, w, j0, j1, y);
    case 7: return packed_dispatch_m<7>(x, m, w, j0, j1, y);
    default: return packed_dispatch_m<8>(x, m, w, j0, j1, y);
  }
}

void packed_dequantize_row_avx2(const PackedCodesMatrix& w, int64_t j, float* out) {
  switch (w.bits) {
    case 1: return dequantize_row_b<1>(w, j, out);
    case 2: return dequantize_row_b<2>(w, j, out);
    case 3: return dequantize_row_b<3>(w, j, out);
    case 4: return dequantize_row_b<4>(w, j, out);
    case 5: return dequantize_row_b<5>(w, j, out);
    case 6: return dequantize_row_b<6>(w, j, out);
    case 7: return dequantize_row_b<7>(w, j, out);
    default: return dequantize_row_b<8>(w, j, out);
  }
}

}  // namespace quantscope::detail
