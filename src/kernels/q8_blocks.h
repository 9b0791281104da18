// Matrix products the way llama.cpp's CPU backend computes a quantized matmul: activations quantized
// to 8 bits per block of 32 columns (kernels/q8_activations.h; targets/target_linear.cc calls both for
// the llamacpp-cpu target), weights as integer codes with one scale and zero point per row and block,
// an exact integer dot per block, scaled and summed in fp32:
//
//   isum(i, j, b) = sum over c in block b of code[j][c] * q[i][c]  -  zero[j][b] * qsum[i][b]   (int32, exact)
//   y[i, j]       = sum over b = 0, 1, ... in order of  float(isum) * (d[i][b] * scale[j][b])
//                   (each product rounded to fp32, then added: never fused), then + bias[j]
//
// That is the definition; the scalar reference below is it written out, and the AVX-512 VNNI kernel
// (16 output rows per register, one lane per row, so every lane keeps the block order) gives the same
// bits, as does the AVX2 kernel for codes of up to 4 bits (8 rows per register, vpmaddubsw). Other
// cases (5-8-bit codes without VNNI, CPUs without AVX2) run the scalar reference: correct, slower. Work is split over row tiles, so
// results do not depend on the thread count.
//
// Weights are repacked once (pack_q8_weights) into tiles of 16 rows: for each tile and block, the
// codes of 16 rows x 4 consecutive columns fill one 64-byte vector (row r's 4 codes at bytes 4r..4r+3),
// the operand layout of vpdpbusd (u8 x s8 quads summed into one int32 lane). Codes of up to 4 bits are
// stored two to a byte: the low nibbles hold columns 8p..8p+3 and the high nibbles 8p+4..8p+7, so a
// 4-bit matrix streams 0.5 bytes per weight, as packed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/large_pages.h"
#include "kernels/packed_matrix.h"

namespace quantscope {

constexpr int64_t kQ8Block = 32;     // columns per activation block (and per weight group)
constexpr int64_t kQ8TileRows = 16;  // output rows per tile (one AVX-512 register of int32 lanes)

struct Q8TiledWeights {
  int bits = 0;
  int64_t rows = 0, cols = 0;
  int64_t blocks = 0;     // ceil(cols / 32)
  int64_t row_tiles = 0;  // ceil(rows / 16); padded rows have code 0, scale 0, zero 0
  bool nibbles = false;   // bits <= 4: two codes per byte
  LargeVector<uint8_t> codes;   // streamed per token (core/large_pages.h); [row_tiles][blocks][vectors per block: 4 (nibbles) or 8][64]
  // Scales [row_tiles][blocks][16]: as fp16 when every one is exactly an fp16 value (GGUF's, and every
  // target that holds scales in fp16), else fp32; exactly one of the two is filled.
  std::vector<uint16_t> scales_f16;
  std::vector<float> scales_f32;
  // Zero points [row_tiles][blocks][16] as int16, or none when every row and block has the same one
  // (symmetric codes: GGUF Q8_0 / Q4_0), which is then `zero`. Decode streams codes, scales and zero
  // points per token: this keeps a Q4_0 matrix at 0.5625 bytes per weight, as llama.cpp's.
  std::vector<int16_t> zeros;
  int32_t zero = 0;
  int64_t block_bytes() const { return nibbles ? 4 * 64 : 8 * 64; }
  uint64_t bytes() const { return codes.size() + 2 * scales_f16.size() + 4 * scales_f32.size() + 2 * zeros.size(); }
  float scale(int64_t i) const;  // i = (tile * blocks + block) * 16 + row in tile
  int32_t zero_point(int64_t i) const { return zeros.empty() ? zero : zeros[std::size_t(i)]; }
};

// Repacks `w` (groups of exactly 32 columns, or one group when cols <= 32; integer zero points) with
// `scales` in place of w's (the caller's rounding, e.g. to the target's scale dtype; same shape as
// w.scales: [per_tensor ? 1 : rows, groups]). fail_internal on anything else.
Q8TiledWeights pack_q8_weights(const PackedCodesMatrix& w, const float* scales);

// Quantized activations of m rows, as the kernel reads them: q zero-padded to blocks x 32 columns.
struct Q8Rows {
  const int8_t* q = nullptr;     // [m, blocks * 32]
  const float* d = nullptr;      // [m, blocks]
  const int32_t* qsum = nullptr; // [m, blocks]
  int64_t m = 0;
};

// y [m, w.rows] as defined above (bias may be null).
void gemm_q8_blocks(const Q8Rows& x, const Q8TiledWeights& w, const float* bias, float* y);
// The scalar reference of the same (tests; CPUs without AVX-512 VNNI).
void gemm_q8_blocks_scalar(const Q8Rows& x, const Q8TiledWeights& w, const float* bias, float* y);
// True where gemm_q8_blocks runs the VNNI kernel (AVX-512 active and the CPU has VNNI).
bool q8_blocks_use_vnni();
// The kernel gemm_q8_blocks runs for `w` here: "vnni", "avx2" or "scalar".
const char* q8_blocks_kernel(const Q8TiledWeights& w);

namespace detail {
// Row tiles [t0, t1) of y; every activation row.
void gemm_q8_blocks_vnni(const Q8Rows& x, const Q8TiledWeights& w, const float* bias, int64_t t0, int64_t t1, float* y);
void gemm_q8_blocks_avx2(const Q8Rows& x, const Q8TiledWeights& w, const float* bias, int64_t t0, int64_t t1, float* y);
}  // namespace detail

}  // namespace quantscope
