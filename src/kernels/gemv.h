// Matrix products for a few input rows (decode: m = 1 .. kGemvMaxRows), with the weights decoded in
// registers: bf16/f16 rows widened and integer codes dequantized chunk by chunk, each decoded chunk
// shared by the m input rows, nothing written to memory but y. Decode streams the weights once per
// token, so this is the memory-bound path; matmul() uses it for small m.
//
// Each y[i, j] has exactly the arithmetic of dot_f32(x[i], row_j) (dot.h), row_j being the fp32 row
// (widened, or dequantized as (code - zero) * scale): bit-identical to matmul()'s GEMM path, to the
// scalar reference, on every ISA and for any thread count (each output row computed whole by one thread; core/parallel.h).
#pragma once

#include <cstdint>

#include "kernels/matmul.h"
#include "kernels/packed_matrix.h"

namespace quantscope {

constexpr int64_t kGemvMaxRows = 4;

// y[m, n] = x[m, k] W^T (+ bias), m <= kGemvMaxRows; W dense f32/f16/bf16.
void gemv_dense(const float* x, int64_t m, const DenseMatrix& w, const float* bias, float* y);
// The same for packed integer codes. Needs gemv_packed_supported(w).
void gemv_packed(const float* x, int64_t m, const PackedCodesMatrix& w, const float* bias, float* y);
// The register kernels need every group boundary on a multiple of 16 columns (or one group per row).
bool gemv_packed_supported(const PackedCodesMatrix& w);

namespace detail {
// Rows [j0, j1) of y [m, w.rows], 1 <= m <= kGemvMaxRows, no bias; one ISA each (called only when the
// CPU has it).
void gemv_dense_avx512(const float* x, int64_t m, const DenseMatrix& w, int64_t j0, int64_t j1, float* y);
void gemv_dense_avx2(const float* x, int64_t m, const DenseMatrix& w, int64_t j0, int64_t j1, float* y);
// At 4 bits the AVX-512 kernel reads x permuted: within each chunk of 16 columns, lane l holds column
// kPacked4LaneCode[l] of the chunk, and each row is padded with zeros to a multiple of 16 columns
// (gemv_avx512.cc says why). Other widths read x as given.
inline constexpr int kPacked4LaneCode[16] = {0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15};
void gemv_packed_avx512(const float* x, int64_t m, const PackedCodesMatrix& w, int64_t j0, int64_t j1, float* y);
void gemv_packed_avx2(const float* x, int64_t m, const PackedCodesMatrix& w, int64_t j0, int64_t j1, float* y);
// Row j of w dequantized (gemv_packed_supported(w) required).
void packed_dequantize_row_avx512(const PackedCodesMatrix& w, int64_t j, float* out);
void packed_dequantize_row_avx2(const PackedCodesMatrix& w, int64_t j, float* out);
}  // namespace detail

}  // namespace quantscope
