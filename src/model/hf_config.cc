#include "model/hf_config.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <climits>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "core/json_document.h"
#include "core/error.h"
#include "core/mapped_file.h"

namespace quantscope {

namespace {

using nlohmann::json;

struct ArchName {
  std::string_view hf_class;
  Architecture arch;
};
constexpr ArchName kArchClasses[] = {
    {"LlamaForCausalLM", Architecture::Llama},
    {"Qwen2ForCausalLM", Architecture::Qwen2},
    {"PanguEmbeddedForCausalLM", Architecture::OpenPanguEmbedded},
};
// model_type values seen in the wild: openPangu's own config says "PanguEmbedded", the transformers
// port says "openpangu_dense".
constexpr ArchName kModelTypes[] = {
    {"llama", Architecture::Llama},
    {"qwen2", Architecture::Qwen2},
    {"PanguEmbedded", Architecture::OpenPanguEmbedded},
    {"openpangu_dense", Architecture::OpenPanguEmbedded},
};

std::optional<Architecture> lookup(const auto& table, std::string_view name) {
  for (const auto& e : table)
    if (e.hf_class == name) return e.arch;
  return std::nullopt;
}

// Typed access to the fields of one config object; every failure names the file and the field.
class Fields {
 public:
  Fields(const json& j, const std::string& source) : j_(j), source_(source) {}

  // Present and not null.
  bool has(const char* f) const { return j_.contains(f) && !j_[f].is_null(); }
  const json& at(const char* f) const { return j_[f]; }

  [[noreturn]] void wrong_type(const char* f, std::string_view expected) const {
    std::string got = j_[f].dump();
    if (got.size() > 60) got = got.substr(0, 57) + "...";
    fail_input("{}: field '{}': expected {}, got {}", source_, f, expected, got);
  }
  void require(const char* f) const {
    if (!has(f)) fail_input("{}: missing required field '{}'", source_, f);
  }

  int64_t int64(const char* f) const {
    const json& v = j_[f];
    if (v.is_number_unsigned()) {
      if (v.get<uint64_t>() > uint64_t(INT64_MAX)) wrong_type(f, "an integer in range");
      return int64_t(v.get<uint64_t>());
    }
    if (v.is_number_integer()) return v.get<int64_t>();
    wrong_type(f, "an integer");
  }
  int integer(const char* f) const {
    int64_t v = int64(f);
    if (v < INT_MIN || v > INT_MAX) fail_input("{}: field '{}': value {} is out of range", source_, f, v);
    return int(v);
  }
  int integer_or(const char* f, int fallback) const { return has(f) ? integer(f) : fallback; }
  int required_int(const char* f) const {
    require(f);
    return integer(f);
  }
  double number(const char* f) const {
    const json& v = j_[f];
    if (!v.is_number()) wrong_type(f, "a number");
    double d = v.get<double>();
    if (!std::isfinite(d)) fail_input("{}: field '{}': value is not finite", source_, f);
    return d;
  }
  bool boolean_or(const char* f, bool fallback) const {
    if (!has(f)) return fallback;
    if (!j_[f].is_boolean()) wrong_type(f, "true or false");
    return j_[f].get<bool>();
  }
  std::string string(const char* f) const {
    if (!j_[f].is_string()) wrong_type(f, "a string");
    return j_[f].get<std::string>();
  }
  // A token id: an integer, null (none: -1), or a list whose first element is used (HF allows
  // several eos ids; the first is the one generation stops on by default).
  int token_id_or(const char* f, int fallback) const {
    if (!j_.contains(f)) return fallback;
    const json& v = j_[f];
    if (v.is_null()) return -1;
    if (v.is_array()) {
      if (v.empty()) return -1;
      if (!v[0].is_number_integer()) wrong_type(f, "an integer or a list of integers");
      return int(v[0].get<int64_t>());
    }
    return integer(f);
  }
  [[noreturn]] void unsupported(const char* f, std::string_view what) const {
    std::string got = j_[f].dump();
    if (got.size() > 80) got = got.substr(0, 77) + "...";
    fail_input("{}: field '{}' = {}: {} is not implemented", source_, f, got, what);
  }

 private:
  const json& j_;
  const std::string& source_;
};

Architecture parse_architecture(const Fields& f, const std::string& source) {
  std::optional<Architecture> from_class, from_type;
  std::string cls, type;
  if (f.has("architectures")) {
    const json& a = f.at("architectures");
    if (!a.is_array() || a.empty() || !a[0].is_string()) f.wrong_type("architectures", "a non-empty list of strings");
    cls = a[0].get<std::string>();
    from_class = lookup(kArchClasses, cls);
    if (!from_class)
      fail_input("{}: field 'architectures': unsupported architecture '{}' (supported: LlamaForCausalLM, "
                 "Qwen2ForCausalLM, PanguEmbeddedForCausalLM)",
                 source, cls);
  }
  if (f.has("model_type")) {
    type = f.string("model_type");
    from_type = lookup(kModelTypes, type);
    if (!from_type && !from_class)
      fail_input("{}: field 'model_type': unsupported model type '{}' (supported: llama, qwen2, PanguEmbedded)", source,
                 type);
  }
  if (from_class && f.has("model_type") && from_type != from_class)
    fail_input("{}: field 'model_type': '{}' does not match architectures[0] '{}'", source, type, cls);
  if (from_class) return *from_class;
  if (from_type) return *from_type;
  fail_input("{}: missing required field 'architectures' (and no 'model_type')", source);
}

// Features some configs of these classes carry that our forward pass does not implement.
void reject_unsupported(const Fields& f, Architecture arch) {
  if (f.has("rope_scaling")) {
    const json& rs = f.at("rope_scaling");
    // {"rope_type": "default"} is plain RoPE, spelled out.
    const bool plain = rs.is_object() && rs.size() == 1 &&
                       ((rs.contains("rope_type") && rs["rope_type"] == "default") ||
                        (rs.contains("type") && rs["type"] == "default"));
    if (!plain) f.unsupported("rope_scaling", "RoPE scaling");
  }
  if (f.has("param_sink_number") && !(f.at("param_sink_number").is_number() && f.at("param_sink_number") == 0))
    f.unsupported("param_sink_number", "attention sink parameters (openPangu-R)");
  // transformers' Qwen2Config defaults use_sliding_window to false; other classes have no switch, so a
  // window there is meant to apply.
  if (f.has("sliding_window") && f.boolean_or("use_sliding_window", arch != Architecture::Qwen2))
    f.unsupported("sliding_window", "sliding-window attention");
  for (const char* mla : {"q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim"})
    if (f.has(mla)) f.unsupported(mla, "multi-head latent attention (MLA)");
  if (f.boolean_or("sandwich_norm", false)) f.unsupported("sandwich_norm", "sandwich normalization");
  for (const char* moe : {"num_experts", "n_routed_experts", "num_routed_experts"})
    if (f.has(moe) && !(f.at(moe).is_number() && f.at(moe) == 0)) f.unsupported(moe, "mixture of experts");
  if (f.boolean_or("mlp_bias", false)) f.unsupported("mlp_bias", "MLP biases");
  if (f.has("hidden_act")) {
    if (f.string("hidden_act") != "silu") f.unsupported("hidden_act", "an activation other than silu");
  }
}

// Shortest decimal that round-trips the float, as a double: 1e-5f is written "1e-05", not
// 9.999999747378752e-06.
double float_for_json(float v) { return std::strtod(fmt::format("{}", v).c_str(), nullptr); }

}  // namespace

ModelConfig parse_hf_config(const std::string& json_text, const std::string& source) {
  const json j = parse_json_document(json_text, source);
  if (!j.is_object()) fail_input("{}: byte 0: expected a JSON object, got {}", source, j.type_name());
  const Fields f(j, source);

  ModelConfig c;
  c.arch = parse_architecture(f, source);
  reject_unsupported(f, c.arch);
  const bool pangu = c.arch == Architecture::OpenPanguEmbedded;

  c.hidden_size = f.required_int("hidden_size");
  c.intermediate_size = f.required_int("intermediate_size");
  c.num_layers = f.required_int("num_hidden_layers");
  c.num_heads = f.required_int("num_attention_heads");
  c.vocab_size = f.required_int("vocab_size");
  c.max_seq_len = f.required_int("max_position_embeddings");
  f.require("rms_norm_eps");
  c.norm_eps = float(f.number("rms_norm_eps"));
  c.num_kv_heads = f.integer_or("num_key_value_heads", c.num_heads);
  if (c.num_heads <= 0) fail_input("{}: field 'num_attention_heads' must be positive, got {}", source, c.num_heads);
  c.head_dim = f.integer_or("head_dim", c.hidden_size / c.num_heads);
  if (!f.has("head_dim") && c.hidden_size % c.num_heads != 0)
    fail_input("{}: field 'hidden_size' {} is not a multiple of num_attention_heads {} (and no head_dim given)", source,
               c.hidden_size, c.num_heads);
  // transformers defaults: PanguEmbeddedConfig rope_theta=1.6e7; LlamaConfig / Qwen2Config 1e4.
  c.rope_theta = f.has("rope_theta") ? float(f.number("rope_theta")) : (pangu ? 16000000.0f : 10000.0f);
  c.tie_embeddings = f.boolean_or("tie_word_embeddings", false);
  c.rope_style = RopeStyle::HalfSplit;

  switch (c.arch) {
    case Architecture::Llama:
      c.qkv_bias = c.o_bias = f.boolean_or("attention_bias", false);
      break;
    case Architecture::Qwen2:
      c.qkv_bias = true;
      c.o_bias = false;
      break;
    case Architecture::OpenPanguEmbedded:
      c.qkv_bias = c.o_bias = f.boolean_or("bias", true);
      break;
  }

  // Token id defaults of the transformers classes: Llama 1/2/none, PanguEmbedded 1/45892/0, Qwen2 none.
  const int bos = pangu ? 1 : c.arch == Architecture::Llama ? 1 : -1;
  const int eos = pangu ? 45892 : c.arch == Architecture::Llama ? 2 : -1;
  const int pad = pangu ? 0 : -1;
  c.bos_id = f.token_id_or("bos_token_id", bos);
  c.eos_id = f.token_id_or("eos_token_id", eos);
  c.pad_id = f.token_id_or("pad_token_id", pad);

  // Newer transformers write "dtype" instead of "torch_dtype".
  if (f.has("torch_dtype")) c.torch_dtype = f.string("torch_dtype");
  else if (f.has("dtype")) c.torch_dtype = f.string("dtype");
  c.synthetic = f.boolean_or("quantscope_synthetic", false);

  validate_config(c, source);
  return c;
}

ModelConfig read_hf_config(const std::string& path) { return parse_hf_config(read_text_file(path), path); }

std::string hf_config_json(const ModelConfig& c) {
  if (c.rope_style != RopeStyle::HalfSplit)
    fail_internal("hf_config_json: HF checkpoints use half-split RoPE; permute q/k and set RopeStyle::HalfSplit first");
  nlohmann::ordered_json j;
  j["architectures"] = {std::string(architecture_name(c.arch))};
  switch (c.arch) {
    case Architecture::Llama: j["model_type"] = "llama"; break;
    case Architecture::Qwen2: j["model_type"] = "qwen2"; break;
    case Architecture::OpenPanguEmbedded: j["model_type"] = "PanguEmbedded"; break;
  }
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_layers;
  j["num_attention_heads"] = c.num_heads;
  j["num_key_value_heads"] = c.num_kv_heads;
  j["head_dim"] = c.head_dim;
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.max_seq_len;
  j["rope_theta"] = float_for_json(c.rope_theta);
  j["rms_norm_eps"] = float_for_json(c.norm_eps);
  j["hidden_act"] = "silu";
  j["tie_word_embeddings"] = c.tie_embeddings;
  switch (c.arch) {
    case Architecture::Llama:
      if (c.qkv_bias != c.o_bias) fail_internal("hf_config_json: Llama has q/k/v and o biases together or not at all");
      j["attention_bias"] = c.qkv_bias;
      j["mlp_bias"] = false;
      break;
    case Architecture::Qwen2:
      if (!c.qkv_bias || c.o_bias) fail_internal("hf_config_json: Qwen2 always has q/k/v biases and no o bias");
      j["use_sliding_window"] = false;
      break;
    case Architecture::OpenPanguEmbedded:
      if (c.qkv_bias != c.o_bias)
        fail_internal("hf_config_json: openPangu has q/k/v and o biases together or not at all");
      j["bias"] = c.qkv_bias;
      break;
  }
  auto token = [](int id) { return id < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(id); };
  j["bos_token_id"] = token(c.bos_id);
  j["eos_token_id"] = token(c.eos_id);
  j["pad_token_id"] = token(c.pad_id);
  if (!c.torch_dtype.empty()) j["torch_dtype"] = c.torch_dtype;
  if (c.synthetic) j["quantscope_synthetic"] = true;
  return j.dump(2) + "\n";
}

}  // namespace quantscope
