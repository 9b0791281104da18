// KV-cache quantization: hand-computed rounding of one head, calibrated channel scales with saturation,
// and its effect on stories260K (int8 close to fp32, int4 further), surviving a save/load.
#include <gtest/gtest.h>

#include <cmath>

#include "model/forward.h"
#include "core/error.h"
#include "model/kv_quant.h"
#include "quant/quantize_model.h"
#include "quant/quantized_model.h"
#include "quant/recipe.h"
#include "test_util.h"

namespace quantscope {
namespace {

TEST(KVQuant, TokenGranularityRoundsEachHeadByItsAbsmax) {
  // int4: qmax 7; head 0 has absmax 7 so its scale is exactly 1, head 1 absmax 0.7 -> scale 0.1.
  KVCacheQuant q;
  q.bits = 4;
  q.granularity = KVGranularity::Token;
  float k[8] = {3.5f, -7.0f, 2.5f, 0.4f, 0.0f, 0.0f, 0.0f, 0.0f};
  float v[8] = {0, 0, 0, 0, 0.7f, -0.35f, 0.0f, 0.04f};
  q.apply(0, k, v, 2, 4);
  const float k_even[8] = {4, -7, 2, 0, 0, 0, 0, 0};  // ties to even: 3.5 -> 4, 2.5 -> 2
  for (int i = 0; i < 8; ++i) EXPECT_EQ(k[i], k_even[i]) << i;
  EXPECT_FLOAT_EQ(v[4], 0.7f);
  EXPECT_FLOAT_EQ(v[5], -4 * (0.7f / 7));  // -3.5 -> -4 (even)
  EXPECT_EQ(v[6], 0.0f);
  EXPECT_EQ(v[7], 0.0f);  // 0.4 -> 0
  float k2[4] = {3.5f, -7.0f, 2.5f, 0.4f}, v2[4] = {0, 0, 0, 0};
  q.rounding = Rounding::HalfAwayFromZero;
  q.apply(0, k2, v2, 1, 4);
  EXPECT_EQ(k2[2], 3.0f);  // 2.5 -> 3 away from zero
  EXPECT_EQ(v2[0], 0.0f);  // an all-zero head stays zero (no division by zero)
}

TEST(KVQuant, ChannelScalesComeFromCalibrationAndSaturate) {
  KVRangeObserver obs(2, 2);
  const float k0[4] = {1.0f, -0.5f, -2.0f, 0.25f}, v0[4] = {0.0f, 3.0f, 0.0f, -6.0f};  // 2 positions x 2 channels
  obs.observe(1, k0, v0, 2);
  KVCacheQuant q;
  q.bits = 8;
  q.granularity = KVGranularity::Channel;
  obs.set_scales(&q);
  ASSERT_EQ(q.k_scale.size(), 4u);
  EXPECT_EQ(q.k_scale[0], 0.0f);  // layer 0 never observed: left unquantized
  EXPECT_FLOAT_EQ(q.k_scale[2], 2.0f / 127);
  EXPECT_FLOAT_EQ(q.k_scale[3], 0.5f / 127);
  EXPECT_EQ(q.v_scale[2], 0.0f);  // an all-zero channel
  float k[2] = {4.0f, 0.25f}, v[2] = {1.0f, -6.0f};
  q.apply(1, k, v, 1, 2);
  EXPECT_FLOAT_EQ(k[0], 2.0f);  // beyond the calibrated range: saturates at 127 * scale
  EXPECT_FLOAT_EQ(k[1], std::round(0.25f / (0.5f / 127)) * (0.5f / 127));
  EXPECT_EQ(v[0], 1.0f);  // zero scale: passes through
  EXPECT_FLOAT_EQ(v[1], -6.0f);
}

double mean_abs_logit_diff(const Model& a, const Model& b, const std::vector<int>& ids) {
  auto run = [&](const Model& m) {
    Forward f(m);
    KVCache c(m.config, int64_t(ids.size()));
    std::vector<float> out(ids.size() * size_t(m.config.vocab_size));
    f.run(ids.data(), int64_t(ids.size()), 0, c, out.data(), true);
    return out;
  };
  const auto x = run(a), y = run(b);
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += std::fabs(double(x[i]) - double(y[i]));
  return s / double(x.size());
}

TEST(KVQuant, Int8IsCloserToFp32ThanInt4OnStories) {
  auto fp = load_model(test::data_path("stories260K.bin"));
  auto kv8 = load_model(test::data_path("stories260K.bin"));
  auto kv4 = load_model(test::data_path("stories260K.bin"));
  kv8->kv_quant.bits = 8;
  kv4->kv_quant.bits = 4;
  const std::vector<int> ids = {1, 403, 407, 261, 378, 429, 261, 280, 300, 268, 271, 265, 289, 300, 268, 271};
  const double d8 = mean_abs_logit_diff(*fp, *kv8, ids), d4 = mean_abs_logit_diff(*fp, *kv4, ids);
  EXPECT_GT(d8, 0.0);
  EXPECT_LT(d8 * 4, d4) << "int8 " << d8 << " int4 " << d4;  // 16x finer steps: far closer
}

TEST(KVQuant, CalibratedChannelScalesSurviveSaveAndLoad) {
  auto m = load_model(test::data_path("stories260K.bin"));
  const Recipe r = parse_recipe(R"({"default": {"method": "rtn", "w_bits": 8}, "kv_cache": {"bits": 4, "granularity": "channel"}})",
                                "kv recipe");
  m->kv_quant = r.kv_cache;
  std::vector<int> stream;
  for (int i = 0; i < 400; ++i) stream.push_back(260 + (i * 37) % 250);
  CalibrationOptions co;
  co.nsamples = 3;
  co.seqlen = 64;
  const CalibrationSet calib = build_calibration_from_stream(stream, co, m->config.bos_id);
  QuantizeOptions qo;
  qo.progress = false;
  EXPECT_THROW(quantize_model(*m, resolve_recipe(r, m->registry), nullptr, qo), InputError);
  quantize_model(*m, resolve_recipe(r, m->registry), &calib, qo);
  ASSERT_EQ(m->kv_quant.k_scale.size(), size_t(m->config.num_layers * m->config.kv_dim()));
  for (float s : m->kv_quant.k_scale) EXPECT_GT(s, 0.0f);  // every layer calibrated
  test::TempDir dir;
  save_quantized_model(*m, dir.path(), {}, "");
  auto back = load_any_model(dir.path());
  EXPECT_EQ(back->kv_quant.describe(), "kv4 channel");
  EXPECT_EQ(back->kv_quant.k_scale, m->kv_quant.k_scale);
  EXPECT_EQ(mean_abs_logit_diff(*back, *m, calib.samples[0]), 0.0);
}

}  // namespace
}  // namespace quantscope
