// AscendV1, the saved format of msModelSlim that MindIE, vLLM-Ascend and SGLang load on Ascend NPUs
// (ascend-numerics.md §3, §4). A directory of
//   quant_model_weights.safetensors   (or quant_model_weights-0000K-of-0000N.safetensors + the index
//                                      quant_model_weights.safetensors.index.json)
//   quant_model_description.json      every tensor name -> "FLOAT" | "W8A8" | "W8A8_DYNAMIC" | "W8A16" |
//                                      "W4A16" | "C8", plus model_quant_type, version, group_size,
//                                      kv_cache_type, metadata
//   config.json                       the model's, without quantization_config
// Tensors per linear L (L = the weight's name without ".weight"; n out features, k in features):
//   W8A16/W4A16   L.weight I8 [n,k] (W4: values in [-8,7], one per byte), L.weight_scale F32 [n,1] or
//                 [n,k/g], L.weight_offset F32 same shape; W = (w - offset) * scale
//   W8A8          L.weight I8 [n,k] symmetric per channel; L.input_scale F32 [1]; L.input_offset F32 [1]
//                 (signed integer); L.deq_scale F32 [n] (bf16 models) or I64 [n] (fp32 bit pattern,
//                 other models); L.quant_bias I32 [n]; L.weight_scale / L.weight_offset F32 [n,1]
//                 (vLLM-Ascend declares them for W8A8 too); the original L.bias stays, as FLOAT
//   W8A8_DYNAMIC  L.weight I8 [n,k]; L.weight_scale F32 [n,1]; L.weight_offset F32 [n,1] zeros
//   C8 KV cache   model.layers.N.self_attn.{k,v}_proj.kv_cache_scale / .kv_cache_offset F32 [kv_dim]
// Our quantizer's codes are unsigned c in [0, 2^b) with integer zero points z: the signed AscendV1
// weight is c - 2^(b-1) and the offset z - 2^(b-1), so (w - offset) = (c - z) exactly.
#pragma once

#include <string>
#include <string_view>

#include "model/linear.h"

namespace quantscope {

inline constexpr const char* kAscendDescriptionFile = "quant_model_description.json";
inline constexpr const char* kAscendWeightsFile = "quant_model_weights.safetensors";
inline constexpr const char* kAscendWeightsIndex = "quant_model_weights.safetensors.index.json";
inline constexpr const char* kAscendVersion = "1.0.0";

enum class AscendQuantType { Float, W8A16, W4A16, W8A8, W8A8Dynamic };
std::string_view ascend_quant_type_name(AscendQuantType t);  // "FLOAT", "W8A8_DYNAMIC", ...
bool ascend_quant_type_from_name(std::string_view s, AscendQuantType* out);

struct AscendLinearPlan {
  AscendQuantType type = AscendQuantType::Float;
  int64_t group_size = 0;  // weight-only per-group; 0 = per channel (per-tensor is written per channel)
};

// How a bound linear is written, or an InputError naming `name` and the AscendV1 rule it breaks
// (e.g. per-group W4A8, asymmetric W8A8 weights, ragged groups, smoothing divisors).
AscendLinearPlan plan_ascend_linear(const Linear& lin, const std::string& name);

// "model.layers.0.self_attn.q_proj.weight" -> "model.layers.0.self_attn.q_proj".
std::string ascend_module_name(const std::string& weight_name);

}  // namespace quantscope
