// Hugging Face config.json <-> ModelConfig for the architectures quantscope implements:
//   LlamaForCausalLM          no biases (attention_bias: true => q/k/v/o biases; mlp_bias unsupported)
//   Qwen2ForCausalLM          q/k/v biases, no o bias
//   PanguEmbeddedForCausalLM  openPangu-Embedded 1B/7B: `bias` (default true) => q/k/v/o biases
// Configs that name one of these classes but use a feature we do not implement (rope_scaling,
// attention sinks, active sliding windows, MLA, sandwich norm, MoE) are rejected with the field named,
// because silently ignoring any of them would give a wrong forward pass.
//
// Optional fields take the defaults of the matching transformers config class (e.g. rope_theta 1e4 for
// Llama/Qwen2 but 1.6e7 for PanguEmbeddedConfig). Required: hidden_size, intermediate_size,
// num_hidden_layers, num_attention_heads, vocab_size, max_position_embeddings, rms_norm_eps.
#pragma once

#include <string>

#include "model/config.h"

namespace quantscope {

// Parses config.json text; `source` names the file in messages. Ends with validate_config.
ModelConfig parse_hf_config(const std::string& json_text, const std::string& source);
// Reads and parses the file at `path`.
ModelConfig read_hf_config(const std::string& path);

// The config.json text for `c` (pretty-printed, ends with a newline). parse_hf_config of the result
// gives back `c` (every field; rope_style is always HalfSplit for HF checkpoints). A synthetic config
// carries "quantscope_synthetic": true. Internal error when `c` cannot be expressed for its
// architecture (e.g. Qwen2 without q/k/v biases).
std::string hf_config_json(const ModelConfig& c);

}  // namespace quantscope
