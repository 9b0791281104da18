// Narrowing float formats and activation-quantization steps as hardware targets perform them:
// rounding fp32 to fp16/bf16 with a chosen overflow rule, the 19-bit deq_scale of Ascend's Fixpipe,
// and the fp32 -> int steps of the activation-quant kernels. Each function reproduces one documented
// conversion bit for bit; the target profiles compose them (ascend-numerics.md §8 checklist).
#pragma once

#include <cstdint>
#include <string_view>

#include "core/dtype.h"
#include "numerics/rounding.h"

namespace quantscope {

// What a narrowing conversion does with a finite |x| beyond the format's max finite value:
// IEEE conversions go to +-inf (torch .half(), Fixpipe F322F16); saturating casts clamp to
// +-max finite. The fp16 overflow risk of bf16-trained models on 310P is ascend-numerics.md §5.6.
enum class Overflow { ToInf, Saturate };

std::string_view overflow_name(Overflow o);                     // "inf", "saturate"
bool overflow_from_name(std::string_view s, Overflow* out);      // false when unknown

// fp32 x rounded to the nearest value of `dtype`, returned as fp32. F32 (and F64, which holds every
// fp32 exactly) return x unchanged; F16 and BF16 round to nearest, ties to even, with the format's
// subnormals (fp16 quantum below 2^-14 is 2^-24; bf16 shares fp32's exponent range). A finite x
// that rounds beyond the max finite value (fp16 65504, bf16 0x7F7F = 3.3895e38) becomes +-inf with
// Overflow::ToInf and +-max finite with Overflow::Saturate; inf stays inf and NaN stays NaN under
// both. Integer dtypes are a caller bug (InternalError).
float round_to_dtype(float x, DType dtype, Overflow overflow = Overflow::ToInf);
// The same for x[0..n), in place.
void round_to_dtype(float* x, int64_t n, DType dtype, Overflow overflow = Overflow::ToInf);

// FP19 (1 sign, 8 exponent, 10 mantissa bits: the top 19 bits of an fp32 pattern), the precision at
// which Ascend's Fixpipe applies an int64-packed deq_scale (ascend-numerics.md §5.2).
// fp19_truncate: bits & 0xFFFFE000 (TransQuantParam, and V2 round_mode 0); relative error < 2^-10.
// fp19_round: round to nearest, ties to even, at bit 13 (V2 round_mode 1); relative error <= 2^-11.
// A carry out of the mantissa moves into the exponent; a finite value above the largest FP19 value
// (0x7F7FE000) by half an FP19 ulp or more rounds to inf. inf stays inf; NaN stays NaN in both (a
// literal mask would turn a NaN whose payload sits in the low 13 bits into inf and hide it).
float fp19_truncate(float x);
float fp19_round(float x);

// How the activation scale s is applied: q = x * (1/s) with 1/s computed once in fp32 (AscendQuant,
// DynamicQuant, llama.cpp Q8_0: §5.4, §7) vs q = x / s (a true fp32 division per value). The two
// differ by one integer when x/s lies near a rounding boundary (§8 item 2).
enum class ScaleApply { MultiplyReciprocal, Divide };

std::string_view scale_apply_name(ScaleApply a);                   // "multiply_reciprocal", "divide"
bool scale_apply_from_name(std::string_view s, ScaleApply* out);    // false when unknown

// One value to a b-bit signed integer, b = 2..8 (else InternalError):
//   v = apply(x, scale) + offset       (fp32, two separate roundings; offset integer-valued, 0 if symmetric)
//   q = clamp(rounding(v), -2^(b-1), 2^(b-1) - 1)
// +-inf (from x, or from a zero scale) saturates. A NaN v (NaN x or scale, 0 * (1/0), 0 / 0) returns
// INT32_MIN, outside every b-bit range, so callers detect it and report where it appeared instead of
// silently storing 0.
int32_t quantize_to_int(float x, float scale, float offset, int bits, Rounding rounding,
                        ScaleApply apply);

// Ascend DynamicQuant's conversion of an already-scaled value v to int8 (ascend-numerics.md §5.4):
// fp32 -> int32 round half to even (CAST_RINT; beyond the int32 range saturates), int32 -> half
// (round to nearest even: integers above 2048 in magnitude lose precision, |i| >= 65520 becomes
// inf), half -> int8 truncating toward zero with saturation to [-128, 127] (inf saturates).
// Returns the int8 value as int32; NaN returns INT32_MIN as quantize_to_int does.
// Every integer the half step changes has |i| > 2048 and saturates anyway, so for non-NaN v the
// result equals clamp(rint(v), -128, 127); the function keeps the path explicit so that this stays
// checked (tests) rather than assumed.
int32_t int8_via_half(float v);

}  // namespace quantscope
