// Where quantization hurts: quantize one unit of the model at a time (a tensor, a layer, a role across
// layers, or attention vs MLP), run it (on the host or under a target's numerics) and measure the
// end-to-end KLD to the full-precision reference; or the reverse, everything quantized except the unit.
// Units are the linears of the decoder layers (the embedding and lm_head stay as the recipe default
// leaves them: full precision). Each unit is a fresh load of the model, so units never see each other.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "eval/kld.h"
#include "model/model.h"
#include "quant/calibration.h"
#include "quant/quantize_model.h"
#include "quant/recipe.h"

namespace quantscope {

enum class SensitivityUnit { Tensor, Layer, Role, Block };  // Block: attention vs MLP
std::string_view sensitivity_unit_name(SensitivityUnit u);
bool sensitivity_unit_from_name(std::string_view s, SensitivityUnit* out);

struct SensitivityOptions {
  nlohmann::json scheme;  // a recipe scheme object, e.g. {"method": "rtn", "w_bits": 2, "group_size": 32}
  SensitivityUnit unit = SensitivityUnit::Tensor;
  bool reverse = false;          // everything quantized except the unit
  std::string target;            // "" = the host fast path
  const CalibrationSet* calib = nullptr;  // needed by methods other than rtn; gives the calibration proxies
  KldOptions kld;
  bool progress = true;
};

struct UnitSensitivity {
  std::string unit;                  // tensor name, "layer 3", "attn_q", "attention" / "mlp"
  int layer = -1;                    // tensor and layer units
  std::string role;                  // tensor and role units
  bool attention = false;            // tensor, role and block units
  std::vector<std::string> tensors;  // quantized (or, reversed, kept) by this unit
  MeanSe kld;                        // nats per token against the reference
  MeanSe top1;                       // agreement of the argmax with the reference's
  double ppl_ratio = 0;
  // Cheap proxies from the quantizer's report (TensorQuantReport), averaged over the unit's quantized
  // tensors; NaN when not measured. All but weight_error need calibration (--calib); each is computed
  // on the inputs the linear sees in the calibration pass (quant/calibration.h defines them):
  double weight_error = 0;            // ||W - Q(W)||_F / ||W||_F, dimensionless
  double output_error = 0;            // ||(W - Q(W)) X^T||_F / ||W X^T||_F over calibration tokens X
  double hessian_trace = 0;           // tr(H), H = 2/N sum_x x x^T (GPTQ's Hessian); activation^2
  double hessian_weighted_error = 0;  // tr(H)/cols * ||W - Q(W)||_F^2 (HAWQ-V2); output^2
  double act_outlier_ratio = 0;       // max over channels of max|x_c| / mean over channels of rms(x_c)
};

struct SensitivityRollup {
  std::string group;  // "layer 0", "attn_q", "attention"
  double kld = 0;     // sum of the tensor units' mean KLD (an additive approximation)
  double se = 0;      // sqrt of the sum of their squared standard errors (treats units as independent)
  int units = 0;
};

struct SensitivityResult {
  std::string target, scheme, unit;
  bool reverse = false;
  MeanSe all_quantized_kld;  // reverse mode: the baseline with every unit quantized
  std::vector<UnitSensitivity> units;  // in registry order
  // Tensor units only (forward mode): KLD summed by layer, by role and attention vs MLP.
  std::vector<SensitivityRollup> by_layer, by_role, by_block;
  // Spearman rank correlation of unit KLD with each proxy (NaN when a proxy is missing or constant, and
  // in reverse mode).
  double spearman_weight_error = 0, spearman_output_error = 0, spearman_hessian_trace = 0,
         spearman_hessian_weighted_error = 0, spearman_act_outlier_ratio = 0;
  nlohmann::json to_json() const;
};

// One cheap proxy: where the quantizer reports it per tensor, where a unit and a result keep it. The
// table drives averaging, correlations, JSON, and the CLI's table and CSV, so a proxy is added once.
struct SensitivityProxy {
  std::string_view name;     // JSON key and CSV column, e.g. "hessian_trace"
  std::string_view heading;  // short column heading of the printed table
  double TensorQuantReport::*tensor;  // < 0 in the report: not measured
  double UnitSensitivity::*unit;
  double SensitivityResult::*spearman;
};
// Every proxy, in the order tables list them.
const std::vector<SensitivityProxy>& sensitivity_proxies();

// `load` opens a fresh full-precision copy of the model (called once per unit, plus once for the
// baseline in reverse mode). InputError when the scheme is impossible or the target refuses it.
SensitivityResult measure_sensitivity(const std::function<std::unique_ptr<Model>()>& load, const RefReader& ref,
                                      const SensitivityOptions& options);

// A recipe quantizing exactly `tensors` with `scheme` (reverse: everything but them), named `label` in
// messages. With no tensors and reverse, the scheme applied to every decoder linear.
Recipe recipe_for_tensors(const nlohmann::json& scheme, const std::vector<std::string>& tensors, bool reverse,
                          const std::string& label);

struct RecipeRun {
  KldResult kld;
  std::vector<TensorQuantReport> quantized;  // the quantizer's report of every quantized tensor
};
// A fresh load quantized by `recipe` (refused first when `target` cannot run it), run on the host
// (target "") or under the target: KLD to the reference and the quantizer's per-tensor report.
RecipeRun run_recipe(const std::function<std::unique_ptr<Model>()>& load, const RefReader& ref, const Recipe& recipe,
                     const std::string& target, const CalibrationSet* calib, const KldOptions& kld);

// InputError (naming tensor and rule) when `target` cannot run `scheme` on this model's decoder linears:
// called for every target before any unit runs, so a refusal costs nothing.
void check_sensitivity_target(const Model& model, const nlohmann::json& scheme, const std::string& target);

// Spearman correlation of two runs' unit KLDs (same units, e.g. two targets): does the ranking move?
double sensitivity_rank_agreement(const SensitivityResult& a, const SensitivityResult& b);

}  // namespace quantscope
