// exp for softmax, the same bits on every ISA: Cody-Waite range reduction and a degree-7
// polynomial, written only with correctly rounded operations (fma, mul, add, round-to-nearest-even)
// in a fixed order, so the scalar reference and the SIMD versions agree exactly.
// Accuracy: within 2 ulp of exp on [-87, 88]; 0 below -87.33 (no subnormal results); inf above.
#pragma once

#include <cstdint>

namespace quantscope {

// y[i] = exp(x[i] - shift); returns sum(y) in dot.h's 16-lane order. y may alias x.
float exp_shift_sum(const float* x, float shift, float* y, int64_t n);
float exp_shift_sum_scalar(const float* x, float shift, float* y, int64_t n);
float exp_f32(float x);  // scalar reference of one element

namespace detail {
float exp_shift_sum_avx2(const float* x, float shift, float* y, int64_t n);
float exp_shift_sum_avx512(const float* x, float shift, float* y, int64_t n);
}  // namespace detail

// Constants shared by every implementation.
namespace exp_constants {
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693145751953125f;        // 12 significant bits: k * kLn2Hi is exact
constexpr float kLn2Lo = 1.428606765330187045e-06f;  // ln2 - kLn2Hi
constexpr float kMin = -87.33654475f;                // below: result 0
constexpr float kMax = 88.72283905f;                 // above: result inf
// exp(r) ~ 1 + r + r^2 (c2 + c3 r + ... + c7 r^5), |r| <= ln2/2: the minimax coefficients of the
// Cephes library's expf (relative error below 1.5e-7 before rounding).
constexpr float kC2 = 5.0000001201e-1f;
constexpr float kC3 = 1.6666665459e-1f;
constexpr float kC4 = 4.1665795894e-2f;
constexpr float kC5 = 8.3334519073e-3f;
constexpr float kC6 = 1.3981999507e-3f;
constexpr float kC7 = 1.9875691500e-4f;
}  // namespace exp_constants

}  // namespace quantscope
