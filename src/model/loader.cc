// load_model: picks the checkpoint reader from what the path is.
#include <filesystem>

#include "core/error.h"
#include "core/mapped_file.h"
#include "model/gguf_model.h"
#include "model/hf_checkpoint.h"
#include "model/llama2c_model.h"
#include "model/model.h"

namespace quantscope {

std::unique_ptr<Model> load_model(const std::string& path, const LoadOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (fs::exists(fs::path(path) / "quant_description.json", ec))
      fail_input("{}: a quantized model directory; load it with load_any_model (src/quant/quantized_model.h)", path);
    HfCheckpoint ck = load_hf_checkpoint(path);
    return bind_model(ck.config, std::move(ck.tensors), path, "safetensors", options);
  }
  if (!fs::exists(path, ec)) fail_input("{}: no such file or directory", path);
  // Sniff the first bytes: GGUF files start with "GGUF", everything else is taken as llama2.c. Only
  // 4 bytes are read: mapping the whole file here failed on a model larger than the address space
  // even with mapping disabled (QUANTSCOPE_NO_MMAP=1), with a message about mapping.
  if (file_starts_with(path, "GGUF")) return load_gguf_model(path, options);
  if (fs::path(path).filename() == "config.json" || fs::path(path).extension() == ".safetensors")
    return load_model(fs::path(path).parent_path().string(), options);
  return load_llama2c_model(path, options);
}

}  // namespace quantscope
