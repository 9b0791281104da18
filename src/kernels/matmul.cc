#include "kernels/matmul.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/dot.h"

namespace quantscope {

void load_matrix_row(const DenseMatrix& w, int64_t j, float* out) {
  const int64_t k = w.cols;
  switch (w.dtype) {
    case DType::F32: std::copy_n(static_cast<const float*>(w.data) + j * k, k, out); return;
    case DType::BF16: bf16_to_f32_row(static_cast<const uint16_t*>(w.data) + j * k, out, k); return;
    case DType::F16: f16_to_f32_row(static_cast<const uint16_t*>(w.data) + j * k, out, k); return;
    default: fail_internal("matmul: unsupported weight dtype {}", dtype_name(w.dtype));
  }
}

void matmul(const float* x, int64_t m, const DenseMatrix& w, const float* bias, float* y) {
  const int64_t n = w.rows, k = w.cols;
  // Tiles of output features: a tile of W (widened to fp32 once) is reused for all m inputs.
  constexpr int64_t kTile = 16;
  const int64_t ntiles = (n + kTile - 1) / kTile;
  parallel_blocks(ntiles, [&](int, int64_t t0, int64_t t1) {
    std::vector<float> tile;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t j0 = t * kTile, j1 = std::min(n, j0 + kTile);
      const float* wrows;
      if (w.dtype == DType::F32) {
        wrows = static_cast<const float*>(w.data) + j0 * k;
      } else {
        tile.resize(size_t((j1 - j0) * k));
        for (int64_t j = j0; j < j1; ++j) load_matrix_row(w, j, tile.data() + (j - j0) * k);
        wrows = tile.data();
      }
      for (int64_t i = 0; i < m; ++i) {
        float* yi = y + i * n;
        dot_rows_f32(x + i * k, wrows, k, j1 - j0, k, yi + j0);
        if (bias)
          for (int64_t j = j0; j < j1; ++j) yi[j] += bias[j];
      }
    }
  }, 2 * kTile * k * m);
}

void matmul_reference(const float* x, int64_t m, const DenseMatrix& w, const float* bias, float* y) {
  const int64_t n = w.rows, k = w.cols;
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t c = 0; c < k; ++c) {
      switch (w.dtype) {
        case DType::F32: row[size_t(c)] = static_cast<const float*>(w.data)[j * k + c]; break;
        case DType::BF16: row[size_t(c)] = bf16_to_f32(static_cast<const uint16_t*>(w.data)[j * k + c]); break;
        case DType::F16: row[size_t(c)] = f16_to_f32(static_cast<const uint16_t*>(w.data)[j * k + c]); break;
        default: fail_internal("matmul_reference: unsupported dtype");
      }
    }
    for (int64_t i = 0; i < m; ++i) {
      float v = dot_f32_scalar(x + i * k, row.data(), k);
      if (bias) v += bias[j];
      y[i * n + j] = v;
    }
  }
}

}  // namespace quantscope
