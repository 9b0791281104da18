// quantscope model -> GGUF v3 file that llama.cpp loads, for the `llama` architecture and for
// openPangu-Embedded as llama.cpp names it (`pangu-embedded`: Llama with q/k/v/o biases, NEOX
// (rotate_half) RoPE, so q/k rows keep the Hugging Face order).
//   float weights     2-D weights in --type (f32, f16, bf16, q8_0, q4_0, q4_1: the reference quantizers
//                     of formats/ggml_blocks.h, as llama.cpp's quantize would write them); by default the
//                     source dtype. Norms and biases are f32 (as llama.cpp's converter writes them).
//   quantized linears our codes become blocks only where a block format holds them exactly:
//                     symmetric 8-bit groups of 32 -> Q8_0 (qs = c - 128, d = the scale as fp16),
//                     symmetric 4-bit groups of 32 -> Q4_0 (nibble = c, value (c - 8) * d);
//                     everything else (activation quantization, asymmetric zero points, other group
//                     sizes, scales that are not fp16 values, smoothing) is refused, naming the tensor.
// Tokenizer metadata (tokenizer.ggml.*) is written from a llama2.c tokenizer found beside the model;
// without one the file says tokenizer.ggml.model = "none" (llama.cpp loads it with dummy tokens, for
// benchmarks and token ids; it cannot tokenize text) and the result says so.
#pragma once

#include <string>
#include <vector>

namespace quantscope {

struct GgufExportOptions {
  std::string type;       // f32 | f16 | bf16 | q8_0 | q4_0 | q4_1 for float 2-D weights; "" = source dtype
  std::string tokenizer;  // explicit tokenizer path; "" = found beside the model
  bool force = false;     // replace an existing file
};

struct GgufExportResult {
  std::string architecture;  // "llama" | "pangu-embedded"
  std::vector<std::string> tensor_types;  // one "name type" line per tensor
  bool tokenizer = false;
  int quantized_blocks_tensors = 0;  // linears stored from our codes (Q8_0/Q4_0)
};

GgufExportResult export_gguf(const std::string& model_path, const std::string& out_file, const GgufExportOptions& o);

}  // namespace quantscope
