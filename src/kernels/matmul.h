// Dense matrix products for the fp32 forward pass. Weights are [n, k] row-major (HF [out, in]),
// stored as f32, f16 or bf16 and widened exactly to fp32 on the fly (never copied whole).
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "kernels/gemm.h"
#include "kernels/packed_matrix.h"

namespace quantscope {

struct DenseMatrix {
  DType dtype = DType::F32;
  int64_t rows = 0;  // n: output features
  int64_t cols = 0;  // k: input features
  const void* data = nullptr;
};

// y[i, j] = dot_f32(x[i, :], W[j, :]) (+ bias[j]) for i < m, j < n.
// Every y[i, j] is computed by one thread with the fixed reduction order of dot.h, so the result
// is bit-identical for any thread count and any m (batch) split. Few rows (decode) go to the
// register-decoding GEMV (gemv.h), more to the panel GEMM: the same bits either way.
void matmul(const float* x, int64_t m, const DenseMatrix& w, const float* bias, float* y);

// The same over packed integer codes (packed_matrix.h): y[i, j] = dot_f32(x[i], dequantized row j).
// Decode dequantizes in registers; prefill dequantizes one L2 panel of rows at a time per thread.
void matmul_packed(const float* x, int64_t m, const PackedCodesMatrix& w, const float* bias, float* y);

// The same for any weight whose row j (k floats) load_row can produce (dequantized integer codes,
// widened f16/bf16): rows are produced one L2 panel at a time per thread, so a matrix is never held
// whole in fp32; f32_rows (non-null) skips the loader for weights already fp32 [n, k]. y [m, n].
void matmul_rows(const float* x, int64_t m, int64_t n, int64_t k, const float* f32_rows, const RowLoader& load_row,
                 const float* bias, float* y);

// Scalar reference: the same arithmetic, one element at a time (tests).
void matmul_reference(const float* x, int64_t m, const DenseMatrix& w, const float* bias, float* y);

// Widens row j of w to fp32 (k floats).
void load_matrix_row(const DenseMatrix& w, int64_t j, float* out);

}  // namespace quantscope
