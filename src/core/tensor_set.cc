#include "core/tensor_set.h"

#include "core/error.h"

namespace quantscope {

void TensorSet::add(const std::string& name, TensorView view) {
  auto [it, inserted] = tensors.emplace(name, view);
  if (!inserted)
    fail_input("{}: tensor '{}' appears twice (also in {})", view.source, name, it->second.source);
}

float* TensorSet::new_f32_buffer(size_t n) {
  auto buf = std::shared_ptr<float[]>(new float[n]());
  float* p = buf.get();
  owners.push_back(std::shared_ptr<const void>(buf, p));
  return p;
}

}  // namespace quantscope
