// Integer rounding rules and symmetric fake quantization: the numeric primitives every quantized path
// (weights, activations, the KV cache) shares. Below the model layer so the forward pass can quantize
// the KV cache without depending on the quantization methods.
#pragma once

#include <cstdint>
#include <string_view>

namespace quantscope {

enum class Rounding { HalfToEven, HalfAwayFromZero };

std::string_view rounding_name(Rounding r);  // "half_to_even", "half_away_from_zero"
bool rounding_from_name(std::string_view s, Rounding* out);

// The rounding rule applied to one value (ties spelled out, independent of the FP rounding mode).
float round_value(float v, Rounding r);

// Largest positive level of symmetric b-bit integers with a restricted range: 2^(b-1) - 1.
inline float symmetric_qmax(int bits) { return float((1 << (bits - 1)) - 1); }

// x[0..n) <- clamp(round(x / scale), -qmax, qmax) * scale with qmax = symmetric_qmax(bits).
// Non-finite values are left as they are (callers report where they appeared); scale 0 leaves x unchanged.
void fake_quant_symmetric_with_scale(float* x, int64_t n, float scale, int bits, Rounding r);
// The same with scale = absmax(x) / qmax (dynamic: one scale for the n values). Returns the scale
// (0 when x is all zero or holds a non-finite value, in which case x is unchanged).
float fake_quant_symmetric_dynamic(float* x, int64_t n, int bits, Rounding r);

}  // namespace quantscope
