#include "model/config.h"

#include "core/error.h"

namespace quantscope {

std::string_view architecture_name(Architecture a) {
  switch (a) {
    case Architecture::Llama: return "LlamaForCausalLM";
    case Architecture::Qwen2: return "Qwen2ForCausalLM";
    case Architecture::OpenPanguEmbedded: return "PanguEmbeddedForCausalLM";
  }
  return "?";
}

std::string_view architecture_short_name(Architecture a) {
  switch (a) {
    case Architecture::Llama: return "llama";
    case Architecture::Qwen2: return "qwen2";
    case Architecture::OpenPanguEmbedded: return "openpangu-embedded";
  }
  return "?";
}

void validate_config(const ModelConfig& c, const std::string& source) {
  auto positive = [&](int v, const char* field) {
    if (v <= 0) fail_input("{}: field '{}' must be positive, got {}", source, field, v);
  };
  positive(c.hidden_size, "hidden_size");
  positive(c.intermediate_size, "intermediate_size");
  positive(c.num_layers, "num_hidden_layers");
  positive(c.num_heads, "num_attention_heads");
  positive(c.num_kv_heads, "num_key_value_heads");
  positive(c.head_dim, "head_dim");
  positive(c.vocab_size, "vocab_size");
  positive(c.max_seq_len, "max_position_embeddings");
  if (c.num_heads % c.num_kv_heads != 0)
    fail_input("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", source, c.num_heads,
               c.num_kv_heads);
  if (c.head_dim % 2 != 0) fail_input("{}: head_dim {} must be even for RoPE", source, c.head_dim);
  if (!(c.rope_theta > 0)) fail_input("{}: field 'rope_theta' must be positive", source);
  if (!(c.norm_eps > 0)) fail_input("{}: field 'rms_norm_eps' must be positive", source);
  if (c.num_layers > 100000 || c.hidden_size > (1 << 20) || c.vocab_size > (1 << 24) || c.intermediate_size > (1 << 22))
    fail_input("{}: implausible model sizes (layers {}, hidden {}, vocab {})", source, c.num_layers, c.hidden_size,
               c.vocab_size);
}

}  // namespace quantscope
