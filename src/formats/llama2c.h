// llama2.c checkpoints (karpathy/llama2.c): fp32 weights in two layouts.
//  legacy:    28-byte header of 7 int32 {dim, hidden_dim, n_layers, n_heads, n_kv_heads,
//             vocab_size (negative = separate classifier), seq_len}, then token_embedding, rms_att,
//             wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis_real, freq_cis_imag
//             [, wcls].
//  version 1: 256-byte header: uint32 magic "ak42" (0x616b3432), int32 version 1, the 7 ints,
//             uint8 shared_classifier, zero padding; then rms_att (all layers), rms_ffn,
//             rms_final, token_embedding, wq, wk, wv, wo, w1, w2, w3 [, wcls].
// Tensors are returned stacked over layers with llama2.c's names ("wq" is [L, dim, dim]); the model
// layer splits them into the canonical per-layer registry.
#pragma once

#include <string>

#include "core/tensor_set.h"

namespace quantscope {

struct Llama2cHeader {
  int dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, seq_len = 0;
  bool shared_classifier = true;
  int version = 0;  // 0 = legacy
  int head_size() const { return n_heads > 0 ? dim / n_heads : 0; }
  int kv_dim() const { return n_heads > 0 ? dim * n_kv_heads / n_heads : 0; }
};

struct Llama2cCheckpoint {
  Llama2cHeader header;
  // token_embedding [V, D], rms_att [L, D], wq [L, D, D], wk [L, KV, D], wv [L, KV, D], wo [L, D, D],
  // rms_ffn [L, D], w1 [L, F, D], w2 [L, D, F], w3 [L, F, D], rms_final [D], wcls [V, D] if unshared.
  TensorSet tensors;
};

// True when the file starts with the version-1 magic.
bool is_llama2c_v1(const uint8_t* data, uint64_t size);
Llama2cCheckpoint read_llama2c(const std::string& path);

// Writes a checkpoint in the given layout (0 legacy, 1 version 1) from a read checkpoint's tensors.
void write_llama2c(const std::string& path, const Llama2cCheckpoint& ckpt, int version);

}  // namespace quantscope
