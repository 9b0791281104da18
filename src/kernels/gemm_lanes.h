// The lane-major AVX-512 GEMM: the same per-element arithmetic as dot_f32_avx512 (and so as
// gemm.h's dot-form kernels), computed as outer products one lane at a time.
//
// dot_f32_avx512 gives c[i][j] = tree(S_0 .. S_15), where lane l's sum
//   S_l = fma(a[i][16t + l], b[j][16t + l], ...) over chunks t = 0, 1, ... in order, from zero
// (the zero-padded tail chunk included), and tree = ((S0+S8) + (S4+S12)) + ((S2+S10) + (S6+S14)),
// then the same with 1, 9, 5, 13, 3, 11, 7, 15, and the two halves added. For a fixed lane l that is
// an ordinary GEMM over the k-subsequence l, l+16, ...: a block of 6 rows of a against 64 rows of b
// keeps 24 zmm of 16 outputs each, broadcasting a[i][16t + l] and loading b's 64 values at
// 16t + l as 4 vectors. So the kernel reads b from L1 (a 64-row tile's lane piece, 64 floats per
// step) and a as 6 broadcast floats per step, where the dot form streamed 4 chunks of b from L2 for
// every 24 FMAs. The 16 lanes are run in the tree's leaf order (0, 8, 4, 12, 2, ...) and merged as
// each finishes, with the tree's operand order, so every element is bit-identical to dot_f32.
//
// Layouts (floats; C = chunks of k = ceil(k / 16); k zero-padded to 16 C):
//   packed a, one block of up to kLaneBlockRows rows: [lane][pass over k][micro-block of 6 rows]
//     [chunk of the pass][6], so that one lane's pass over all micro-blocks is one sequential
//     stream; rows past the block's end are zeros.
//   packed b, one tile of kLaneTileCols rows of b: [lane][C][64]; rows past n are zeros.
#pragma once

#include <cstdint>

namespace quantscope {

struct PackedCodesMatrix;

constexpr int64_t kLaneMicroRows = 6;                      // rows of a per micro-kernel
constexpr int64_t kLaneBlockMicro = 16;                    // micro-blocks per block of a
constexpr int64_t kLaneBlockRows = kLaneMicroRows * kLaneBlockMicro;  // 96
constexpr int64_t kLaneTileCols = 64;                      // rows of b per tile (4 zmm of outputs)
constexpr int64_t kLaneSlots = 5;                          // per micro-block: 4 tree levels + a parked run

// Floats of one packed block of a / one packed tile of b / one tile's scratch, for `chunks` chunks.
inline int64_t lane_block_floats(int64_t chunks) { return 16 * kLaneBlockMicro * chunks * kLaneMicroRows; }
inline int64_t lane_tile_floats(int64_t chunks) { return 16 * chunks * kLaneTileCols; }
constexpr int64_t kLaneScratchFloats = kLaneBlockMicro * kLaneSlots * kLaneMicroRows * kLaneTileCols;

namespace detail {
// Packs micro-block `micro` (rows a[0 .. rows), rows <= 6; the rest zeros) of a block into `block`.
// steps_per_pass: as for gemm_lanes_tile_avx512.
void gemm_lanes_pack_a_avx512(const float* a, int64_t lda, int64_t rows, int64_t k, int64_t micro,
                              int64_t steps_per_pass, float* block);
// Packs rows[0 .. nrows) (nrows <= 16; the rest zeros) as columns col0 .. col0+15 of a tile of b
// (64-byte aligned).
void gemm_lanes_pack_b_avx512(const float* const* rows, int64_t nrows, int64_t k, int64_t col0, float* tile);
// The same from rows of bf16 (bf16) or f16 values, widened exactly as they are packed.
void gemm_lanes_pack_b16_avx512(const uint16_t* const* rows, bool bf16, int64_t nrows, int64_t k, int64_t col0,
                                float* tile);
// The same from rows j0 .. j0+nrows-1 of packed codes, dequantized in registers exactly as
// packed_dequantize_row does. Needs every chunk of 16 columns inside one group (one group per row, or
// a group size that is a multiple of 16).
void gemm_lanes_pack_codes_avx512(const PackedCodesMatrix& w, int64_t j0, int64_t nrows, int64_t col0, float* tile);
// Memory to bring into L2 while a tile runs (the rows of b the next tile will be packed from): the
// bytes [begin, begin + bytes), spread evenly over the kernel's calls so the fetches overlap the FMAs.
struct LanePrefetch {
  const char* begin = nullptr;
  int64_t bytes = 0;
};
// c[i][j] for i < rows (<= 96) of the block and j < cols (<= 64) of the tile. steps_per_pass: chunks of
// one lane run per kernel call (the tile's lane piece, steps x 256 bytes, stays in L1 while the
// block's micro-blocks go by). scratch: kLaneScratchFloats, 64-byte aligned. ahead: see LanePrefetch
// (a prefetch never faults, and changes no result).
void gemm_lanes_tile_avx512(const float* block, int64_t rows, const float* tile, int64_t cols, int64_t chunks,
                            int64_t steps_per_pass, float* scratch, float* c, int64_t ldc, LanePrefetch ahead = {});
}  // namespace detail

}  // namespace quantscope
