#include "study/study_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "eval/mc_task.h"
#include "quant/quantized_model.h"
#include "quant/recipe.h"
#include "targets/constraints.h"
#include "targets/roofline.h"
#include "targets/target_run.h"

namespace quantscope {
namespace {

// Tokens one task feeds through the model: ppl/kld windows x ctx; a multiple-choice item is taken as
// its choices x 16 tokens (BLiMP sentences run 8-20 tokens with the 512-token vocabulary; an estimate).
// A sensitivity task evaluates the text once per decoder linear.
double task_tokens(const StudyTask& t, const ModelConfig& cfg) {
  if (t.kind == "ppl" || t.kind == "kld" || t.kind == "sensitivity") {
    const double windows = t.windows > 0 ? double(t.windows) : 64.0;  // whole text: unknown before tokenizing
    const double units = t.kind == "sensitivity" ? double(cfg.num_layers) * 7.0 : 1.0;  // q k v o gate up down
    return units * windows * double(std::min<int64_t>(t.ctx, cfg.max_seq_len));
  }
  TaskReadOptions ro;
  ro.limit = t.limit;
  const McTask task = read_mc_task(t.kind, t.path, ro);
  double tokens = 0;
  for (const auto& item : task.items) tokens += 16.0 * double(item.choices.size());
  return tokens;
}

std::string first_violation(const std::vector<TargetViolation>& v, const std::string& target) {
  std::string s = fmt::format("refused by {}: {}: {} (nearest: {})", target, v[0].tensor, v[0].rule, v[0].nearest);
  if (v.size() > 1) s += fmt::format(" and {} more tensors", v.size() - 1);
  return s;
}

// Does task `t` have a cell for recipe `ri` (-1: the baseline)? A sensitivity task measures quantized
// recipes only, and only those it names (all when it names none).
bool task_applies(const StudyTask& t, int ri, const StudySpec& spec) {
  if (t.kind != "sensitivity") return true;
  if (ri < 0) return false;
  return t.recipes.empty() ||
         std::find(t.recipes.begin(), t.recipes.end(), spec.recipes[size_t(ri)].label) != t.recipes.end();
}

// Average stored bits per weight of the decoder linears (the per-layer q/k/v/o/gate/up/down) as the
// recipe resolves them, so the embedding and lm_head (kept in full precision by most recipes) do not
// dilute the figure the study's tables are about.
double decoder_linear_bits(const std::vector<ResolvedTensor>& resolved, DType full) {
  double bits = 0, weights = 0;
  for (const auto& r : resolved) {
    if (r.spec.layer < 0) continue;
    const double n = double(r.rows()) * double(r.cols());
    bits += r.bits_per_weight(full) * n;
    weights += n;
  }
  return weights > 0 ? bits / weights : 0;
}

}  // namespace

size_t StudyPlan::runnable() const {
  return size_t(std::count_if(cells.begin(), cells.end(), [](const StudyCell& c) { return c.refused.empty(); }));
}

CellCost cell_cost(const Model& model, DType weight_dtype, const std::vector<ResolvedTensor>& resolved,
                   const KVCacheQuant& kv, const TargetProfile& target) {
  CellCost c;
  c.bits_per_weight = decoder_linear_bits(resolved, weight_dtype);
  const TargetStorage storage = target_storage(target, weight_dtype);
  ProjectionOptions po = storage.options;
  po.context = std::min<int64_t>(kProjectionContext, model.config.max_seq_len);
  po.prefill_tokens = std::min<int64_t>(kProjectionContext, model.config.max_seq_len);
  try {
    const Projection p = project(model.config, storage.weight_dtype, resolved, kv, target, po);
    c.weight_bytes = p.total_weight_bytes;
    c.decode_tok_s = p.decode_tok_s;
    c.prefill_tok_s = p.prefill_tok_s;
    c.context = po.context;
  } catch (const InputError&) {
    // A target profile without roofline figures: no projection (the cost stays 0, not stored).
  }
  return c;
}

StudyPlan make_study_plan(const StudySpec& spec) {
  StudyPlan plan;
  plan.spec = spec;
  std::vector<TargetProfile> targets;
  for (const auto& t : spec.targets) targets.push_back(load_target(t));
  const TargetProfile host = load_target("host");
  std::vector<nlohmann::json> task_docs;
  for (const auto& t : spec.tasks) task_docs.push_back(task_document(t));

  for (size_t mi = 0; mi < spec.models.size(); ++mi) {
    const std::string& model_path = spec.models[mi];
    ModelIdentity id{content_hash(model_path), spec.tokenizer.empty() ? "beside-model" : content_hash(spec.tokenizer)};
    plan.models.push_back(id);
    const auto model = load_any_model(model_path);
    const DType weight_dtype = model_float_dtype(*model);
    std::vector<double> tokens;
    for (const auto& t : spec.tasks) tokens.push_back(task_tokens(t, model->config));

    const int first_recipe = spec.baseline ? -1 : 0;
    for (int ri = first_recipe; ri < int(spec.recipes.size()); ++ri) {
      const nlohmann::json recipe_json =
          ri < 0 ? nlohmann::json{{"default", {{"method", "none"}}}} : spec.recipes[size_t(ri)].json;
      const std::string label = ri < 0 ? "fp (unquantized)" : spec.recipes[size_t(ri)].label;
      std::string invalid;
      std::vector<ResolvedTensor> resolved;
      Recipe recipe;
      try {
        recipe = parse_recipe(recipe_json.dump(), ri < 0 ? "baseline" : spec.recipes[size_t(ri)].source);
        resolved = resolve_recipe(recipe, model->registry);
      } catch (const InputError& e) {
        invalid = fmt::format("invalid for this model: {}", e.what());
      }
      bool calibrated = false;
      for (const auto& r : resolved)
        calibrated = calibrated || method_needs_calibration(r.scheme.method) || r.scheme.act.bits > 0;
      if (calibrated && spec.calibration.files.empty() && invalid.empty())
        invalid = "the recipe needs calibration data but the study has no \"calibration\"";
      const std::vector<uint64_t> seeds = calibrated ? spec.seeds : std::vector<uint64_t>{spec.seeds[0]};
      // Host roofline: the cost of evaluating here (every cell runs on this machine's kernels).
      double host_prefill_tok_s = 0;
      if (invalid.empty()) {
        ProjectionOptions po;
        po.prefill_tokens = std::min<int64_t>(128, model->config.max_seq_len);
        host_prefill_tok_s = project(model->config, weight_dtype, resolved, recipe.kv_cache, host, po).prefill_tok_s;
      }
      for (uint64_t seed : seeds) {
        const nlohmann::json calib = calibrated ? calibration_document(spec.calibration, seed) : nlohmann::json(nullptr);
        const std::string qkey = ri < 0 ? "" : document_key("quantized-model", quant_key_document(id, recipe_json, calib));
        for (size_t ti = 0; ti < targets.size(); ++ti) {
          std::string refused = invalid;
          CellCost cost;
          if (refused.empty()) {
            const auto violations = check_recipe(resolved, recipe.kv_cache, targets[ti]);
            if (!violations.empty()) refused = first_violation(violations, spec.targets[ti]);
            cost = cell_cost(*model, weight_dtype, resolved, recipe.kv_cache, targets[ti]);
          }
          for (size_t ki = 0; ki < spec.tasks.size(); ++ki) {
            if (!task_applies(spec.tasks[ki], ri, spec)) continue;
            StudyCell c;
            c.index = plan.cells.size();
            c.quant_key = qkey;
            c.model = mi, c.target = ti, c.task = ki, c.recipe = ri, c.seed = seed, c.calibrated = calibrated;
            c.model_label = model_path, c.recipe_label = label, c.target_name = spec.targets[ti];
            c.task_name = spec.tasks[ki].name;
            c.recipe_json = recipe_json;
            c.refused = refused;
            if (c.refused.empty() && spec.tasks[ki].kind == "sensitivity" && recipe_json.contains("overrides") &&
                !recipe_json["overrides"].empty())
              c.refused = "a sensitivity task measures uniform recipes (one default scheme); this recipe has overrides";
            c.cost = cost;
            c.key = cell_key(qkey.empty() ? id.weights_hash + "/" + id.tokenizer_hash : qkey, spec.targets[ti],
                             task_docs[ki]);
            if (spec.tasks[ki].kind == "kld") c.reference_key = reference_key(id, task_docs[ki]);
            if (spec.tasks[ki].kind == "sensitivity") {  // the same reference a kld task over this text uses
              nlohmann::json as_kld = task_docs[ki];
              as_kld["kind"] = "kld";
              c.reference_key = reference_key(id, as_kld);
            }
            if (host_prefill_tok_s > 0) {
              double tok = tokens[ki];
              if (calibrated)  // ~ (layers / 2) x 4 cut-off passes over the calibration set (quantize_model.h)
                tok += double(spec.calibration.samples * spec.calibration.tokens) * 2.0 * model->config.num_layers /
                       double(spec.tasks.size() * targets.size());  // shared by the recipe's cells
              c.est_seconds = tok / host_prefill_tok_s;
            }
            plan.cells.push_back(std::move(c));
          }
        }
      }
    }
  }
  return plan;
}

std::vector<size_t> cells_largest_first(const StudyPlan& plan) {
  std::vector<size_t> idx;
  for (const auto& c : plan.cells)
    if (c.refused.empty()) idx.push_back(c.index);
  std::stable_sort(idx.begin(), idx.end(),
                   [&](size_t a, size_t b) { return plan.cells[a].est_seconds > plan.cells[b].est_seconds; });
  return idx;
}

std::vector<size_t> shard_cells(const StudyPlan& plan, int shard, int shards) {
  if (shards < 1 || shard < 0 || shard >= shards) fail_input("--shard {}/{}: expected 0 <= i < N", shard, shards);
  std::vector<double> load(size_t(shards), 0.0);
  std::vector<size_t> mine;
  for (size_t i : cells_largest_first(plan)) {
    const size_t s = size_t(std::min_element(load.begin(), load.end()) - load.begin());
    // Every cell costs at least a little (a zero estimate would pile every cell onto shard 0).
    load[s] += std::max(plan.cells[i].est_seconds, 1e-6);
    if (int(s) == shard) mine.push_back(i);
  }
  std::sort(mine.begin(), mine.end());
  return mine;
}

}  // namespace quantscope
