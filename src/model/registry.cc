#include "model/registry.h"

#include <fmt/format.h>

#include "core/error.h"

namespace quantscope {

namespace {
struct RoleInfo {
  TensorRole role;
  std::string_view name;
  std::string_view hf_suffix;  // after "model.layers.N." for per-layer roles
};
constexpr RoleInfo kRoles[] = {
    {TensorRole::Embedding, "embedding", ""},
    {TensorRole::AttnNorm, "attn_norm", "input_layernorm"},
    {TensorRole::AttnQ, "attn_q", "self_attn.q_proj"},
    {TensorRole::AttnK, "attn_k", "self_attn.k_proj"},
    {TensorRole::AttnV, "attn_v", "self_attn.v_proj"},
    {TensorRole::AttnO, "attn_o", "self_attn.o_proj"},
    {TensorRole::MlpNorm, "mlp_norm", "post_attention_layernorm"},
    {TensorRole::MlpGate, "mlp_gate", "mlp.gate_proj"},
    {TensorRole::MlpUp, "mlp_up", "mlp.up_proj"},
    {TensorRole::MlpDown, "mlp_down", "mlp.down_proj"},
    {TensorRole::FinalNorm, "final_norm", ""},
    {TensorRole::LmHead, "lm_head", ""},
};
const RoleInfo& info(TensorRole r) {
  for (const auto& i : kRoles)
    if (i.role == r) return i;
  fail_internal("unknown tensor role {}", int(r));
}
}  // namespace

std::string_view role_name(TensorRole r) { return info(r).name; }

bool role_from_name(std::string_view s, TensorRole* out) {
  for (const auto& i : kRoles) {
    if (i.name == s) {
      *out = i.role;
      return true;
    }
  }
  return false;
}

bool role_is_attention(TensorRole r) {
  return r == TensorRole::AttnQ || r == TensorRole::AttnK || r == TensorRole::AttnV || r == TensorRole::AttnO;
}
bool role_is_mlp(TensorRole r) {
  return r == TensorRole::MlpGate || r == TensorRole::MlpUp || r == TensorRole::MlpDown;
}
bool role_is_linear(TensorRole r) { return role_is_attention(r) || role_is_mlp(r) || r == TensorRole::LmHead; }

std::string layer_tensor_name(int layer, TensorRole role, bool bias) {
  return fmt::format("model.layers.{}.{}.{}", layer, info(role).hf_suffix, bias ? "bias" : "weight");
}

std::string global_tensor_name(TensorRole role) {
  switch (role) {
    case TensorRole::Embedding: return "model.embed_tokens.weight";
    case TensorRole::FinalNorm: return "model.norm.weight";
    case TensorRole::LmHead: return "lm_head.weight";
    default: fail_internal("role {} is per-layer", role_name(role));
  }
}

std::vector<TensorSpec> build_registry(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t Q = c.q_dim(), KV = c.kv_dim();
  std::vector<TensorSpec> r;
  r.push_back({global_tensor_name(TensorRole::Embedding), TensorRole::Embedding, -1, false, {V, H}, true});
  for (int l = 0; l < c.num_layers; ++l) {
    auto add = [&](TensorRole role, std::vector<int64_t> shape, bool bias = false) {
      r.push_back({layer_tensor_name(l, role, bias), role, l, bias, std::move(shape), true});
    };
    add(TensorRole::AttnNorm, {H});
    add(TensorRole::AttnQ, {Q, H});
    if (c.qkv_bias) add(TensorRole::AttnQ, {Q}, true);
    add(TensorRole::AttnK, {KV, H});
    if (c.qkv_bias) add(TensorRole::AttnK, {KV}, true);
    add(TensorRole::AttnV, {KV, H});
    if (c.qkv_bias) add(TensorRole::AttnV, {KV}, true);
    add(TensorRole::AttnO, {H, Q});
    if (c.o_bias) add(TensorRole::AttnO, {H}, true);
    add(TensorRole::MlpNorm, {H});
    add(TensorRole::MlpGate, {I, H});
    add(TensorRole::MlpUp, {I, H});
    add(TensorRole::MlpDown, {H, I});
  }
  r.push_back({global_tensor_name(TensorRole::FinalNorm), TensorRole::FinalNorm, -1, false, {H}, true});
  r.push_back({global_tensor_name(TensorRole::LmHead), TensorRole::LmHead, -1, false, {V, H}, !c.tie_embeddings});
  return r;
}

}  // namespace quantscope
