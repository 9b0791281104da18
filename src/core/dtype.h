// Storage dtypes of tensors and the exact conversions between the 16-bit float formats and fp32.
// The target-specific rounding rules (FP19, saturation, tie rules) live in src/numerics/; these are
// the IEEE round-to-nearest-even conversions every format reader needs.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace quantscope {

enum class DType : uint8_t {
  F32,
  F16,
  BF16,
  F64,
  I8,
  U8,
  I16,
  I32,
  I64,
  Bool,
};

// Bytes per element.
size_t dtype_size(DType t);
// Canonical lower-case name ("f32", "bf16", ...).
std::string_view dtype_name(DType t);
// Parses safetensors dtype strings ("F32", "BF16", "I8", ...). Returns false when unknown.
bool dtype_from_safetensors(std::string_view s, DType* out);
std::string_view dtype_to_safetensors(DType t);

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float bf16_to_f32(uint16_t h) { return f32_from_bits(uint32_t(h) << 16); }

// fp32 -> bf16, round to nearest, ties to even; NaN stays NaN (quiet).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);
  uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return uint16_t((u + rounding) >> 16);
}

// IEEE half -> fp32 (exact, subnormals included).
float f16_to_f32(uint16_t h);
// fp32 -> IEEE half, round to nearest even, overflow to +-inf, NaN preserved.
uint16_t f32_to_f16(float f);

}  // namespace quantscope
