#include "numerics/float_formats.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace quantscope {

namespace {

constexpr uint32_t kAbsMask = 0x7fffffffu;
constexpr uint32_t kSignMask = 0x80000000u;
constexpr uint32_t kInfBits = 0x7f800000u;
// FP19 keeps 1 + 8 + 10 bits of the fp32 pattern: the low 23 - 10 = 13 mantissa bits go
// (ascend-numerics.md §5.2: "scale & 0xFFFFE000").
constexpr uint32_t kFp19Mask = 0xffffe000u;
constexpr uint32_t kFp19DroppedLsb = 13;

// Largest finite values, as fp32: fp16 0x7BFF = (2 - 2^-10) * 2^15; bf16 0x7F7F = (2 - 2^-7) * 2^127.
constexpr float kF16MaxFinite = 65504.0f;
const float kBf16MaxFinite = bf16_to_f32(0x7f7f);

bool is_nan_bits(uint32_t u) { return (u & kAbsMask) > kInfBits; }

float round_to_f16(float x, Overflow overflow) {
  if (std::isnan(x)) return x;  // keep the payload; f32_to_f16 would keep only its top 10 bits
  const float r = f16_to_f32(f32_to_f16(x));
  if (overflow == Overflow::Saturate && std::isinf(r) && std::isfinite(x)) {
    return std::copysign(kF16MaxFinite, x);
  }
  return r;
}

float round_to_bf16(float x, Overflow overflow) {
  if (std::isnan(x)) return x;
  const float r = bf16_to_f32(f32_to_bf16(x));
  if (overflow == Overflow::Saturate && std::isinf(r) && std::isfinite(x)) {
    return std::copysign(kBf16MaxFinite, x);
  }
  return r;
}

[[noreturn]] void fail_not_float(DType dtype) {
  fail_internal("round_to_dtype: {} is not a floating-point format", dtype_name(dtype));
}

}  // namespace

std::string_view overflow_name(Overflow o) { return o == Overflow::ToInf ? "inf" : "saturate"; }

bool overflow_from_name(std::string_view s, Overflow* out) {
  if (s == "inf") *out = Overflow::ToInf;
  else if (s == "saturate") *out = Overflow::Saturate;
  else return false;
  return true;
}

std::string_view scale_apply_name(ScaleApply a) {
  return a == ScaleApply::MultiplyReciprocal ? "multiply_reciprocal" : "divide";
}

bool scale_apply_from_name(std::string_view s, ScaleApply* out) {
  if (s == "multiply_reciprocal") *out = ScaleApply::MultiplyReciprocal;
  else if (s == "divide") *out = ScaleApply::Divide;
  else return false;
  return true;
}

float round_to_dtype(float x, DType dtype, Overflow overflow) {
  switch (dtype) {
    case DType::F32:
    case DType::F64: return x;
    case DType::F16: return round_to_f16(x, overflow);
    case DType::BF16: return round_to_bf16(x, overflow);
    default: fail_not_float(dtype);
  }
}

void round_to_dtype(float* x, int64_t n, DType dtype, Overflow overflow) {
  // The dtype is resolved once, outside the loop over the n values.
  switch (dtype) {
    case DType::F32:
    case DType::F64: return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) x[i] = round_to_f16(x[i], overflow);
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) x[i] = round_to_bf16(x[i], overflow);
      return;
    default: fail_not_float(dtype);
  }
}

float fp19_truncate(float x) {
  const uint32_t u = f32_bits(x);
  if (is_nan_bits(u)) return x;
  // Sign-magnitude: masking the magnitude bits truncates toward zero for either sign.
  return f32_from_bits(u & kFp19Mask);
}

float fp19_round(float x) {
  const uint32_t u = f32_bits(x);
  if (is_nan_bits(u)) return x;
  // Round to nearest even at bit 13 on the magnitude: add just under half an FP19 ulp (0xFFF),
  // plus one when the kept LSB is odd so that an exact tie (0x1000) carries. A carry out of the
  // 10 kept mantissa bits increments the exponent, which is the correctly rounded value; from the
  // largest binade it reaches 0x7F800000 = inf. inf itself (kept LSB 0): 0x7F800000 + 0xFFF =
  // 0x7F800FFF, masked back to 0x7F800000.
  const uint32_t abs = u & kAbsMask;
  const uint32_t rounded = (abs + 0xfffu + ((abs >> kFp19DroppedLsb) & 1u)) & kFp19Mask;
  return f32_from_bits((u & kSignMask) | rounded);
}

int32_t quantize_to_int(float x, float scale, float offset, int bits, Rounding rounding,
                        ScaleApply apply) {
  if (bits < 2 || bits > 8) fail_internal("quantize_to_int: bits = {}, expected 2..8", bits);
  // Two fp32 roundings (product or quotient, then the offset add), as the vector unit's separate
  // multiply and add do (ascend-numerics.md §5.4 AscendQuant: round(x * scale + offset)). This file
  // is compiled for baseline x86-64, which has no FMA, so the compiler cannot fuse them; a build
  // with FMA enabled and -ffp-contract=fast would, and NumericsFormats.OffsetAddedAfterProductRounds
  // catches that.
  float v;
  if (apply == ScaleApply::MultiplyReciprocal) {
    const float inv = 1.0f / scale;  // once per scale in the kernels; the same fp32 value here
    v = x * inv;
  } else {
    v = x / scale;
  }
  v = v + offset;
  if (std::isnan(v)) return std::numeric_limits<int32_t>::min();
  const float qmin = -float(1 << (bits - 1));
  const float qmax = float((1 << (bits - 1)) - 1);
  // Clamp to one past the range before rounding: rounding is monotonic, so the result is the same
  // as rounding first, and round_value never sees inf or magnitudes where floor() is inexact.
  v = std::clamp(v, qmin - 1.0f, qmax + 1.0f);
  return int32_t(std::clamp(round_value(v, rounding), qmin, qmax));
}

int32_t int8_via_half(float v) {
  if (std::isnan(v)) return std::numeric_limits<int32_t>::min();
  // Step 1: fp32 -> int32, CAST_RINT (half to even), saturating at the int32 range. 2^31 is exact
  // in fp32; every fp32 at or above it is an integer that does not fit.
  int32_t i;
  if (v >= 2147483648.0f) {
    i = std::numeric_limits<int32_t>::max();
  } else if (v <= -2147483648.0f) {
    i = std::numeric_limits<int32_t>::min();
  } else {
    i = int32_t(round_value(v, Rounding::HalfToEven));
  }
  // Step 2: int32 -> half, round to nearest even. Going through fp32 first is exact for
  // |i| < 2^24, and any |i| >= 65520 ends at +-inf either way, so this is the direct conversion.
  const float h = f16_to_f32(f32_to_f16(float(i)));
  // Step 3: half -> int8, truncate toward zero, saturate (+-inf -> 127 / -128).
  const float t = std::clamp(std::trunc(h), -128.0f, 127.0f);
  return int32_t(t);
}

}  // namespace quantscope
