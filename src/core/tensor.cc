#include "core/tensor.h"

#include <cmath>

#include "core/error.h"
#include "core/parallel.h"

namespace quantscope {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

float load_float(const TensorView& t, int64_t i) {
  switch (t.dtype) {
    case DType::F32: return t.as<float>()[i];
    case DType::F16: return f16_to_f32(t.as<uint16_t>()[i]);
    case DType::BF16: return bf16_to_f32(t.as<uint16_t>()[i]);
    case DType::F64: return float(t.as<double>()[i]);
    default: fail_internal("load_float: tensor from {} has non-float dtype {}", t.source, dtype_name(t.dtype));
  }
}

void load_float_rows(const TensorView& t, int64_t row0, int64_t nrows, float* out) {
  const int64_t cols = t.cols();
  const int64_t begin = row0 * cols, n = nrows * cols;
  switch (t.dtype) {
    case DType::F32:
      for (int64_t i = 0; i < n; ++i) out[i] = t.as<float>()[begin + i];
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(t.as<uint16_t>()[begin + i]);
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(t.as<uint16_t>()[begin + i]);
      return;
    default:
      for (int64_t i = 0; i < n; ++i) out[i] = load_float(t, begin + i);
  }
}

namespace {
// exponent bits all ones <=> inf or NaN
int64_t first_non_finite_16(const uint16_t* p, int64_t n, uint16_t exp_mask) {
  for (int64_t i = 0; i < n; ++i)
    if ((p[i] & exp_mask) == exp_mask) return i;
  return -1;
}
}  // namespace

int64_t find_non_finite(const TensorView& t) {
  const int64_t n = t.numel();
  // Scan in parallel chunks (checkpoints are GBs); keep the smallest index found.
  const int64_t chunk = 1 << 20;
  const int64_t nchunks = (n + chunk - 1) / chunk;
  std::vector<int64_t> found(size_t(nchunks), -1);
  parallel_for(0, nchunks, [&](int64_t c) {
    const int64_t b = c * chunk, e = std::min(n, b + chunk);
    int64_t r = -1;
    switch (t.dtype) {
      case DType::F32: {
        const uint32_t* p = t.as<uint32_t>();
        for (int64_t i = b; i < e; ++i)
          if ((p[i] & 0x7f800000u) == 0x7f800000u) { r = i; break; }
        break;
      }
      case DType::F16: {
        int64_t k = first_non_finite_16(t.as<uint16_t>() + b, e - b, 0x7c00u);
        r = k < 0 ? -1 : b + k;
        break;
      }
      case DType::BF16: {
        int64_t k = first_non_finite_16(t.as<uint16_t>() + b, e - b, 0x7f80u);
        r = k < 0 ? -1 : b + k;
        break;
      }
      case DType::F64:
        for (int64_t i = b; i < e; ++i)
          if (!std::isfinite(t.as<double>()[i])) { r = i; break; }
        break;
      default: break;
    }
    found[size_t(c)] = r;
  });
  for (int64_t f : found)
    if (f >= 0) return f;
  return -1;
}

}  // namespace quantscope
