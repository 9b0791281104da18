// Maps a llama2.c checkpoint onto the Llama registry: per-layer views into the stacked tensors,
// interleaved RoPE (llama2.c pairs adjacent dimensions), rope base 10000, eps 1e-5.
#pragma once

#include <memory>
#include <string>

#include "formats/llama2c.h"
#include "model/model.h"

namespace quantscope {

ModelConfig llama2c_config(const Llama2cHeader& h);
std::unique_ptr<Model> load_llama2c_model(const std::string& path, const LoadOptions& options);

}  // namespace quantscope
