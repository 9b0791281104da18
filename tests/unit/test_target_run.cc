// Running a model under a target's activation dtype (targets/target_run.h): the host changes nothing,
// bf16/fp16 targets round every stored activation, fp16 overflows to inf where the hardware's would
// and the first place is reported, and quantized linears are refused where not yet emulated.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "model/forward.h"
#include "model/synth.h"
#include "numerics/float_formats.h"
#include "interop_fixtures.h"
#include "quant_fixtures.h"
#include "targets/target_run.h"
#include "test_util.h"

namespace quantscope {
namespace {

const std::vector<int> kIds = {1, 45, 300, 22, 7, 400, 13, 99, 250, 3, 18, 77};

TEST(TargetRun, HostIsTheFastPathBitForBit) {
  auto plain = load_model(test::data_path("stories260K.bin"));
  auto hosted = load_model(test::data_path("stories260K.bin"));
  const TargetRunSetup s = apply_target(*hosted, load_target("host"));
  EXPECT_EQ(s.activation_dtype, DType::F32);
  EXPECT_EQ(test::logits_of(*plain, kIds), test::logits_of(*hosted, kIds));
  // The same for a quantized model (the host runs every scheme with its own kernels).
  auto q = test::quantize_stories(R"({"default": {"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 32}})", false);
  const std::vector<float> before = test::logits_of(*q.model, kIds);
  apply_target(*q.model, load_target("host"));
  EXPECT_EQ(before, test::logits_of(*q.model, kIds));
}

TEST(TargetRun, Bf16TargetStoresEveryActivationInBf16) {
  auto m = load_model(test::data_path("stories260K.bin"));  // fp32 checkpoint
  const TargetRunSetup s = apply_target(*m, load_target("ascend-910b1"));
  EXPECT_EQ(s.activation_dtype, DType::BF16);
  const std::vector<float> logits = test::logits_of(*m, kIds);
  auto plain = load_model(test::data_path("stories260K.bin"));
  const std::vector<float> ref = test::logits_of(*plain, kIds);
  size_t differ = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    ASSERT_EQ(logits[i], round_to_dtype(logits[i], DType::BF16)) << i;  // stored in bf16
    differ += logits[i] != ref[i];
    // bf16 keeps 8 significant bits: the logits move, but by little (|logit| < 30 here; a loose
    // sanity bound, the exact values are what the target computes).
    EXPECT_NEAR(logits[i], ref[i], 0.5f) << i;
  }
  EXPECT_GT(differ, logits.size() / 2);
  EXPECT_FALSE(m->activations.first_overflow().has_value());
}

TEST(TargetRun, Fp16OverflowsWhereBf16DoesNot) {
  // Outlier channels scaled by 1000 drive the SwiGLU product past fp16's 65504 in layer 0.
  test::TempDir dir;
  const SynthOptions so = test::outlier_pangu();
  write_synthetic_checkpoint(so, dir.path());
  auto npu310 = load_model(dir.path());
  EXPECT_EQ(apply_target(*npu310, load_target("ascend-310p")).activation_dtype, DType::F16);
  const std::vector<float> l310 = test::logits_of(*npu310, kIds);
  const auto f = npu310->activations.first_overflow();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->layer, 0);
  EXPECT_EQ(f->where, "swiglu");
  EXPECT_GE(std::fabs(f->value), 65520.0f);  // the smallest magnitude that rounds to inf in fp16
  size_t non_finite = 0;
  for (float v : l310) non_finite += !std::isfinite(v);
  EXPECT_GT(non_finite, 0u);

  auto npu910 = load_model(dir.path());
  EXPECT_EQ(apply_target(*npu910, load_target("ascend-910b1")).activation_dtype, DType::BF16);
  test::logits_of(*npu910, kIds);
  EXPECT_FALSE(npu910->activations.first_overflow().has_value());
}

TEST(TargetRun, QuantizedSchemesRunThroughTheTargetPipelineOrAreRefused) {
  // Group 16 has no kernel on the 910B (multiples of 32 only): refused, naming tensor and rule.
  auto g16 = test::quantize_stories(R"({"default": {"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 16}})", false);
  try {
    apply_target(*g16.model, load_target("ascend-910b1"));
    ADD_FAILURE() << "no refusal";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot run model.layers.0.self_attn.q_proj.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("group size 16"), std::string::npos) << e.what();
  }
  // W8A16 per channel runs on the 910B in bf16: finite logits close to the host's, but not equal.
  auto w8 = test::quantize_stories(R"({"default": {"method": "rtn", "w_bits": 8, "granularity": "channel"}})", false);
  const std::vector<float> host = test::logits_of(*w8.model, kIds);
  apply_target(*w8.model, load_target("ascend-910b1"));
  const std::vector<float> npu = test::logits_of(*w8.model, kIds);
  size_t differ = 0;
  for (size_t i = 0; i < npu.size(); ++i) {
    ASSERT_TRUE(std::isfinite(npu[i]));
    EXPECT_NEAR(npu[i], host[i], 0.5f);
    differ += npu[i] != host[i];
  }
  EXPECT_GT(differ, npu.size() / 2);
}

}  // namespace
}  // namespace quantscope
