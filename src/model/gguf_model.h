// Maps a GGUF file of llama.cpp's `llama` architecture onto the Llama registry. GGUF llama stores
// Q/K in Meta's layout, so RoPE pairs adjacent dimensions (RopeStyle::Interleaved).
// F32/F16/BF16 tensors are viewed in place (memory-mapped); Q8_0/Q4_0/Q4_1 tensors are dequantized
// to fp32 once at load (the native block kernels come with the fast-kernel work).
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
