// Synthetic checkpoints: Hugging Face directories (config.json + safetensors) with the exact tensor
// layout of a real architecture and deterministic random weights. They exercise loaders, quantizers,
// forward passes and reports at real or reduced sizes without downloading a model; every config they
// carry says "quantscope_synthetic": true, so no result can pass for a real model's.
//
// Values. Tensor t's element i is a function of (seed, t's name, i) only, from a counter-based
// splitmix64 stream, so tensors and chunks are generated independently, in parallel, and identically
// for any thread count or shard size. z is an approximate standard normal: the centred, rescaled sum of
// eight 16-bit uniforms (integer arithmetic plus one IEEE multiply, so bit-identical on every machine;
// |z| <= 4.9, kurtosis 2.85 instead of 3). Scales, with H hidden, I intermediate, L layers:
//   embedding, lm_head        3/sqrt(H) * z   a normalized final state (rms 1) gives logits of std ~3:
//                                            finite and far from uniform or one-hot. N(0,1) would give
//                                            std sqrt(H) (~39 at H=1536) and one-hot softmaxes.
//   q/k/v, gate/up            z / sqrt(H)     output rms ~ input rms (normed input: rms 1)
//   o_proj, down_proj         z / sqrt(fan_in * 2L)  each of the 2L residual writes adds ~1/(2L) to the
//                                            residual variance, so the stream stays O(1) at any depth
//   biases                    0.02 * z
//   RMSNorm weights           1 + 0.05 * z
//   rotary_emb.inv_freq (openPangu only, f32)  theta^(-2j/head_dim), as the real checkpoints store
// Outliers: `outlier_channels` hidden channels (chosen from the seed) of the embedding and of every
// input_layernorm / post_attention_layernorm weight are multiplied by outlier_scale, which produces the
// few huge activation channels real LLMs show (what SmoothQuant / AWQ are built for).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "formats/safetensors_writer.h"
#include "model/config.h"

namespace quantscope {

struct SynthOptions {
  std::string arch;  // preset: openpangu-embedded-1b | openpangu-embedded-7b | llama | qwen2
  // Overrides of the preset's shape. When hidden or heads change and head_dim is not given, head_dim
  // becomes hidden / heads; when heads change and kv_heads is not given, the preset's GQA ratio is kept
  // where it divides (else kv_heads = heads).
  std::optional<int> layers, hidden, intermediate, heads, kv_heads, vocab, head_dim;
  std::optional<DType> dtype;  // F32 or BF16; default BF16 for the openPangu presets, F32 otherwise
  std::optional<bool> tie;     // tie_word_embeddings; default from the preset
  uint64_t seed = 0;
  int outlier_channels = 0;
  float outlier_scale = 20.0f;
  uint64_t max_shard_bytes = 4ull << 30;  // tensor bytes per shard (transformers uses 5 GB)
  bool force = false;                     // allow writing into a non-empty out_dir
};

// The preset names, for help texts and messages.
std::vector<std::string> synth_arch_names();
// Preset + overrides, validated (InputError naming the option).
ModelConfig synth_config(const SynthOptions& o);
DType synth_dtype(const SynthOptions& o);
// `count` distinct channels in [0, hidden), sorted, chosen from the seed.
std::vector<int> synth_outlier_channels(int hidden, int count, uint64_t seed);
// Element `index` of the approximate standard normal stream `key` (see above).
float synth_normal(uint64_t key, uint64_t index);

struct SynthResult {
  ModelConfig config;
  DType dtype = DType::F32;
  int64_t params = 0;  // elements of the registry tensors written (inv_freq buffers excluded)
  std::vector<int> outlier_channels;
  std::vector<std::string> files;  // safetensors (and index), then config.json
  uint64_t bytes = 0;              // all files together
};

// Writes config.json and the safetensors into out_dir (created if needed), tensor by tensor in chunks,
// each file atomically; config.json last, so a directory without it is an interrupted write. A
// non-empty out_dir is refused unless o.force; then stale config/safetensors files there are removed.
SynthResult write_synthetic_checkpoint(const SynthOptions& o, const std::string& out_dir);

}  // namespace quantscope
