// AWQ, SmoothQuant and GPTAQ inside the layer-by-layer quantizer: GPTAQ with alpha 0 is GPTQ and lowers
// the asymmetric objective otherwise; SmoothQuant's scales by hand, its folded norms surviving a
// save/load; AWQ never worse than RTN where its search is exact; every method runs on stories260K.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "quant/gptaq.h"
#include "quant/gptq.h"
#include "quant/quantized_model.h"
#include "quant/smoothquant.h"
#include "quant_fixtures.h"

namespace quantscope {
namespace {

using test::logits_of;
using test::quantize_stories;
using test::small_calibration;

struct AsymmetricCase {
  int64_t rows = 16, cols = 40, tokens = 300;
  std::vector<float> w, x_fp, x_q;  // x_q: the fp inputs with an error that depends on them
  Hessian h{40};
  AsymmetricCrossTerm cross{40};
  AsymmetricCase() {
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    w.resize(size_t(rows * cols));
    for (auto& v : w) v = nd(rng);
    x_fp.resize(size_t(tokens * cols));
    x_q.resize(x_fp.size());
    for (int64_t t = 0; t < tokens; ++t) {
      const float common = nd(rng);
      for (int64_t j = 0; j < cols; ++j) {
        const float v = common + 0.5f * nd(rng);
        x_fp[size_t(t * cols + j)] = v;
        x_q[size_t(t * cols + j)] = v * (1.0f + 0.1f * float(j % 3)) + 0.2f * nd(rng);
      }
    }
    h.add(x_q.data(), tokens);
    cross.add(x_fp.data(), x_q.data(), tokens);
  }
  // || Wq X_q^T - W X_fp^T ||^2: what GPTAQ minimizes.
  double asymmetric_error(const QuantizedWeight& q) const {
    const auto wq = q.dequantize();
    double e = 0;
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t r = 0; r < rows; ++r) {
        double a = 0, b = 0;
        for (int64_t j = 0; j < cols; ++j) {
          a += double(wq[size_t(r * cols + j)]) * x_q[size_t(t * cols + j)];
          b += double(w[size_t(r * cols + j)]) * x_fp[size_t(t * cols + j)];
        }
        e += (a - b) * (a - b);
      }
    return e;
  }
};

TEST(QuantGptaq, AlphaZeroIsGptqAndAlphaLowersTheAsymmetricError) {
  const AsymmetricCase c;
  WeightQuantSpec s;
  s.bits = 3;
  s.granularity = Granularity::Group;
  s.group_size = 16;  // ragged
  for (bool act_order : {false, true}) {
    GptqParams p;
    p.act_order = act_order;
    const QuantizedWeight g = gptq_quantize(c.w.data(), c.rows, c.cols, c.h, s, p);
    const QuantizedWeight a0 = gptaq_quantize(c.w.data(), c.rows, c.cols, c.h, c.cross, s, p, 0.0);
    EXPECT_EQ(a0.packed, g.packed);
    EXPECT_EQ(a0.scales, g.scales);
    const QuantizedWeight a = gptaq_quantize(c.w.data(), c.rows, c.cols, c.h, c.cross, s, p, 0.25);
    const QuantizedWeight a1 = gptaq_quantize(c.w.data(), c.rows, c.cols, c.h, c.cross, s, p, 1.0);
    const double eg = c.asymmetric_error(g), ea = c.asymmetric_error(a), ea1 = c.asymmetric_error(a1);
    EXPECT_LT(ea, eg) << "act_order " << act_order;
    EXPECT_LT(ea1, eg) << "act_order " << act_order;
  }
}

TEST(QuantSmoothQuant, ScalesByHand) {
  // s_j = max|X_j|^a / max|W_j|^(1-a): a = 0.5 -> sqrt(4 / 1) = 2, sqrt(1 / 4) = 0.5; zero channels get 1.
  const std::vector<float> act = {4.0f, 1.0f, 0.0f, 9.0f};
  const std::vector<float> w1 = {1.0f, -4.0f, 2.0f, 0.0f}, w2 = {-0.5f, 1.0f, 1.0f, 0.0f};  // 2 matrices, 1 row each
  const auto s = smoothquant_scales(act, {w1.data(), w2.data()}, {1, 1}, 4, 0.5);
  EXPECT_FLOAT_EQ(s[0], 2.0f);
  EXPECT_FLOAT_EQ(s[1], 0.5f);
  EXPECT_EQ(s[2], 1.0f);
  EXPECT_EQ(s[3], 1.0f);
  const auto s1 = smoothquant_scales(act, {w1.data()}, {1}, 4, 1.0);  // all difficulty to the weights
  EXPECT_FLOAT_EQ(s1[0], 4.0f);
  EXPECT_FLOAT_EQ(s1[1], 1.0f);
}

TEST(QuantSmoothQuant, FoldsIntoNormsAndSurvivesSaveLoad) {
  const auto q = quantize_stories(
      R"({"default": {"method": "smoothquant", "w_bits": 8, "symmetric": true, "a_bits": 8, "a_granularity": "tensor"},
          "overrides": [{"match": ["attn_o", "mlp_down"], "scheme": {"method": "rtn"}}]})");
  auto fp = load_model(test::data_path("stories260K.bin"));
  EXPECT_NE(q.model->layers[0].attn_norm, fp->layers[0].attn_norm);  // the scales were folded in
  EXPECT_NE(q.model->layers[3].mlp_norm, fp->layers[3].mlp_norm);
  EXPECT_EQ(q.model->layers[0].attn_norm.size(), fp->layers[0].attn_norm.size());
  EXPECT_FALSE(q.report.non_finite.has_value());
  test::TempDir dir;
  save_quantized_model(*q.model, dir.path(), {}, "");
  auto back = load_any_model(dir.path());
  const auto ids = small_calibration().samples[1];
  EXPECT_EQ(logits_of(*back, ids), logits_of(*q.model, ids));
  // W8A8 with smoothing stays close to fp32: every linear's output error is small.
  for (const auto& t : q.report.tensors) EXPECT_LT(t.rel_output_error, 0.05) << t.name;
  // A smoothing method on q but not on k and v cannot fold into their shared norm.
  EXPECT_THROW(quantize_stories(R"({"default": {"method": "rtn", "w_bits": 8},
      "overrides": [{"match": "attn_q", "scheme": {"method": "smoothquant", "a_bits": 8}}]})"),
               InputError);
}

TEST(QuantAwqModel, BeatsRtnOnSingleLinearStages) {
  // Without the clipping search, AWQ's scale search includes s = 1 (RTN) and minimizes exactly the
  // output error the report measures on its own inputs, so single-linear stages (o_proj, down_proj)
  // cannot be worse than RTN on those inputs; the inputs themselves differ from RTN's run (the layers
  // below differ), so the comparison with the RTN run is statistical: most stages improve.
  const char* scheme = R"("w_bits": 3, "granularity": "group", "group_size": 32)";
  const auto awq = quantize_stories(std::string(R"({"default": {"method": "awq", "awq_clip": false, )") + scheme + "}}");
  const auto rtn = quantize_stories(std::string(R"({"default": {"method": "rtn", )") + scheme + "}}");
  ASSERT_EQ(awq.report.tensors.size(), rtn.report.tensors.size());
  int improved = 0;
  for (size_t i = 0; i < awq.report.tensors.size(); ++i) {
    const auto& a = awq.report.tensors[i];
    const auto& r = rtn.report.tensors[i];
    ASSERT_EQ(a.name, r.name);
    if (a.role != TensorRole::AttnO && a.role != TensorRole::MlpDown) continue;
    EXPECT_NE(a.note.find("awq alpha"), std::string::npos);
    improved += a.rel_output_error < r.rel_output_error;
  }
  EXPECT_GE(improved, 8) << "of 10 single-linear stages";  // measured: see the failure message
  // The smoothing factors of o_proj/down_proj live on the linear and survive a save/load.
  test::TempDir dir;
  save_quantized_model(*awq.model, dir.path(), {}, "");
  const auto ids = small_calibration().samples[2];
  EXPECT_EQ(logits_of(*load_any_model(dir.path()), ids), logits_of(*awq.model, ids));
}

TEST(QuantGptaqModel, RunsOnStoriesAndBeatsGptqOnTheLastLayerOutput) {
  const auto gptaq = quantize_stories(R"({"default": {"method": "gptaq", "w_bits": 3}})");
  const auto gptq = quantize_stories(R"({"default": {"method": "gptq", "w_bits": 3}})");
  for (const auto& t : gptaq.report.tensors) EXPECT_TRUE(std::isfinite(t.rel_output_error)) << t.name;
  // Closer to the fp32 model's logits on held-out text (mean absolute logit difference).
  auto fp = load_model(test::data_path("stories260K.bin"));
  const auto ids = small_calibration().samples[7];
  const auto ref = logits_of(*fp, ids), a = logits_of(*gptaq.model, ids), g = logits_of(*gptq.model, ids);
  double da = 0, dg = 0;
  for (size_t i = 0; i < ref.size(); ++i) da += std::fabs(a[i] - ref[i]), dg += std::fabs(g[i] - ref[i]);
  EXPECT_LT(da, dg);
}

}  // namespace
}  // namespace quantscope
