// A saved quantized model: a directory that load_model() opens like any checkpoint.
//   quant_description.json  {"format": "quantscope-quantized", "format_version": 1, "config": {...every
//                           ModelConfig field...}, "tensors": {name: scheme}, "method", "recipe",
//                           "calibration", "source": {path, format, weights_hash}, "report",
//                           "quantscope_version", "commit"}
//   model.safetensors       full-precision tensors under their canonical names (embedding, norms,
//                           biases, unquantized linears) in the source dtype, and per quantized matrix W:
//                             W.qcodes   U8 [rows, ceil(cols * bits / 8)]  codes packed per row (quantizer.h)
//                             W.qscales  f32/f16/bf16 [scale_rows, groups]
//                             W.qzeros   U8 [scale_rows, groups]           asymmetric only
//                             W.act_scale, W.act_zero  F32 [1]            static per-tensor activation range
//   the source model's tokenizer file(s), copied, so `quantscope ppl DIR` finds it.
// The config lives in the description (not config.json) because llama2.c sources use interleaved RoPE,
// which config.json cannot express; nothing else mistakes the directory for a Hugging Face checkpoint.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "model/model.h"

namespace quantscope {

inline constexpr const char* kQuantDescriptionFile = "quant_description.json";

// `provenance` is merged into the description (method, recipe, calibration, report, source path...).
// tokenizer_path (may be empty) is copied into dir. Creates dir if needed.
void save_quantized_model(const Model& model, const std::string& dir, const nlohmann::json& provenance,
                          const std::string& tokenizer_path);

// Called by load_model() for a directory holding quant_description.json. InputError names the file and
// field on anything malformed.
std::unique_ptr<Model> load_quantized_model(const std::string& dir, const LoadOptions& options);

// FNV-1a 64 (hex) over the bytes of every stored registry tensor of the model, in registry order: the
// identity of the source weights whatever file format held them.
std::string model_weights_hash(const Model& model);

nlohmann::json model_config_to_json(const ModelConfig& c);
ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& source);

// Any model path: a quantized directory (quant_description.json) through load_quantized_model,
// everything else through load_model (the model layer knows nothing of quantized formats).
std::unique_ptr<Model> load_any_model(const std::string& path, const LoadOptions& options = {});

}  // namespace quantscope
