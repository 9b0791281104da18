#include "kernels/gemm.h"

#include <algorithm>
#include <cstring>

#include <unistd.h>

#include "core/parallel.h"
#include "kernels/dot.h"
#include "kernels/gemm_lanes.h"
#include "kernels/isa.h"
#include "kernels/packed_matrix.h"

namespace quantscope {

namespace {
constexpr int64_t kTileRows = 96;  // rows of a per parallel work item (16 AVX-512 blocks of 6)
// From this many rows of a, AVX-512 runs the lane-major kernels (gemm_lanes.h). bench_gemm, bf16, 2
// threads, Intel Xeon: m = 32 x 1536 x 1536 lane-major 211 vs dot form 218-227 GFLOP/s, m = 48 x 6144
// x 1536 242-271 vs 239-249, m = 64 289 vs 263-271 (packing a and transposing b's tiles pay off).
constexpr int64_t kLaneMinRows = 48;

// A cache size as the OS reported it, or `fallback` when that is not plausible (0: not reported).
int64_t plausible(int64_t v, int64_t lo, int64_t hi, int64_t fallback) { return v >= lo && v <= hi ? v : fallback; }

// Rows of b per cache panel for reduction length k: a multiple of 16 (so of kGemmGroupRows) whose
// packed panel (rows x k floats) stays in L2 while the rows of a stream past it.
int64_t gemm_panel_rows(int64_t k) {
  const int64_t rows = gemm_blocking().panel_bytes / (4 * std::max<int64_t>(k, 1));
  return std::clamp<int64_t>(rows / 16 * 16, 16, 256);
}

int64_t chunks_of(int64_t k) { return (k + kGemmChunk - 1) / kGemmChunk; }

// Offset of (row j, chunk c) in a packed panel of `chunks` chunks per row.
int64_t packed_offset(int64_t j, int64_t c, int64_t chunks) {
  return ((j / kGemmGroupRows * chunks + c) * kGemmGroupRows + j % kGemmGroupRows) * kGemmChunk;
}

// The scalar ISA: each row unpacked, then dot_f32_scalar.
void gemm_packed_f32_scalar(const float* a, int64_t lda, int64_t m, const float* panel, int64_t n, int64_t k, float* c,
                            int64_t ldc) {
  const int64_t chunks = chunks_of(k);
  std::vector<float> row(size_t(chunks * kGemmChunk));
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t q = 0; q < chunks; ++q)
      std::memcpy(row.data() + q * kGemmChunk, panel + packed_offset(j, q, chunks), kGemmChunk * sizeof(float));
    for (int64_t i = 0; i < m; ++i) c[i * ldc + j] = dot_f32_scalar(a + i * lda, row.data(), k);
  }
}
}  // namespace

GemmBlocking gemm_blocking_for(int64_t reported_l1d, int64_t reported_l2) {
  const int64_t l1d = plausible(reported_l1d, 16 << 10, 256 << 10, 32 << 10);
  const int64_t l2 = plausible(reported_l2, 256 << 10, 8 << 20, 1 << 20);
  // Measured on an Intel Xeon (48 KiB L1d, 2 MiB L2) with bench_gemm, bf16, 2 threads, 512 x
  // 1536/6144 x 1536/6144: AVX-512, 768 KiB panels and 64-chunk passes 4-11% faster than 384 / 32,
  // which remain the figures for Zen 4's 32 KiB / 1 MiB; longer passes (96, 128) lose 15% (a leaves
  // L1). AVX2 forced: 768 / 64 3-16% faster than 384 / 32; 128-chunk passes no better.
  const auto passes = [&](int64_t rows_of_a, int64_t share_of_l1d) {
    const int64_t bytes_per_chunk = rows_of_a * kGemmChunk * 4;  // one chunk of each row of a
    return std::clamp<int64_t>(l1d / share_of_l1d / bytes_per_chunk / 16 * 16, 16, 128);
  };
  GemmBlocking b;
  b.panel_bytes = std::clamp<int64_t>(l2 / 8 * 3, 128 << 10, 3 << 20);
  // The lane-major kernel's piece of a b tile (256 bytes per chunk) in half of L1d: 32 KiB -> 64, 48 KiB -> 96.
  b.lane_steps_per_pass = std::clamp<int64_t>(l1d / 2 / (kLaneTileCols * 4) / 16 * 16, 16, 128);
  b.chunks_per_pass_avx512 = passes(6, 2);
  b.chunks_per_pass_avx2 = passes(3, 4);
  return b;
}

const GemmBlocking& gemm_blocking() {
  static const GemmBlocking blocking =
      gemm_blocking_for(sysconf(_SC_LEVEL1_DCACHE_SIZE), sysconf(_SC_LEVEL2_CACHE_SIZE));
  return blocking;
}

void GemmPackedPanel::reset(int64_t rows, int64_t k) {
  rows_ = rows, k_ = k;
  const int64_t groups = (rows + kGemmGroupRows - 1) / kGemmGroupRows;
  const size_t need = size_t(groups * chunks_of(k) * kGemmGroupRows * kGemmChunk) + kGemmChunk;
  if (storage_.size() < need) storage_.resize(need);
  const uintptr_t p = reinterpret_cast<uintptr_t>(storage_.data());
  data_ = storage_.data() + (64 - p % 64) % 64 / sizeof(float);
}

void GemmPackedPanel::set_row(int64_t j, const float* row) {
  const int64_t chunks = chunks_of(k_), full = k_ / kGemmChunk;
  for (int64_t q = 0; q < full; ++q)
    std::memcpy(data_ + packed_offset(j, q, chunks), row + q * kGemmChunk, kGemmChunk * sizeof(float));
  if (full < chunks) {
    float* dst = data_ + packed_offset(j, full, chunks);
    const int64_t tail = k_ - full * kGemmChunk;
    std::memcpy(dst, row + full * kGemmChunk, size_t(tail) * sizeof(float));
    std::fill(dst + tail, dst + kGemmChunk, 0.0f);
  }
}

void gemm_nt_f32_packed(const float* a, int64_t lda, int64_t m, const GemmPackedPanel& panel, float* c, int64_t ldc) {
  const int64_t n = panel.rows(), k = panel.k();
  if (m <= 0 || n <= 0) return;
  switch (active_isa()) {
    case Isa::Avx512:
      return detail::gemm_packed_f32_avx512(a, lda, m, panel.data(), n, k, c, ldc,
                                            gemm_blocking().chunks_per_pass_avx512);
    case Isa::Avx2:
      return detail::gemm_packed_f32_avx2(a, lda, m, panel.data(), n, k, c, ldc, gemm_blocking().chunks_per_pass_avx2);
    default: return gemm_packed_f32_scalar(a, lda, m, panel.data(), n, k, c, ldc);
  }
}

namespace {
// A float buffer whose data() is 64-byte aligned; grows, never shrinks.
class AlignedFloats {
 public:
  float* reset(int64_t count) {
    if (storage_.size() < size_t(count) + 16) storage_.resize(size_t(count) + 16);
    const uintptr_t p = reinterpret_cast<uintptr_t>(storage_.data());
    return storage_.data() + (64 - p % 64) % 64 / sizeof(float);
  }

 private:
  std::vector<float> storage_;
};
}  // namespace

void detail::gemm_lanes_f32(const float* a, int64_t lda, int64_t m, int64_t n, int64_t k, const GemmRowSource& b,
                            const float* bias, float* c, int64_t ldc, int64_t steps) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {  // no lanes to run: every element is the reduction of zero sums
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = dot_f32(a, a, 0) + (bias ? bias[j] : 0.0f);
    return;
  }
  const int64_t chunks = chunks_of(k), block_floats = lane_block_floats(chunks);
  const int64_t nblocks = (m + kLaneBlockRows - 1) / kLaneBlockRows;
  const int64_t micros = (m + kLaneMicroRows - 1) / kLaneMicroRows;
  thread_local AlignedFloats packed_a_storage;  // the caller's; read by every worker
  float* const packed_a = packed_a_storage.reset(nblocks * block_floats);
  parallel_for(0, micros, [&](int64_t q) {
    const int64_t i0 = q * kLaneMicroRows;
    detail::gemm_lanes_pack_a_avx512(a + i0 * lda, lda, std::min(kLaneMicroRows, m - i0), k, q % kLaneBlockMicro,
                                     steps, packed_a + q / kLaneBlockMicro * block_floats);
  }, 16 * kLaneMicroRows * chunks);
  const int64_t ntiles = (n + kLaneTileCols - 1) / kLaneTileCols;
  const int64_t cost = 2 * std::min(m, kLaneBlockRows) * kLaneTileCols * k + 4 * kLaneTileCols * k;
  parallel_blocks(ntiles * nblocks, [&](int, int64_t t0, int64_t t1) {
    thread_local AlignedFloats tile_storage, scratch_storage;
    thread_local std::vector<float> loaded;  // up to 16 rows from load_row
    float* const tile = tile_storage.reset(lane_tile_floats(chunks));
    float* const scratch = scratch_storage.reset(kLaneScratchFloats);
    const bool loader = !b.f32 && !b.half && !b.codes;
    if (loader && loaded.size() < size_t(16 * k)) loaded.resize(size_t(16 * k));
    int64_t packed = -1;  // the tile held
    // While the last block of a tile runs, the rows of b of the next tile (when this thread's range
    // goes on to it) are fetched into L2, spread over the kernel's calls: packing then reads them from
    // L2 instead of DRAM, and they stream in while the FMAs run rather than between them. Fetched any
    // earlier, the packed rows of a streaming through L2 in the blocks between evict them again.
    // bench (bf16 synthetic openPangu-1B, -p 512, 2 threads), cycles packing tiles of k = 1536 per
    // cycle running them: 0.121-0.131 -> 0.084-0.101.
    const auto next_tile_rows = [&](int64_t t, int64_t t1) {
      detail::LanePrefetch ahead;
      const int64_t p = t / nblocks + 1;
      if (t % nblocks != nblocks - 1 || p * nblocks >= t1 || loader) return ahead;
      const int64_t j0 = p * kLaneTileCols, rows = std::min(kLaneTileCols, n - j0);
      int64_t row_bytes, stride;
      if (b.codes) {
        ahead.begin = reinterpret_cast<const char*>(b.codes->codes + j0 * b.codes->row_bytes);
        row_bytes = stride = b.codes->row_bytes;
      } else if (b.half) {
        ahead.begin = reinterpret_cast<const char*>(b.half + j0 * b.ld);
        row_bytes = 2 * k, stride = 2 * b.ld;
      } else {
        ahead.begin = reinterpret_cast<const char*>(b.f32 + j0 * b.ld);
        row_bytes = 4 * k, stride = 4 * b.ld;
      }
      // Rows with gaps between them are left to the hardware prefetchers.
      ahead.bytes = stride == row_bytes ? rows * row_bytes : 0;
      return ahead;
    };
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t p = t / nblocks, blk = t % nblocks;
      const int64_t j0 = p * kLaneTileCols, nj = std::min(kLaneTileCols, n - j0);
      const int64_t i0 = blk * kLaneBlockRows, ni = std::min(kLaneBlockRows, m - i0);
      if (packed != p) {
        for (int64_t g = 0; g < kLaneTileCols / 16; ++g) {
          const int64_t nr = std::clamp<int64_t>(nj - 16 * g, 0, 16), jg = j0 + 16 * g;
          if (b.codes) {
            detail::gemm_lanes_pack_codes_avx512(*b.codes, jg, nr, 16 * g, tile);
            continue;
          }
          if (b.half) {
            const uint16_t* rows[16];
            for (int64_t r = 0; r < nr; ++r) rows[r] = b.half + (jg + r) * b.ld;
            detail::gemm_lanes_pack_b16_avx512(rows, b.bf16, nr, k, 16 * g, tile);
            continue;
          }
          const float* rows[16];
          for (int64_t r = 0; r < nr; ++r) {
            if (b.f32) {
              rows[r] = b.f32 + (jg + r) * b.ld;
            } else {
              (*b.load_row)(jg + r, loaded.data() + r * k);
              rows[r] = loaded.data() + r * k;
            }
          }
          detail::gemm_lanes_pack_b_avx512(rows, nr, k, 16 * g, tile);
        }
        packed = p;
      }
      float* cb = c + i0 * ldc + j0;
      detail::gemm_lanes_tile_avx512(packed_a + blk * block_floats, ni, tile, nj, chunks, steps, scratch, cb, ldc,
                                     next_tile_rows(t, t1));
      if (bias)
        for (int64_t i = 0; i < ni; ++i)
          for (int64_t j = 0; j < nj; ++j) cb[i * ldc + j] += bias[j0 + j];
    }
  }, cost);
}

void gemm_nt_f32_rows(const float* a, int64_t lda, int64_t m, int64_t n, int64_t k, const float* b, int64_t ldb,
                      const RowLoader* load_row, const float* bias, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (active_isa() == Isa::Avx512 && k > 0 && m >= kLaneMinRows) {
    detail::GemmRowSource source;
    source.f32 = b, source.ld = ldb, source.load_row = load_row;
    return detail::gemm_lanes_f32(a, lda, m, n, k, source, bias, c, ldc, gemm_blocking().lane_steps_per_pass);
  }
  // Work items: (panel of b rows) x (block of rows of a), panel-major, so that a thread's contiguous
  // range of items walks few panels: it packs each once (producing the rows when b is null) and
  // keeps it in its L2 while the blocks of a go by.
  const int64_t nc = gemm_panel_rows(k), mc = kTileRows;
  const int64_t npanels = (n + nc - 1) / nc, nblocks = (m + mc - 1) / mc;
  const int64_t cost = 2 * std::min(m, mc) * std::min(n, nc) * std::max<int64_t>(k, 1) + 4 * nc * k;
  parallel_blocks(npanels * nblocks, [&](int, int64_t t0, int64_t t1) {
    thread_local GemmPackedPanel panel;
    thread_local std::vector<float> row;
    int64_t packed = -1;  // the panel held
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t p = t / nblocks, i0 = t % nblocks * mc;
      const int64_t j0 = p * nc, nj = std::min(nc, n - j0), ni = std::min(mc, m - i0);
      if (packed != p) {
        panel.reset(nj, k);
        if (!b && row.size() < size_t(k)) row.resize(size_t(k));
        for (int64_t j = 0; j < nj; ++j) {
          if (b) {
            panel.set_row(j, b + (j0 + j) * ldb);
          } else {
            (*load_row)(j0 + j, row.data());
            panel.set_row(j, row.data());
          }
        }
        packed = p;
      }
      float* cb = c + i0 * ldc + j0;
      gemm_nt_f32_packed(a + i0 * lda, lda, ni, panel, cb, ldc);
      if (bias)
        for (int64_t i = 0; i < ni; ++i)
          for (int64_t j = 0; j < nj; ++j) cb[i * ldc + j] += bias[j0 + j];
    }
  }, cost);
}

void gemm_nt_f32_rows16(const float* a, int64_t lda, int64_t m, int64_t n, int64_t k, const uint16_t* b, int64_t ldb,
                        bool bf16, const float* bias, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (active_isa() == Isa::Avx512 && k > 0 && m >= kLaneMinRows) {
    detail::GemmRowSource source;
    source.half = b, source.bf16 = bf16, source.ld = ldb;
    return detail::gemm_lanes_f32(a, lda, m, n, k, source, bias, c, ldc, gemm_blocking().lane_steps_per_pass);
  }
  const RowLoader load = [&](int64_t j, float* out) {
    if (bf16)
      bf16_to_f32_row(b + j * ldb, out, k);
    else
      f16_to_f32_row(b + j * ldb, out, k);
  };
  gemm_nt_f32_rows(a, lda, m, n, k, nullptr, ldb, &load, bias, c, ldc);
}

void gemm_nt_f32_codes(const float* a, int64_t lda, int64_t m, const PackedCodesMatrix& w, const float* bias, float* c,
                       int64_t ldc) {
  const int64_t n = w.rows, k = w.cols;
  if (m <= 0 || n <= 0) return;
  const bool chunks_in_one_group = w.groups == 1 || w.group_size % kGemmChunk == 0;
  if (active_isa() == Isa::Avx512 && k > 0 && m >= kLaneMinRows && chunks_in_one_group) {
    detail::GemmRowSource source;
    source.codes = &w;
    return detail::gemm_lanes_f32(a, lda, m, n, k, source, bias, c, ldc, gemm_blocking().lane_steps_per_pass);
  }
  const RowLoader load = [&](int64_t j, float* out) { packed_dequantize_row(w, j, out); };
  gemm_nt_f32_rows(a, lda, m, n, k, nullptr, k, &load, bias, c, ldc);
}

void gemm_nt_f32(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t m, int64_t n, int64_t k, float* c,
                 int64_t ldc) {
  gemm_nt_f32_rows(a, lda, m, n, k, b, ldb, nullptr, nullptr, c, ldc);
}

}  // namespace quantscope
