// BiLLM (binarization with salient residual and bell-shaped split) and SliM-LLM (salience-driven
// mixed-precision groups): hand-checkable binarizations, error orderings on synthetic Hessians, the
// exact-average bit allocation, and a stories260K quantize -> save -> ppl run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "quant/billm.h"
#include "quant/calibration.h"
#include "quant/rtn.h"
#include "quant/simulated_storage.h"
#include "quant/slim_llm.h"
#include "test_util.h"

namespace quantscope {
namespace {

double sq_err(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e += double(a[i] - b[i]) * double(a[i] - b[i]);
  return e;
}

// Weighted error sum_j H_jj sum_r (w - q)^2.
double diag_weighted_err(const std::vector<float>& w, const std::vector<float>& q, int64_t rows, int64_t cols,
                         const Hessian& h) {
  double e = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const double d = double(w[size_t(r * cols + c)]) - q[size_t(r * cols + c)];
      e += h.at(c, c) * d * d;
    }
  return e;
}

TEST(QuantBillm, SignBinarizationUsesMeanAbs) {
  const std::vector<float> w = {1.0f, -3.0f, 0.5f, -0.5f, 0.0f};
  std::vector<float> q(w.size());
  const float a = binarize_sign(w.data(), int64_t(w.size()), q.data());
  EXPECT_FLOAT_EQ(a, 1.0f);  // (1 + 3 + 0.5 + 0.5 + 0) / 5
  EXPECT_EQ(q, (std::vector<float>{1.0f, -1.0f, 1.0f, -1.0f, 1.0f}));
}

TEST(QuantBillm, ResidualBinarizationByHand) {
  // a1 = mean|w| = 2.5; residuals (4 - 2.5, -1 + 2.5, 2 - 2.5, -3 + 2.5) = (1.5, 1.5, -0.5, -0.5), a2 = 1:
  // q = (2.5 + 1, -2.5 + 1, 2.5 - 1, -2.5 - 1).
  const std::vector<float> w = {4.0f, -1.0f, 2.0f, -3.0f};
  std::vector<float> q(w.size());
  binarize_residual(w.data(), 4, q.data());
  EXPECT_EQ(q, (std::vector<float>{3.5f, -1.5f, 1.5f, -3.5f}));
}

TEST(QuantBillm, SplitByHandAndNeverWorseThanSign) {
  // Magnitudes {1, 1, 1, 5}: the best split is {1,1,1} | {5}, exact.
  const std::vector<float> w = {1.0f, -1.0f, 1.0f, -5.0f};
  std::vector<float> q(w.size()), qs(w.size());
  const float p = binarize_split(w.data(), 4, q.data());
  EXPECT_FLOAT_EQ(p, 1.0f);
  EXPECT_EQ(q, w);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(200), q1(200), q2(200);
  for (auto& x : v) x = nd(rng);
  binarize_sign(v.data(), 200, q1.data());
  binarize_split(v.data(), 200, q2.data());
  EXPECT_LT(sq_err(v, q2), 0.7 * sq_err(v, q1));  // a bell-shaped row: the split helps a lot
}

TEST(QuantBillm, SalientHandlingBeatsPlainSign) {
  // Weights with a few large input columns (outlier channels) and an identity-ish Hessian.
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t rows = 16, cols = 64, tokens = 300;
  std::vector<float> w(size_t(rows * cols)), x(size_t(tokens * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) w[size_t(r * cols + c)] = nd(rng) * (c % 16 == 3 ? 8.0f : 1.0f);
  for (auto& v : x) v = nd(rng);
  Hessian h(cols);
  h.add(x.data(), tokens);
  std::vector<float> plain(w.size());
  for (int64_t r = 0; r < rows; ++r) binarize_sign(w.data() + r * cols, cols, plain.data() + r * cols);
  BillmParams p;
  p.block_size = 32;  // two blocks
  p.compensate = false;
  const SimulatedQuant b = billm_quantize(w.data(), rows, cols, h, p);
  EXPECT_LT(sq_err(w, b.dequantized), 0.5 * sq_err(w, plain));
  EXPECT_GT(b.bits_per_weight, 1.0);
  EXPECT_LT(b.bits_per_weight, 1.6);
  // Output error on the calibration inputs: compensation helps.
  p.compensate = true;
  const SimulatedQuant bc = billm_quantize(w.data(), rows, cols, h, p);
  EXPECT_LT(relative_output_error(w.data(), bc.dequantized.data(), rows, cols, h),
            relative_output_error(w.data(), b.dequantized.data(), rows, cols, h));
}

TEST(QuantBillm, ExactEncodingRoundTrips) {
  const std::vector<float> d = {0.25f, -1.5f, 0.0f, 3e-7f, -2.0f, 7.0f};
  const QuantizedWeight q = exact_weight_encoding(d, 2, 3);
  EXPECT_EQ(q.dequantize(), d);
}

struct SlimCase {
  int64_t rows = 16, cols = 256;
  std::vector<float> w;
  Hessian h{256};
};

// A salient-heavy synthetic layer: a few input channels with large activations (and so large H_jj).
SlimCase salient_case() {
  SlimCase c;
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  c.w.resize(size_t(c.rows * c.cols));
  for (auto& v : c.w) v = nd(rng);
  const int64_t tokens = 200;
  std::vector<float> x(size_t(tokens * c.cols));
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t j = 0; j < c.cols; ++j) x[size_t(t * c.cols + j)] = nd(rng) * (j / 32 == 2 ? 20.0f : j / 32 == 5 ? 6.0f : 1.0f);
  c.h.add(x.data(), tokens);
  return c;
}

TEST(QuantSlimLlm, AverageBitsExactlyTarget) {
  const SlimCase c = salient_case();
  for (int bits : {2, 3, 4}) {
    WeightQuantSpec s;
    s.bits = bits;
    s.granularity = Granularity::Group;
    s.group_size = 32;
    SlimLlmAllocation a;
    const SimulatedQuant q = slim_llm_quantize(c.w.data(), c.rows, c.cols, c.h, s, {}, &a);
    ASSERT_EQ(a.bits.size(), 8u);
    int sum = 0, changed = 0;
    for (int b : a.bits) {
      sum += b;
      changed += b != bits;
      EXPECT_GE(b, bits - 1);
      EXPECT_LE(b, bits + 1);
    }
    EXPECT_EQ(sum, 8 * bits);
    EXPECT_GT(changed, 0) << bits;  // the salient groups do get more bits here
    EXPECT_EQ(a.bits[2], bits + 1);  // the most salient group
    EXPECT_DOUBLE_EQ(q.code_bits_per_weight, double(bits));
    // code bits + fp32 scale + 8-bit zero per row per group of 32 + 2 bits per column group
    EXPECT_NEAR(q.bits_per_weight, bits + 40.0 / 32 + 2.0 * 8 / double(c.rows * c.cols), 1e-12);
  }
  // Ragged: K = 256 with g = 48 -> 5 full groups + 16 columns kept at b.
  WeightQuantSpec s;
  s.bits = 3;
  s.granularity = Granularity::Group;
  s.group_size = 48;
  const SimulatedQuant q = slim_llm_quantize(c.w.data(), c.rows, c.cols, c.h, s);
  EXPECT_DOUBLE_EQ(q.code_bits_per_weight, 3.0);
}

TEST(QuantSlimLlm, BeatsUniformRtnOnSalientHessian) {
  const SlimCase c = salient_case();
  for (int bits : {2, 3}) {
    WeightQuantSpec s;
    s.bits = bits;
    s.granularity = Granularity::Group;
    s.group_size = 32;
    const std::vector<float> rtn = rtn_quantize(c.w.data(), c.rows, c.cols, s).dequantize();
    SlimLlmParams p;
    p.gptq = false;  // the allocation alone
    const SimulatedQuant sr = slim_llm_quantize(c.w.data(), c.rows, c.cols, c.h, s, p);
    EXPECT_LT(diag_weighted_err(c.w, sr.dequantized, c.rows, c.cols, c.h),
              0.8 * diag_weighted_err(c.w, rtn, c.rows, c.cols, c.h)) << bits;
    p.gptq = true;
    const SimulatedQuant sg = slim_llm_quantize(c.w.data(), c.rows, c.cols, c.h, s, p);
    EXPECT_LT(relative_output_error(c.w.data(), sg.dequantized.data(), c.rows, c.cols, c.h),
              relative_output_error(c.w.data(), sr.dequantized.data(), c.rows, c.cols, c.h)) << bits;
  }
}

TEST(QuantSlimLlm, RejectsUnsupportedBits) {
  const SlimCase c = salient_case();
  WeightQuantSpec s;
  s.bits = 1;
  EXPECT_ANY_THROW(slim_llm_quantize(c.w.data(), c.rows, c.cols, c.h, s));
}

// quantize -> save -> ppl on the directory, through the CLI (few calibration samples).
void quantize_and_ppl(const std::string& scheme_json) {
  test::TempDir dir;
  const std::string recipe = dir.file("r.json");
  {
    std::FILE* f = std::fopen(recipe.c_str(), "w");
    std::fputs(("{\"default\": " + scheme_json + "}").c_str(), f);
    std::fclose(f);
  }
  const std::string out = dir.file("q");
  auto r = test::run_cli("quantize " + test::data_path("stories260K.bin") + " --recipe " + recipe + " --calib " +
                         test::data_path("tinystories-valid.txt") + " --nsamples 4 --seqlen 64 -q --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::run_cli("ppl " + out + " --text " + test::data_path("tinystories-valid.txt") + " --ctx 128 --max-windows 2 -q");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto at = r.out.find("perplexity");
  ASSERT_NE(at, std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("nan"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("inf"), std::string::npos) << r.out;
}

TEST(QuantBillm, Stories260KQuantizeThenPpl) {
  quantize_and_ppl(R"({"method": "billm", "w_bits": 1, "symmetric": true})");
}

TEST(QuantSlimLlm, Stories260KQuantizeThenPpl) {
  quantize_and_ppl(R"({"method": "slim_llm", "w_bits": 2, "granularity": "group", "group_size": 32})");
}

}  // namespace
}  // namespace quantscope
