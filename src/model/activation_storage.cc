#include "model/activation_storage.h"

#include <cmath>

#include "core/error.h"

namespace quantscope {

ActivationStorage::ActivationStorage(DType dtype, Overflow overflow) : dtype_(dtype), overflow_(overflow) {
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
    fail_internal("activation storage in {} is not a float format", dtype_name(dtype));
}

void ActivationStorage::store(float* x, int64_t rows, int64_t cols, int layer, const char* where) const {
  if (!active()) return;
  // Serial and in index order so the first overflow is well defined; a few elementwise operations
  // per value, small next to the matmul that produced them.
  bool recorded;
  {
    std::lock_guard<std::mutex> lock(record_->mu);
    recorded = record_->first.has_value();
  }
  for (int64_t i = 0; i < rows * cols; ++i) {
    const float before = x[i];
    x[i] = round_to_dtype(before, dtype_, overflow_);
    if (!recorded && std::isinf(x[i]) && std::isfinite(before)) {
      std::lock_guard<std::mutex> lock(record_->mu);
      if (!record_->first) record_->first = ActivationOverflow{layer, where, i / cols, i % cols, before};
      recorded = true;
    }
  }
}

std::optional<ActivationOverflow> ActivationStorage::first_overflow() const {
  std::lock_guard<std::mutex> lock(record_->mu);
  return record_->first;
}

void ActivationStorage::reset_overflow() const {
  std::lock_guard<std::mutex> lock(record_->mu);
  record_->first.reset();
}

}  // namespace quantscope
