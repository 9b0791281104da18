// fp32 dot products with a FIXED reduction order, identical on every ISA:
//   16 partial sums, acc[l] = fma(a[i], b[i], acc[l]) for i = l, l+16, l+32, ... (the input is
//   treated as zero-padded to a multiple of 16), then a pairwise tree: acc[l] += acc[l+8],
//   acc[l] += acc[l+4], acc[l] += acc[l+2], acc[0] + acc[1].
// AVX2 holds lanes 0-7 and 8-15 in two registers, AVX-512 in one; the scalar reference does the
// same with std::fma. So logits are bit-identical across ISAs and thread counts.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace quantscope {

constexpr int kDotLanes = 16;

float dot_f32(const float* a, const float* b, int64_t n);

// Scalar reference (also used directly by tests).
float dot_f32_scalar(const float* a, const float* b, int64_t n);

// y[j] = dot(x, rows[j]) for j < nrows, rows stored with row stride `stride` floats.
void dot_rows_f32(const float* x, const float* rows, int64_t stride, int64_t nrows, int64_t n, float* y);

namespace detail {
float dot_f32_avx2(const float* a, const float* b, int64_t n);
float dot_f32_avx512(const float* a, const float* b, int64_t n);
// Widen a row of bf16 / f16 to fp32 (exact).
void bf16_to_f32_row_avx512(const uint16_t* src, float* dst, int64_t n);
void f16_to_f32_row_avx2(const uint16_t* src, float* dst, int64_t n);
}  // namespace detail

void bf16_to_f32_row(const uint16_t* src, float* dst, int64_t n);
void f16_to_f32_row(const uint16_t* src, float* dst, int64_t n);

}  // namespace quantscope
