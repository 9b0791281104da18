#include "quant/simulated_storage.h"

#include <cmath>

#include "core/error.h"

namespace quantscope {

QuantizedWeight exact_weight_encoding(const std::vector<float>& deq, int64_t rows, int64_t cols) {
  if (int64_t(deq.size()) != rows * cols) fail_internal("exact_weight_encoding: size mismatch");
  WeightQuantSpec s;
  s.bits = 8;
  s.granularity = Granularity::Group;
  s.group_size = 1;
  s.symmetric = true;
  s.scale_dtype = DType::F32;
  QuantizedWeight q = QuantizedWeight::layout(rows, cols, s);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float v = deq[size_t(r * cols + c)];
      q.set_code(r, c, v < 0.0f ? 127 : 129);  // (127 - 128) * |v| = v: scales stay >= 0
      q.set_params(r, c, GroupParams{std::fabs(v), 128.0f});
    }
  return q;
}

}  // namespace quantscope
