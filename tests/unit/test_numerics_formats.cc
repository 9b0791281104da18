// Hand-derived bit patterns for the narrowing formats and activation-quant steps of
// src/numerics/float_formats.h (ascend-numerics.md §5.2, §5.4, §7, §8).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/dtype.h"
#include "core/error.h"
#include "numerics/float_formats.h"

namespace quantscope {
namespace {

constexpr int32_t kNaNCode = std::numeric_limits<int32_t>::min();
const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

uint32_t fp19t(uint32_t u) { return f32_bits(fp19_truncate(f32_from_bits(u))); }
uint32_t fp19r(uint32_t u) { return f32_bits(fp19_round(f32_from_bits(u))); }
uint32_t rnd(uint32_t u, DType t, Overflow o = Overflow::ToInf) {
  return f32_bits(round_to_dtype(f32_from_bits(u), t, o));
}

}  // namespace

// FP19 keeps bits 31..13; truncation clears bits 12..0 (mask 0xFFFFE000), toward zero for either sign.
TEST(NumericsFormats, Fp19TruncateDropsLow13Bits) {
  // 0x3F8FFFFF: low 13 bits 0x1FFF cleared -> 0x3F8FE000 (1.1240234375 = 1 + 0x0FE000 / 2^23).
  EXPECT_EQ(fp19t(0x3F8FFFFFu), 0x3F8FE000u);
  EXPECT_EQ(fp19t(0xBF8FFFFFu), 0xBF8FE000u);  // sign bit kept: -1.1240234375
  EXPECT_EQ(fp19t(0x3F800000u), 0x3F800000u);  // 1.0 has no low bits: unchanged
  EXPECT_EQ(fp19t(0x00001FFFu), 0x00000000u);  // subnormal below the FP19 quantum 2^-136 -> +0
  EXPECT_EQ(fp19t(0x7F7FFFFFu), 0x7F7FE000u);  // FLT_MAX -> largest FP19 value
}

// Round to nearest at bit 13: add 0xFFF + (bit 13), then mask.
TEST(NumericsFormats, Fp19RoundNearest) {
  // 0x3F8FFFFF: dropped 0x1FFF > half (0x1000) -> up: 0x3F8FE000 + 0x2000 = 0x3F900000 (1.125).
  EXPECT_EQ(fp19r(0x3F8FFFFFu), 0x3F900000u);
  EXPECT_EQ(fp19r(0xBF8FFFFFu), 0xBF900000u);  // magnitude rounded the same way, sign kept
  // 0x3F800FFF: dropped 0x0FFF < half -> down to 0x3F800000.
  EXPECT_EQ(fp19r(0x3F800FFFu), 0x3F800000u);
  // Subnormal 0x00001FFF: dropped 0x1FFF > half -> 0x00002000 (one FP19 quantum, 2^-136).
  EXPECT_EQ(fp19r(0x00001FFFu), 0x00002000u);
}

TEST(NumericsFormats, Fp19RoundTiesToEven) {
  // 0x3F801000: kept 0x3F800000 has bit 13 = 0 (even), dropped exactly 0x1000 -> stays 0x3F800000.
  EXPECT_EQ(fp19r(0x3F801000u), 0x3F800000u);
  // 0x3F803000: kept 0x3F802000 has bit 13 = 1 (odd), dropped 0x1000 -> up to 0x3F804000.
  EXPECT_EQ(fp19r(0x3F803000u), 0x3F804000u);
  EXPECT_EQ(fp19r(0xBF803000u), 0xBF804000u);  // ties on the magnitude: -1.0009765625
  EXPECT_EQ(fp19r(0xBF801000u), 0xBF800000u);
}

TEST(NumericsFormats, Fp19RoundCarriesIntoExponentAndOverflowsToInf) {
  // 0x3FFFF000 = 2 - 2^-11: kept 0x3FFFE000 (mantissa all ones, odd) + tie -> carry out of the
  // mantissa into the exponent: 0x40000000 = 2.0.
  EXPECT_EQ(fp19r(0x3FFFF000u), 0x40000000u);
  // Largest FP19 value is 0x7F7FE000 (odd); a tie above it carries into exponent 0xFF: inf.
  EXPECT_EQ(fp19r(0x7F7FF000u), 0x7F800000u);
  EXPECT_EQ(fp19r(0x7F7FFFFFu), 0x7F800000u);  // FLT_MAX rounds to inf ...
  EXPECT_EQ(fp19r(0xFF7FFFFFu), 0xFF800000u);  // ... -FLT_MAX to -inf
  EXPECT_EQ(fp19r(0x7F7FEFFFu), 0x7F7FE000u);  // below the tie: stays finite
}

TEST(NumericsFormats, Fp19NonFinite) {
  EXPECT_EQ(fp19t(0x7F800000u), 0x7F800000u);
  EXPECT_EQ(fp19r(0x7F800000u), 0x7F800000u);  // 0x7F800000 + 0xFFF masked back to inf
  EXPECT_EQ(fp19r(0xFF800000u), 0xFF800000u);
  // 0x7F800001 is a NaN whose payload lies only in the dropped bits: a literal mask would give inf.
  EXPECT_TRUE(std::isnan(fp19_truncate(f32_from_bits(0x7F800001u))));
  EXPECT_TRUE(std::isnan(fp19_round(f32_from_bits(0x7F800001u))));
  EXPECT_EQ(fp19t(0x7FC00000u), 0x7FC00000u);
  EXPECT_EQ(fp19r(0x7FC00000u), 0x7FC00000u);
}

// The Ascend W8A8 fp16-output deq_scale = input_scale * weight_scale (ascend-numerics.md §10),
// applied by Fixpipe in FP19 (§5.2).
TEST(NumericsFormats, Fp19AscendW8A8DeqScale) {
  const float input_scale = 0.0157f;   // 0x3C809D49
  const float weight_scale = 0.0011f;  // 0x3A902DE0
  ASSERT_EQ(f32_bits(input_scale), 0x3C809D49u);
  ASSERT_EQ(f32_bits(weight_scale), 0x3A902DE0u);
  // fp32 product (checked with exact rational arithmetic: 1.7269998e-5, exponent 2^-16,
  // fp32 ulp 2^-39): 0x3790DF0A.
  const float deq = input_scale * weight_scale;
  ASSERT_EQ(f32_bits(deq), 0x3790DF0Au);
  // Truncate: low 13 bits 0x1F0A dropped -> 0x3790C000; the loss is 0x1F0A ulps = 0x1F0A * 2^-39.
  const float t = fp19_truncate(deq);
  EXPECT_EQ(f32_bits(t), 0x3790C000u);
  EXPECT_EQ(double(deq) - double(t), std::ldexp(double(0x1F0A), -39));
  // Relative error 0x1F0A / 0x90DF0A (significand with its hidden bit) = 7946 / 9494282
  // = 0.857 * 2^-10: close to, and below, the 2^-10 bound of truncation.
  const double rel_t = (double(deq) - double(t)) / double(deq);
  EXPECT_EQ(rel_t, 7946.0 / 9494282.0);
  EXPECT_LT(rel_t, std::ldexp(1.0, -10));
  // Round: 0x1F0A > 0x1000 -> up to 0x3790E000; error 0x2000 - 0x1F0A = 0xF6 ulps, within 2^-11.
  const float r = fp19_round(deq);
  EXPECT_EQ(f32_bits(r), 0x3790E000u);
  EXPECT_EQ(double(r) - double(deq), std::ldexp(double(0xF6), -39));
  EXPECT_LE((double(r) - double(deq)) / double(deq), std::ldexp(1.0, -11));
}

// bf16 keeps 7 mantissa bits: 1 + 2^-8 and 1 + 3 * 2^-8 are exact ties.
TEST(NumericsFormats, Bf16RoundsTiesToEven) {
  // 1 + 2^-8 = 0x3F808000: between 1.0 (0x3F80, even) and 1 + 2^-7 (0x3F81) -> 1.0.
  EXPECT_EQ(rnd(0x3F808000u, DType::BF16), 0x3F800000u);
  // 1 + 3 * 2^-8 = 0x3F818000: between 0x3F81 (odd) and 1 + 2^-6 (0x3F82, even) -> up.
  EXPECT_EQ(rnd(0x3F818000u, DType::BF16), 0x3F820000u);
  // One fp32 ulp above the first tie: no longer a tie -> up to 0x3F810000.
  EXPECT_EQ(rnd(0x3F808001u, DType::BF16), 0x3F810000u);
  EXPECT_EQ(rnd(0xBF818000u, DType::BF16), 0xBF820000u);  // negative tie on the magnitude
}

TEST(NumericsFormats, Bf16Overflow) {
  // Max finite bf16 0x7F7F (odd). 0x7F7F8000 is the tie above it -> rounds up into inf.
  EXPECT_EQ(rnd(0x7F7F8000u, DType::BF16, Overflow::ToInf), 0x7F800000u);
  EXPECT_EQ(rnd(0x7F7F8000u, DType::BF16, Overflow::Saturate), 0x7F7F0000u);
  EXPECT_EQ(rnd(0xFF7FFFFFu, DType::BF16, Overflow::ToInf), 0xFF800000u);     // -FLT_MAX
  EXPECT_EQ(rnd(0xFF7FFFFFu, DType::BF16, Overflow::Saturate), 0xFF7F0000u);
  EXPECT_EQ(rnd(0x7F7F7FFFu, DType::BF16, Overflow::ToInf), 0x7F7F0000u);     // below the tie
  EXPECT_EQ(rnd(0x7F800000u, DType::BF16, Overflow::Saturate), 0x7F800000u);  // inf stays inf
}

TEST(NumericsFormats, F16Overflow) {
  EXPECT_EQ(round_to_dtype(65504.0f, DType::F16), 65504.0f);  // max finite 0x7BFF
  // 65519.99f is the fp32 65519.98828125 (0x477FEFFD), below the tie 65520 -> 65504.
  ASSERT_EQ(f32_bits(65519.99f), 0x477FEFFDu);
  EXPECT_EQ(round_to_dtype(65519.99f, DType::F16, Overflow::ToInf), 65504.0f);
  // 65520 = 65504 + 16 is the tie between 0x7BFF (odd) and 2^16 (exponent 31 = inf) -> inf.
  EXPECT_EQ(round_to_dtype(65520.0f, DType::F16, Overflow::ToInf), kInf);
  EXPECT_EQ(round_to_dtype(65520.0f, DType::F16, Overflow::Saturate), 65504.0f);
  EXPECT_EQ(round_to_dtype(-65520.0f, DType::F16, Overflow::ToInf), -kInf);
  EXPECT_EQ(round_to_dtype(-65520.0f, DType::F16, Overflow::Saturate), -65504.0f);
  EXPECT_EQ(round_to_dtype(1.0e6f, DType::F16, Overflow::Saturate), 65504.0f);
  EXPECT_EQ(round_to_dtype(kInf, DType::F16, Overflow::Saturate), kInf);  // inf is not an overflow
  EXPECT_EQ(round_to_dtype(-kInf, DType::F16, Overflow::Saturate), -kInf);
}

TEST(NumericsFormats, F16Subnormals) {
  const float q = std::ldexp(1.0f, -24);  // fp16 subnormal quantum
  EXPECT_EQ(round_to_dtype(q, DType::F16), q);                               // 0x0001 kept
  EXPECT_EQ(rnd(f32_bits(std::ldexp(1.0f, -26)), DType::F16), 0x00000000u);  // 0.25 quantum -> +0
  EXPECT_EQ(rnd(f32_bits(-std::ldexp(1.0f, -26)), DType::F16), 0x80000000u); // -> -0 (sign kept)
  EXPECT_EQ(round_to_dtype(std::ldexp(1.0f, -25), DType::F16), 0.0f);       // 0.5 quantum: tie -> 0
  EXPECT_EQ(round_to_dtype(std::ldexp(3.0f, -25), DType::F16), 2 * q);      // 1.5 quanta -> 2 (even)
  EXPECT_EQ(round_to_dtype(std::ldexp(3.0f, -26), DType::F16), q);          // 0.75 quantum -> 1
}

TEST(NumericsFormats, RoundToDtypeNaNAndIdentity) {
  const uint32_t nan_bits = 0x7FC12345u;  // quiet NaN with a payload
  for (DType t : {DType::F32, DType::F16, DType::BF16}) {
    for (Overflow o : {Overflow::ToInf, Overflow::Saturate}) {
      EXPECT_EQ(rnd(nan_bits, t, o), nan_bits) << dtype_name(t) << " " << overflow_name(o);
    }
  }
  // F32 is the identity, also with Saturate (fp32 is the format, so nothing overflows).
  EXPECT_EQ(rnd(0x7F7FFFFFu, DType::F32, Overflow::Saturate), 0x7F7FFFFFu);
  EXPECT_EQ(rnd(0x3F8FFFFFu, DType::F32), 0x3F8FFFFFu);
  EXPECT_EQ(rnd(0x00000001u, DType::F32), 0x00000001u);
}

TEST(NumericsFormats, RoundToDtypeInPlaceMatchesScalar) {
  const uint32_t patterns[] = {0x3F808000u, 0x3F818000u, 0x477FEFFDu, 0x477FF000u, 0xC77FF000u,
                               0x33800000u, 0x7F7F8000u, 0x7FC12345u, 0xFF800000u, 0x00000000u};
  constexpr int64_t n = sizeof(patterns) / sizeof(patterns[0]);
  for (DType t : {DType::F32, DType::F16, DType::BF16}) {
    for (Overflow o : {Overflow::ToInf, Overflow::Saturate}) {
      float x[n];
      for (int64_t i = 0; i < n; ++i) x[i] = f32_from_bits(patterns[i]);
      round_to_dtype(x, n, t, o);
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_EQ(f32_bits(x[i]), rnd(patterns[i], t, o)) << dtype_name(t) << " " << i;
      }
    }
  }
  // Spot values of the array path: 65520 (0x477FF000) -> 65504 (0x477FE000) with Saturate in fp16.
  float y[2] = {65520.0f, -65520.0f};
  round_to_dtype(y, 2, DType::F16, Overflow::Saturate);
  EXPECT_EQ(f32_bits(y[0]), 0x477FE000u);
  EXPECT_EQ(f32_bits(y[1]), 0xC77FE000u);
}

TEST(NumericsFormats, RoundToDtypeRejectsIntegerDTypes) {
  EXPECT_THROW(round_to_dtype(1.0f, DType::I8), InternalError);
  float x[1] = {1.0f};
  EXPECT_THROW(round_to_dtype(x, 1, DType::I32), InternalError);
  EXPECT_EQ(x[0], 1.0f);
}

TEST(NumericsFormats, NamesRoundTrip) {
  for (Overflow o : {Overflow::ToInf, Overflow::Saturate}) {
    Overflow back = o == Overflow::ToInf ? Overflow::Saturate : Overflow::ToInf;
    ASSERT_TRUE(overflow_from_name(overflow_name(o), &back));
    EXPECT_EQ(back, o);
  }
  for (ScaleApply a : {ScaleApply::MultiplyReciprocal, ScaleApply::Divide}) {
    ScaleApply back = a == ScaleApply::Divide ? ScaleApply::MultiplyReciprocal : ScaleApply::Divide;
    ASSERT_TRUE(scale_apply_from_name(scale_apply_name(a), &back));
    EXPECT_EQ(back, a);
  }
  EXPECT_EQ(overflow_name(Overflow::ToInf), "inf");
  EXPECT_EQ(overflow_name(Overflow::Saturate), "saturate");
  EXPECT_EQ(scale_apply_name(ScaleApply::MultiplyReciprocal), "multiply_reciprocal");
  EXPECT_EQ(scale_apply_name(ScaleApply::Divide), "divide");
  Overflow o = Overflow::Saturate;
  EXPECT_FALSE(overflow_from_name("Inf", &o));  // names are case-sensitive
  EXPECT_FALSE(overflow_from_name("", &o));
  EXPECT_EQ(o, Overflow::Saturate);  // left untouched on failure
  ScaleApply a = ScaleApply::Divide;
  EXPECT_FALSE(scale_apply_from_name("multiply", &a));
  EXPECT_EQ(a, ScaleApply::Divide);
}

TEST(NumericsFormats, QuantizeToIntTies) {
  const Rounding even = Rounding::HalfToEven, away = Rounding::HalfAwayFromZero;
  for (ScaleApply ap : {ScaleApply::MultiplyReciprocal, ScaleApply::Divide}) {
    // x / s = 2.5 exactly (s = 1, and s = 0.5 whose reciprocal 2 is exact too).
    EXPECT_EQ(quantize_to_int(2.5f, 1.0f, 0.0f, 8, even, ap), 2);
    EXPECT_EQ(quantize_to_int(2.5f, 1.0f, 0.0f, 8, away, ap), 3);
    EXPECT_EQ(quantize_to_int(-2.5f, 1.0f, 0.0f, 8, even, ap), -2);
    EXPECT_EQ(quantize_to_int(-2.5f, 1.0f, 0.0f, 8, away, ap), -3);
    EXPECT_EQ(quantize_to_int(1.25f, 0.5f, 0.0f, 8, even, ap), 2);
    EXPECT_EQ(quantize_to_int(1.25f, 0.5f, 0.0f, 8, away, ap), 3);
    EXPECT_EQ(quantize_to_int(1.75f, 0.5f, 0.0f, 8, even, ap), 4);  // 3.5 -> 4 under both
    EXPECT_EQ(quantize_to_int(1.75f, 0.5f, 0.0f, 8, away, ap), 4);
  }
}

TEST(NumericsFormats, QuantizeToIntSaturates) {
  const Rounding even = Rounding::HalfToEven, away = Rounding::HalfAwayFromZero;
  const ScaleApply mr = ScaleApply::MultiplyReciprocal;
  // 8 bits: [-128, 127].
  EXPECT_EQ(quantize_to_int(200.0f, 1.0f, 0.0f, 8, even, mr), 127);
  EXPECT_EQ(quantize_to_int(-200.0f, 1.0f, 0.0f, 8, even, mr), -128);
  EXPECT_EQ(quantize_to_int(127.5f, 1.0f, 0.0f, 8, even, mr), 127);    // rounds to 128, saturates
  EXPECT_EQ(quantize_to_int(-128.5f, 1.0f, 0.0f, 8, even, mr), -128);  // tie -> -128 (even)
  EXPECT_EQ(quantize_to_int(-128.5f, 1.0f, 0.0f, 8, away, mr), -128);  // -129, saturates
  EXPECT_EQ(quantize_to_int(kInf, 1.0f, 0.0f, 8, even, mr), 127);
  EXPECT_EQ(quantize_to_int(-kInf, 1.0f, 0.0f, 8, even, mr), -128);
  EXPECT_EQ(quantize_to_int(3.0e9f, 1.0f, 0.0f, 8, away, mr), 127);   // beyond int32 too
  // 4 bits: [-8, 7].
  EXPECT_EQ(quantize_to_int(7.4f, 1.0f, 0.0f, 4, even, mr), 7);
  EXPECT_EQ(quantize_to_int(9.0f, 1.0f, 0.0f, 4, even, mr), 7);
  EXPECT_EQ(quantize_to_int(-8.4f, 1.0f, 0.0f, 4, even, mr), -8);
  EXPECT_EQ(quantize_to_int(-9.0f, 1.0f, 0.0f, 4, even, mr), -8);
  EXPECT_EQ(quantize_to_int(-8.5f, 1.0f, 0.0f, 4, away, mr), -8);  // -9, saturates
  // 2 bits: [-2, 1].
  EXPECT_EQ(quantize_to_int(1.6f, 1.0f, 0.0f, 2, even, mr), 1);
  EXPECT_EQ(quantize_to_int(-2.4f, 1.0f, 0.0f, 2, even, mr), -2);
  EXPECT_EQ(quantize_to_int(-3.0f, 1.0f, 0.0f, 2, even, mr), -2);
  EXPECT_THROW(quantize_to_int(1.0f, 1.0f, 0.0f, 1, even, mr), InternalError);
  EXPECT_THROW(quantize_to_int(1.0f, 1.0f, 0.0f, 9, even, mr), InternalError);
}

TEST(NumericsFormats, QuantizeToIntOffsetBeforeRounding) {
  const Rounding even = Rounding::HalfToEven, away = Rounding::HalfAwayFromZero;
  const ScaleApply mr = ScaleApply::MultiplyReciprocal;
  // v = 2.5 / 1 + (-3) = -0.5: a tie only after the offset -> 0 (even) vs -1 (away).
  EXPECT_EQ(quantize_to_int(2.5f, 1.0f, -3.0f, 8, even, mr), 0);
  EXPECT_EQ(quantize_to_int(2.5f, 1.0f, -3.0f, 8, away, mr), -1);
  // v = 2.25 + 10 = 12.25 -> 12; v = 125 + 10 = 135 -> saturates at 127 after the offset.
  EXPECT_EQ(quantize_to_int(2.25f, 1.0f, 10.0f, 8, even, mr), 12);
  EXPECT_EQ(quantize_to_int(125.0f, 1.0f, 10.0f, 8, even, mr), 127);
  EXPECT_EQ(quantize_to_int(-125.0f, 1.0f, -10.0f, 8, even, mr), -128);
}

// ascend-numerics.md §8 item 2: x * (1/s) vs x / s, two pairs found by a scratch search and checked
// by hand. Both directions occur.
TEST(NumericsFormats, ReciprocalVsDivideDiffer) {
  // Case 1: s = fp32(1/7) = 0x3E124925 = 9586981 * 2^-26; 7 * 9586981 = 2^26 + 3, so
  // s = (1/7)(1 + 3 * 2^-26).
  //   1/s = 7 / (1 + 3 * 2^-26) ~ 7 - 21 * 2^-26 = 7 - 0.656 * 2^-21; fp32 spacing in [4, 8) is
  //   2^-21, so 1/s rounds to 7 - 2^-21 = 0x40DFFFFF (6.99999952).
  //   x * (1/s) with x = 2.5: 17.5 - 1.25 * 2^-20 = 17.5 - 0.625 * 2^-19; spacing in [16, 32) is
  //   2^-19 -> 17.5 - 2^-19 = 0x418BFFFF (17.4999981) -> rounds to 17.
  //   x / s = 17.5 / (1 + 3 * 2^-26) ~ 17.5 - 0.41 * 2^-19 -> 17.5 = 0x418C0000 -> tie -> 18
  //   (half-even, 18 is even) and 18 (half-away).
  const float s1 = 1.0f / 7.0f;
  ASSERT_EQ(f32_bits(s1), 0x3E124925u);
  ASSERT_EQ(f32_bits(1.0f / s1), 0x40DFFFFFu);
  ASSERT_EQ(f32_bits(2.5f * (1.0f / s1)), 0x418BFFFFu);
  ASSERT_EQ(f32_bits(2.5f / s1), 0x418C0000u);
  for (Rounding r : {Rounding::HalfToEven, Rounding::HalfAwayFromZero}) {
    EXPECT_EQ(quantize_to_int(2.5f, s1, 0.0f, 8, r, ScaleApply::MultiplyReciprocal), 17);
    EXPECT_EQ(quantize_to_int(2.5f, s1, 0.0f, 8, r, ScaleApply::Divide), 18);
    EXPECT_EQ(quantize_to_int(-2.5f, s1, 0.0f, 8, r, ScaleApply::MultiplyReciprocal), -17);
    EXPECT_EQ(quantize_to_int(-2.5f, s1, 0.0f, 8, r, ScaleApply::Divide), -18);
  }
  // Case 2 (the other direction): s = 0.6f = 0x3F19999A = 0.60000002384185791015625.
  //   1/s = 1.66666660044 -> 0x3FD55555 = 1.66666662693023681640625 (spacing 2^-23).
  //   4.5 * 1.66666662693023681640625 = 7.499999821186...; spacing in [4, 8) is 2^-21 = 4.77e-7,
  //   7.5 is 1.79e-7 away (< half spacing) -> 7.5 = 0x40F00000 -> 8 under both tie rules.
  //   4.5 / s = 7.4999997020 is 2.98e-7 below 7.5 (> half spacing) -> 7.5 - 2^-21 = 0x40EFFFFF -> 7.
  const float s2 = 0.6f;
  ASSERT_EQ(f32_bits(s2), 0x3F19999Au);
  ASSERT_EQ(f32_bits(1.0f / s2), 0x3FD55555u);
  ASSERT_EQ(f32_bits(4.5f * (1.0f / s2)), 0x40F00000u);
  ASSERT_EQ(f32_bits(4.5f / s2), 0x40EFFFFFu);
  for (Rounding r : {Rounding::HalfToEven, Rounding::HalfAwayFromZero}) {
    EXPECT_EQ(quantize_to_int(4.5f, s2, 0.0f, 8, r, ScaleApply::MultiplyReciprocal), 8);
    EXPECT_EQ(quantize_to_int(4.5f, s2, 0.0f, 8, r, ScaleApply::Divide), 7);
  }
}

// The offset is added to the fp32-rounded product (separate multiply and add), not fused.
TEST(NumericsFormats, OffsetAddedAfterProductRounds) {
  // From case 2 above: fp32(4.5 * (1/0.6f)) = 7.5 exactly, while the exact product is
  // 7.499999821186. With offset -7: unfused v = 0.5 (a tie -> 1 half-away, 0 half-even); a fused
  // multiply-add would give 0.499999821 -> 0 under both.
  const float s = 0.6f;
  EXPECT_EQ(quantize_to_int(4.5f, s, -7.0f, 8, Rounding::HalfAwayFromZero,
                            ScaleApply::MultiplyReciprocal), 1);
  EXPECT_EQ(quantize_to_int(4.5f, s, -7.0f, 8, Rounding::HalfToEven,
                            ScaleApply::MultiplyReciprocal), 0);
  // Divide: v = (7.5 - 2^-21) - 7 = 0.5 - 2^-21 (exact) -> 0.
  EXPECT_EQ(quantize_to_int(4.5f, s, -7.0f, 8, Rounding::HalfAwayFromZero, ScaleApply::Divide), 0);
}

TEST(NumericsFormats, QuantizeToIntNaN) {
  for (ScaleApply ap : {ScaleApply::MultiplyReciprocal, ScaleApply::Divide}) {
    for (Rounding r : {Rounding::HalfToEven, Rounding::HalfAwayFromZero}) {
      EXPECT_EQ(quantize_to_int(kNaN, 1.0f, 0.0f, 8, r, ap), kNaNCode);
      EXPECT_EQ(quantize_to_int(-kNaN, 0.5f, 3.0f, 4, r, ap), kNaNCode);
      EXPECT_EQ(quantize_to_int(1.0f, kNaN, 0.0f, 8, r, ap), kNaNCode);   // NaN scale
      EXPECT_EQ(quantize_to_int(0.0f, 0.0f, 0.0f, 8, r, ap), kNaNCode);   // 0 * (1/0), 0 / 0
      EXPECT_EQ(quantize_to_int(1.0f, 0.0f, 0.0f, 8, r, ap), 127);        // 1 * inf, 1 / 0: inf
      EXPECT_EQ(quantize_to_int(-1.0f, 0.0f, 0.0f, 8, r, ap), -128);
      EXPECT_EQ(quantize_to_int(kInf, 1.0f, -kInf, 8, r, ap), kNaNCode);  // inf - inf
    }
  }
}

// DynamicQuant path (ascend-numerics.md §5.4): fp32 -RINT-> int32 -> half -TRUNC,sat-> int8.
TEST(NumericsFormats, Int8ViaHalfRounding) {
  EXPECT_EQ(int8_via_half(2.5f), 2);     // RINT tie -> 2 (even); half 2; trunc 2
  EXPECT_EQ(int8_via_half(3.5f), 4);     // tie -> 4 (even)
  EXPECT_EQ(int8_via_half(-2.5f), -2);
  EXPECT_EQ(int8_via_half(2.4999998f), 2);
  EXPECT_EQ(int8_via_half(-0.5f), 0);    // -0 in int32 is 0
  EXPECT_EQ(int8_via_half(126.5f), 126);
  // 127.5: RINT tie between 127 (odd) and 128 (even) -> int32 128 -> half 128 (exact, |i| <= 2048)
  // -> trunc 128 -> saturate to 127.
  EXPECT_EQ(int8_via_half(127.5f), 127);
  // -127.5: tie -> -128 (even) -> half -128 -> fits: -128. -128.5: tie -> -128 (even) -> -128.
  EXPECT_EQ(int8_via_half(-127.5f), -128);
  EXPECT_EQ(int8_via_half(-128.5f), -128);
  EXPECT_EQ(int8_via_half(-129.5f), -128);  // tie -> -130 -> saturate
}

TEST(NumericsFormats, Int8ViaHalfSaturationThroughHalf) {
  EXPECT_EQ(int8_via_half(300.0f), 127);   // int32 300 -> half 300 (exact) -> saturate
  EXPECT_EQ(int8_via_half(-300.0f), -128);
  // 2049: int32 2049 -> half: spacing 2 in [2048, 4096); tie between 2048 (mantissa 0, even) and
  // 2050 -> 2048 -> trunc 2048 -> saturate 127. The half step loses precision here ...
  EXPECT_EQ(round_to_dtype(2049.0f, DType::F16), 2048.0f);
  EXPECT_EQ(round_to_dtype(2051.0f, DType::F16), 2052.0f);  // tie 2050 (odd) / 2052 -> 2052
  EXPECT_EQ(int8_via_half(2049.0f), 127);
  EXPECT_EQ(int8_via_half(-2049.0f), -128);
  // ... and overflows here: 65519.6f (exact in fp32, spacing 2^-8) -> RINT 65520 -> half inf
  // (65520 is the tie above 65504) -> inf saturates to 127.
  EXPECT_EQ(f32_bits(65519.6015625f), f32_bits(65519.6f));
  EXPECT_EQ(round_to_dtype(65520.0f, DType::F16), kInf);
  EXPECT_EQ(int8_via_half(65519.6f), 127);
  EXPECT_EQ(int8_via_half(-65519.6f), -128);
  EXPECT_EQ(int8_via_half(3.0e9f), 127);    // beyond int32: saturates at 2^31 - 1 -> half inf
  EXPECT_EQ(int8_via_half(-3.0e9f), -128);
  EXPECT_EQ(int8_via_half(kInf), 127);
  EXPECT_EQ(int8_via_half(-kInf), -128);
  EXPECT_EQ(int8_via_half(kNaN), kNaNCode);
}

// Whatever the half step does only affects integers beyond +-2048, which saturate anyway: the path
// equals clamp(rint(v), -128, 127), and quantize_to_int with scale 1, 8 bits, half-to-even.
TEST(NumericsFormats, Int8ViaHalfEqualsClampedRint) {
  auto expected = [](float v) {
    // Round half to even spelled out in double (exact for every fp32).
    const double d = double(v);
    double r = std::floor(d);
    const double frac = d - r;
    if (frac > 0.5 || (frac == 0.5 && std::fmod(r, 2.0) != 0.0)) r += 1.0;
    return int32_t(std::fmin(127.0, std::fmax(-128.0, r)));
  };
  int64_t checked = 0;
  // Dense: every multiple of 1/64 in [-300, 300] (all ties included), exact in fp32.
  for (int k = -300 * 64; k <= 300 * 64; ++k) {
    const float v = float(k) / 64.0f;
    ASSERT_EQ(int8_via_half(v), expected(v)) << v;
    ASSERT_EQ(quantize_to_int(v, 1.0f, 0.0f, 8, Rounding::HalfToEven, ScaleApply::Divide),
              expected(v)) << v;
    ++checked;
  }
  // Sparse: a stride through all 2^32 bit patterns (NaNs checked separately).
  for (uint64_t u = 0; u < (uint64_t(1) << 32); u += 4099) {
    const float v = f32_from_bits(uint32_t(u));
    if (std::isnan(v)) {
      ASSERT_EQ(int8_via_half(v), kNaNCode);
      continue;
    }
    ASSERT_EQ(int8_via_half(v), expected(v)) << std::hex << u;
    ++checked;
  }
  EXPECT_GT(checked, 1000000);
}

}  // namespace quantscope
