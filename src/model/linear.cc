#include "model/linear.h"

namespace quantscope {

uint64_t DenseLinear::weight_bytes() const {
  return uint64_t(w_.rows) * uint64_t(w_.cols) * dtype_size(w_.dtype) + bias_.size() * sizeof(float);
}

std::string DenseLinear::describe() const { return std::string(dtype_name(w_.dtype)); }

}  // namespace quantscope
