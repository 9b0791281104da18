// Hand-computed quantize/dequantize cases for every granularity, sym/asym, both rounding rules, zero
// groups, ragged last group, scale dtypes, clipping search, code packing and activation quantization.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/matmul.h"
#include "model/linear.h"
#include "quant/quantized_linear.h"
#include "quant/quantizer.h"

namespace quantscope {
namespace {

WeightQuantSpec spec(int bits, Granularity g, bool sym, Rounding r = Rounding::HalfToEven, int64_t gs = 0) {
  WeightQuantSpec s;
  s.bits = bits;
  s.granularity = g;
  s.symmetric = sym;
  s.rounding = r;
  s.group_size = gs;
  return s;
}

TEST(QuantRounding, BothRules) {
  EXPECT_EQ(round_value(0.5f, Rounding::HalfToEven), 0.0f);
  EXPECT_EQ(round_value(1.5f, Rounding::HalfToEven), 2.0f);
  EXPECT_EQ(round_value(2.5f, Rounding::HalfToEven), 2.0f);
  EXPECT_EQ(round_value(-2.5f, Rounding::HalfToEven), -2.0f);
  EXPECT_EQ(round_value(-1.5f, Rounding::HalfToEven), -2.0f);
  EXPECT_EQ(round_value(2.4f, Rounding::HalfToEven), 2.0f);
  EXPECT_EQ(round_value(0.5f, Rounding::HalfAwayFromZero), 1.0f);
  EXPECT_EQ(round_value(2.5f, Rounding::HalfAwayFromZero), 3.0f);
  EXPECT_EQ(round_value(-2.5f, Rounding::HalfAwayFromZero), -3.0f);
}

TEST(QuantQuantizer, PerTensorAsymmetric2Bit) {
  // lo = -1, hi = 2: scale = 3 / 3 = 1, zero = round(1 / 1) = 1.
  const float w[] = {-1.0f, 0.0f, 0.5f, 2.0f};
  for (Rounding r : {Rounding::HalfToEven, Rounding::HalfAwayFromZero}) {
    const QuantizedWeight q = quantize_weight(w, 2, 2, spec(2, Granularity::Tensor, false, r));
    ASSERT_EQ(q.scales.size(), 1u);
    EXPECT_EQ(q.scales[0], 1.0f);
    EXPECT_EQ(q.zeros[0], 1.0f);
    const uint8_t half = r == Rounding::HalfToEven ? 1 : 2;  // 0.5 -> 0 or 1, + zero
    EXPECT_EQ(q.unpacked_codes(), (std::vector<uint8_t>{0, 1, half, 3}));
    EXPECT_EQ(q.dequantize(), (std::vector<float>{-1.0f, 0.0f, r == Rounding::HalfToEven ? 0.0f : 1.0f, 2.0f}));
  }
}

TEST(QuantQuantizer, PerChannelSymmetric3BitWithZeroRow) {
  // 3 bits symmetric: q in [-3, 3], code = q + 4, scale = absmax / 3.
  const float w[] = {3.0f, -1.5f, 0.5f, 0.0f,   // scale 1: q = 3, -2, 0|1, 0
                     0.0f, 0.0f,  0.0f, 0.0f,   // all zero: scale 0, codes = zero point, no NaN
                     -6.0f, 1.0f, 2.5f, -3.0f};  // scale 2: q = -3, 0|1 (0.5), 1 (1.25), -2 (-1.5)
  for (Rounding r : {Rounding::HalfToEven, Rounding::HalfAwayFromZero}) {
    const bool even = r == Rounding::HalfToEven;
    const QuantizedWeight q = quantize_weight(w, 3, 4, spec(3, Granularity::Channel, true, r));
    EXPECT_EQ(q.scales, (std::vector<float>{1.0f, 0.0f, 2.0f}));
    EXPECT_TRUE(q.zeros.empty());
    EXPECT_EQ(q.unpacked_codes(), (std::vector<uint8_t>{7, 2, uint8_t(even ? 4 : 5), 4, 4, 4, 4, 4, 1, uint8_t(even ? 4 : 5), 5, 2}));
    EXPECT_EQ(q.dequantize(), (std::vector<float>{3, -2, even ? 0.0f : 1.0f, 0, 0, 0, 0, 0, -6, even ? 0.0f : 2.0f, 2, -4}));
  }
}

TEST(QuantQuantizer, PerGroupAsymmetricRaggedLastGroup) {
  // K = 5, group 3: groups [0, 3) and a ragged [3, 5). 4 bits asymmetric (codes 0..15).
  const float w[] = {0.0f, 6.5f, 15.0f, -5.0f, 10.0f,  // g0: [0, 15] scale 1 zero 0; g1: [-5, 10] scale 1 zero 5
                     0.0f, 0.0f, 0.0f,  0.0f,  0.0f};  // zero groups
  for (Rounding r : {Rounding::HalfToEven, Rounding::HalfAwayFromZero}) {
    const bool even = r == Rounding::HalfToEven;
    const QuantizedWeight q = quantize_weight(w, 2, 5, spec(4, Granularity::Group, false, r, 3));
    EXPECT_EQ(q.groups, 2);
    EXPECT_EQ(q.group_size, 3);
    EXPECT_EQ(q.scales, (std::vector<float>{1, 1, 0, 0}));
    EXPECT_EQ(q.zeros, (std::vector<float>{0, 5, 0, 0}));
    EXPECT_EQ(q.unpacked_codes(), (std::vector<uint8_t>{0, uint8_t(even ? 6 : 7), 15, 0, 15, 0, 0, 0, 0, 0}));
    const auto d = q.dequantize();
    EXPECT_EQ(d, (std::vector<float>{0, even ? 6.0f : 7.0f, 15, -5, 10, 0, 0, 0, 0, 0}));
  }
}

TEST(QuantQuantizer, GroupLargerThanRowIsOneGroup) {
  const float w[] = {1.0f, -1.0f, 0.5f};
  const QuantizedWeight q = quantize_weight(w, 1, 3, spec(8, Granularity::Group, true, Rounding::HalfToEven, 128));
  EXPECT_EQ(q.groups, 1);
  EXPECT_EQ(q.group_size, 3);
}

TEST(QuantQuantizer, AsymmetricZeroPointRoundingAndAllPositiveRange) {
  // All positive: the range is widened to include 0 -> lo = 0, zero = 0.
  const float w[] = {3.0f, 6.0f, 9.0f};
  const QuantizedWeight q = quantize_weight(w, 1, 3, spec(2, Granularity::Channel, false));
  EXPECT_EQ(q.scales[0], 3.0f);
  EXPECT_EQ(q.zeros[0], 0.0f);
  EXPECT_EQ(q.unpacked_codes(), (std::vector<uint8_t>{1, 2, 3}));
}

TEST(QuantQuantizer, OneBitSymmetricIsSignTimesMeanAbs) {
  const float w[] = {1.0f, -3.0f, 2.0f, 0.0f};  // mean |w| = 1.5
  const QuantizedWeight q = quantize_weight(w, 1, 4, spec(1, Granularity::Channel, true));
  EXPECT_EQ(q.scales[0], 3.0f);  // stored as 2m with zero 1/2
  EXPECT_EQ(q.unpacked_codes(), (std::vector<uint8_t>{1, 0, 1, 1}));
  EXPECT_EQ(q.dequantize(), (std::vector<float>{1.5f, -1.5f, 1.5f, 1.5f}));
  const float z[] = {0, 0};
  EXPECT_EQ(quantize_weight(z, 1, 2, spec(1, Granularity::Channel, true)).dequantize(), (std::vector<float>{0, 0}));
}

TEST(QuantQuantizer, ScaleRoundedToDtypeBeforeCodes) {
  // 4-bit symmetric, absmax 1: scale 1/7 is not representable in bf16 or f16.
  const float w[] = {1.0f, -0.5f, 0.3f, 0.0f};
  for (DType dt : {DType::BF16, DType::F16, DType::F32}) {
    WeightQuantSpec s = spec(4, Granularity::Channel, true);
    s.scale_dtype = dt;
    const QuantizedWeight q = quantize_weight(w, 1, 4, s);
    const float expect = round_to_dtype(1.0f / 7.0f, dt);
    EXPECT_EQ(q.scales[0], expect);
    // Codes were chosen with the stored scale: each is the nearest code to w / stored scale.
    for (int j = 0; j < 4; ++j) {
      const float qv = std::clamp(round_value(w[j] / expect, Rounding::HalfToEven), -7.0f, 7.0f);
      EXPECT_EQ(q.code(0, j), uint8_t(qv + 8.0f)) << j;
    }
  }
  EXPECT_EQ(round_to_dtype(1.0f / 7.0f, DType::BF16), 0.142578125f);
}

TEST(QuantQuantizer, ClipSearchNeverWorseAndShrinksOutlierRange) {
  std::vector<float> w(64);
  for (int i = 0; i < 64; ++i) w[size_t(i)] = 0.01f * float(i % 17) - 0.08f;
  w[5] = 3.0f;  // an outlier stretches the range
  WeightQuantSpec s = spec(3, Granularity::Channel, false);
  const QuantizedWeight plain = quantize_weight(w.data(), 1, 64, s);
  s.clip_search = true;
  const QuantizedWeight clipped = quantize_weight(w.data(), 1, 64, s);
  EXPECT_LE(relative_weight_error(w.data(), clipped), relative_weight_error(w.data(), plain));
}

TEST(QuantQuantizer, AllGranularitiesStayFiniteOnZeroMatrix) {
  std::vector<float> w(3 * 7, 0.0f);
  for (bool sym : {false, true})
    for (int bits : {1, 2, 4, 8})
      for (Granularity g : {Granularity::Tensor, Granularity::Channel, Granularity::Group}) {
        const QuantizedWeight q = quantize_weight(w.data(), 3, 7, spec(bits, g, sym, Rounding::HalfToEven, 4));
        for (float v : q.dequantize()) EXPECT_EQ(v, 0.0f);
      }
}

TEST(QuantQuantizer, RejectsImpossibleSpecs) {
  const float w[] = {1.0f};
  EXPECT_THROW(quantize_weight(w, 1, 1, spec(0, Granularity::Channel, false)), InputError);
  EXPECT_THROW(quantize_weight(w, 1, 1, spec(9, Granularity::Channel, false)), InputError);
  EXPECT_THROW(quantize_weight(w, 1, 1, spec(4, Granularity::Group, false, Rounding::HalfToEven, 0)), InputError);
  const float big[] = {1e9f};
  WeightQuantSpec s = spec(4, Granularity::Channel, true);
  s.scale_dtype = DType::F16;
  EXPECT_THROW(quantize_weight(big, 1, 1, s), InputError);  // scale overflows f16
}

TEST(QuantPacking, RoundTripsEveryWidthWithOddColumns) {
  std::mt19937 rng(7);
  for (int bits = 1; bits <= 8; ++bits) {
    const int64_t rows = 3, cols = 13;
    std::vector<uint8_t> codes(size_t(rows * cols));
    for (auto& c : codes) c = uint8_t(rng() % uint32_t(code_max(bits) + 1));
    const auto packed = pack_codes(codes, rows, cols, bits);
    EXPECT_EQ(int64_t(packed.size()), rows * ((cols * bits + 7) / 8));
    EXPECT_EQ(unpack_codes(packed.data(), rows, cols, bits), codes) << bits;
  }
  // 4 bits: two codes per byte, low nibble first.
  EXPECT_EQ(pack_codes({1, 2, 3}, 1, 3, 4), (std::vector<uint8_t>{0x21, 0x03}));
}

// QuantizedWeight holds its codes packed: set_code overwrites one code in place (twice, to check the
// old bits are cleared, including codes that straddle a byte) and the result is pack_codes' layout.
TEST(QuantPacking, SetCodeWritesThePackedLayoutInPlace) {
  std::mt19937 rng(11);
  for (int bits = 1; bits <= 8; ++bits) {
    WeightQuantSpec s;
    s.bits = bits;
    QuantizedWeight q = QuantizedWeight::layout(3, 13, s);
    std::vector<uint8_t> codes(size_t(3 * 13));
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t r = 0; r < 3; ++r)
        for (int64_t c = 0; c < 13; ++c) {
          const uint8_t v = uint8_t(rng() % uint32_t(code_max(bits) + 1));
          codes[size_t(r * 13 + c)] = v;
          q.set_code(r, c, v);
        }
    EXPECT_EQ(std::vector<uint8_t>(q.packed.begin(), q.packed.end()), pack_codes(codes, 3, 13, bits)) << bits;
    EXPECT_EQ(q.unpacked_codes(), codes) << bits;
    for (int64_t c = 0; c < 13; ++c) EXPECT_EQ(q.code(1, c), codes[size_t(13 + c)]) << bits;
  }
}

TEST(QuantActivations, PerTokenSymmetricAndStaticAsymmetric) {
  // 4 bits per token: qpos 7; row 0 absmax 7 -> scale 1; row 1 all zero stays zero.
  std::vector<float> x = {7.0f, -3.5f, 1.2f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  fake_quant_act_per_token(x.data(), 2, 4, 4, Rounding::HalfToEven);
  EXPECT_EQ(x, (std::vector<float>{7, -4, 1, 0, 0, 0, 0, 0}));
  std::vector<float> y = {7.0f, -3.5f};
  fake_quant_act_per_token(y.data(), 1, 2, 4, Rounding::HalfAwayFromZero);
  EXPECT_EQ(y, (std::vector<float>{7, -4}));
  // Static 2-bit over [-1, 2]: scale 1, zero 1; values outside the range clamp.
  const GroupParams p = act_params_static(-1.0f, 2.0f, 2, Rounding::HalfToEven);
  EXPECT_EQ(p.scale, 1.0f);
  EXPECT_EQ(p.zero, 1.0f);
  std::vector<float> z = {-5.0f, 0.4f, 1.6f, 9.0f};
  fake_quant_act_static(z.data(), 4, p, 2, Rounding::HalfToEven);
  EXPECT_EQ(z, (std::vector<float>{-1, 0, 2, 2}));
}

TEST(QuantActivations, ObserverPercentiles) {
  ActRangeObserver o;
  std::vector<float> v(1001);
  for (int i = 0; i <= 1000; ++i) v[size_t(i)] = float(i) - 500.0f;
  o.observe(v.data(), 1001);
  EXPECT_EQ(o.min(), -500.0f);
  EXPECT_EQ(o.max(), 500.0f);
  float lo, hi;
  o.percentile_range(99.0, &lo, &hi);
  EXPECT_EQ(lo, -490.0f);
  EXPECT_EQ(hi, 490.0f);
}

TEST(QuantLinear, IdenticalToDenseOverDequantizedMatrix) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t n = 37, k = 172, m = 5;
  std::vector<float> w(size_t(n * k)), x(size_t(m * k)), bias(static_cast<size_t>(n));
  for (auto& v : w) v = nd(rng);
  for (auto& v : x) v = nd(rng);
  for (auto& v : bias) v = nd(rng);
  QuantizedWeight q = quantize_weight(w.data(), n, k, spec(4, Granularity::Group, false, Rounding::HalfToEven, 32));
  const std::vector<float> dq = q.dequantize();
  QuantizedLinear ql("t", std::move(q), bias);
  DenseLinear dl(DenseMatrix{DType::F32, n, k, dq.data()}, bias);
  std::vector<float> y1(size_t(m * n)), y2(size_t(m * n));
  ql.forward(x.data(), m, y1.data());
  dl.forward(x.data(), m, y2.data());
  EXPECT_EQ(y1, y2);
  EXPECT_LT(ql.weight_bytes(), dl.weight_bytes());
}

TEST(QuantLinear, ReportsFirstNonFiniteOutput) {
  const float w[] = {1.0f, 1.0f, 1.0f, 1.0f};
  ActQuantSpec a;
  a.bits = 4;
  QuantizedLinear ql("model.layers.1.mlp.down_proj.weight", quantize_weight(w, 2, 2, spec(4, Granularity::Channel, true)),
                     {}, a);
  reset_non_finite();
  const float x[] = {1.0f, 2.0f, std::numeric_limits<float>::infinity(), 0.0f};
  float y[4];
  ql.forward(x, 2, y);  // token 1 has an Inf input: must not crash, must be reported
  const auto e = first_non_finite();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->tensor, "model.layers.1.mlp.down_proj.weight");
  EXPECT_EQ(e->token, 1);
  reset_non_finite();
}

TEST(QuantLinear, FindsTheFirstNonFiniteOutputInLargeOutputs) {
  // Outputs of 300 tokens x 7 features (2100 floats: whole blocks of the vectorized scan and a tail):
  // an Inf input on token t gives non-finite outputs from element 7 t on; none when every input is finite.
  const int64_t n = 7, k = 3, m = 300;
  std::vector<float> w(size_t(n * k));
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.25f * float(i % 5) + 0.5f;
  QuantizedLinear ql("model.layers.0.mlp.up_proj.weight", quantize_weight(w.data(), n, k, spec(8, Granularity::Channel, true)),
                     {});
  std::vector<float> x(size_t(m * k), 1.0f), y(size_t(m * n));
  for (int64_t t : {int64_t(-1), int64_t(0), int64_t(73), int64_t(145), int64_t(299)}) {
    reset_non_finite();
    std::fill(x.begin(), x.end(), 1.0f);
    if (t >= 0) x[size_t(t * k + 1)] = std::numeric_limits<float>::infinity();
    ql.forward(x.data(), m, y.data());
    const auto e = first_non_finite();
    ASSERT_EQ(e.has_value(), t >= 0) << t;
    if (t >= 0) {
      EXPECT_EQ(e->token, t);
      EXPECT_EQ(e->feature, 0);
    }
  }
  reset_non_finite();
}

TEST(QuantLinear, FirstNonFiniteOutputIsTheFirstWhicheverThreadFindsOne) {
  // 300 tokens x 512 features: 300 blocks of the scan, split over 2 threads. Inf inputs on two tokens,
  // one in each thread's half (or both in one): the report is the earlier token for 1 and 2 threads.
  const int64_t n = 512, k = 2, m = 300;
  std::vector<float> w(size_t(n * k));
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.125f * float(i % 7) + 0.5f;
  QuantizedLinear ql("model.layers.0.mlp.gate_proj.weight", quantize_weight(w.data(), n, k, spec(8, Granularity::Channel, true)),
                     {});
  std::vector<float> x(size_t(m * k)), y(size_t(m * n));
  const int saved = num_threads();
  for (int threads : {1, 2})
    for (auto [t1, t2] : {std::pair<int64_t, int64_t>{40, 250}, {160, 290}, {10, 20}, {299, 299}}) {
      set_num_threads(threads);
      reset_non_finite();
      std::fill(x.begin(), x.end(), 1.0f);
      x[size_t(t1 * k)] = std::numeric_limits<float>::infinity();
      x[size_t(t2 * k + 1)] = -std::numeric_limits<float>::infinity();
      ql.forward(x.data(), m, y.data());
      const auto e = first_non_finite();
      ASSERT_TRUE(e.has_value()) << threads << " " << t1;
      EXPECT_EQ(e->token, t1) << threads << " threads, infs on tokens " << t1 << " and " << t2;
      EXPECT_EQ(e->feature, 0);
    }
  set_num_threads(saved);
  reset_non_finite();
}

}  // namespace
}  // namespace quantscope
