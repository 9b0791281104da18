#include "interop/ascend_v1_math.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace quantscope {

float ascend_deq_scale(float input_scale, float weight_scale) { return input_scale * weight_scale; }

int64_t ascend_quant_bias(float bias, float deq, int64_t row_sum, int32_t input_offset) {
  if (deq == 0.0f) return -row_sum * int64_t(input_offset);
  // nearbyint under the default rounding mode is round-half-to-even, as torch.round. A quotient beyond
  // int32 (or not finite) is returned as INT64_MAX so ascend_fits_int32 refuses it.
  const float q = std::nearbyint(bias / deq);
  if (!std::isfinite(q) || std::fabs(q) > 4.0e18f) return std::numeric_limits<int64_t>::max();
  const int64_t b = int64_t(q);
  return b - row_sum * int64_t(input_offset);
}

bool ascend_fits_int32(int64_t v) {
  return v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
}

int64_t ascend_deq_scale_to_int64(float deq) {
  uint32_t bits = 0;
  std::memcpy(&bits, &deq, 4);
  return int64_t(bits);
}

bool ascend_deq_scale_from_int64(int64_t v, float* deq) {
  if (uint64_t(v) >> 32) return false;
  const uint32_t bits = uint32_t(v);
  std::memcpy(deq, &bits, 4);
  return true;
}

}  // namespace quantscope
