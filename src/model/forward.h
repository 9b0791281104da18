// The decoder forward pass of the Llama family (Llama, Qwen2, openPangu-Embedded) in fp32:
// batched prefill over many positions, a KV cache for decoding, grouped-query attention, RoPE,
// RMSNorm, SwiGLU. Bit-identical logits for any thread count and any split of a sequence into
// calls (every value is computed by one thread in a fixed order).
#pragma once

#include <cstdint>
#include <vector>

#include "core/large_pages.h"
#include "model/model.h"

namespace quantscope {

// Sees the input of every linear layer (calibration, sensitivity) without changing forward code.
class ActivationTap {
 public:
  virtual ~ActivationTap() = default;
  // x: [m, k] row-major, the activations entering linear `role` of `layer` (-1 for lm_head).
  virtual void on_linear_input(int layer, TensorRole role, const float* x, int64_t m, int64_t k) = 0;
  // Keys (after RoPE) and values [m, kv_dim] of `layer` before they are quantized and cached.
  virtual void on_kv(int layer, const float* k, const float* v, int64_t m, int64_t kv_dim) {
    (void)layer, (void)k, (void)v, (void)m, (void)kv_dim;
  }
};

// Keys and values of every layer, stored transposed per KV head: [layer][kv_head][head_dim][pos]
// fp32, so attention runs along positions with contiguous loads (see Forward::attention).
class KVCache {
 public:
  KVCache(const ModelConfig& c, int64_t capacity);
  int64_t capacity() const { return capacity_; }
  // Stores the key and value vectors ([kv_dim] each) of position `pos`.
  void store(int layer, int64_t pos, const float* k, const float* v);
  // [head_dim][capacity] block of one KV head.
  const float* keys(int layer, int kv_head) const { return k_.data() + block(layer, kv_head); }
  const float* values(int layer, int kv_head) const { return v_.data() + block(layer, kv_head); }
  uint64_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

 private:
  size_t block(int layer, int kv_head) const {
    return (size_t(layer) * size_t(kv_heads_) + size_t(kv_head)) * size_t(head_dim_) * size_t(capacity_);
  }
  int64_t capacity_;
  int kv_heads_, head_dim_;
  LargeVector<float> k_, v_;  // read whole every decode step: core/large_pages.h
};

class Forward {
 public:
  explicit Forward(const Model& model);
  void set_tap(ActivationTap* tap) { tap_ = tap; }

  // run() sends at most this many positions through a layer at a time, so its scratch is
  // [chunk, ...] rather than [n, ...] (a 512-token prefill of a 1B model: ~20 MB instead of ~40 MB).
  // Each chunk widens/dequantizes every weight panel again: 256 measured ~5% faster prefill than 128
  // (synthetic 1B, F16 GGUF and saved W4 g128, 2 threads) and 512 no faster, for +10 MB of RSS.
  // The logits do not depend on it (any split of a sequence gives the same bits). With a tap attached
  // or activations rounded to a storage dtype, run() passes whole calls (taps accumulate per call;
  // an overflow record names the row of its call).
  static constexpr int64_t kDefaultChunkRows = 256;
  void set_chunk_rows(int64_t rows);
  int64_t chunk_rows() const { return chunk_rows_; }

  // Runs tokens[0..n) at positions pos0 .. pos0+n-1; the cache must hold positions < pos0 and have
  // capacity >= pos0 + n. logits (may be null): [n, vocab] if all_logits, else [vocab] for the
  // last position. Token ids are checked against the vocabulary (InputError).
  void run(const int* tokens, int64_t n, int64_t pos0, KVCache& cache, float* logits, bool all_logits);

  // After run() with logits == nullptr: logits of rows [row0, row0 + rows) of that call into
  // out [rows, vocab]. Lets scorers with a 150k vocabulary work in slices instead of [n, vocab].
  void compute_logits(int64_t row0, int64_t rows, float* out);

  // The same pass one step at a time, for callers that drive the layers themselves (the quantizer
  // keeps each calibration sample's hidden states between layers instead of rerunning from the
  // embedding). run() is embed + run_layer for every layer + the logits.
  // x [n, hidden]: the embeddings of tokens[0..n).
  void embed(const int* tokens, int64_t n, float* x);
  // Decoder layer `layer` with weights `lw` (normally model().layers[layer]; the quantizer also runs a
  // full-precision copy) on the residual stream x [n, hidden] in place, positions pos0 .. pos0+n-1.
  void run_layer(const LayerWeights& lw, int layer, float* x, int64_t n, int64_t pos0, KVCache& cache);

  const Model& model() const { return model_; }

 private:
  void check_tokens(const int* tokens, int64_t n, int64_t pos0) const;
  void reserve(int64_t n);
  // Positions per run_layer call in run() for a call of n positions.
  int64_t chunk_for(int64_t n) const;
  void attention(int layer, int64_t n, int64_t pos0, KVCache& cache);
  void linear(const Linear& l, int layer, TensorRole role, const float* x, int64_t m, float* y);
  // Rounds a tensor the pass just wrote to the model's activation storage dtype (no-op in fp32).
  void store(float* x, int64_t rows, int64_t cols, int layer, const char* where);
  const float* rope_at(int64_t pos);

  const Model& model_;
  ActivationTap* tap_ = nullptr;
  std::vector<float> rope_;  // [positions][head_dim/2][cos, sin], grown on demand
  int64_t chunk_rows_ = kDefaultChunkRows;
  int64_t last_n_ = 0;
  std::vector<float> x_;  // [n, hidden] residual stream of run(), kept for compute_logits
  // Scratch, [rows, ...] each for the most rows one run_layer call has had; xb_ also holds the final
  // norm of the rows compute_logits was asked for.
  std::vector<float> xb_, xb2_, q_, k_, v_, att_, hb_, hb2_;
};

}  // namespace quantscope
