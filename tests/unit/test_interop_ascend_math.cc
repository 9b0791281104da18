// The AscendV1 export formulas (interop/ascend_v1_math.h) on values computed by hand.
#include <gtest/gtest.h>

#include <cstring>

#include "interop/ascend_v1_math.h"

namespace quantscope {
namespace {

TEST(AscendV1Math, DeqScaleIsTheFp32Product) {
  EXPECT_EQ(ascend_deq_scale(0.5f, 0.25f), 0.125f);
  // 0.1f * 0.3f in fp32 (not the double product rounded once): 0x3CF5C290 = 0.030000001...
  const float d = ascend_deq_scale(0.1f, 0.3f);
  uint32_t bits;
  std::memcpy(&bits, &d, 4);
  EXPECT_EQ(bits, 0x3CF5C290u);
}

TEST(AscendV1Math, QuantBiasByHand) {
  // bias 1.0, deq 0.125 -> 8; sum(Wq) = 10, input_offset -3 -> 8 - 10 * (-3) = 38.
  EXPECT_EQ(ascend_quant_bias(1.0f, 0.125f, 10, -3), 38);
  // Ties round half to even (torch.round): 0.0625 / 0.125 = 0.5 -> 0; 0.1875 / 0.125 = 1.5 -> 2;
  // -0.3125 / 0.125 = -2.5 -> -2.
  EXPECT_EQ(ascend_quant_bias(0.0625f, 0.125f, 0, 5), 0);
  EXPECT_EQ(ascend_quant_bias(0.1875f, 0.125f, 0, 5), 2);
  EXPECT_EQ(ascend_quant_bias(-0.3125f, 0.125f, 0, 0), -2);
  // No bias: only the offset term; a zero channel (deq 0) drops the bias term.
  EXPECT_EQ(ascend_quant_bias(0.0f, 0.5f, -7, 4), 28);
  EXPECT_EQ(ascend_quant_bias(3.0f, 0.0f, 2, 1), -2);
  // Out of int32: refused by the caller.
  EXPECT_FALSE(ascend_fits_int32(ascend_quant_bias(1e30f, 1e-10f, 0, 0)));
  EXPECT_TRUE(ascend_fits_int32(ascend_quant_bias(1.0f, 0.125f, 10, -3)));
}

TEST(AscendV1Math, DeqScaleInt64IsTheFp32BitPattern) {
  // 0.125f = 0x3E000000 (deqscale2int64.py: the fp32 bits as an integer).
  EXPECT_EQ(ascend_deq_scale_to_int64(0.125f), int64_t(0x3E000000));
  EXPECT_EQ(ascend_deq_scale_to_int64(1.0f), int64_t(1065353216));
  float back = 0;
  ASSERT_TRUE(ascend_deq_scale_from_int64(int64_t(0x3E000000), &back));
  EXPECT_EQ(back, 0.125f);
  // Upper bits set (e.g. TransQuantParam's 1 << 46 flag) is not a stored deq_scale.
  EXPECT_FALSE(ascend_deq_scale_from_int64(int64_t(0x3E000000) | (int64_t(1) << 46), &back));
}

}  // namespace
}  // namespace quantscope
