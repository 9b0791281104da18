// Quantize a loaded model by a recipe and save it as a quantized directory with its provenance: the one
// path `quantscope quantize` and the study runner's model cache both take, so a cached model is the
// same directory the command would write.
#pragma once

#include <string>
#include <vector>

#include "model/model.h"
#include "quant/calibration.h"
#include "quant/quantize_model.h"
#include "quant/recipe.h"

namespace quantscope {

struct QuantizeJobResult {
  std::vector<ResolvedTensor> plan;
  QuantizeReport report;
};

// Resolves `recipe` over the model's registry, quantizes in place (calib may be null when no method
// needs it), and writes `out_dir` (save_quantized_model) with the method, recipe, calibration, source
// hash, report and per-tensor schemes. `recipe_path` and `tokenizer_path` are recorded / copied.
QuantizeJobResult quantize_and_save(Model& model, const Recipe& recipe, const std::string& recipe_path,
                                    const CalibrationSet* calib, const std::string& out_dir,
                                    const std::string& tokenizer_path, const QuantizeOptions& options);

}  // namespace quantscope
