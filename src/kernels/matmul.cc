#include "kernels/matmul.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/dot.h"
#include "kernels/gemm.h"
#include "kernels/gemv.h"

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

void matmul_rows(const float* x, int64_t m, int64_t n, int64_t k, const float* f32_rows, const RowLoader& load_row,
                 const float* bias, float* y) {
  if (m <= 0 || n <= 0) return;
  // Work items: (panel of output features) x (block of input rows), panel-major. A panel of W
  // (produced by load_row once per thread, into a per-thread scratch buffer, unless the rows are fp32
  // already) stays in L2 while the register-blocked GEMM streams the rows of x past it; every y[i, j]
  // is one dot_f32.
  const int64_t nc = gemm_panel_rows(k), mc = 64;
  const int64_t npanels = (n + nc - 1) / nc, nblocks = (m + mc - 1) / mc;
  const bool widen = f32_rows == nullptr;
  const int64_t cost = 2 * std::min(m, mc) * std::min(n, nc) * std::max<int64_t>(k, 1) + (widen ? 4 * nc * k : 0);
  parallel_blocks(npanels * nblocks, [&](int, int64_t t0, int64_t t1) {
    thread_local std::vector<float> scratch;
    int64_t widened = -1;  // panel held in scratch
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t p = t / nblocks, i0 = t % nblocks * mc;
      const int64_t j0 = p * nc, nj = std::min(nc, n - j0), ni = std::min(mc, m - i0);
      const float* wrows;
      if (!widen) {
        wrows = f32_rows + j0 * k;
      } else {
        if (widened != p) {
          if (scratch.size() < size_t(nj * k)) scratch.resize(size_t(nj * k));
          for (int64_t j = 0; j < nj; ++j) load_row(j0 + j, scratch.data() + j * k);
          widened = p;
        }
        wrows = scratch.data();
      }
      float* yb = y + i0 * n + j0;
      gemm_nt_f32_serial(x + i0 * k, k, wrows, k, ni, nj, k, yb, n);
      if (bias)
        for (int64_t i = 0; i < ni; ++i)
          for (int64_t j = 0; j < nj; ++j) yb[i * n + j] += bias[j0 + j];
    }
  }, cost);
}

void matmul(const float* x, int64_t m, const DenseMatrix& w, const float* bias, float* y) {
  if (w.dtype != DType::F32 && w.dtype != DType::F16 && w.dtype != DType::BF16)
    fail_internal("matmul: unsupported weight dtype {}", dtype_name(w.dtype));  // not from a worker thread
  if (m >= 1 && m <= kGemvMaxRows) return gemv_dense(x, m, w, bias, y);
  const float* f32 = w.dtype == DType::F32 ? static_cast<const float*>(w.data) : nullptr;
  matmul_rows(x, m, w.rows, w.cols, f32, [&](int64_t j, float* out) { load_matrix_row(w, j, out); }, bias, y);
}

void matmul_packed(const float* x, int64_t m, const PackedCodesMatrix& w, const float* bias, float* y) {
  check_packed_matrix(w);  // here, not in a worker thread
  if (m >= 1 && m <= kGemvMaxRows && gemv_packed_supported(w)) return gemv_packed(x, m, w, bias, y);
  matmul_rows(x, m, w.rows, w.cols, nullptr, [&](int64_t j, float* out) { packed_dequantize_row(w, j, out); }, bias, y);
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
