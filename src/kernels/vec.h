// Element-wise vector kernels whose results are identical on every ISA (each element is one
// correctly rounded operation, so SIMD and scalar agree bit for bit).
#pragma once

#include <cstdint>

namespace quantscope {

// y[i] = fma(a, x[i], y[i])
void fma_axpy(float a, const float* x, float* y, int64_t n);

namespace detail {
void fma_axpy_avx2(float a, const float* x, float* y, int64_t n);
void fma_axpy_avx512(float a, const float* x, float* y, int64_t n);
}  // namespace detail

}  // namespace quantscope
