// Compiled with AVX-512 flags (see src/CMakeLists.txt); called only when the CPU has them.
// Self-contained: no inline functions or templates of shared headers are instantiated here (the
// linker could keep this ISA's copy for the whole program); local helpers have internal linkage.
//
// Per output element the arithmetic is exactly dot_f32_avx512's over the fp32 row (see gemv.h):
// one zmm of 16 lane sums, acc = fma(x[c..c+15], w[c..c+15], acc) per chunk of 16 in order, the
// tail chunk zero-masked in both operands, then the fixed pairwise reduction. Only where w comes
// from differs: it is decoded in registers (bf16/f16 widened, integer codes dequantized as
// (code - zero) * scale) and shared between the m input rows, never stored.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/gemv.h"
#include "kernels/packed_decode_avx512.h"

namespace quantscope::detail {

namespace {

// Weight rows interleaved per pass: independent FMA chains (each output's 16 lane sums are one serial
// chain over k, 4 cycles per chunk) and R sequential streams from memory. The R rows of a pass are
// NOT neighbours: a thread's range of rows is cut into R equal spans and a pass takes one row from
// each, so every stream walks forward through its own span (whole pages, one direction), which the
// hardware prefetchers follow (with the software prefetch below). Neighbouring rows interleaved (the previous
// layout) touch each page at R offsets at once, and the prefetchers give up: lm_head-sized bf16 GEMV
// [153376 x 1536], bench_kernels BM_dense_bf16/1/153376/1536 on a Zen 4 VM, 1 thread 16-17 GB/s with
// 8 neighbouring rows + prefetch of the next 8, 20-22 with one row at a time, 24-26 with 4 spans;
// 2 threads 24-28 -> 30-34 GB/s with 2 or 4 spans (noisy VM: 4 alternated runs each).
// More input rows need more accumulators (M x R of the register file), so fewer streams.
constexpr int rows_at_once(int M) { return M <= 2 ? 4 : 2; }

// Each stream also prefetches the cache line 2 KiB ahead of where it reads, once per line: the
// hardware prefetchers alone fall behind when the loop does real work per byte. On a 2-core Intel
// Xeon VM (AVX-512 with BF16/FP16; read BW 31 GB/s with 2 threads), decode of a synthetic
// openPangu-1B with 2 threads: W4 g128 21.3 -> 23.1 GB/s with the packed rows prefetching, 23.7 with
// the bf16 lm_head's rows too; W8 per channel 20.2 -> 26.8; bf16 26.0 -> 30.0.
// bench_kernels BM_packed_host/4/1/153376/1536/128 (beyond the caches), 2 threads: 73-78 -> 110-115
// G items/s, as fast as with the matrix in L2/L3. 1 KiB ahead is as good, 4 and 8 KiB are worse.
constexpr int64_t kPrefetchBytes = 2048;

float reduce1(__m512 acc) {
  __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

__mmask16 tail_mask(int64_t r) { return __mmask16((1u << r) - 1u); }

// ---- dense rows: fp32, bf16 or f16 -> 16 fp32 lanes ----

template <DType D>
__m512 load_w(const void* row, int64_t c) {
  if constexpr (D == DType::F32) {
    return _mm512_loadu_ps(static_cast<const float*>(row) + c);
  } else if constexpr (D == DType::BF16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + c));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + c)));
  }
}

template <DType D>
__m512 load_w_tail(const void* row, int64_t c, __mmask16 m) {
  if constexpr (D == DType::F32) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(row) + c);
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(row) + c);
    if constexpr (D == DType::BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    else return _mm512_cvtph_ps(h);  // masked-off lanes hold 0x0000 = +0
  }
}

// Rows j, j + step, ..., j + (R - 1) * step of w (R streams; see rows_at_once).
template <DType D, int M, int R>
void dense_rows(const float* x, int64_t k, const void* rows, int64_t row_elems_bytes, int64_t j, int64_t step,
                float* y, int64_t n) {
  const char* base = static_cast<const char*>(rows) + j * row_elems_bytes;
  const int64_t step_bytes = step * row_elems_bytes;
  __m512 acc[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) acc[i][r] = _mm512_setzero_ps();
  int64_t c = 0;
  constexpr int64_t es = D == DType::F32 ? 4 : 2;  // bytes per weight
  for (; c + 16 <= k; c += 16) {
    if (((c * es) & 63) < 16 * es)  // once per cache line (a prefetch never faults, even past the end)
      for (int r = 0; r < R; ++r) _mm_prefetch(base + r * step_bytes + c * es + kPrefetchBytes, _MM_HINT_T0);
    __m512 w[R];
    for (int r = 0; r < R; ++r) w[r] = load_w<D>(base + r * step_bytes, c);
    for (int i = 0; i < M; ++i) {
      const __m512 xv = _mm512_loadu_ps(x + i * k + c);
      for (int r = 0; r < R; ++r) acc[i][r] = _mm512_fmadd_ps(xv, w[r], acc[i][r]);
    }
  }
  if (c < k) {
    const __mmask16 m = tail_mask(k - c);
    __m512 w[R];
    for (int r = 0; r < R; ++r) w[r] = load_w_tail<D>(base + r * step_bytes, c, m);
    for (int i = 0; i < M; ++i) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + i * k + c);
      for (int r = 0; r < R; ++r) acc[i][r] = _mm512_fmadd_ps(xv, w[r], acc[i][r]);
    }
  }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) y[i * n + j + r * step] = reduce1(acc[i][r]);
}

// Rows [j0, j1): R spans of `span` rows walked side by side, then the leftover rows one at a time.
template <DType D, int M>
void dense_range(const float* x, int64_t k, const DenseMatrix& w, int64_t j0, int64_t j1, float* y) {
  const int64_t rb = k * (D == DType::F32 ? 4 : 2);
  constexpr int R = rows_at_once(M);
  const int64_t span = (j1 - j0) / R;
  for (int64_t j = j0; j < j0 + span; ++j) dense_rows<D, M, R>(x, k, w.data, rb, j, span, y, w.rows);
  for (int64_t j = j0 + R * span; j < j1; ++j) dense_rows<D, M, 1>(x, k, w.data, rb, j, 1, y, w.rows);
}

template <DType D>
void dense_dispatch_m(const float* x, int64_t m, const DenseMatrix& w, int64_t j0, int64_t j1, float* y) {
  switch (m) {
    case 1: return dense_range<D, 1>(x, w.cols, w, j0, j1, y);
    case 2: return dense_range<D, 2>(x, w.cols, w, j0, j1, y);
    case 3: return dense_range<D, 3>(x, w.cols, w, j0, j1, y);
    default: return dense_range<D, 4>(x, w.cols, w, j0, j1, y);
  }
}

// ---- packed integer codes -> 16 fp32 lanes ----
//
// A chunk of 16 b-bit codes is 2b bytes of the row's bit stream. Lane l needs bits [l*b, l*b + b),
// which lie in bytes l*b/8 and l*b/8 + 1: broadcast the 16 loaded bytes to every 128-bit quarter,
// vpshufb those two bytes into the lane's low half, shift right by (l*b) % 8 and mask b bits.

// Rows j, j + step, ..., j + (R - 1) * step of w (R streams; see rows_at_once).
//
// At B = 4 the lanes are permuted: lane l of a chunk holds code kPacked4LaneCode[l] of it, because a
// qword of 16 codes broadcast from memory (a load, no shuffle uop) and shifted per dword lane by
// 4 * (l / 2) puts code l / 2 (even l: the low dword) or 8 + l / 2 (odd l: the high dword) in the low
// nibble. x arrives permuted the same way (gemv_packed), so lane l accumulates exactly the products
// dot_f32's lane kPacked4LaneCode[l] would, in the same order; one vpermps of each accumulator before
// the reduction restores dot_f32's lanes and its bits. Per chunk and row that leaves a shift (port 0
// on Intel), the vpermps (port 5) and the FMA (either). Against the previous decoder (movq, vpsrlw,
// vpunpcklbw, vpmovzxbd: one more zmm shuffle per chunk) on the Intel VM above, bench_kernels
// BM_packed_host/4/1/6144/1536/128 (in cache), 1 thread 9.4-10.1 -> 14.3-15.2 GiB/s, 2 threads
// 19.0-19.6 -> 28.3-29.3.
//
// At B = 8 with every zero point of the rows a small integer (kBiased8, see zeros_are_small_integers)
// a chunk's codes become floats without a conversion: the 16 bytes broadcast from memory to each
// 128-bit quarter (a load, no shuffle uop) and one merge-masked vpshufb put code l in the low byte of
// lane l over the bits 0x4B000000, which read as the float 2^23 + code. (2^23 + code) - (2^23 + zero)
// is exactly code - zero, as float(code) - zero is: both are integers below 2^24, so neither
// subtraction rounds (and both give +0 when code == zero). That leaves a shuffle, the subtraction,
// the multiplication and the FMA per 16 weights and row where vpmovzxbd + vcvtdq2ps took two.
constexpr float kTwoPow23 = 8388608.0f;

// 16 bytes of 8-bit codes as the floats 2^23 + code (see above). dec: CodeDecoder(8), whose shuffle
// puts byte l in the low byte of lane l.
__m512 biased_codes8(__m128i bytes, const CodeDecoder& dec) {
  constexpr __mmask64 kLowByteOfEachLane = 0x1111111111111111ull;
  const __m512i high_bits = _mm512_castps_si512(_mm512_set1_ps(kTwoPow23));  // 0x4B000000: mantissa free
  return _mm512_castsi512_ps(
      _mm512_mask_shuffle_epi8(high_bits, kLowByteOfEachLane, _mm512_broadcast_i32x4(bytes), dec.shuffle));
}

template <int B, int M, int R, bool kBiased8 = false>
void packed_rows(const float* x, int64_t xs, const PackedCodesMatrix& w, const CodeDecoder& dec, int64_t j,
                 int64_t step, float* y) {
  static_assert(!kBiased8 || B == 8, "the biased decode is for 8-bit codes");
  const int64_t k = w.cols, gs = w.group_size;
  const uint8_t* const end = w.codes + w.rows * w.row_bytes;
  __m512 acc[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) acc[i][r] = _mm512_setzero_ps();
  const uint8_t* row[R];
  int64_t prow[R];
  for (int r = 0; r < R; ++r) {
    row[r] = w.codes + (j + r * step) * w.row_bytes;
    prow[r] = (w.per_tensor ? 0 : j + r * step) * w.groups;
  }
  // For B <= 4 each group's 2^B possible weights, (code - zero) * scale computed exactly as the
  // dequantizer does, are one register (replicated to 16 lanes), and a chunk's weights are one vpermps
  // of it by the codes: 5 operations per 16 weights instead of 8. Larger B dequantize arithmetically.
  constexpr bool kTable = B <= 4;
  constexpr int kBlock = 32 / B < 8 ? 32 / B : 8;  // chunks per block: 2B * kBlock <= 64 bytes of codes
  const __m512 codes_mod = _mm512_set_ps(float(15 % (1 << B)), float(14 % (1 << B)), float(13 % (1 << B)),
                                         float(12 % (1 << B)), float(11 % (1 << B)), float(10 % (1 << B)),
                                         float(9 % (1 << B)), float(8 % (1 << B)), float(7 % (1 << B)),
                                         float(6 % (1 << B)), float(5 % (1 << B)), float(4 % (1 << B)),
                                         float(3 % (1 << B)), float(2 % (1 << B)), float(1 % (1 << B)), 0.0f);
  for (int64_t g = 0; g < w.groups; ++g) {
    __m512 scale[R], zero[R], table[R];
    for (int r = 0; r < R; ++r) {
      scale[r] = _mm512_set1_ps(w.scales[prow[r] + g]);
      zero[r] = _mm512_set1_ps(w.zeros ? w.zeros[prow[r] + g] : w.zero);
      if constexpr (kBiased8) zero[r] = _mm512_add_ps(zero[r], _mm512_set1_ps(kTwoPow23));  // exact: 2^23 + zero
      if constexpr (kTable) table[r] = _mm512_mul_ps(_mm512_sub_ps(codes_mod, zero[r]), scale[r]);
    }
    const int64_t c1 = (g + 1) * gs < k ? (g + 1) * gs : k;
    int64_t c = g * gs;
    auto chunk = [&](int64_t cc) {  // the 16 columns from cc: decode R rows' weights, FMA with M inputs
      __m512 wv[R];
      for (int r = 0; r < R; ++r) {
        const uint8_t* p = row[r] + uint64_t(cc) * B / 8;  // unsigned: a shift, no sign fix-up
        if constexpr (kTable) {
          wv[r] = _mm512_permutexvar_ps(dec.indices<B>(p, end), table[r]);
        } else if constexpr (kBiased8) {
          const __m512 biased = biased_codes8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), dec);
          wv[r] = _mm512_mul_ps(_mm512_sub_ps(biased, zero[r]), scale[r]);
        } else {
          wv[r] = _mm512_mul_ps(_mm512_sub_ps(dec.decode<B>(load_chunk<B>(p, end)), zero[r]), scale[r]);
        }
      }
      for (int i = 0; i < M; ++i) {
        const __m512 xv = _mm512_loadu_ps(x + i * xs + cc);
        for (int r = 0; r < R; ++r) acc[i][r] = _mm512_fmadd_ps(xv, wv[r], acc[i][r]);
      }
    };
    auto prefetch = [&](int64_t cc) {
      for (int r = 0; r < R; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(row[r] + uint64_t(cc) * B / 8 + kPrefetchBytes), _MM_HINT_T0);
    };
    // Full chunks in blocks of kBlock (at most one cache line of codes per row), one prefetch per row
    // and block, the block unrolled: no per-chunk prefetch test or address arithmetic, whose scalar
    // uops otherwise also compete for the two ports the decode and the FMAs use. The group's last
    // chunks (fewer than a block) take one more prefetch, so prefetched addresses never advance by
    // more than a line. bench_kernels BM_packed_host/4/1/153376/1536/128 (the lm_head shape, from
    // DRAM), 2 threads, on the Intel VM above: 4.52-4.60 -> 4.17-4.29 ms; a W4 g128 decode (saved,
    // `bench -p 16 -n 96`, 7 alternated pairs) 25.51 -> 25.83 tok/s mean, within this VM's noise.
    for (; c + 16 * kBlock <= c1; c += 16 * kBlock) {
      prefetch(c);
#pragma GCC unroll 8
      for (int u = 0; u < kBlock; ++u) chunk(c + 16 * u);
    }
    if (c + 16 <= c1) prefetch(c);
    for (; c + 16 <= c1; c += 16) chunk(c);
    if (c < c1) {  // only at the end of the row: group sizes are multiples of 16 or the whole row
      const __mmask16 m = tail_mask(c1 - c);
      __m512 wv[R];
      for (int r = 0; r < R; ++r) {
        const __m128i bytes = load_chunk_tail<B>(row[r] + c * B / 8, c1 - c);
        const __m512 q = kBiased8 ? biased_codes8(bytes, dec) : dec.decode<B>(bytes);
        wv[r] = _mm512_maskz_mov_ps(m, _mm512_mul_ps(_mm512_sub_ps(q, zero[r]), scale[r]));
      }
      if constexpr (B == 4)  // natural lanes -> kPacked4LaneCode order; x is zero-padded there
        for (int r = 0; r < R; ++r) wv[r] = _mm512_permutexvar_ps(dec.lane_code, wv[r]);
      for (int i = 0; i < M; ++i) {
        const __m512 xv = B == 4 ? _mm512_loadu_ps(x + i * xs + c) : _mm512_maskz_loadu_ps(m, x + i * xs + c);
        for (int r = 0; r < R; ++r) acc[i][r] = _mm512_fmadd_ps(xv, wv[r], acc[i][r]);
      }
    }
  }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) {
      __m512 a = acc[i][r];
      if constexpr (B == 4) a = _mm512_permutexvar_ps(dec.code_lane, a);
      y[i * w.rows + j + r * step] = reduce1(a);
    }
}

// As dense_range.
template <int B, int M, bool kBiased8>
void packed_range_as(const float* x, const PackedCodesMatrix& w, int64_t j0, int64_t j1, float* y) {
  const CodeDecoder dec(B);
  const int64_t xs = B == 4 ? (w.cols + 15) / 16 * 16 : w.cols;  // see kPacked4LaneCode
  constexpr int R = rows_at_once(M);
  const int64_t span = (j1 - j0) / R;
  for (int64_t j = j0; j < j0 + span; ++j) packed_rows<B, M, R, kBiased8>(x, xs, w, dec, j, span, y);
  for (int64_t j = j0 + R * span; j < j1; ++j) packed_rows<B, M, 1, kBiased8>(x, xs, w, dec, j, 1, y);
}

// Whether every zero point of rows [j0, j1) is an integer of magnitude below 2^22, so that 2^23 + zero
// is exact (packed_rows' kBiased8). Zero points outside that (a calibrated fractional zero) keep the
// converting decode. One read of the rows' zero points: a float per group of 16 or more codes.
bool zeros_are_small_integers(const PackedCodesMatrix& w, int64_t j0, int64_t j1) {
  auto ok = [](float z) { return std::fabs(z) < 4194304.0f && z == std::trunc(z); };
  if (!w.zeros) return ok(w.zero);
  const int64_t p0 = w.per_tensor ? 0 : j0 * w.groups, p1 = w.per_tensor ? w.groups : j1 * w.groups;
  for (int64_t p = p0; p < p1; ++p)
    if (!ok(w.zeros[p])) return false;
  return true;
}

template <int B, int M>
void packed_range(const float* x, const PackedCodesMatrix& w, int64_t j0, int64_t j1, float* y) {
  if constexpr (B == 8)
    if (zeros_are_small_integers(w, j0, j1)) return packed_range_as<B, M, true>(x, w, j0, j1, y);
  packed_range_as<B, M, false>(x, w, j0, j1, y);
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
  const uint8_t* const end = w.codes + w.rows * w.row_bytes;
  for (int64_t g = 0; g < w.groups; ++g) {
    const __m512 scale = _mm512_set1_ps(w.scales[prow + g]);
    const __m512 zero = _mm512_set1_ps(w.zeros ? w.zeros[prow + g] : w.zero);
    const int64_t c1 = (g + 1) * gs < k ? (g + 1) * gs : k;
    int64_t c = g * gs;
    for (; c + 16 <= c1; c += 16)
      _mm512_storeu_ps(out + c, _mm512_mul_ps(_mm512_sub_ps(dec.decode<B>(load_chunk<B>(row + c * B / 8, end)), zero), scale));
    if (c < c1)
      _mm512_mask_storeu_ps(out + c, tail_mask(c1 - c),
                            _mm512_mul_ps(_mm512_sub_ps(dec.decode<B>(load_chunk_tail<B>(row + c * B / 8, c1 - c)), zero), scale));
  }
}

}  // namespace

void gemv_dense_avx512(const float* x, int64_t m, const DenseMatrix& w, int64_t j0, int64_t j1, float* y) {
  switch (w.dtype) {
    case DType::F32: return dense_dispatch_m<DType::F32>(x, m, w, j0, j1, y);
    case DType::BF16: return dense_dispatch_m<DType::BF16>(x, m, w, j0, j1, y);
    default: return dense_dispatch_m<DType::F16>(x, m, w, j0, j1, y);
  }
}

void gemv_packed_avx512(const float* x, int64_t m, const PackedCodesMatrix& w, int64_t j0, int64_t j1, float* y) {
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

void packed_dequantize_row_avx512(const PackedCodesMatrix& w, int64_t j, float* out) {
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
