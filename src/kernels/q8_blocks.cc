#include "kernels/q8_blocks.h"

#include <cpuid.h>

#include <algorithm>
#include <cmath>
#include <string_view>

#include "core/dtype.h"
#include "core/error.h"
#include "core/parallel.h"
#include "kernels/isa.h"

namespace quantscope {
namespace {

// Byte offset of code (r, c) of a tile-block (r < 16, c < 32) and its nibble (0 low, 4 high).
void code_position(bool nibbles, int64_t r, int64_t c, int64_t* byte, int* shift) {
  if (nibbles) {
    const int64_t p = c / 8, within = c % 8;  // vector p covers columns 8p..8p+7
    *byte = p * 64 + r * 4 + within % 4;
    *shift = within < 4 ? 0 : 4;
  } else {
    *byte = (c / 4) * 64 + r * 4 + c % 4;
    *shift = 0;
  }
}

int64_t tile_block_index(const Q8TiledWeights& w, int64_t t, int64_t b) { return t * w.blocks + b; }

}  // namespace

Q8TiledWeights pack_q8_weights(const PackedCodesMatrix& w, const float* scales) {
  check_packed_matrix(w);
  if (w.group_size != kQ8Block && !(w.groups == 1 && w.cols <= kQ8Block))
    fail_internal("q8 blocks: weight groups of {} columns (need {})", w.group_size, kQ8Block);
  Q8TiledWeights t;
  t.bits = w.bits, t.rows = w.rows, t.cols = w.cols;
  t.blocks = (w.cols + kQ8Block - 1) / kQ8Block;
  t.row_tiles = (w.rows + kQ8TileRows - 1) / kQ8TileRows;
  t.nibbles = w.bits <= 4;
  const int64_t tb = t.row_tiles * t.blocks;
  const int64_t np = (w.per_tensor ? 1 : w.rows) * w.groups;
  bool f16 = true, one_zero = true;
  for (int64_t i = 0; i < np; ++i) {
    f16 = f16 && f16_to_f32(f32_to_f16(scales[i])) == scales[i];
    const float z = w.zeros ? w.zeros[i] : w.zero;
    if (z != std::floor(z) || std::fabs(z) > 255)
      fail_internal("q8 blocks: zero point {} (parameter {}) is not a small integer", z, i);
    one_zero = one_zero && z == (w.zeros ? w.zeros[0] : w.zero);
  }
  t.codes.assign(size_t(tb * t.block_bytes()), 0);
  if (f16) t.scales_f16.assign(size_t(tb * kQ8TileRows), 0);
  else t.scales_f32.assign(size_t(tb * kQ8TileRows), 0.0f);
  if (one_zero) t.zero = int32_t(w.zeros ? w.zeros[0] : w.zero);
  else t.zeros.assign(size_t(tb * kQ8TileRows), 0);
  // One row tile per work item: a tile's codes, scales and zero points come from its own rows only, so
  // the tiles fill in parallel (a 1B model's Q4_0 matrices took seconds on one thread at load).
  parallel_for(
      0, t.row_tiles,
      [&](int64_t tile) {
        const int64_t j_end = std::min(w.rows, (tile + 1) * kQ8TileRows);
        for (int64_t j = tile * kQ8TileRows; j < j_end; ++j) {
          const int64_t r = j - tile * kQ8TileRows;
          for (int64_t b = 0; b < t.blocks; ++b) {
            const int64_t g = std::min(b, w.groups - 1);
            const int64_t idx = tile_block_index(t, tile, b);
            const size_t at = size_t(idx * kQ8TileRows + r);
            if (f16) t.scales_f16[at] = f32_to_f16(scales[w.param_index(j, g)]);
            else t.scales_f32[at] = scales[w.param_index(j, g)];
            if (!one_zero) t.zeros[at] = int16_t(w.group_zero(j, g));
            uint8_t* dst = t.codes.data() + idx * t.block_bytes();
            for (int64_t c = 0; c < kQ8Block && b * kQ8Block + c < w.cols; ++c) {
              int64_t byte;
              int shift;
              code_position(t.nibbles, r, c, &byte, &shift);
              dst[byte] = uint8_t(dst[byte] | (packed_code(w, j, b * kQ8Block + c) << shift));
            }
          }
        }
      },
      kQ8TileRows * w.cols * 8);
  return t;
}

float Q8TiledWeights::scale(int64_t i) const {
  return scales_f16.empty() ? scales_f32[size_t(i)] : f16_to_f32(scales_f16[size_t(i)]);
}

void gemm_q8_blocks_scalar(const Q8Rows& x, const Q8TiledWeights& w, const float* bias, float* y) {
  const int64_t kp = w.blocks * kQ8Block;
  for (int64_t i = 0; i < x.m; ++i)
    for (int64_t j = 0; j < w.rows; ++j) {
      const int64_t tile = j / kQ8TileRows, r = j % kQ8TileRows;
      float sum = 0.0f;
      for (int64_t b = 0; b < w.blocks; ++b) {
        const int64_t idx = tile_block_index(w, tile, b);
        const uint8_t* codes = w.codes.data() + idx * w.block_bytes();
        int32_t isum = 0;
        for (int64_t c = 0; c < kQ8Block; ++c) {
          int64_t byte;
          int shift;
          code_position(w.nibbles, r, c, &byte, &shift);
          const int32_t code = (codes[byte] >> shift) & (w.nibbles ? 0x0F : 0xFF);
          isum += code * int32_t(x.q[i * kp + b * kQ8Block + c]);
        }
        isum -= w.zero_point(idx * kQ8TileRows + r) * x.qsum[i * w.blocks + b];
        const float ds = x.d[i * w.blocks + b] * w.scale(idx * kQ8TileRows + r);
        const float prod = float(isum) * ds;
        sum = sum + prod;
      }
      y[i * w.rows + j] = bias ? sum + bias[j] : sum;
    }
}

// CPUID leaf 7, ECX bit 11 (AVX512_VNNI), read directly: clang 14 (the fuzz build) lacks the name for
// __builtin_cpu_supports.
static bool cpu_has_avx512_vnni() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid_count(7, 0, &a, &b, &c, &d) && ((c >> 11) & 1u) != 0;
}

bool q8_blocks_use_vnni() {
  static const bool has_vnni = cpu_has_avx512_vnni();
  return active_isa() == Isa::Avx512 && has_vnni;
}

const char* q8_blocks_kernel(const Q8TiledWeights& w) {
  if (q8_blocks_use_vnni()) return "vnni";
  if (w.nibbles && (active_isa() == Isa::Avx2 || active_isa() == Isa::Avx512)) return "avx2";
  return "scalar";
}

void gemm_q8_blocks(const Q8Rows& x, const Q8TiledWeights& w, const float* bias, float* y) {
  const std::string_view kernel = q8_blocks_kernel(w);
  if (kernel == "scalar") return gemm_q8_blocks_scalar(x, w, bias, y);
  const auto run = kernel == "vnni" ? detail::gemm_q8_blocks_vnni : detail::gemm_q8_blocks_avx2;
  // One row tile is the unit of work: 16 x cols codes, read once and used for every activation row.
  // Ranges of tiles are handed out guided, not split evenly: on the AMD EPYC VM of performance.md one
  // virtual CPU ran the same tiles 5-30% slower than the other, and an even split kept the faster one
  // waiting at every matmul's join. The 183 Q4_0 matrices of a decode step in a row (650 MB, 2
  // threads, variants alternated in one process, a scratch program): even split 16.6-22.0 ms, guided
  // with each range's first lines prefetched (q8_blocks_vnni.cc) 16.3-19.7 ms; at 8 bits (1.24 GB)
  // 28.4-32.3 -> 27.0-30.7 ms.
  parallel_ranges_guided(w.row_tiles, std::max<int64_t>(1, w.row_tiles / 64),
                         [&](int64_t t0, int64_t t1) { run(x, w, bias, t0, t1, y); }, x.m * kQ8TileRows * w.cols);
}

}  // namespace quantscope
