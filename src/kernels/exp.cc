#include "kernels/exp.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/dot.h"
#include "kernels/isa.h"

namespace quantscope {

float exp_f32(float x) {
  using namespace exp_constants;
  if (x < kMin) return 0.0f;
  if (x > kMax) return std::numeric_limits<float>::infinity();
  if (std::isnan(x)) return x;
  const float k = std::nearbyint(x * kLog2e);  // round half to even (default mode)
  float r = std::fma(-k, kLn2Hi, x);
  r = std::fma(-k, kLn2Lo, r);
  float p = kC7;
  p = std::fma(p, r, kC6);
  p = std::fma(p, r, kC5);
  p = std::fma(p, r, kC4);
  p = std::fma(p, r, kC3);
  p = std::fma(p, r, kC2);
  p = std::fma(p, r, 1.0f);
  p = std::fma(p, r, 1.0f);
  // 2^k for k in [-126, 128]: k = 128 only near kMax, split as 2^(k-1) * 2.
  const int ki = int(k);
  const int e = ki > 127 ? 127 : ki;
  const uint32_t bits = uint32_t(e + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  float y = p * scale;
  if (ki > 127) y = y * 2.0f;
  return y;
}

float exp_shift_sum_scalar(const float* x, float shift, float* y, int64_t n) {
  float acc[kDotLanes] = {};
  for (int64_t i = 0; i < n; ++i) {
    y[i] = exp_f32(x[i] - shift);
    acc[i % kDotLanes] += y[i];
  }
  for (int l = 0; l < kDotLanes; ++l) acc[l] = acc[l] + 0.0f;  // the SIMD tail adds +0 to idle lanes
  for (int w = kDotLanes / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) acc[l] = acc[l] + acc[l + w];
  return acc[0];
}

float exp_shift_sum(const float* x, float shift, float* y, int64_t n) {
  switch (active_isa()) {
    case Isa::Avx512: return detail::exp_shift_sum_avx512(x, shift, y, n);
    case Isa::Avx2: return detail::exp_shift_sum_avx2(x, shift, y, n);
    default: return exp_shift_sum_scalar(x, shift, y, n);
  }
}

}  // namespace quantscope
