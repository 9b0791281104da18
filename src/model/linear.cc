#include "model/linear.h"

#include "core/error.h"

namespace quantscope {

uint64_t DenseLinear::weight_bytes() const {
  return uint64_t(w_.rows) * uint64_t(w_.cols) * dtype_size(w_.dtype) + bias_.size() * sizeof(float);
}

std::string DenseLinear::describe() const { return std::string(dtype_name(w_.dtype)); }

PackedLinear::PackedLinear(PackedCodesMatrix layout, LargeVector<uint8_t> codes, std::vector<float> scales,
                           std::vector<float> zeros, std::string description)
    : layout_(layout),
      arrays_(std::make_shared<const Arrays>(Arrays{std::move(codes), std::move(scales), std::move(zeros)})),
      description_(std::move(description)) {
  const int64_t np = (layout_.per_tensor ? 1 : layout_.rows) * layout_.groups;
  if (int64_t(arrays_->codes.size()) != layout_.rows * layout_.row_bytes || int64_t(arrays_->scales.size()) != np ||
      (!arrays_->zeros.empty() && int64_t(arrays_->zeros.size()) != np))
    fail_internal("PackedLinear: arrays do not match the layout");
  check_packed_matrix(view());
}

PackedCodesMatrix PackedLinear::view() const {
  PackedCodesMatrix v = layout_;
  v.codes = arrays_->codes.data();
  v.scales = arrays_->scales.data();
  v.zeros = arrays_->zeros.empty() ? nullptr : arrays_->zeros.data();
  return v;
}

void PackedLinear::set_bias(std::vector<float> bias) {
  if (int64_t(bias.size()) != layout_.rows) fail_internal("PackedLinear: bias of {} for {} rows", bias.size(), layout_.rows);
  bias_ = std::move(bias);
}

void PackedLinear::forward(const float* x, int64_t m, float* y) const {
  matmul_packed(x, m, view(), bias_.empty() ? nullptr : bias_.data(), y);
}

uint64_t PackedLinear::weight_bytes() const {
  return arrays_->codes.size() + (arrays_->scales.size() + arrays_->zeros.size() + bias_.size()) * sizeof(float);
}

}  // namespace quantscope
