// A Hugging Face checkpoint directory: config.json plus safetensors (single file or sharded), as
// written by transformers' save_pretrained (and by `quantscope synth`).
#pragma once

#include <string>
#include <vector>

#include "formats/safetensors.h"
#include "model/config.h"

namespace quantscope {

struct HfCheckpoint {
  std::string dir;
  ModelConfig config;
  // Canonical (HF) names -> views into the memory-mapped shards. Not checked against the registry:
  // the model loader does that, so it can report every missing or misshapen tensor together.
  TensorSet tensors;
  SafetensorsMetadata metadata;       // "__metadata__" of the shards (e.g. {"format": "pt"})
  std::vector<std::string> skipped;   // stored buffers dropped on load (rotary_emb.inv_freq)
};

// Reads dir/config.json and the safetensors beside it. Drops the
// `model.layers.N.self_attn.rotary_emb.inv_freq` buffers openPangu saves (RoPE is recomputed from
// rope_theta). Throws InputError naming the file.
HfCheckpoint load_hf_checkpoint(const std::string& dir);

// True for a `model.layers.<N>.self_attn.rotary_emb.inv_freq` name.
bool is_rotary_inv_freq(const std::string& name);

}  // namespace quantscope
