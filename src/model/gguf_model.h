// Maps a GGUF file of llama.cpp's `llama` architecture onto the Llama registry (GGUF llama stores
// Q/K in Meta's layout, so RoPE pairs adjacent dimensions: RopeStyle::Interleaved), and llama.cpp's
// `pangu-embedded` (openPangu-Embedded: q/k/v/o biases, NEOX RoPE over Hugging Face row order:
// RopeStyle::HalfSplit) onto the openPangu registry.
// F32/F16/BF16 tensors are viewed in place (memory-mapped). Q8_0/Q4_0 linears are repacked once into
// PackedLinears and run natively (model/gguf_packed.h; LoadOptions::gguf_native); Q4_1 tensors and
// quantized embeddings are dequantized to fp32 at load.
#pragma once

#include <memory>
#include <string>

#include "formats/gguf.h"
#include "model/model.h"

namespace quantscope {

ModelConfig gguf_config(const GgufFile& f);
std::unique_ptr<Model> load_gguf_model(const std::string& path, const LoadOptions& options);

// GGUF tensor name of a registry tensor ("blk.3.attn_q.weight", "token_embd.weight", ...).
std::string gguf_tensor_name(const TensorSpec& spec);

}  // namespace quantscope
