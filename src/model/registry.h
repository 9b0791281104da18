// The tensor registry: every tensor of an architecture with its canonical (Hugging Face) name,
// shape, role and layer. Loader, quantizer, saver, sensitivity analysis and reports all walk this
// list, so "attention vs MLP" is a property of the registry, not a string match.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/config.h"

namespace quantscope {

enum class TensorRole {
  Embedding,  // model.embed_tokens.weight [V, H]
  AttnNorm,   // model.layers.N.input_layernorm.weight [H]
  AttnQ,      // q_proj [nq*hd, H] (+ bias [nq*hd])
  AttnK,      // k_proj [nkv*hd, H]
  AttnV,      // v_proj [nkv*hd, H]
  AttnO,      // o_proj [H, nq*hd]
  MlpNorm,    // post_attention_layernorm [H]
  MlpGate,    // gate_proj [I, H]
  MlpUp,      // up_proj [I, H]
  MlpDown,    // down_proj [H, I]
  FinalNorm,  // model.norm.weight [H]
  LmHead,     // lm_head.weight [V, H]
};

std::string_view role_name(TensorRole r);  // "attn_q", "mlp_down", "lm_head", ...
bool role_from_name(std::string_view s, TensorRole* out);
bool role_is_linear(TensorRole r);  // weight matrices the quantizer may touch (q..down, lm_head)
bool role_is_attention(TensorRole r);
bool role_is_mlp(TensorRole r);

struct TensorSpec {
  std::string name;  // canonical name, e.g. "model.layers.3.self_attn.q_proj.weight"
  TensorRole role;
  int layer = -1;  // -1 for global tensors
  bool is_bias = false;
  std::vector<int64_t> shape;
  // False for lm_head of a tied model: absent from the checkpoint, served by the embedding.
  bool stored = true;
};

// All tensors of a model with this config, in forward order.
std::vector<TensorSpec> build_registry(const ModelConfig& c);

// Canonical names.
std::string layer_tensor_name(int layer, TensorRole role, bool bias = false);
std::string global_tensor_name(TensorRole role);

}  // namespace quantscope
