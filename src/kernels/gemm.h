// Register-blocked fp32 GEMM with the FIXED per-element arithmetic of dot.h:
//   c[i * ldc + j] = dot_f32(a + i * lda, b + j * ldb, k)   for i < m, j < n
// ("NT": both operands row-major with k contiguous, e.g. activations x [m, k] and weights W [n, k]).
// Every element is bit-identical to dot_f32 / dot_f32_scalar on every ISA: the micro-kernels hold
// one output's 16 lane partial sums in one zmm (AVX-512) or two ymm (AVX2), accumulate each lane
// sequentially over k (zero-padded tail), and reduce with the same pairwise tree; they only reuse
// each loaded chunk of a row of a / b for several outputs. Each output is computed whole by one
// thread, so the result does not depend on the thread count either.
//
// How it runs: b is consumed in L2-sized panels of rows, each packed once per thread
// (GemmPackedPanel below) and kept in L2 while the rows of a pass it. A block of rows of a is run
// over k in passes sized to L1 (pieces of a; GemmBlocking), every output's
// 16 lane sums parked in a small buffer between passes: that changes no arithmetic (each lane still
// adds its products in k order) but keeps both operands of the inner loop in cache.
//
// On AVX-512, from 48 rows of a, gemm_nt_f32_rows runs the lane-major kernels of gemm_lanes.h
// instead: the same arithmetic, computed as outer products lane by lane, which reads b from L1
// rather than streaming it from L2 (prefill GEMMs ~25% faster on an Intel Xeon).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace quantscope {

struct PackedCodesMatrix;

// Rows of b per packed group and floats per chunk of k: a packed panel holds, for each group of 4
// rows, the rows' k floats interleaved chunk by chunk, [group][chunk][row in group][16], so the
// micro-kernel reads one sequential stream. k is zero-padded to whole chunks (the zero-padded tail
// of dot_f32); rows of a last partial group are never read.
constexpr int64_t kGemmGroupRows = 4;
constexpr int64_t kGemmChunk = 16;

// The cache blocking, derived once from this CPU's per-core L1d and L2 sizes (sysconf; a VM that
// reports none or implausible sizes gets 32 KiB / 1 MiB, the Zen 4 figures the constants were
// first tuned on). Neither changes any arithmetic: passes only park lane sums, panels only group rows.
struct GemmBlocking {
  int64_t panel_bytes;             // packed b panel kept in L2: 3/8 of it (1 MiB: 384 KiB, 2 MiB: 768 KiB)
  int64_t chunks_per_pass_avx512;  // the 6 rows' pieces of a take half of L1d (32 KiB: 32 chunks, 48 KiB: 64)
  int64_t chunks_per_pass_avx2;    // the 3 rows' pieces of a take a quarter of L1d (32 KiB: 32, 48 KiB: 64)
  int64_t lane_steps_per_pass;     // gemm_lanes.h: a b tile's lane piece takes half of L1d (32 KiB: 64, 48 KiB: 96)
};
const GemmBlocking& gemm_blocking();
// The rule itself, for per-core cache sizes in bytes as the OS reports them (0 or implausible: the
// fallback above); gemm_blocking() is this for sysconf's figures.
GemmBlocking gemm_blocking_for(int64_t reported_l1d, int64_t reported_l2);

class GemmPackedPanel {
 public:
  // Room for `rows` rows of length k (reuses the allocation when it is large enough).
  void reset(int64_t rows, int64_t k);
  // Copies row j (< rows) of the panel from `row` (k floats), zero-filling its padded chunk.
  void set_row(int64_t j, const float* row);
  int64_t rows() const { return rows_; }
  int64_t k() const { return k_; }
  const float* data() const { return data_; }

 private:
  std::vector<float> storage_;
  float* data_ = nullptr;  // 64-byte aligned into storage_
  int64_t rows_ = 0, k_ = 0;
};

// c[i * ldc + j] = dot_f32(a + i * lda, row j of the panel, panel.k()) for i < m, j < panel.rows(),
// on the calling thread.
void gemm_nt_f32_packed(const float* a, int64_t lda, int64_t m, const GemmPackedPanel& panel, float* c, int64_t ldc);

// Produces row j (k floats) of a weight matrix into out (dequantized codes, widened f16/bf16).
using RowLoader = std::function<void(int64_t j, float* out)>;

// c = a b^T (+ bias[j] added to every c[i][j] after its dot) with b's rows either read from
// b (row stride ldb) or, when b is null, produced by load_row: parallel over (panel of b rows) x
// (block of rows of a), each thread packing a panel once for all its blocks; rows are never held
// whole in fp32. Reads k floats of each row of a and b (nothing past them); writes only c's m x n
// elements; c must not overlap a or b. a == b (a symmetric product X X^T) is fine, and bit-symmetric.
void gemm_nt_f32_rows(const float* a, int64_t lda, int64_t m, int64_t n, int64_t k, const float* b, int64_t ldb,
                      const RowLoader* load_row, const float* bias, float* c, int64_t ldc);

// gemm_nt_f32_rows with b's rows in memory as bf16 (bf16) or f16 values, ldb elements apart, each
// widened exactly (bf16_to_f32_row / f16_to_f32_row): the lane-major kernels widen them as they pack
// a tile instead of through a row buffer.
void gemm_nt_f32_rows16(const float* a, int64_t lda, int64_t m, int64_t n, int64_t k, const uint16_t* b, int64_t ldb,
                        bool bf16, const float* bias, float* c, int64_t ldc);

// gemm_nt_f32_rows with b's rows the packed codes of w dequantized ((code - zero) * scale, as
// packed_dequantize_row): the lane-major kernels dequantize them in registers as they pack a tile
// when every chunk of 16 columns lies in one group; otherwise they are dequantized row by row.
void gemm_nt_f32_codes(const float* a, int64_t lda, int64_t m, const PackedCodesMatrix& w, const float* bias, float* c,
                       int64_t ldc);

// The plain product: gemm_nt_f32_rows with b's rows in memory and no bias.
void gemm_nt_f32(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t m, int64_t n, int64_t k, float* c,
                 int64_t ldc);

namespace detail {
// Serial kernels for one ISA (called only when the CPU has it); same contract as gemm_nt_f32_packed.
// panel: the packed floats, n rows, k columns.
// chunks_per_pass: gemm_blocking()'s figure for the ISA (a parameter so tests can vary it).
void gemm_packed_f32_avx2(const float* a, int64_t lda, int64_t m, const float* panel, int64_t n, int64_t k, float* c,
                          int64_t ldc, int64_t chunks_per_pass);
void gemm_packed_f32_avx512(const float* a, int64_t lda, int64_t m, const float* panel, int64_t n, int64_t k,
                            float* c, int64_t ldc, int64_t chunks_per_pass);
// Where b's rows come from: f32 rows, 16-bit float rows (bf16, or f16 when !bf16) widened exactly
// (rows ld elements apart), packed codes dequantized exactly (every chunk of 16 in one group: see
// gemm_lanes_pack_codes_avx512), or load_row.
struct GemmRowSource {
  const float* f32 = nullptr;
  const uint16_t* half = nullptr;
  bool bf16 = true;
  int64_t ld = 0;
  const PackedCodesMatrix* codes = nullptr;
  const RowLoader* load_row = nullptr;
};
// gemm_nt_f32_rows on AVX-512 by the lane-major kernels (gemm_lanes.h), which it uses from 48 rows
// of a; steps_per_pass: gemm_blocking().lane_steps_per_pass there (a parameter so tests can vary it).
// a is packed once by all threads, then (64-row tile of b) x (block of 96 rows of a) items run
// tile-major, each thread packing a tile once for all its blocks.
void gemm_lanes_f32(const float* a, int64_t lda, int64_t m, int64_t n, int64_t k, const GemmRowSource& b,
                    const float* bias, float* c, int64_t ldc, int64_t steps_per_pass);
}  // namespace detail

}  // namespace quantscope
