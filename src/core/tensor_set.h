// Named tensors read from one or more files, plus the owners (mappings, buffers) that keep their
// bytes alive. What every checkpoint reader returns before the model layer interprets it.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace quantscope {

struct TensorSet {
  std::map<std::string, TensorView> tensors;
  std::vector<std::shared_ptr<const void>> owners;

  const TensorView* find(const std::string& name) const {
    auto it = tensors.find(name);
    return it == tensors.end() ? nullptr : &it->second;
  }
  // Adds a tensor; a second tensor of the same name is an InputError naming both sources.
  void add(const std::string& name, TensorView view);
  // Keeps `owner` alive as long as this set.
  template <typename T>
  void keep(std::shared_ptr<T> owner) {
    owners.push_back(std::static_pointer_cast<const void>(std::shared_ptr<const T>(std::move(owner))));
  }
  // An owned fp32 buffer of n floats, kept alive by this set.
  float* new_f32_buffer(size_t n);
};

}  // namespace quantscope
