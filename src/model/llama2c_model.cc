#include "model/llama2c_model.h"

namespace quantscope {

ModelConfig llama2c_config(const Llama2cHeader& h) {
  ModelConfig c;
  c.arch = Architecture::Llama;
  c.hidden_size = h.dim;
  c.intermediate_size = h.hidden_dim;
  c.num_layers = h.n_layers;
  c.num_heads = h.n_heads;
  c.num_kv_heads = h.n_kv_heads;
  c.head_dim = h.head_size();
  c.vocab_size = h.vocab_size;
  c.max_seq_len = h.seq_len;
  c.rope_theta = 10000.0f;
  c.norm_eps = 1e-5f;
  c.tie_embeddings = h.shared_classifier;
  c.rope_style = RopeStyle::Interleaved;
  c.bos_id = 1;
  c.eos_id = 2;
  return c;
}

namespace {
// Row-major slice `index` of a tensor stacked along its first dimension.
TensorView slice(const TensorView& stacked, int64_t index) {
  TensorView t = stacked;
  t.shape.erase(t.shape.begin());
  const uint64_t bytes = t.nbytes();
  t.data = static_cast<const uint8_t*>(stacked.data) + uint64_t(index) * bytes;
  t.source_offset = stacked.source_offset + uint64_t(index) * bytes;
  return t;
}
}  // namespace

std::unique_ptr<Model> load_llama2c_model(const std::string& path, const LoadOptions& options) {
  Llama2cCheckpoint ck = read_llama2c(path);
  const ModelConfig c = llama2c_config(ck.header);
  TensorSet out;
  out.owners = ck.tensors.owners;
  auto get = [&](const char* name) -> const TensorView& { return ck.tensors.tensors.at(name); };
  out.add(global_tensor_name(TensorRole::Embedding), get("token_embedding"));
  out.add(global_tensor_name(TensorRole::FinalNorm), get("rms_final"));
  if (!c.tie_embeddings) out.add(global_tensor_name(TensorRole::LmHead), get("wcls"));
  const std::pair<const char*, TensorRole> per_layer[] = {
      {"rms_att", TensorRole::AttnNorm}, {"wq", TensorRole::AttnQ},   {"wk", TensorRole::AttnK},
      {"wv", TensorRole::AttnV},         {"wo", TensorRole::AttnO},   {"rms_ffn", TensorRole::MlpNorm},
      {"w1", TensorRole::MlpGate},       {"w3", TensorRole::MlpUp},   {"w2", TensorRole::MlpDown}};
  for (int l = 0; l < c.num_layers; ++l)
    for (const auto& [name, role] : per_layer) out.add(layer_tensor_name(l, role), slice(get(name), l));
  return bind_model(c, std::move(out), path, "llama2c", options);
}

}  // namespace quantscope
