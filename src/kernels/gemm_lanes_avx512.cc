// Compiled with AVX-512 flags (see src/CMakeLists.txt); called only when the CPU has them.
// Self-contained: no inline functions or templates of shared headers are instantiated here (the
// linker could keep this ISA's copy for the whole program); local helpers have internal linkage.
// The arithmetic and layouts are described in gemm_lanes.h.
#include <immintrin.h>

#include "kernels/gemm_lanes.h"
#include "kernels/packed_decode_avx512.h"
#include "kernels/packed_matrix.h"

namespace quantscope::detail {

namespace {

constexpr int kMr = int(kLaneMicroRows);
constexpr int kNv = int(kLaneTileCols / 16);  // zmm of outputs per row of a micro-block
constexpr int kAccFloats = kMr * kNv * 16;      // one micro-block's 24 accumulators
// run_lane prefetches packed a this many steps (of 6 floats) ahead, 3 cache lines every 8 steps. A
// lane's pass reads a block's micro-blocks one after another (one sequential stream of 24 bytes per
// 24 FMAs), from L2 or, once the packed rows of a outgrow L2 (k = 6144: 6 MiB for 256 rows), from L3,
// where the hardware prefetchers alone left the kernel waiting. bench_gemm bf16 / w4, 2 threads,
// 256 x 1536 x 6144, alternated 3x on a 2-core Intel Xeon VM (48 KiB L1d, 2 MiB L2): 240-264 ->
// 279-311 GFLOP/s (64 or 128 steps ahead: no better; the k = 1536 shapes unchanged within noise).
constexpr int64_t kAheadSteps = 32;

// The tree's leaf order: lanes are finished in this order, and the n-th to finish (n = 1 .. 16)
// merges ctz(n) pending partial sums (see run_lane).
constexpr int kLaneOrder[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};

// The permutations of transpose16: round b (s = 1 << b) swaps bit s of the row index with bit s of
// the lane index between rows r and r | s (r without bit s).
struct TransposeIndices {
  __m512i lo[4], hi[4];
  TransposeIndices() {
    for (int b = 0; b < 4; ++b) {
      const int s = 1 << b;
      alignas(64) int l[16], h[16];
      for (int p = 0; p < 16; ++p) {
        l[p] = (p & s) == 0 ? p : 16 + (p ^ s);  // row r keeps its bit-s-clear lanes, takes r|s's others
        h[p] = (p & s) != 0 ? 16 + p : (p ^ s);  // row r|s keeps its bit-s-set lanes, takes r's others
      }
      lo[b] = _mm512_load_si512(l), hi[b] = _mm512_load_si512(h);
    }
  }
};

// 16 x 16 transpose: afterwards x[p] lane r holds what x[r] lane p held.
void transpose16(__m512 (&x)[16], const TransposeIndices& ix) {
#pragma GCC unroll 4
  for (int b = 0; b < 4; ++b) {
    const int s = 1 << b;
#pragma GCC unroll 16
    for (int r = 0; r < 16; ++r) {
      if (r & s) continue;
      const __m512 y = _mm512_permutex2var_ps(x[r], ix.lo[b], x[r | s]);
      x[r | s] = _mm512_permutex2var_ps(x[r], ix.hi[b], x[r | s]);
      x[r] = y;
    }
  }
}

// One micro-block (6 rows of a, packed a: [steps][6]) against the tile's lane piece (b: [steps][64])
// for `steps` chunks of lane number `n` of kLaneOrder. The 24 accumulators start from zero (first)
// or slot 4 (a parked run); after a lane's last pass they are merged with the pending sums of the
// tree (slot[level] + acc: the lower lanes are the left operand, as in dot_f32's reduction) and
// either parked in slot[ctz(n + 1)] or, after the 16th lane, stored as the outputs.
void run_lane(const float* a, const float* b, int64_t steps, bool first, bool last, int n, float* slots,
              float* c, int64_t ldc, int rows, int cols) {
  __m512 acc[kMr][kNv];
  float* const run = slots + 4 * kAccFloats;
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < kNv; ++v) acc[i][v] = first ? _mm512_setzero_ps() : _mm512_load_ps(run + (i * kNv + v) * 16);
  for (int64_t t = 0; t < steps; ++t) {
    if ((t & 7) == 0) {
      const char* ahead = reinterpret_cast<const char*>(a + (t + kAheadSteps) * kMr);
      _mm_prefetch(ahead, _MM_HINT_T0);
      _mm_prefetch(ahead + 64, _MM_HINT_T0);
      _mm_prefetch(ahead + 128, _MM_HINT_T0);
    }
    const float* bt = b + t * kLaneTileCols;
    const __m512 b0 = _mm512_load_ps(bt), b1 = _mm512_load_ps(bt + 16), b2 = _mm512_load_ps(bt + 32),
                 b3 = _mm512_load_ps(bt + 48);
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      const __m512 av = _mm512_set1_ps(a[t * kMr + i]);
      acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
      acc[i][2] = _mm512_fmadd_ps(av, b2, acc[i][2]);
      acc[i][3] = _mm512_fmadd_ps(av, b3, acc[i][3]);
    }
  }
  float* dst = run;
  if (last) {
    const int merges = __builtin_ctz(unsigned(n + 1));
    for (int level = 0; level < merges; ++level) {
      const float* pending = slots + level * kAccFloats;
#pragma GCC unroll 6
      for (int i = 0; i < kMr; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < kNv; ++v)
          acc[i][v] = _mm512_add_ps(_mm512_load_ps(pending + (i * kNv + v) * 16), acc[i][v]);
    }
    if (n == 15) {  // constant indices into acc (fully unrolled), so it stays in registers
#pragma GCC unroll 6
      for (int i = 0; i < kMr; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < kNv; ++v) {
          const int left = cols - 16 * v;
          if (i >= rows || left <= 0) continue;
          const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
          _mm512_mask_storeu_ps(c + i * ldc + 16 * v, m, acc[i][v]);
        }
      return;
    }
    dst = slots + merges * kAccFloats;
  }
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < kNv; ++v) _mm512_store_ps(dst + (i * kNv + v) * 16, acc[i][v]);
}

}  // namespace

void gemm_lanes_pack_a_avx512(const float* a, int64_t lda, int64_t rows, int64_t k, int64_t micro,
                              int64_t steps_per_pass, float* block) {
  const int64_t chunks = (k + 15) / 16;
  const TransposeIndices ix;
  for (int64_t t0 = 0; t0 < chunks; t0 += steps_per_pass) {
    const int64_t steps = chunks - t0 < steps_per_pass ? chunks - t0 : steps_per_pass, items = steps * kMr;
    // This micro-block's piece of lane l in this pass is [chunk t][row i] = a[i][16 t + l]: item
    // q = 6 (t - t0) + i. Sixteen items' chunks transposed give sixteen lanes' next 16 items.
    float* const piece = block + (kLaneBlockMicro * t0 + micro * steps) * kMr;
    for (int64_t q0 = 0; q0 < items; q0 += 16) {
      __m512 x[16];
      int64_t t = t0 + q0 / kMr, i = q0 % kMr;
#pragma GCC unroll 16
      for (int r = 0; r < 16; ++r) {
        const int64_t left = k - 16 * t;
        const __mmask16 m = t >= t0 + steps || i >= rows ? __mmask16(0)
                            : left >= 16                 ? __mmask16(0xFFFF)
                                                         : __mmask16((1u << left) - 1u);
        x[r] = _mm512_maskz_loadu_ps(m, a + (m ? i * lda + 16 * t : 0));
        if (++i == kMr) i = 0, ++t;
      }
      transpose16(x, ix);  // x[l] = lane l of items q0 .. q0+15
      const __mmask16 keep = items - q0 >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (items - q0)) - 1u);
#pragma GCC unroll 16
      for (int l = 0; l < 16; ++l)
        _mm512_mask_storeu_ps(piece + l * kLaneBlockMicro * chunks * kMr + q0, keep, x[l]);
    }
  }
}

namespace {
// The tile's columns col0 .. col0+15 from 16 rows, chunk by chunk: load(r, t, mask) gives row r's
// chunk t (lanes outside mask zero) as floats.
template <class LoadChunk>
void pack_b_columns(const LoadChunk& load, int64_t nrows, int64_t k, int64_t col0, float* tile) {
  const int64_t chunks = (k + 15) / 16;
  const TransposeIndices ix;
  for (int64_t t = 0; t < chunks; ++t) {
    const int64_t left = k - 16 * t;
    const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
    __m512 x[16];
    for (int r = 0; r < 16; ++r) x[r] = r < nrows ? load(r, t, m) : _mm512_setzero_ps();
    transpose16(x, ix);  // x[l] = lane l of chunk t of the 16 rows
    for (int l = 0; l < 16; ++l) _mm512_store_ps(tile + (l * chunks + t) * kLaneTileCols + col0, x[l]);
  }
}
}  // namespace

void gemm_lanes_pack_b_avx512(const float* const* rows, int64_t nrows, int64_t k, int64_t col0, float* tile) {
  pack_b_columns([&](int r, int64_t t, __mmask16 m) { return _mm512_maskz_loadu_ps(m, rows[r] + 16 * t); }, nrows, k,
                 col0, tile);
}

void gemm_lanes_pack_b16_avx512(const uint16_t* const* rows, bool bf16, int64_t nrows, int64_t k, int64_t col0,
                                float* tile) {
  // Exact widenings, as bf16_to_f32_row / f16_to_f32_row (vcvtph2ps) give.
  if (bf16)
    pack_b_columns(
        [&](int r, int64_t t, __mmask16 m) {
          const __m256i h = _mm256_maskz_loadu_epi16(m, rows[r] + 16 * t);
          return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
        },
        nrows, k, col0, tile);
  else
    pack_b_columns(
        [&](int r, int64_t t, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, rows[r] + 16 * t)); },
        nrows, k, col0, tile);
}

namespace {
// Rows j0 .. j0+nrows-1 of w dequantized in registers, (code - zero) * scale as dequantize_row_b
// computes them, chunk by chunk (a chunk lies in one group: see gemm_lanes_pack_codes_avx512).
template <int B>
void pack_code_columns(const PackedCodesMatrix& w, int64_t j0, int64_t nrows, int64_t col0, float* tile) {
  const CodeDecoder dec(B);
  const int64_t k = w.cols, gs = w.group_size;
  const uint8_t* const end = w.codes + w.rows * w.row_bytes;
  pack_b_columns(
      [&](int r, int64_t t, __mmask16 m) {
        const int64_t j = j0 + r, c = 16 * t, p = (w.per_tensor ? 0 : j) * w.groups + c / gs;
        const __m512 scale = _mm512_set1_ps(w.scales[p]), zero = _mm512_set1_ps(w.zeros ? w.zeros[p] : w.zero);
        const uint8_t* codes = w.codes + j * w.row_bytes + c * B / 8;
        const __m512 q = m == __mmask16(0xFFFF) ? dec.decode<B>(load_chunk<B>(codes, end))
                                                : dec.decode<B>(load_chunk_tail<B>(codes, k - c));
        return _mm512_maskz_mul_ps(m, _mm512_sub_ps(q, zero), scale);
      },
      nrows, k, col0, tile);
}
}  // namespace

void gemm_lanes_pack_codes_avx512(const PackedCodesMatrix& w, int64_t j0, int64_t nrows, int64_t col0, float* tile) {
  switch (w.bits) {
    case 1: return pack_code_columns<1>(w, j0, nrows, col0, tile);
    case 2: return pack_code_columns<2>(w, j0, nrows, col0, tile);
    case 3: return pack_code_columns<3>(w, j0, nrows, col0, tile);
    case 4: return pack_code_columns<4>(w, j0, nrows, col0, tile);
    case 5: return pack_code_columns<5>(w, j0, nrows, col0, tile);
    case 6: return pack_code_columns<6>(w, j0, nrows, col0, tile);
    case 7: return pack_code_columns<7>(w, j0, nrows, col0, tile);
    default: return pack_code_columns<8>(w, j0, nrows, col0, tile);
  }
}

void gemm_lanes_tile_avx512(const float* block, int64_t rows, const float* tile, int64_t cols, int64_t chunks,
                            int64_t steps_per_pass, float* scratch, float* c, int64_t ldc, LanePrefetch ahead) {
  const int64_t micros = (rows + kMr - 1) / kMr;
  const int64_t calls = 16 * ((chunks + steps_per_pass - 1) / steps_per_pass) * micros;
  const int64_t lines = (ahead.bytes + 63) / 64, lines_per_call = (lines + calls - 1) / calls;
  int64_t fetched = 0;  // lines of `ahead` prefetched so far
  for (int n = 0; n < 16; ++n) {
    const int l = kLaneOrder[n];
    for (int64_t t0 = 0; t0 < chunks; t0 += steps_per_pass) {
      const int64_t steps = chunks - t0 < steps_per_pass ? chunks - t0 : steps_per_pass;
      const bool first = t0 == 0, last = t0 + steps == chunks;
      const float* b = tile + (l * chunks + t0) * kLaneTileCols;  // in L1 for the whole loop below
      for (int64_t q = 0; q < micros; ++q) {
        for (int64_t e = fetched + lines_per_call < lines ? fetched + lines_per_call : lines; fetched < e; ++fetched)
          _mm_prefetch(ahead.begin + 64 * fetched, _MM_HINT_T1);
        const int r = int(rows - q * kMr < kMr ? rows - q * kMr : kMr);
        run_lane(block + (l * kLaneBlockMicro * chunks + kLaneBlockMicro * t0 + q * steps) * kMr, b, steps, first, last, n,
                 scratch + q * kLaneSlots * kAccFloats, c + q * kMr * ldc, ldc, r, int(cols));
      }
    }
  }
}

}  // namespace quantscope::detail
