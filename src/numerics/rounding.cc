#include "numerics/rounding.h"

#include <algorithm>
#include <cmath>

namespace quantscope {

std::string_view rounding_name(Rounding r) {
  return r == Rounding::HalfToEven ? "half_to_even" : "half_away_from_zero";
}

bool rounding_from_name(std::string_view s, Rounding* out) {
  if (s == "half_to_even") *out = Rounding::HalfToEven;
  else if (s == "half_away_from_zero") *out = Rounding::HalfAwayFromZero;
  else return false;
  return true;
}

float round_value(float v, Rounding r) {
  // std::nearbyint uses the current rounding mode, which is round-to-nearest-even unless someone
  // changed it; rint-style ties-to-even is spelled out to not depend on that.
  if (r == Rounding::HalfAwayFromZero) return std::round(v);
  const float f = std::floor(v);
  const float d = v - f;  // exact for |v| < 2^23
  if (d < 0.5f) return f;
  if (d > 0.5f) return f + 1.0f;
  return std::fmod(f, 2.0f) == 0.0f ? f : f + 1.0f;
}

void fake_quant_symmetric_with_scale(float* x, int64_t n, float scale, int bits, Rounding r) {
  if (scale == 0.0f) return;
  const float qmax = symmetric_qmax(bits);
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) continue;
    x[i] = std::clamp(round_value(x[i] / scale, r), -qmax, qmax) * scale;
  }
}

float fake_quant_symmetric_dynamic(float* x, int64_t n, int bits, Rounding r) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) return 0.0f;
    amax = std::max(amax, std::fabs(x[i]));
  }
  if (amax == 0.0f) return 0.0f;
  const float scale = amax / symmetric_qmax(bits);
  fake_quant_symmetric_with_scale(x, n, scale, bits, r);
  return scale;
}

}  // namespace quantscope
