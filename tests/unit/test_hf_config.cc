// config.json parsing for Llama / Qwen2 / openPangu-Embedded, the rejected features, error messages,
// and the writer's round trip.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/hf_config.h"

namespace quantscope {
namespace {

using nlohmann::json;

std::string input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected InputError, nothing thrown";
  return "";
}

// openPangu-Embedded-7B config.json fields (reference/openpangu.md §1).
json pangu_7b() {
  return json::parse(R"({
    "architectures": ["PanguEmbeddedForCausalLM"],
    "auto_map": {"AutoConfig": "configuration_openpangu_dense.PanguEmbeddedConfig"},
    "model_type": "PanguEmbedded",
    "hidden_size": 4096, "intermediate_size": 12800, "num_hidden_layers": 34,
    "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 153376,
    "max_position_embeddings": 32768, "rope_theta": 16000000.0, "rms_norm_eps": 1e-05,
    "hidden_act": "silu", "bias": true, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
    "bos_token_id": 1, "eos_token_id": 45892, "pad_token_id": 0, "use_cache": true,
    "initializer_range": 0.02, "transformers_version": "4.53.2"
  })");
}

// openPangu-Embedded-1B.
json pangu_1b() {
  json j = pangu_7b();
  j["hidden_size"] = 1536;
  j["intermediate_size"] = 6144;
  j["num_hidden_layers"] = 26;
  j["num_attention_heads"] = 12;
  j["num_key_value_heads"] = 6;
  j["rope_theta"] = 4000000.0;
  j["tie_word_embeddings"] = true;
  return j;
}

// Llama-3.2-1B without its rope_scaling block (which we reject).
json llama() {
  return json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256,
    "max_position_embeddings": 131072, "rope_theta": 500000.0, "rms_norm_eps": 1e-05,
    "hidden_act": "silu", "attention_bias": false, "mlp_bias": false, "tie_word_embeddings": true,
    "torch_dtype": "bfloat16", "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
    "rope_scaling": null
  })");
}

// Qwen2-0.5B.
json qwen2() {
  return json::parse(R"({
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
    "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
    "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
    "max_position_embeddings": 131072, "rope_theta": 1000000.0, "rms_norm_eps": 1e-06,
    "hidden_act": "silu", "tie_word_embeddings": true, "torch_dtype": "bfloat16",
    "bos_token_id": 151643, "eos_token_id": 151643, "sliding_window": 131072,
    "use_sliding_window": false, "max_window_layers": 24
  })");
}

ModelConfig parse(const json& j) { return parse_hf_config(j.dump(), "m/config.json"); }

TEST(HfConfig, OpenPangu7B) {
  const ModelConfig c = parse(pangu_7b());
  EXPECT_EQ(c.arch, Architecture::OpenPanguEmbedded);
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.intermediate_size, 12800);
  EXPECT_EQ(c.num_layers, 34);
  EXPECT_EQ(c.num_heads, 32);
  EXPECT_EQ(c.num_kv_heads, 8);
  EXPECT_EQ(c.head_dim, 128);  // absent: hidden / heads
  EXPECT_EQ(c.vocab_size, 153376);
  EXPECT_EQ(c.max_seq_len, 32768);
  EXPECT_FLOAT_EQ(c.rope_theta, 16e6f);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_TRUE(c.o_bias);
  EXPECT_FALSE(c.tie_embeddings);
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_EQ(c.eos_id, 45892);
  EXPECT_EQ(c.pad_id, 0);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(c.rope_style, RopeStyle::HalfSplit);
  EXPECT_FALSE(c.synthetic);
}

TEST(HfConfig, OpenPangu1B) {
  const ModelConfig c = parse(pangu_1b());
  EXPECT_EQ(c.arch, Architecture::OpenPanguEmbedded);
  EXPECT_EQ(c.hidden_size, 1536);
  EXPECT_EQ(c.num_layers, 26);
  EXPECT_EQ(c.num_heads, 12);
  EXPECT_EQ(c.num_kv_heads, 6);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.intermediate_size, 6144);
  EXPECT_FLOAT_EQ(c.rope_theta, 4e6f);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_TRUE(c.qkv_bias && c.o_bias);
}

TEST(HfConfig, OpenPanguBiasFalseAndTransformersModelType) {
  json j = pangu_1b();
  j["bias"] = false;
  j["model_type"] = "openpangu_dense";  // the transformers port's spelling
  const ModelConfig c = parse(j);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
}

TEST(HfConfig, OpenPanguDefaultsFollowPanguEmbeddedConfig) {
  json j = pangu_7b();
  for (const char* k : {"bias", "rope_theta", "bos_token_id", "eos_token_id", "pad_token_id"}) j.erase(k);
  const ModelConfig c = parse(j);
  EXPECT_TRUE(c.qkv_bias && c.o_bias);
  EXPECT_FLOAT_EQ(c.rope_theta, 16e6f);
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_EQ(c.eos_id, 45892);
  EXPECT_EQ(c.pad_id, 0);
}

TEST(HfConfig, Llama) {
  const ModelConfig c = parse(llama());
  EXPECT_EQ(c.arch, Architecture::Llama);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_FLOAT_EQ(c.rope_theta, 5e5f);
  EXPECT_EQ(c.bos_id, 128000);
  EXPECT_EQ(c.eos_id, 128001);  // first of the list
  EXPECT_EQ(c.pad_id, -1);
}

TEST(HfConfig, LlamaAttentionBias) {
  json j = llama();
  j["attention_bias"] = true;
  const ModelConfig c = parse(j);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_TRUE(c.o_bias);
}

TEST(HfConfig, LlamaDefaults) {
  json j = llama();
  for (const char* k : {"num_key_value_heads", "head_dim", "rope_theta", "tie_word_embeddings", "bos_token_id",
                        "eos_token_id", "attention_bias"})
    j.erase(k);
  const ModelConfig c = parse(j);
  EXPECT_EQ(c.num_kv_heads, 32);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_FALSE(c.tie_embeddings);
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_EQ(c.eos_id, 2);
}

TEST(HfConfig, Qwen2) {
  const ModelConfig c = parse(qwen2());
  EXPECT_EQ(c.arch, Architecture::Qwen2);
  EXPECT_EQ(c.hidden_size, 896);
  EXPECT_EQ(c.num_heads, 14);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-6f);
  EXPECT_EQ(c.eos_id, 151643);
}

TEST(HfConfig, ArchitectureFromModelTypeAlone) {
  json j = qwen2();
  j.erase("architectures");
  EXPECT_EQ(parse(j).arch, Architecture::Qwen2);
}

TEST(HfConfig, SyntheticFlagAndNewDtypeField) {
  json j = llama();
  j["quantscope_synthetic"] = true;
  j.erase("torch_dtype");
  j["dtype"] = "float32";
  const ModelConfig c = parse(j);
  EXPECT_TRUE(c.synthetic);
  EXPECT_EQ(c.torch_dtype, "float32");
}

TEST(HfConfig, MissingFieldNamesFieldAndFile) {
  for (const char* field : {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                            "vocab_size", "max_position_embeddings", "rms_norm_eps"}) {
    json j = pangu_7b();
    j.erase(field);
    const std::string msg = input_error([&] { parse(j); });
    EXPECT_NE(msg.find("m/config.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string("'") + field + "'"), std::string::npos) << msg;
  }
  json j = pangu_7b();
  j.erase("architectures");
  j.erase("model_type");
  EXPECT_NE(input_error([&] { parse(j); }).find("'architectures'"), std::string::npos);
}

TEST(HfConfig, WrongTypeNamesFieldAndExpectedType) {
  struct Case {
    const char* field;
    json value;
    const char* expected;
  };
  const Case cases[] = {
      {"hidden_size", "4096", "integer"},          {"num_hidden_layers", 34.5, "integer"},
      {"rope_theta", "1e6", "number"},             {"tie_word_embeddings", 1, "true or false"},
      {"architectures", "LlamaForCausalLM", "list"}, {"torch_dtype", 16, "string"},
      {"eos_token_id", "x", "integer"},
  };
  for (const Case& k : cases) {
    json j = llama();
    j[k.field] = k.value;
    const std::string msg = input_error([&] { parse(j); });
    EXPECT_NE(msg.find("m/config.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string("'") + k.field + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(k.expected), std::string::npos) << msg;
  }
}

TEST(HfConfig, UnknownArchitecture) {
  json j = llama();
  j["architectures"] = {"MistralForCausalLM"};
  j.erase("model_type");
  const std::string msg = input_error([&] { parse(j); });
  EXPECT_NE(msg.find("'architectures'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("MistralForCausalLM"), std::string::npos) << msg;
}

TEST(HfConfig, ModelTypeMustMatchArchitecture) {
  json j = llama();
  j["model_type"] = "qwen2";
  const std::string msg = input_error([&] { parse(j); });
  EXPECT_NE(msg.find("'model_type'"), std::string::npos) << msg;
}

TEST(HfConfig, RejectsUnimplementedFeatures) {
  struct Case {
    const char* field;
    std::function<void(json&)> edit;
    json base;
  };
  const Case cases[] = {
      {"rope_scaling",
       [](json& j) { j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 32.0}}; }, llama()},
      {"param_sink_number", [](json& j) { j["param_sink_number"] = 128; }, pangu_7b()},
      {"sliding_window",
       [](json& j) {
         j["use_sliding_window"] = true;
         j["sliding_window"] = 4096;
       },
       qwen2()},
      {"sliding_window", [](json& j) { j["sliding_window"] = 128; }, pangu_7b()},
      {"q_lora_rank", [](json& j) { j["q_lora_rank"] = 1536; }, pangu_7b()},
      {"kv_lora_rank", [](json& j) { j["kv_lora_rank"] = 512; }, pangu_7b()},
      {"qk_nope_head_dim", [](json& j) { j["qk_nope_head_dim"] = 96; }, pangu_7b()},
      {"sandwich_norm", [](json& j) { j["sandwich_norm"] = true; }, pangu_7b()},
      {"num_experts", [](json& j) { j["num_experts"] = 64; }, qwen2()},
      {"mlp_bias", [](json& j) { j["mlp_bias"] = true; }, llama()},
      {"hidden_act", [](json& j) { j["hidden_act"] = "gelu"; }, llama()},
  };
  for (const Case& k : cases) {
    json j = k.base;
    k.edit(j);
    const std::string msg = input_error([&] { parse(j); });
    EXPECT_NE(msg.find("m/config.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string("'") + k.field + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not implemented"), std::string::npos) << msg;
  }
}

TEST(HfConfig, AcceptsHarmlessVariants) {
  json j = llama();
  j["rope_scaling"] = {{"rope_type", "default"}};
  j["sandwich_norm"] = false;
  j["q_lora_rank"] = nullptr;
  EXPECT_NO_THROW(parse(j));
  json p = pangu_7b();
  p["param_sink_number"] = 0;
  EXPECT_NO_THROW(parse(p));
}

TEST(HfConfig, InvalidJsonNamesByteOffset) {
  const std::string msg = input_error([] { parse_hf_config(R"({"hidden_size": 12,, })", "bad/config.json"); });
  EXPECT_NE(msg.find("bad/config.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte 19"), std::string::npos) << msg;
}

TEST(HfConfig, InconsistentSizesAreRejected) {
  json j = llama();
  j["num_key_value_heads"] = 5;  // 32 heads are not a multiple of 5
  const std::string msg = input_error([&] { parse(j); });
  EXPECT_NE(msg.find("m/config.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("num_key_value_heads"), std::string::npos) << msg;
}

void expect_same(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.arch, b.arch);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.max_seq_len, b.max_seq_len);
  EXPECT_EQ(a.rope_theta, b.rope_theta);  // bit-exact
  EXPECT_EQ(a.norm_eps, b.norm_eps);
  EXPECT_EQ(a.tie_embeddings, b.tie_embeddings);
  EXPECT_EQ(a.qkv_bias, b.qkv_bias);
  EXPECT_EQ(a.o_bias, b.o_bias);
  EXPECT_EQ(a.rope_style, b.rope_style);
  EXPECT_EQ(a.bos_id, b.bos_id);
  EXPECT_EQ(a.eos_id, b.eos_id);
  EXPECT_EQ(a.pad_id, b.pad_id);
  EXPECT_EQ(a.synthetic, b.synthetic);
  EXPECT_EQ(a.torch_dtype, b.torch_dtype);
}

TEST(HfConfig, WriterRoundTrips) {
  for (json j : {pangu_7b(), pangu_1b(), llama(), qwen2()}) {
    const ModelConfig c = parse(j);
    expect_same(parse_hf_config(hf_config_json(c), "rt/config.json"), c);
  }
  ModelConfig s = parse(llama());
  s.synthetic = true;
  s.qkv_bias = s.o_bias = true;
  s.pad_id = 7;
  s.norm_eps = 3.3e-7f;
  s.rope_theta = 12345.678f;
  const std::string text = hf_config_json(s);
  EXPECT_NE(text.find("\"quantscope_synthetic\": true"), std::string::npos) << text;
  EXPECT_NE(text.find("\"rms_norm_eps\": 3.3e-07"), std::string::npos) << text;  // shortest float spelling
  expect_same(parse_hf_config(text, "rt/config.json"), s);
}

}  // namespace
}  // namespace quantscope
