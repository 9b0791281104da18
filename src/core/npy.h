// NumPy .npy (format 1.0) for fp32 arrays: logits dumps and test fixtures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace quantscope {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major
};

void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data);
// Reads '<f4' or '<f8' C-order arrays (converted to fp32). Throws InputError naming the file.
NpyArray read_npy_f32(const std::string& path);

}  // namespace quantscope
