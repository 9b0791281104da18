#include "model/model.h"

#include <filesystem>

#include "core/error.h"

namespace quantscope {

Linear* LayerWeights::linear(TensorRole role) const {
  switch (role) {
    case TensorRole::AttnQ: return q.get();
    case TensorRole::AttnK: return k.get();
    case TensorRole::AttnV: return v.get();
    case TensorRole::AttnO: return o.get();
    case TensorRole::MlpGate: return gate.get();
    case TensorRole::MlpUp: return up.get();
    case TensorRole::MlpDown: return down.get();
    default: fail_internal("role {} is not a per-layer linear", role_name(role));
  }
}

void LayerWeights::set_linear(TensorRole role, std::unique_ptr<Linear> l) {
  switch (role) {
    case TensorRole::AttnQ: q = std::move(l); return;
    case TensorRole::AttnK: k = std::move(l); return;
    case TensorRole::AttnV: v = std::move(l); return;
    case TensorRole::AttnO: o = std::move(l); return;
    case TensorRole::MlpGate: gate = std::move(l); return;
    case TensorRole::MlpUp: up = std::move(l); return;
    case TensorRole::MlpDown: down = std::move(l); return;
    default: fail_internal("role {} is not a per-layer linear", role_name(role));
  }
}

const std::vector<float>* Model::norm_weights(const TensorSpec& spec) const {
  switch (spec.role) {
    case TensorRole::FinalNorm: return &final_norm;
    case TensorRole::AttnNorm: return &layers[size_t(spec.layer)].attn_norm;
    case TensorRole::MlpNorm: return &layers[size_t(spec.layer)].mlp_norm;
    default: return nullptr;
  }
}

Linear* Model::linear(int layer, TensorRole role) const {
  if (role == TensorRole::LmHead) return lm_head.get();
  return layers.at(size_t(layer)).linear(role);
}

int64_t Model::parameter_count() const {
  int64_t n = 0;
  for (const auto& s : registry) {
    if (!s.stored) continue;
    int64_t e = 1;
    for (int64_t d : s.shape) e *= d;
    n += e;
  }
  return n;
}

uint64_t Model::weight_bytes() const {
  uint64_t b = (packed_embedding ? packed_embedding->weight_bytes() : embedding.nbytes()) +
               final_norm.size() * sizeof(float);
  for (const auto& l : layers) {
    b += (l.attn_norm.size() + l.mlp_norm.size()) * sizeof(float);
    for (TensorRole r : {TensorRole::AttnQ, TensorRole::AttnK, TensorRole::AttnV, TensorRole::AttnO,
                         TensorRole::MlpGate, TensorRole::MlpUp, TensorRole::MlpDown})
      b += l.linear(r)->weight_bytes();
  }
  if (!config.tie_embeddings) b += lm_head->weight_bytes();
  return b;
}

namespace {

std::vector<float> to_f32_vector(const TensorView& t) {
  std::vector<float> v(size_t(t.numel()));
  load_float_rows(t, 0, t.rows(), v.data());  // rows x cols = numel for any rank
  return v;
}

bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

}  // namespace

std::unique_ptr<Model> bind_model(ModelConfig config, TensorSet tensors, std::string path, std::string format,
                                  const LoadOptions& options, PreboundWeights prebound_weights) {
  PreboundLinears& prebound = prebound_weights.linears;
  validate_config(config, path);
  auto m = std::make_unique<Model>();
  m->config = config;
  m->path = std::move(path);
  m->format = std::move(format);
  m->tensors = std::move(tensors);
  m->registry = build_registry(m->config);

  // Every stored registry tensor must be present with the right shape and a float dtype.
  for (const auto& spec : m->registry) {
    if (!spec.stored) continue;
    if (const auto it = prebound.find(spec.name); it != prebound.end()) {
      if (it->second->out_features() != spec.shape[0] || it->second->in_features() != spec.shape[1])
        fail_input("{}: tensor '{}' is [{}, {}] but the config implies {}", m->path, spec.name,
                   it->second->out_features(), it->second->in_features(), shape_string(spec.shape));
      continue;
    }
    if (spec.role == TensorRole::Embedding && prebound_weights.embedding) {
      const PackedLinear& e = *prebound_weights.embedding;
      if (e.out_features() != spec.shape[0] || e.in_features() != spec.shape[1])
        fail_input("{}: tensor '{}' is [{}, {}] but the config implies {}", m->path, spec.name, e.out_features(),
                   e.in_features(), shape_string(spec.shape));
      continue;
    }
    const TensorView* t = m->tensors.find(spec.name);
    if (!t) fail_input("{}: tensor '{}' is missing (expected shape {})", m->path, spec.name, shape_string(spec.shape));
    // A 2-D [1, n] or [n, 1] vector is accepted where [n] is expected (some exporters do that).
    const bool shape_ok = t->shape == spec.shape || (spec.shape.size() == 1 && t->numel() == spec.shape[0]);
    if (!shape_ok)
      fail_input("{}: tensor '{}' has shape {} but the config implies {}", t->source, spec.name, shape_string(t->shape),
                 shape_string(spec.shape));
    if (!is_float(t->dtype))
      fail_input("{}: tensor '{}' has dtype {}; a full-precision checkpoint needs f32, f16 or bf16", t->source,
                 spec.name, dtype_name(t->dtype));
    if (options.check_finite) {
      const int64_t bad = find_non_finite(*t);
      if (bad >= 0) {
        const int64_t cols = t->cols();
        fail_input("{}: tensor '{}' (byte {}) has a non-finite value ({}) at element {} (row {}, column {})", t->source,
                   spec.name, t->source_offset + uint64_t(bad) * dtype_size(t->dtype), load_float(*t, bad), bad,
                   bad / cols, bad % cols);
      }
    }
  }
  // Anything else in the checkpoint is unexpected: refuse rather than silently ignore.
  for (const auto& [name, t] : m->tensors.tensors) {
    bool known = false;
    for (const auto& spec : m->registry)
      if (spec.name == name) known = true;
    if (!known) fail_input("{}: unexpected tensor '{}' for architecture {}", t.source, name, architecture_name(config.arch));
  }

  auto dense = [&](const std::string& name, const std::string& bias_name) -> std::unique_ptr<Linear> {
    if (auto it = prebound.find(name); it != prebound.end()) {
      if (!bias_name.empty()) it->second->set_bias(to_f32_vector(*m->tensors.find(bias_name)));
      return std::move(it->second);
    }
    const TensorView& w = *m->tensors.find(name);
    std::vector<float> bias;
    if (!bias_name.empty()) bias = to_f32_vector(*m->tensors.find(bias_name));
    return std::make_unique<DenseLinear>(DenseMatrix{w.dtype, w.shape[0], w.cols(), w.data}, std::move(bias));
  };
  const ModelConfig& c = m->config;
  if (prebound_weights.embedding) {
    m->packed_embedding = std::move(prebound_weights.embedding);
    m->embedding.dtype = DType::F32;  // rows come out of the blocks in fp32
    m->embedding.shape = {c.vocab_size, c.hidden_size};
  } else {
    m->embedding = *m->tensors.find(global_tensor_name(TensorRole::Embedding));
  }
  m->final_norm = to_f32_vector(*m->tensors.find(global_tensor_name(TensorRole::FinalNorm)));
  m->layers.resize(size_t(c.num_layers));
  for (int l = 0; l < c.num_layers; ++l) {
    LayerWeights& lw = m->layers[size_t(l)];
    lw.attn_norm = to_f32_vector(*m->tensors.find(layer_tensor_name(l, TensorRole::AttnNorm)));
    lw.mlp_norm = to_f32_vector(*m->tensors.find(layer_tensor_name(l, TensorRole::MlpNorm)));
    for (TensorRole r : {TensorRole::AttnQ, TensorRole::AttnK, TensorRole::AttnV, TensorRole::AttnO,
                         TensorRole::MlpGate, TensorRole::MlpUp, TensorRole::MlpDown}) {
      const bool has_bias = (c.qkv_bias && (r == TensorRole::AttnQ || r == TensorRole::AttnK || r == TensorRole::AttnV)) ||
                            (c.o_bias && r == TensorRole::AttnO);
      lw.set_linear(r, dense(layer_tensor_name(l, r), has_bias ? layer_tensor_name(l, r, true) : ""));
    }
  }
  m->lm_head = dense(c.tie_embeddings ? global_tensor_name(TensorRole::Embedding) : global_tensor_name(TensorRole::LmHead), "");
  return m;
}

}  // namespace quantscope
