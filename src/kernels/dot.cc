#include "kernels/dot.h"

#include <cmath>

#include "kernels/isa.h"

namespace quantscope {

float dot_f32_scalar(const float* a, const float* b, int64_t n) {
  float acc[kDotLanes] = {};
  int64_t i = 0;
  for (; i + kDotLanes <= n; i += kDotLanes)
    for (int l = 0; l < kDotLanes; ++l) acc[l] = std::fma(a[i + l], b[i + l], acc[l]);
  if (i < n)  // zero-padded tail: fma(0, 0, acc) == acc + 0
    for (int l = 0; l < kDotLanes; ++l) acc[l] = i + l < n ? std::fma(a[i + l], b[i + l], acc[l]) : acc[l] + 0.0f;
  for (int w = kDotLanes / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) acc[l] = acc[l] + acc[l + w];
  return acc[0];
}

float dot_f32(const float* a, const float* b, int64_t n) {
  switch (active_isa()) {
    case Isa::Avx512: return detail::dot_f32_avx512(a, b, n);
    case Isa::Avx2: return detail::dot_f32_avx2(a, b, n);
    default: return dot_f32_scalar(a, b, n);
  }
}

void dot_rows_f32(const float* x, const float* rows, int64_t stride, int64_t nrows, int64_t n, float* y) {
  for (int64_t j = 0; j < nrows; ++j) y[j] = dot_f32(x, rows + j * stride, n);
}

void bf16_to_f32_row(const uint16_t* src, float* dst, int64_t n) {
  if (active_isa() == Isa::Avx512) return detail::bf16_to_f32_row_avx512(src, dst, n);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

void f16_to_f32_row(const uint16_t* src, float* dst, int64_t n) {
  if (active_isa() != Isa::Scalar) return detail::f16_to_f32_row_avx2(src, dst, n);
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

}  // namespace quantscope
