// A loaded model: its config, the raw tensors (memory-mapped where possible) and the weights bound
// for the forward pass by walking the tensor registry.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/tensor_set.h"
#include "model/config.h"
#include "model/activation_storage.h"
#include "model/kv_quant.h"
#include "model/linear.h"
#include "model/registry.h"

namespace quantscope {

struct LayerWeights {
  std::vector<float> attn_norm, mlp_norm;  // [H], widened to fp32 at load (tiny)
  std::unique_ptr<Linear> q, k, v, o, gate, up, down;

  Linear* linear(TensorRole role) const;
  // Replaces the linear of `role` (the quantizer swaps in quantized implementations).
  void set_linear(TensorRole role, std::unique_ptr<Linear> l);
};

struct Model {
  ModelConfig config;
  std::string path;    // what the user gave
  std::string format;  // "llama2c", "safetensors", "gguf"
  TensorSet tensors;   // canonical names -> raw views, and the owners keeping them alive
  std::vector<TensorSpec> registry;

  TensorView embedding;  // [V, H] f32/f16/bf16, rows widened on lookup (no data when packed_embedding)
  std::unique_ptr<PackedLinear> packed_embedding;  // the token table in integer blocks, or null
  std::vector<float> final_norm;
  std::vector<LayerWeights> layers;
  std::unique_ptr<Linear> lm_head;
  KVCacheQuant kv_quant;  // how keys and values are rounded as they enter the cache (off by default)
  ActivationStorage activations;  // the dtype activations are stored in between ops (fp32: the host)

  Linear* linear(int layer, TensorRole role) const;  // layer -1 with LmHead
  // The bound fp32 weights of a norm tensor of the registry (with any folded smoothing scales: what
  // the forward pass uses), or nullptr when `spec` is not a norm.
  const std::vector<float>* norm_weights(const TensorSpec& spec) const;
  // Parameters (elements) of the registry tensors (tied lm_head counted once).
  int64_t parameter_count() const;
  // Bytes of all weights as stored/bound now (quantized layers report their own size).
  uint64_t weight_bytes() const;
};

struct LoadOptions {
  bool check_finite = true;  // scan every weight for NaN/Inf (reported with tensor and index)
  // GGUF Q8_0/Q4_0 linear weights stay quantized (repacked for the kernels); false dequantizes them to
  // fp32 at load (the reference the packed path is tested against: the same logits, bit for bit).
  bool gguf_native = true;
};

// Loads a llama2.c .bin checkpoint (legacy or version 1), a Hugging Face directory (config.json +
// safetensors) or a GGUF file. Throws InputError naming the file and field/offset on bad input.
std::unique_ptr<Model> load_model(const std::string& path, const LoadOptions& options = {});

// Validates `tensors` against the registry of `config` (presence, shape, float dtype, finiteness)
// and binds the forward-pass weights. Used by every checkpoint loader. A weight the loader bound
// itself (`prebound`, e.g. GGUF blocks kept packed) is not looked for in `tensors`.
std::unique_ptr<Model> bind_model(ModelConfig config, TensorSet tensors, std::string path, std::string format,
                                  const LoadOptions& options, PreboundWeights prebound = {});

}  // namespace quantscope
