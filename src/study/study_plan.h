// A study expanded into cells: every model x recipe (the unquantized baseline first) x calibration seed
// (only for recipes that calibrate) x target x task. Each cell carries its content key (cell_key.h),
// the key of the quantized model it needs, whether the recipe is invalid for the model or refused by
// the target (with the reason), and a cost estimate from the host's roofline.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "study/cell_key.h"
#include "study/study_spec.h"

namespace quantscope {

struct StudyCell {
  size_t index = 0;  // position in plan order
  std::string key;
  std::string quant_key;      // "" for the unquantized baseline
  std::string reference_key;  // kld tasks: the unquantized model's reference over the task's text
  size_t model = 0, target = 0, task = 0;
  int recipe = -1;  // index into spec.recipes, -1 = baseline
  uint64_t seed = 0;
  bool calibrated = false;  // the recipe needs calibration (seed matters)
  std::string model_label, recipe_label, target_name, task_name;
  nlohmann::json recipe_json;  // canonical recipe ({"default": {"method": "none"}} for the baseline)
  std::string refused;         // why this cell cannot run ("" = runnable)
  // Wall seconds to evaluate it on this host, a roofline bound (tokens / host prefill tokens/s) plus
  // the calibration passes of a calibrated recipe; used to order and balance work, not reported as
  // a measurement.
  double est_seconds = 0;
  double target_decode_tok_s = 0;  // the target's batch-1 decode bound for this recipe (roofline), tokens/s
};

struct StudyPlan {
  StudySpec spec;
  std::vector<ModelIdentity> models;
  std::vector<StudyCell> cells;
  size_t runnable() const;
};

StudyPlan make_study_plan(const StudySpec& spec);

// Cells of shard i of n: the runnable cells dealt largest-first to the shard with the least estimated
// work so far (ties to the lower shard), so the split is deterministic and balanced.
std::vector<size_t> shard_cells(const StudyPlan& plan, int shard, int shards);

// Runnable cell indices largest estimated cost first (ties in plan order).
std::vector<size_t> cells_largest_first(const StudyPlan& plan);

}  // namespace quantscope
