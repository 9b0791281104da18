// quantscope sensitivity: rank correlation by hand; the calibration proxies (Hessian trace, trace-weighted
// error, activation-outlier ratio) by hand; a unit's KLD equals the same recipe quantized, saved
// and evaluated through `quantize` + `eval --tasks kld:` (an independent path); reverse mode and block
// units agree exactly where they describe the same model; rollups are the sums they claim; every
// tensor gets finite proxies with calibration and none without; refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "analysis/rank_correlation.h"
#include "core/mapped_file.h"
#include "quant/calibration.h"
#include "test_util.h"

namespace quantscope {
namespace {

TEST(RankCorrelation, HandCases) {
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // Ties share their average rank: a -> 1, 2.5, 2.5, 4; b -> 1..4; rho = 4.5 / sqrt(4.5 * 5).
  EXPECT_NEAR(spearman({1, 2, 2, 3}, {1, 2, 3, 4}), 4.5 / std::sqrt(22.5), 1e-15);
  EXPECT_EQ(average_ranks({5, 1, 5, 3}), (std::vector<double>{3.5, 1, 3.5, 2}));
  EXPECT_TRUE(std::isnan(spearman({1, 1, 1}, {1, 2, 3})));  // a constant proxy ranks nothing
}

// Four tokens x three channels; H = 2/N X^T X has diagonal 2/4 * (11, 6, 6): channel sums of squares
// 1+9+0+1, 4+1+0+1, 0+4+1+1.
TEST(SensitivityProxies, HessianTraceAndWeightedErrorByHand) {
  const std::vector<float> x = {1, 2, 0,  //
                                3, -1, 2,  //
                                0, 0, 1,  //
                                1, 1, 1};
  Hessian h(3);
  h.add(x.data(), 4);
  EXPECT_DOUBLE_EQ(hessian_trace(h), 2.0 / 4.0 * (11 + 6 + 6));  // 11.5
  // W - Wq = [[0.5, 0, -0.5], [0, 1, 0]]: ||.||_F^2 = 1.5; tr(H)/K * 1.5 = 11.5 / 3 * 1.5 = 5.75.
  const std::vector<float> w = {1, 2, 3, 4, 5, 6}, wq = {0.5f, 2, 3.5f, 4, 4, 6};
  EXPECT_DOUBLE_EQ(hessian_weighted_error(w.data(), wq.data(), 2, 3, h), 5.75);
  EXPECT_TRUE(std::isnan(hessian_trace(Hessian(3))));  // no tokens: nothing measured
}

// Channels 0-2 are +/-1 (RMS 1); channel 3 is zero but for one token of 10 (RMS sqrt(100/4) = 5).
// max |x| = 10, mean channel RMS = (1+1+1+5)/4 = 2: ratio 5. Without the outlier every channel is
// +/-1 and the ratio is exactly 1.
TEST(SensitivityProxies, OutlierRatioOfOneOutlierChannel) {
  std::vector<float> x = {1, -1, 1, 0,  //
                          -1, 1, -1, 0,  //
                          1, 1, 1, 0,  //
                          -1, -1, -1, 10};
  Hessian h(4);
  h.add(x.data(), 4);
  EXPECT_DOUBLE_EQ(activation_outlier_ratio({1, 1, 1, 10}, h), 5.0);
  for (size_t t = 0; t < 4; ++t) x[t * 4 + 3] = t % 2 ? 1.0f : -1.0f;
  Hessian flat(4);
  flat.add(x.data(), 4);
  EXPECT_DOUBLE_EQ(activation_outlier_ratio({1, 1, 1, 1}, flat), 1.0);
  Hessian zero(4);
  const std::vector<float> zeros(8, 0.0f);
  zero.add(zeros.data(), 2);
  EXPECT_EQ(activation_outlier_ratio({0, 0, 0, 0}, zero), 0.0);  // an all-zero input has no outliers
}

class Sensitivity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new test::TempDir();
    const auto r = test::run_cli("ref " + model_ + " --tokenizer " + test::data_path("tok512.bin") + " --text " +
                                 test::data_path("tinystories-valid.txt") + " --out " + tmp_->file("s.ref") +
                                 " --ctx 256 --max-windows 2 -q");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() { delete tmp_; }
  static nlohmann::json run(const std::string& args, const std::string& name) {
    const auto r = test::run_cli("sensitivity " + model_ + " --tokenizer " + test::data_path("tok512.bin") + " --ref " +
                                 tmp_->file("s.ref") + " -q --json " + tmp_->file(name) + " " + args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(read_text_file(tmp_->file(name)));
  }
  static inline test::TempDir* tmp_ = nullptr;
  static inline const std::string model_ = test::data_path("stories260K.bin");
  static inline const std::string scheme_ = "'{\"method\": \"rtn\", \"w_bits\": 2, \"group_size\": 32}'";
  static constexpr const char* kCalibrationProxies[] = {"output_error", "hessian_trace", "hessian_weighted_error",
                                                        "act_outlier_ratio"};
};

TEST_F(Sensitivity, TensorUnitMatchesQuantizeThenEvalOfTheSameRecipe) {
  const nlohmann::json j = run("--scheme " + scheme_, "t.json");
  const nlohmann::json& res = j["results"][0];
  ASSERT_EQ(res["units"].size(), 35u);  // 5 layers x 7 linears of stories260K
  // The independent path: a recipe quantizing only that tensor, saved, reloaded, evaluated by `eval`.
  const std::string name = "model.layers.3.mlp.down_proj.weight";
  {
    std::ofstream(tmp_->file("one.json"))
        << R"({"default": {"method": "none"}, "overrides": [{"match": [")" << name
        << R"("], "scheme": {"method": "rtn", "w_bits": 2, "group_size": 32}}]})";
  }
  auto q = test::run_cli("quantize " + model_ + " --tokenizer " + test::data_path("tok512.bin") + " --recipe " +
                         tmp_->file("one.json") + " --out " + tmp_->file("one") + " -q");
  ASSERT_EQ(q.exit_code, 0) << q.err;
  auto e = test::run_cli("eval " + tmp_->file("one") + " --tasks kld:" + tmp_->file("s.ref") + " --json " +
                         tmp_->file("one-eval.json"));
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const nlohmann::json ev = nlohmann::json::parse(read_text_file(tmp_->file("one-eval.json")));
  double eval_kld = -1;
  for (const auto& t : ev["tasks"])
    if (t["task"] == "kld") eval_kld = t["kld"]["mean"].get<double>();
  double unit_kld = -2;
  for (const auto& u : res["units"])
    if (u["unit"] == name) unit_kld = u["kld"]["mean"].get<double>();
  EXPECT_GT(unit_kld, 0.0);
  EXPECT_EQ(unit_kld, eval_kld);
  // Rollups are the sums of the tensor units.
  double attention = 0, mlp = 0;
  for (const auto& u : res["units"]) (u["attention"].get<bool>() ? attention : mlp) += u["kld"]["mean"].get<double>();
  ASSERT_EQ(res["by_block"].size(), 2u);
  for (const auto& g : res["by_block"])
    EXPECT_NEAR(g["kld"].get<double>(), g["group"] == "attention" ? attention : mlp, 1e-12);
  EXPECT_EQ(res["by_layer"].size(), 5u);
  EXPECT_EQ(res["by_role"].size(), 7u);
  EXPECT_TRUE(res["spearman"]["weight_error"].is_number());
  // No calibration: none of the calibration proxies is measured, for any unit.
  for (const char* p : kCalibrationProxies) {
    EXPECT_TRUE(res["spearman"][p].is_null()) << p;
    for (const auto& u : res["units"]) EXPECT_TRUE(u[p].is_null()) << p << " " << u["unit"];
  }
}

TEST_F(Sensitivity, CalibrationGivesEveryTensorFiniteProxies) {
  const nlohmann::json j = run("--scheme " + scheme_ + " --calib " + test::data_path("tinystories-valid.txt") +
                                   " --nsamples 2 --seqlen 64 --csv " + tmp_->file("c.csv"),
                               "c.json");
  const nlohmann::json& res = j["results"][0];
  ASSERT_EQ(res["units"].size(), 35u);
  std::map<std::string, double> trace, outlier;  // by layer and input (linears reading one input agree)
  for (const auto& u : res["units"]) {
    for (const char* p : kCalibrationProxies) {
      ASSERT_TRUE(u[p].is_number()) << p << " " << u["unit"];  // JSON has no NaN/inf: a number is finite
      EXPECT_GT(u[p].get<double>(), 0.0) << p << " " << u["unit"];
    }
    EXPECT_GE(u["act_outlier_ratio"].get<double>(), 1.0) << u["unit"];
    const std::string role = u["role"], input = role == "attn_k" || role == "attn_v" ? "attn_q"
                                                : role == "mlp_up"                   ? "mlp_gate"
                                                                                     : role;
    const std::string key = std::to_string(u["layer"].get<int>()) + input;
    for (auto [m, name] : {std::pair{&trace, "hessian_trace"}, std::pair{&outlier, "act_outlier_ratio"}}) {
      const auto [it, fresh] = m->emplace(key, u[name].get<double>());
      if (!fresh) {
        EXPECT_EQ(it->second, u[name].get<double>()) << name << " " << u["unit"];
      }
    }
  }
  EXPECT_EQ(trace.size(), 20u);  // 5 layers x 4 distinct inputs (q/k/v, o, gate/up, down)
  for (const char* p : kCalibrationProxies) EXPECT_TRUE(res["spearman"][p].is_number()) << p;
  const std::string csv = read_text_file(tmp_->file("c.csv"));
  EXPECT_NE(csv.find(",weight_error,output_error,hessian_trace,hessian_weighted_error,act_outlier_ratio\n"),
            std::string::npos)
      << csv.substr(0, 200);
}

TEST_F(Sensitivity, ReverseOfAttentionIsTheMlpUnitExactly) {
  const nlohmann::json fwd = run("--scheme " + scheme_ + " --unit block", "b.json")["results"][0];
  const nlohmann::json rev = run("--scheme " + scheme_ + " --unit block --reverse", "r.json")["results"][0];
  ASSERT_EQ(fwd["units"].size(), 2u);
  ASSERT_EQ(rev["units"].size(), 2u);
  EXPECT_EQ(fwd["units"][0]["unit"], "attention");
  EXPECT_EQ(fwd["units"][1]["unit"], "mlp");
  // Everything but attention quantized == only the MLP quantized: one model, one number.
  EXPECT_EQ(rev["units"][0]["kld"]["mean"], fwd["units"][1]["kld"]["mean"]);
  EXPECT_EQ(rev["units"][1]["kld"]["mean"], fwd["units"][0]["kld"]["mean"]);
  EXPECT_GT(rev["all_quantized_kld"]["mean"].get<double>(), fwd["units"][0]["kld"]["mean"].get<double>());
}

TEST_F(Sensitivity, RefusalsAndBadSchemesAreInputErrorsBeforeAnyRun) {
  auto r = test::run_cli("sensitivity " + model_ + " --ref " + tmp_->file("s.ref") + " -q --target host,ascend-910b1 " +
                         "--scheme '{\"method\": \"rtn\", \"w_bits\": 3, \"group_size\": 32}'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("ascend-910b1 cannot run"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("target host"), std::string::npos) << "the host ran before the refusal";
  r = test::run_cli("sensitivity " + model_ + " --ref " + tmp_->file("s.ref") + " -q --scheme '{\"method\": \"rtn\", "
                    "\"w_bitz\": 3}'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("w_bitz"), std::string::npos) << r.err;
  r = test::run_cli("sensitivity " + model_ + " --ref " + tmp_->file("s.ref") + " -q --scheme 'rtn w4'");
  EXPECT_EQ(r.exit_code, 2);
  r = test::run_cli("sensitivity " + model_ + " --ref " + tmp_->file("s.ref") + " -q --unit head --scheme '{}'");
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace quantscope
