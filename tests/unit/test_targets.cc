// Target profiles (targets/*.json compiled in) and the constraint checks that refuse what a target
// cannot run: every rule on a hand-picked scheme, the nearest scheme proposed, and --adapt's recipe.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/registry.h"
#include "model/synth.h"
#include "quant/recipe.h"
#include "targets/constraints.h"
#include "targets/target_profile.h"
#include "test_util.h"

namespace quantscope {
namespace {

Scheme scheme_of(const std::string& json_scheme) {
  return parse_recipe("{\"default\": " + json_scheme + "}", "test.json").default_scheme;
}

TEST(Targets, EveryBuiltinProfileParsesWithSources) {
  const std::vector<std::string> want = {"ascend-310p", "ascend-910b1", "ascend-910b4", "host", "llamacpp-cpu",
                                         "nvidia-a100", "nvidia-h100", "nvidia-h200", "nvidia-rtx4090"};
  EXPECT_EQ(builtin_target_names(), want);
  for (const auto& n : want) {
    const TargetProfile t = load_target(n);
    EXPECT_EQ(t.name, n);
    EXPECT_GT(t.roofline.memory_bandwidth_gb_s, 0) << n;
    EXPECT_TRUE(t.sources.count("roofline.memory_bandwidth_gb_s")) << n;
    EXPECT_TRUE(t.sources.count("schemes")) << n;
  }
  // The 310P has no bf16 (ascend-numerics.md §5.6); the 910B runs bf16 by default.
  EXPECT_EQ(load_target("ascend-310p").activation_dtype, DType::F16);
  EXPECT_EQ(load_target("ascend-310p").activation_dtypes, std::vector<DType>{DType::F16});
  EXPECT_EQ(load_target("ascend-910b1").activation_dtype, DType::BF16);
  EXPECT_EQ(load_target("ascend-910b1").deq_scale_f16_output, "fp19_truncate");
  EXPECT_EQ(load_target("llamacpp-cpu").act_rounding, Rounding::HalfAwayFromZero);
}

TEST(Targets, ProfileErrorsNameTheField) {
  nlohmann::json j = nlohmann::json::parse(R"({
    "name": "t", "description": "d", "activation_dtypes": ["f16"], "activation_dtype": "f16",
    "float_accumulation": "f32",
    "activation_quant": {"rounding": "half_to_even", "static_apply": "divide", "dynamic_apply": "divide", "int8_via_half": false},
    "deq_scale": {"f16_output": "f32", "bf16_output": "f32"}, "weight_scale_dtype": "f16", "activation_block_quant": 0,
    "any_scheme": false,
    "schemes": [{"name": "k", "w_bits": [8], "a_bits": 0, "granularity": ["channel"]}],
    "kv_cache": [],
    "roofline": {"memory_bandwidth_gb_s": 1, "matmul_tflops": 1, "int8_tops": 0, "int4_tops": 0, "memory_gib": 1},
    "sources": {"activation_dtypes": "s", "activation_dtype": "s", "float_accumulation": "s", "activation_quant": "s",
                "deq_scale": "s", "weight_scale_dtype": "s", "activation_block_quant": "s", "any_scheme": "s",
                "schemes": "s", "kv_cache": "s", "roofline.memory_bandwidth_gb_s": "s", "roofline.matmul_tflops": "s",
                "roofline.int8_tops": "s", "roofline.int4_tops": "s", "roofline.memory_gib": "s"}})");
  EXPECT_NO_THROW(parse_target_profile(j.dump(), "t.json"));
  auto message = [](const nlohmann::json& bad) {
    try {
      parse_target_profile(bad.dump(), "t.json");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  nlohmann::json a = j;
  a["sources"].erase("roofline.int4_tops");
  EXPECT_NE(message(a).find("roofline.int4_tops"), std::string::npos) << message(a);
  a = j;
  a["schemes"][0]["w_bitz"] = 3;
  EXPECT_NE(message(a).find("t.json.schemes[0].w_bitz: unknown field"), std::string::npos) << message(a);
  a = j;
  a["activation_dtype"] = "bf16";
  EXPECT_NE(message(a).find("not in activation_dtypes"), std::string::npos) << message(a);
  a = j;
  a["deq_scale"]["f16_output"] = "fp18";
  EXPECT_NE(message(a).find("t.json.deq_scale.f16_output"), std::string::npos) << message(a);
  a = j;
  a.erase("roofline");
  EXPECT_NE(message(a).find("missing field \"roofline\""), std::string::npos) << message(a);
  EXPECT_THROW(parse_target_profile("{", "t.json"), InputError);
  EXPECT_THROW(load_target("ascend-910c"), InputError);
}

TEST(Targets, Ascend310pRulesAndNearest) {
  const TargetProfile t = load_target("ascend-310p");
  // int4 weight-only: the 310P has int8 weight-only kernels only.
  SchemeCheck c = check_scheme(scheme_of(R"({"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 128})"), 1536, t);
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.rule.find("4-bit weights"), std::string::npos) << c.rule;
  EXPECT_NE(c.rule.find("per-group weight scales"), std::string::npos) << c.rule;
  EXPECT_EQ(c.nearest.weight.bits, 8);
  EXPECT_EQ(c.nearest.weight.granularity, Granularity::Channel);
  // No per-token activation scales: W8A8 dynamic becomes static per-tensor.
  c = check_scheme(scheme_of(R"({"method": "rtn", "w_bits": 8, "granularity": "channel", "symmetric": true, "a_bits": 8, "a_granularity": "token"})"), 64, t);
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.rule.find("per-token activation scales"), std::string::npos) << c.rule;
  EXPECT_EQ(c.nearest.act.granularity, ActGranularity::Tensor);
  EXPECT_TRUE(check_scheme(c.nearest, 64, t).ok);
  // W8A8 static with symmetric per-channel weights runs.
  EXPECT_TRUE(check_scheme(scheme_of(R"({"method": "rtn", "w_bits": 8, "granularity": "channel", "symmetric": true, "a_bits": 8, "a_granularity": "tensor"})"), 64, t).ok);
  // Unquantized tensors always run (in the activation dtype).
  EXPECT_TRUE(check_scheme(scheme_of(R"({"method": "none"})"), 64, t).ok);
}

TEST(Targets, Ascend910bGroupSizesAndSymmetry) {
  const TargetProfile t = load_target("ascend-910b1");
  EXPECT_TRUE(check_scheme(scheme_of(R"({"method": "gptq", "w_bits": 4, "granularity": "group", "group_size": 128})"), 1536, t).ok);
  SchemeCheck c = check_scheme(scheme_of(R"({"method": "gptq", "w_bits": 4, "granularity": "group", "group_size": 48})"), 1536, t);
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.rule.find("group size 48: this kernel needs a multiple of 32"), std::string::npos) << c.rule;
  EXPECT_EQ(c.nearest.weight.group_size, 32);  // 48 is as far from 32 as from 64: the finer one
  c = check_scheme(scheme_of(R"({"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 16})"), 1536, t);
  EXPECT_EQ(c.nearest.weight.group_size, 32);  // at least 32
  // W8A8 needs symmetric weights; W4A8 per-group is refused in favour of per-channel.
  c = check_scheme(scheme_of(R"({"method": "smoothquant", "w_bits": 8, "granularity": "channel", "a_bits": 8, "a_granularity": "tensor"})"), 64, t);
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.rule.find("asymmetric weights"), std::string::npos) << c.rule;
  EXPECT_TRUE(c.nearest.weight.symmetric);
  c = check_scheme(scheme_of(R"({"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 64, "symmetric": true, "a_bits": 8, "a_granularity": "token"})"), 64, t);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.nearest.weight.granularity, Granularity::Channel);
  // W3 weight-only: nearest wider width the kernel takes.
  c = check_scheme(scheme_of(R"({"method": "rtn", "w_bits": 3, "granularity": "group", "group_size": 64})"), 64, t);
  EXPECT_EQ(c.nearest.weight.bits, 4);
  // BiLLM / SliM-LLM keep simulated storage no deployment kernel reads.
  c = check_scheme(scheme_of(R"({"method": "billm", "w_bits": 1, "granularity": "channel"})"), 64, t);
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.rule.find("simulated storage"), std::string::npos) << c.rule;
  EXPECT_EQ(c.nearest.method, QuantMethod::Gptq);
  EXPECT_EQ(c.nearest.weight.bits, 4);
}

TEST(Targets, NvidiaAndLlamaCppGroupsAndKvCache) {
  const TargetProfile h = load_target("nvidia-h100");
  SchemeCheck c = check_scheme(scheme_of(R"({"method": "awq", "w_bits": 4, "granularity": "group", "group_size": 256})"), 4096, h);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.nearest.weight.group_size, 128);
  KVCacheQuant kv;
  kv.bits = 8;
  const KVCacheCheck k = check_kv_cache(kv, h);
  EXPECT_FALSE(k.ok);
  EXPECT_FALSE(k.nearest.enabled());
  EXPECT_TRUE(check_kv_cache(kv, load_target("host")).ok);
  kv.granularity = KVGranularity::Channel;
  EXPECT_TRUE(check_kv_cache(kv, load_target("ascend-910b1")).ok);

  const TargetProfile l = load_target("llamacpp-cpu");
  c = check_scheme(scheme_of(R"({"method": "rtn", "w_bits": 8, "granularity": "channel"})"), 64, l);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.nearest.weight.granularity, Granularity::Group);
  EXPECT_EQ(c.nearest.weight.group_size, 32);
  EXPECT_TRUE(c.nearest.weight.symmetric);  // Q8_0
  EXPECT_TRUE(check_scheme(scheme_of(R"({"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 32})"), 64, l).ok);
  // The host runs everything quantscope implements.
  EXPECT_TRUE(check_scheme(scheme_of(R"({"method": "billm", "w_bits": 1, "granularity": "channel"})"), 64, load_target("host")).ok);
}

TEST(Targets, RecipeCheckAdaptAndRefusal) {
  SynthOptions so;
  so.arch = "openpangu-embedded-1b";
  const std::vector<TensorSpec> registry = build_registry(synth_config(so));
  const Recipe r = parse_recipe(R"({"default": {"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 128},
      "overrides": [{"match": "attention", "scheme": {"w_bits": 8, "granularity": "channel"}},
                    {"match": "mlp_down", "layers": [3], "scheme": {"group_size": 80}}],
      "kv_cache": {"bits": 4, "granularity": "token"}})", "r.json");
  const auto tensors = resolve_recipe(r, registry);
  const TargetProfile t = load_target("ascend-910b1");
  const auto v = check_recipe(tensors, r.kv_cache, t);
  ASSERT_EQ(v.size(), 2u);  // layer 3 down_proj (group 80: not a multiple of 32) and the int4 KV cache
  EXPECT_EQ(v[0].tensor, "model.layers.3.mlp.down_proj.weight");
  EXPECT_EQ(v[1].tensor, "kv_cache");
  try {
    require_target_runs(tensors, r.kv_cache, t);
    ADD_FAILURE() << "no refusal";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.3.mlp.down_proj.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("and 1 more refused"), std::string::npos) << e.what();
  }
  std::vector<std::string> changes;
  const nlohmann::json adapted = adapt_recipe(r, tensors, t, &changes);
  EXPECT_EQ(changes.size(), 2u);
  const Recipe r2 = parse_recipe(adapted.dump(), "adapted.json");
  EXPECT_NO_THROW(require_target_runs(resolve_recipe(r2, registry), r2.kv_cache, t));
  EXPECT_EQ(r2.kv_cache.bits, 8);
  EXPECT_EQ(r2.kv_cache.granularity, KVGranularity::Channel);
}

}  // namespace
}  // namespace quantscope

namespace quantscope {
namespace {

TEST(TargetsCli, CheckRefusesWithExitTwoAndAdaptWritesARecipeThatRuns) {
  test::TempDir tmp;
  {
    std::ofstream(tmp.file("w4.json")) << R"({"default": {"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 128}})";
  }
  auto r = test::run_cli("targets check " + tmp.file("w4.json") + " --target ascend-310p --arch openpangu-embedded-1b");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.out.find("REFUSED model.layers.0.self_attn.q_proj.weight: 4-bit weights"), std::string::npos) << r.out;
  r = test::run_cli("targets check " + tmp.file("w4.json") + " --target ascend-910b1 --arch openpangu-embedded-1b");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  r = test::run_cli("targets check " + tmp.file("w4.json") + " --target ascend-310p --arch openpangu-embedded-1b --adapt " +
                    tmp.file("adapted.json"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("adapt: default: rtn w4 g128 asym -> rtn w8"), std::string::npos) << r.out;
  EXPECT_EQ(test::run_cli("targets check " + tmp.file("adapted.json") + " --target ascend-310p --arch openpangu-embedded-1b")
                .exit_code,
            0);
  r = test::run_cli("targets show nvidia-h100");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("roofline.memory_bandwidth_gb_s: V: 3.35 TB/s"), std::string::npos) << r.out;
  r = test::run_cli("targets show tpu-v5");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown target \"tpu-v5\""), std::string::npos) << r.err;
}

}  // namespace
}  // namespace quantscope
