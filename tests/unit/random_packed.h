// A random packed-code matrix for kernel tests (test_gemv.cc, test_q8_blocks.cc).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "kernels/packed_matrix.h"

namespace quantscope::test {

// A packed matrix with random codes and params, owning its arrays (+1 element of offset each, so no
// array is 64-byte aligned, and nothing after the last row: reads past it would be caught by ASan).
struct RandomPacked {
  std::vector<uint8_t> codes_buf;
  std::vector<float> scales_buf, zeros_buf;
  std::vector<uint32_t> codes;  // unpacked, [rows, cols], for the reference
  PackedCodesMatrix w;

  RandomPacked(int bits, int64_t rows, int64_t cols, int64_t group_size, bool per_tensor, bool symmetric,
               uint64_t seed) {
    std::mt19937_64 rng(seed);
    w.bits = bits;
    w.rows = rows;
    w.cols = cols;
    w.group_size = group_size;
    w.groups = (cols + group_size - 1) / group_size;
    w.per_tensor = per_tensor;
    w.row_bytes = (cols * bits + 7) / 8;
    codes_buf.assign(size_t(1 + rows * w.row_bytes), 0);
    codes.resize(size_t(rows * cols));
    uint8_t* base = codes_buf.data() + 1;
    for (int64_t j = 0; j < rows; ++j)
      for (int64_t c = 0; c < cols; ++c) {
        const uint32_t code = uint32_t(rng() % (1u << bits));
        codes[size_t(j * cols + c)] = code;
        const int64_t bit = c * bits;
        const uint32_t shifted = code << (bit % 8);
        base[j * w.row_bytes + bit / 8] |= uint8_t(shifted & 0xff);
        if (bit % 8 + bits > 8) base[j * w.row_bytes + bit / 8 + 1] |= uint8_t(shifted >> 8);
      }
    const int64_t np = (per_tensor ? 1 : rows) * w.groups;
    std::uniform_real_distribution<float> sd(1e-3f, 0.1f);
    scales_buf.resize(size_t(np + 1));
    for (auto& s : scales_buf) s = sd(rng);
    if (!symmetric) {
      zeros_buf.resize(size_t(np + 1));
      for (auto& z : zeros_buf) z = float(rng() % (1u << bits));
    }
    w.codes = base;
    w.scales = scales_buf.data() + 1;
    w.zeros = symmetric ? nullptr : zeros_buf.data() + 1;
    w.zero = symmetric ? float(1 << (bits - 1)) : 0.0f;
  }

  // The formula of packed_matrix.h, independently of the library's decoders.
  std::vector<float> reference_row(int64_t j) const {
    std::vector<float> row(size_t(w.cols));
    for (int64_t c = 0; c < w.cols; ++c) {
      const int64_t g = c / w.group_size, pi = (w.per_tensor ? 0 : j) * w.groups + g;
      const float zero = w.zeros ? w.zeros[pi] : w.zero;
      row[size_t(c)] = (float(codes[size_t(j * w.cols + c)]) - zero) * w.scales[pi];
    }
    return row;
  }
};

}  // namespace quantscope::test
