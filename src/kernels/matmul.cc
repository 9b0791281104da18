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
  gemm_nt_f32_rows(x, k, m, n, k, f32_rows, k, f32_rows ? nullptr : &load_row, bias, y, n);
}

void matmul(const float* x, int64_t m, const DenseMatrix& w, const float* bias, float* y) {
  if (w.dtype != DType::F32 && w.dtype != DType::F16 && w.dtype != DType::BF16)
    fail_internal("matmul: unsupported weight dtype {}", dtype_name(w.dtype));  // not from a worker thread
  if (m >= 1 && m <= kGemvMaxRows) return gemv_dense(x, m, w, bias, y);
  if (w.dtype == DType::F32)
    return gemm_nt_f32_rows(x, w.cols, m, w.rows, w.cols, static_cast<const float*>(w.data), w.cols, nullptr, bias, y,
                            w.rows);
  gemm_nt_f32_rows16(x, w.cols, m, w.rows, w.cols, static_cast<const uint16_t*>(w.data), w.cols,
                     w.dtype == DType::BF16, bias, y, w.rows);
}

void matmul_packed(const float* x, int64_t m, const PackedCodesMatrix& w, const float* bias, float* y) {
  check_packed_matrix(w);  // here, not in a worker thread
  if (m >= 1 && m <= kGemvMaxRows && gemv_packed_supported(w)) return gemv_packed(x, m, w, bias, y);
  gemm_nt_f32_codes(x, w.cols, m, w, bias, y, w.rows);
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
