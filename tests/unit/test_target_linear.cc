// Quantized linears under a target's pipeline (targets/target_linear.h), on cases small enough to
// compute by hand: the integers that enter the product, the dequant scale's format, the scale dtype
// of weight-only kernels, llama.cpp's 8-bit activation blocks.
#include <gtest/gtest.h>

#include <cmath>

#include "numerics/float_formats.h"
#include "targets/target_linear.h"

namespace quantscope {
namespace {

// One output row of k weights with integer values wint (symmetric 8-bit, per channel, scale sw).
std::unique_ptr<Linear> linear_w8(const std::vector<int>& wint, float sw, ActQuantSpec act, std::vector<float> bias = {}) {
  WeightQuantSpec s;
  s.bits = 8;
  s.granularity = Granularity::Channel;
  s.symmetric = true;
  QuantizedWeight w = QuantizedWeight::layout(1, int64_t(wint.size()), s);
  for (size_t c = 0; c < wint.size(); ++c) w.set_code(0, int64_t(c), uint8_t(wint[c] + 128));  // symmetric zero 128
  w.set_params(0, 0, GroupParams{sw, 0.0f});
  return std::make_unique<QuantizedLinear>("t", std::move(w), std::move(bias), act);
}

float run(std::unique_ptr<Linear> l, const char* target, DType act, const std::vector<float>& x) {
  TargetLinear t(std::move(l), load_target(target), act);
  float y = 0;
  t.forward(x.data(), 1, &y);
  return y;
}

TEST(TargetLinear, StaticW8A8IntegersAndFp19DeqScale) {
  // x * (1/s) + offset rounded half-to-even, offset added BEFORE rounding (AscendQuant):
  // s = 0.5, unsigned zero 129 -> signed offset 1: x = 1.25 -> 2.5 + 1 = 3.5 -> 4 -> q - offset = 3
  // (rounding 2.5 first would give 2 + 1 = 3 -> 2); x = -0.75 -> -1.5 + 1 = -0.5 -> -0 -> -1;
  // x = 2.0 -> 4 + 1 = 5 -> 4.
  ActQuantSpec a;
  a.bits = 8;
  a.granularity = ActGranularity::Tensor;
  a.calibrated = true;
  a.static_params = GroupParams{0.5f, 129.0f};
  const std::vector<int> w = {3, -2, 5};
  const std::vector<float> x = {1.25f, -0.75f, 2.0f};
  const int64_t acc = 3 * 3 + (-1) * (-2) + 4 * 5;  // 31
  // weight scale 1/3: deq = 0.5f * fp32(1/3) in fp32.
  const float sw = 1.0f / 3.0f;
  const float deq = 0.5f * sw;
  EXPECT_EQ(run(linear_w8(w, sw, a), "ascend-910b1", DType::BF16, x), float(acc) * deq);  // bf16 output: fp32 deq
  // fp16 output (310P): deq truncated to FP19 (low 13 mantissa bits dropped).
  const float deq19 = fp19_truncate(deq);
  ASSERT_NE(deq19, deq);
  EXPECT_EQ(run(linear_w8(w, sw, a), "ascend-310p", DType::F16, x), float(acc) * deq19);
  // The bias enters the accumulator as quant_bias = round(bias / deq).
  const float b = 1.0f;
  EXPECT_EQ(run(linear_w8(w, sw, a, {b}), "ascend-910b1", DType::BF16, x),
            float(acc + int64_t(std::nearbyint(b / deq))) * deq);
}

TEST(TargetLinear, DynamicPerTokenScales) {
  ActQuantSpec a;
  a.bits = 8;
  a.granularity = ActGranularity::Token;
  const std::vector<int> w = {1, 2, -1, 4};
  const std::vector<float> x = {0.5f, -1.0f, 0.25f, 0.3f};
  // amax 1.0: s = 1/127; Ascend multiplies by 127/amax = 127: 63.5 -> 64 (half-even), -127, 31.75 -> 32,
  // 38.1 -> 38.
  const int64_t acc = 64 * 1 + (-127) * 2 + 32 * (-1) + 38 * 4;
  const float sw = 0.02f;
  const float expect = (float(acc) * sw) * (1.0f / 127.0f);
  EXPECT_EQ(run(linear_w8(w, sw, a), "ascend-910b1", DType::BF16, x), expect);
}

TEST(TargetLinear, WeightOnlyScalesTakeTheActivationDtype) {
  WeightQuantSpec s;
  s.bits = 4;
  s.granularity = Granularity::Group;
  s.group_size = 32;
  s.symmetric = false;
  QuantizedWeight w = QuantizedWeight::layout(1, 32, s);
  for (int c = 0; c < 32; ++c) w.set_code(0, c, uint8_t(c % 16));
  const float scale = 1.0f / 7.0f;  // not representable in bf16: 0x3E124925 -> bf16 0x3E12
  w.set_params(0, 0, GroupParams{scale, 3.0f});
  auto q = std::make_unique<QuantizedLinear>("t", w, std::vector<float>{}, ActQuantSpec{});
  std::vector<float> x(32);
  for (int c = 0; c < 32; ++c) x[size_t(c)] = round_to_dtype(0.1f * float(c - 16), DType::BF16);
  TargetLinear t(std::move(q), load_target("ascend-910b1"), DType::BF16);
  float y = 0;
  t.forward(x.data(), 1, &y);
  const float s_bf16 = round_to_dtype(scale, DType::BF16);
  ASSERT_EQ(s_bf16, 0.142578125f);
  // Reference: weights (code - zero) * bf16 scale rounded to bf16, then dot_f32's order (16 lanes,
  // pairwise tree); with 32 terms: lane l sums terms l and l + 16.
  float lanes[16];
  for (int l = 0; l < 16; ++l) {
    lanes[l] = 0.0f;
    for (int c = l; c < 32; c += 16)
      lanes[l] = std::fma(x[size_t(c)], round_to_dtype(float(c % 16 - 3) * s_bf16, DType::BF16), lanes[l]);
  }
  for (int width = 8; width >= 1; width /= 2)
    for (int l = 0; l < width; ++l) lanes[l] += lanes[l + width];
  EXPECT_EQ(y, lanes[0]);
}

TEST(TargetLinear, LlamaCppQuantizesActivationsInBlocksOf32) {
  WeightQuantSpec s;
  s.bits = 8;
  s.granularity = Granularity::Group;
  s.group_size = 32;
  s.symmetric = true;
  s.scale_dtype = DType::F16;
  QuantizedWeight w = QuantizedWeight::layout(1, 64, s);
  for (int c = 0; c < 64; ++c) w.set_code(0, c, uint8_t(128 + (c % 5) - 2));  // w - zero in -2..2
  w.set_params(0, 0, GroupParams{0.5f, 0.0f});
  w.set_params(0, 1, GroupParams{0.25f, 0.0f});
  auto q = std::make_unique<QuantizedLinear>("t", w, std::vector<float>{}, ActQuantSpec{});
  // Block 0 all 2.54 except one -2.54 (amax 2.54: d = 0.02, x * (1/d) = 127 exactly or -127);
  // block 1 one 1.27 (d = 0.01 -> q = 127) and zeros.
  std::vector<float> x(64, 0.0f);
  for (int c = 0; c < 32; ++c) x[size_t(c)] = c == 7 ? -2.54f : 2.54f;
  x[40] = 1.27f;
  TargetLinear t(std::move(q), load_target("llamacpp-cpu"), DType::F32);
  float y = 0;
  t.forward(x.data(), 1, &y);
  int32_t i0 = 0, i1 = 0;
  for (int c = 0; c < 32; ++c) {
    const float d = 2.54f / 127.0f, id = 1.0f / d;
    const int32_t qx = int32_t(std::round(x[size_t(c)] * id));  // roundf: half away from zero
    i0 += qx * ((c % 5) - 2);
  }
  {
    const float d = 1.27f / 127.0f, id = 1.0f / d;
    i1 += int32_t(std::round(1.27f * id)) * ((40 % 5) - 2);
  }
  const float d0 = round_to_dtype(2.54f / 127.0f, DType::F16), d1 = round_to_dtype(1.27f / 127.0f, DType::F16);
  float expect = 0.0f;
  expect += float(i0) * (d0 * 0.5f);
  expect += float(i1) * (d1 * 0.25f);
  EXPECT_EQ(y, expect);
}

}  // namespace
}  // namespace quantscope
