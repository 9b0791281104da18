// Reading an AscendV1 directory (ours or msModelSlim's) and listing everything inconsistent in it:
// description entries without tensors and tensors without entries, unknown types, missing or
// misshapen scales, values outside their integer range, deq_scale / quant_bias that disagree with
// the formulas of interop/ascend_v1_math.h. `quantscope inspect` prints the list; import refuses a
// directory whose list is not empty.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/tensor_set.h"
#include "model/config.h"
#include "model/registry.h"

namespace quantscope {

struct AscendV1Contents {
  std::string dir;
  nlohmann::json desc;  // quant_model_description.json
  ModelConfig config;   // from config.json
  TensorSet tensors;    // every tensor of the weight file(s), by its AscendV1 name
  std::vector<std::string> files;
};

// True when dir holds quant_model_description.json.
bool is_ascend_v1_dir(const std::string& dir);
// Reads the description, config.json and the weights (one file or the shards of the index).
// InputError for files that cannot be read at all (missing, not JSON, bad safetensors).
AscendV1Contents open_ascend_v1(const std::string& dir);

// Description keys that are not tensor names.
bool ascend_global_key(const std::string& key);

// One line per inconsistency, each naming the tensor (or key) and what was expected. Empty: usable.
std::vector<std::string> ascend_v1_issues(const AscendV1Contents& a);

}  // namespace quantscope
