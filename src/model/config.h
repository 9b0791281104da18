// The hyper-parameters of a decoder-only transformer of the Llama family (Llama, Qwen2,
// openPangu-Embedded), whatever file they came from.
#pragma once

#include <cstdint>
#include <string>

namespace quantscope {

enum class Architecture { Llama, Qwen2, OpenPanguEmbedded };

// How RoPE pairs the dimensions of a head.
enum class RopeStyle {
  Interleaved,  // pairs (2i, 2i+1): llama2.c checkpoints, GGUF llama (Meta layout)
  HalfSplit,    // pairs (i, i + d/2), HF rotate_half: safetensors Llama, Qwen2, openPangu
};

struct ModelConfig {
  Architecture arch = Architecture::Llama;
  int hidden_size = 0;        // H
  int intermediate_size = 0;  // I (SwiGLU width)
  int num_layers = 0;
  int num_heads = 0;     // query heads
  int num_kv_heads = 0;  // key/value heads (GQA when < num_heads)
  int head_dim = 0;      // usually H / num_heads
  int vocab_size = 0;
  int max_seq_len = 0;
  float rope_theta = 10000.0f;
  float norm_eps = 1e-5f;
  bool tie_embeddings = false;  // lm_head shares model.embed_tokens.weight
  bool qkv_bias = false;        // Qwen2, openPangu
  bool o_bias = false;          // openPangu
  RopeStyle rope_style = RopeStyle::HalfSplit;
  int bos_id = 1;
  int eos_id = 2;
  int pad_id = -1;
  bool synthetic = false;  // written by `quantscope synth`: random weights, label every result
  std::string torch_dtype;  // as declared in config.json ("bfloat16"), informational

  int q_dim() const { return num_heads * head_dim; }
  int kv_dim() const { return num_kv_heads * head_dim; }
};

std::string_view architecture_name(Architecture a);  // the HF class name, e.g. "LlamaForCausalLM"
std::string_view architecture_short_name(Architecture a);  // "llama", "qwen2", "openpangu-embedded"

// Checks internal consistency (positive sizes, heads divide, ...). Throws InputError naming `source`.
void validate_config(const ModelConfig& c, const std::string& source);

}  // namespace quantscope
