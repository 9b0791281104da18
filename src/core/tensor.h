// A non-owning, typed view of a dense row-major tensor (usually inside a memory-mapped checkpoint).
// Owners (mappings, buffers) are kept alive by whoever holds the view (see model/checkpoint.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace quantscope {

struct TensorView {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // row-major; shape[0] is the slowest dimension
  const void* data = nullptr;
  // Where it came from, for messages: "dir/model.safetensors" and the byte offset of its data.
  std::string source;
  uint64_t source_offset = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype); }
  int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  // Elements per row (product of all but the first dimension).
  int64_t cols() const {
    int64_t n = 1;
    for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
    return n;
  }
  template <typename T>
  const T* as() const {
    return static_cast<const T*>(data);
  }
};

// "[64, 172]"
std::string shape_string(const std::vector<int64_t>& shape);

// Element i of a float tensor (f32, f16, bf16) as fp32.
float load_float(const TensorView& t, int64_t i);
// Converts rows [row0, row0+nrows) of a float tensor to fp32 into out (nrows * cols floats).
void load_float_rows(const TensorView& t, int64_t row0, int64_t nrows, float* out);
// Index of the first non-finite element, or -1.
int64_t find_non_finite(const TensorView& t);

}  // namespace quantscope
