// Recipes: patterns over the registry, ordered overrides, errors with the JSON field path.
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/registry.h"
#include "quant/recipe.h"

namespace quantscope {
namespace {

ModelConfig small_config() {
  ModelConfig c;
  c.hidden_size = 64;
  c.intermediate_size = 172;
  c.num_layers = 2;
  c.num_heads = 8;
  c.num_kv_heads = 4;
  c.head_dim = 8;
  c.vocab_size = 512;
  c.max_seq_len = 512;
  c.tie_embeddings = true;
  return c;
}

std::string error_of(const std::string& json) {
  try {
    const Recipe r = parse_recipe(json, "r.json");
    resolve_recipe(r, build_registry(small_config()));
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

const ResolvedTensor& find(const std::vector<ResolvedTensor>& p, const std::string& name) {
  for (const auto& t : p)
    if (t.spec.name == name) return t;
  throw std::runtime_error("no " + name);
}

TEST(QuantRecipe, DefaultsOverridesAndRoles) {
  const Recipe r = parse_recipe(R"({
    "default": {"method": "gptq", "w_bits": 4, "granularity": "group", "group_size": 32, "act_order": true},
    "overrides": [
      {"match": "attention", "scheme": {"w_bits": 8, "granularity": "channel"}},
      {"match": "mlp_down", "layers": [0], "scheme": {"w_bits": 6}},
      {"match": "model.layers.1.mlp.*", "scheme": {"method": "rtn", "symmetric": true}},
      {"match": "lm_head", "scheme": {"method": "rtn", "w_bits": 8}}
    ]})", "r.json");
  const auto plan = resolve_recipe(r, build_registry(small_config()));
  const auto& q0 = find(plan, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(q0.scheme.method, QuantMethod::Gptq);
  EXPECT_EQ(q0.scheme.weight.bits, 8);
  EXPECT_EQ(q0.scheme.weight.granularity, Granularity::Channel);
  EXPECT_TRUE(q0.scheme.gptq.act_order);
  const auto& d0 = find(plan, "model.layers.0.mlp.down_proj.weight");
  EXPECT_EQ(d0.scheme.weight.bits, 6);
  EXPECT_EQ(d0.scheme.weight.group_size, 32);
  EXPECT_EQ(find(plan, "model.layers.1.mlp.down_proj.weight").scheme.weight.bits, 4);
  EXPECT_EQ(find(plan, "model.layers.1.mlp.up_proj.weight").scheme.method, QuantMethod::Rtn);
  EXPECT_TRUE(find(plan, "model.layers.1.mlp.up_proj.weight").scheme.weight.symmetric);
  EXPECT_EQ(find(plan, "model.layers.0.mlp.up_proj.weight").scheme.method, QuantMethod::Gptq);
  EXPECT_FALSE(find(plan, "model.embed_tokens.weight").scheme.quantized());
  const auto& head = find(plan, "lm_head.weight");
  EXPECT_EQ(head.scheme.method, QuantMethod::Rtn);
  EXPECT_EQ(head.scheme.weight.bits, 8);
}

TEST(QuantRecipe, PatternKinds) {
  const auto reg = build_registry(small_config());
  auto spec = [&](const std::string& n) {
    for (const auto& s : reg)
      if (s.name == n) return s;
    throw std::runtime_error(n);
  };
  const auto q1 = spec("model.layers.1.self_attn.q_proj.weight");
  EXPECT_TRUE(recipe_pattern_matches("attn_q", q1));
  EXPECT_TRUE(recipe_pattern_matches("attention", q1));
  EXPECT_FALSE(recipe_pattern_matches("mlp", q1));
  EXPECT_TRUE(recipe_pattern_matches("layers.1", q1));
  EXPECT_FALSE(recipe_pattern_matches("layers.0", q1));
  EXPECT_TRUE(recipe_pattern_matches("linear", q1));
  EXPECT_TRUE(recipe_pattern_matches("*.q_proj.*", q1));
  EXPECT_FALSE(recipe_pattern_matches("linear", spec("lm_head.weight")));
  EXPECT_TRUE(recipe_pattern_matches("lm_head", spec("lm_head.weight")));
  EXPECT_TRUE(recipe_pattern_matches("embedding", spec("model.embed_tokens.weight")));
}

TEST(QuantRecipe, ErrorsNameTheFieldPath) {
  EXPECT_NE(error_of(R"({"default": {"w_bitz": 4}})").find("r.json: default.w_bitz: unknown field"), std::string::npos);
  EXPECT_NE(error_of(R"({"default": {"w_bits": 0}})").find("default.w_bits: 0 bits is impossible"), std::string::npos);
  EXPECT_NE(error_of(R"({"default": {"w_bits": "4"}})").find("default.w_bits: expected an integer"), std::string::npos);
  EXPECT_NE(error_of(R"({"default": {"method": "magic"}})").find("default.method: unknown method"), std::string::npos);
  // A4 with a weight-only method, a method parameter on another method, a bad KV-cache scheme.
  EXPECT_NE(error_of(R"({"default": {"method": "awq", "a_bits": 4}})").find("a_bits 4 with method 'awq', a weight-only method"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"default": {"method": "billm", "w_bits": 2}})").find("billm is a 1-bit method"), std::string::npos);
  EXPECT_NE(error_of(R"({"default": {"method": "rtn", "damp": 0.1}})").find("default.damp: 'damp' is a GPTQ/GPTAQ parameter"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"default": {"method": "gptq", "alpha": 0.5}})").find("default.alpha: 'alpha' is a SmoothQuant or GPTAQ"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"default": {"method": "smoothquant", "alpha": 1.5}})").find("migration strength 1.5"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"kv_cache": {"bits": 3}})").find("kv_cache.bits: KV-cache bits 3"), std::string::npos);
  EXPECT_NE(error_of(R"({"kv_cache": {"granularity": "head"}})").find("kv_cache.granularity: expected token or channel"),
            std::string::npos);
  EXPECT_EQ(error_of(R"({"default": {"method": "smoothquant", "a_bits": 8, "alpha": 0.8}, "kv_cache": {"bits": 4}})"), "");
  EXPECT_NE(error_of(R"({"default": {"a_bits": 3}})").find("default.a_bits"), std::string::npos);
  EXPECT_NE(error_of(R"({"overrides": [{"match": "attn_z", "scheme": {}}]})").find("overrides[0].match"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"overrides": [{"match": "mlp", "scheme": {"granularity": "row"}}]})")
                .find("overrides[0].scheme.granularity: unknown granularity"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"overrides": [{"match": "mlp", "sceme": {}}]})").find("overrides[0].sceme: unknown field"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"defaults": {}})").find("defaults: unknown field"), std::string::npos);
  EXPECT_NE(error_of(R"({"default": {"granularity": "group"}})").find("needs a positive group_size"), std::string::npos);
  // group_size larger than K = 64 of the attention projections
  EXPECT_NE(error_of(R"({"default": {"group_size": 128}})").find("group_size 128 is larger than K = 64"),
            std::string::npos);
  EXPECT_EQ(error_of(R"({"default": {"group_size": 128, "group_size_over_k": "channel"}})"), "");
  EXPECT_NE(error_of(R"({"overrides": [{"match": "embedding", "scheme": {"method": "rtn"}}]})").find("embedding"),
            std::string::npos);
  EXPECT_NE(error_of("{nope").find("not valid JSON"), std::string::npos);
}

}  // namespace
}  // namespace quantscope
