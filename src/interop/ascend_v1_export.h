// quantscope quantized directory -> AscendV1 directory (layout in interop/ascend_v1.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace quantscope {

struct AscendV1ExportOptions {
  uint64_t max_shard_bytes = 0;  // tensor bytes per safetensors shard; 0 = one file
  bool force = false;            // replace an existing output directory
};

struct AscendV1ExportResult {
  std::string model_quant_type;
  int64_t group_size = 0;
  std::map<std::string, int> linears_by_type;  // "W8A8" -> count (FLOAT included)
  bool kv_c8 = false;
  std::vector<std::string> files;  // names inside the output directory
  uint64_t tensor_bytes = 0;
};

// Loads `model_path` (a quantized directory, or any checkpoint: then every linear is FLOAT) and writes
// `out_dir` through a staging directory (interop/staged_dir.h). InputError naming the tensor and the
// rule for anything AscendV1 cannot hold; nothing is left at out_dir then.
AscendV1ExportResult export_ascend_v1(const std::string& model_path, const std::string& out_dir,
                                      const AscendV1ExportOptions& options);

}  // namespace quantscope
