// A study expanded into cells: every model x recipe (the unquantized baseline first) x calibration seed
// (only for recipes that calibrate) x target x task. Each cell carries its content key (cell_key.h),
// the key of the quantized model it needs, whether the recipe is invalid for the model or refused by
// the target (with the reason), and a cost estimate from the host's roofline.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/kv_quant.h"
#include "quant/recipe.h"
#include "study/cell_key.h"
#include "targets/target_profile.h"
#include "study/study_spec.h"

namespace quantscope {

// What a cell's model costs on its target, from the recipe and the target's roofline (targets/roofline.h):
// an upper bound, never a measurement; stored beside the cell's metrics so a report can put quality
// against size and speed.
struct CellCost {
  double bits_per_weight = 0;  // decoder linears, stored form as the recipe resolves it (scales included)
  double weight_bytes = 0;     // every stored tensor on the target (Projection::total_weight_bytes)
  double decode_tok_s = 0;     // batch-1 decode bound at `context` positions (0: no roofline figures)
  double prefill_tok_s = 0;    // prefill of `context` tokens
  int64_t context = 0;
};
// The context and prompt length the projections use (capped by the model's max_seq_len).
inline constexpr int64_t kProjectionContext = 512;

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
  CellCost cost;  // on this cell's target (zero when the recipe is invalid or refused)
};

struct StudyPlan {
  StudySpec spec;
  std::vector<ModelIdentity> models;
  std::vector<StudyCell> cells;
  size_t runnable() const;
};

StudyPlan make_study_plan(const StudySpec& spec);

CellCost cell_cost(const class Model& model, DType weight_dtype, const std::vector<ResolvedTensor>& resolved,
                   const KVCacheQuant& kv, const TargetProfile& target);

// Cells of shard i of n: the runnable cells dealt largest-first to the shard with the least estimated
// work so far (ties to the lower shard), so the split is deterministic and balanced.
std::vector<size_t> shard_cells(const StudyPlan& plan, int shard, int shards);

// Runnable cell indices largest estimated cost first (ties in plan order).
std::vector<size_t> cells_largest_first(const StudyPlan& plan);

}  // namespace quantscope
