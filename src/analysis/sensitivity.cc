#include "analysis/sensitivity.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include "analysis/rank_correlation.h"
#include "core/error.h"
#include "core/progress.h"
#include "model/forward.h"
#include "quant/quantize_model.h"
#include "quant/recipe.h"
#include "targets/constraints.h"
#include "targets/target_run.h"

namespace quantscope {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The unit a decoder linear belongs to under each granularity.
std::string unit_key(const TensorSpec& s, SensitivityUnit u) {
  switch (u) {
    case SensitivityUnit::Tensor: return s.name;
    case SensitivityUnit::Layer: return fmt::format("layer {}", s.layer);
    case SensitivityUnit::Role: return std::string(role_name(s.role));
    case SensitivityUnit::Block: return role_is_attention(s.role) ? "attention" : "mlp";
  }
  return s.name;
}

// Units in registry order, each with its tensors.
std::vector<UnitSensitivity> plan_units(const std::vector<TensorSpec>& registry, SensitivityUnit u) {
  std::vector<UnitSensitivity> units;
  std::map<std::string, size_t> index;
  for (const TensorSpec& s : registry) {
    if (s.is_bias || s.layer < 0 || !role_is_linear(s.role)) continue;
    const std::string key = unit_key(s, u);
    auto [it, fresh] = index.emplace(key, units.size());
    if (fresh) {
      UnitSensitivity us;
      us.unit = key;
      if (u == SensitivityUnit::Tensor || u == SensitivityUnit::Layer) us.layer = s.layer;
      if (u == SensitivityUnit::Tensor || u == SensitivityUnit::Role) us.role = std::string(role_name(s.role));
      us.attention = role_is_attention(s.role);
      units.push_back(us);
    }
    units[it->second].tensors.push_back(s.name);
  }
  return units;
}

std::vector<SensitivityRollup> rollup(const std::vector<UnitSensitivity>& units,
                                      const std::function<std::string(const UnitSensitivity&)>& group) {
  std::vector<SensitivityRollup> out;
  std::map<std::string, size_t> index;
  for (const UnitSensitivity& u : units) {
    auto [it, fresh] = index.emplace(group(u), out.size());
    if (fresh) out.push_back({group(u), 0, 0, 0});
    SensitivityRollup& r = out[it->second];
    r.kld += u.kld.mean;
    r.se += u.kld.se * u.kld.se;
    ++r.units;
  }
  for (auto& r : out) r.se = std::sqrt(r.se);
  return out;
}

// Mean of a proxy over the quantized tensors that report it; NaN when none does.
double unit_mean(const std::vector<TensorQuantReport>& tensors, double TensorQuantReport::*proxy) {
  double sum = 0;
  int n = 0;
  for (const TensorQuantReport& t : tensors)
    if (t.*proxy >= 0) sum += t.*proxy, ++n;
  return n ? sum / n : kNaN;
}

double proxy_correlation(const std::vector<UnitSensitivity>& units, double UnitSensitivity::*proxy) {
  std::vector<double> k, p;
  for (const UnitSensitivity& u : units) {
    if (std::isnan(u.*proxy)) return kNaN;
    k.push_back(u.kld.mean);
    p.push_back(u.*proxy);
  }
  return k.size() < 2 ? kNaN : spearman(k, p);
}

nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

Recipe recipe_for_tensors(const nlohmann::json& scheme, const std::vector<std::string>& tensors, bool reverse,
                          const std::string& label) {
  const nlohmann::json none = {{"method", "none"}};
  nlohmann::json r = {{"default", reverse ? scheme : none}};
  if (!tensors.empty())
    r["overrides"] = nlohmann::json::array({{{"match", tensors}, {"scheme", reverse ? none : scheme}}});
  return parse_recipe(r.dump(), label);
}

RecipeRun run_recipe(const std::function<std::unique_ptr<Model>()>& load, const RefReader& ref, const Recipe& recipe,
                     const std::string& target, const CalibrationSet* calib, const KldOptions& kld) {
  std::unique_ptr<Model> model = load();
  const std::vector<ResolvedTensor> plan = resolve_recipe(recipe, model->registry);
  std::optional<TargetProfile> tp;
  if (!target.empty() && target != "host") {
    tp = load_target(target);
    require_target_runs(plan, model->kv_quant, *tp);  // refuse before spending time
  }
  QuantizeOptions qo;
  qo.progress = false;
  qo.check_samples = 0;
  const QuantizeReport rep = quantize_model(*model, plan, calib, qo);
  if (tp) apply_target(*model, *tp);
  RecipeRun r;
  for (const TensorQuantReport& t : rep.tensors)
    if (t.scheme != "none") r.quantized.push_back(t);
  Forward fwd(*model);
  KldOptions ko = kld;
  ko.progress = false;
  r.kld = kld_against_reference(fwd, ref, ko);
  return r;
}

const std::vector<SensitivityProxy>& sensitivity_proxies() {
  static const std::vector<SensitivityProxy> proxies = {
      {"weight_error", "w_err", &TensorQuantReport::rel_weight_error, &UnitSensitivity::weight_error,
       &SensitivityResult::spearman_weight_error},
      {"output_error", "out_err", &TensorQuantReport::rel_output_error, &UnitSensitivity::output_error,
       &SensitivityResult::spearman_output_error},
      {"hessian_trace", "tr_H", &TensorQuantReport::hessian_trace, &UnitSensitivity::hessian_trace,
       &SensitivityResult::spearman_hessian_trace},
      {"hessian_weighted_error", "trH_werr", &TensorQuantReport::hessian_weighted_error,
       &UnitSensitivity::hessian_weighted_error, &SensitivityResult::spearman_hessian_weighted_error},
      {"act_outlier_ratio", "outlier", &TensorQuantReport::act_outlier_ratio, &UnitSensitivity::act_outlier_ratio,
       &SensitivityResult::spearman_act_outlier_ratio},
  };
  return proxies;
}

std::string_view sensitivity_unit_name(SensitivityUnit u) {
  switch (u) {
    case SensitivityUnit::Tensor: return "tensor";
    case SensitivityUnit::Layer: return "layer";
    case SensitivityUnit::Role: return "role";
    case SensitivityUnit::Block: return "block";
  }
  return "?";
}

bool sensitivity_unit_from_name(std::string_view s, SensitivityUnit* out) {
  for (SensitivityUnit u : {SensitivityUnit::Tensor, SensitivityUnit::Layer, SensitivityUnit::Role, SensitivityUnit::Block})
    if (s == sensitivity_unit_name(u)) return *out = u, true;
  return false;
}

SensitivityResult measure_sensitivity(const std::function<std::unique_ptr<Model>()>& load, const RefReader& ref,
                                      const SensitivityOptions& o) {
  SensitivityResult res;
  res.target = o.target.empty() ? "host" : o.target;
  res.unit = std::string(sensitivity_unit_name(o.unit));
  res.reverse = o.reverse;
  // Parsing the full-model recipe once validates the scheme (and names what is wrong) before any run.
  const Recipe whole = recipe_for_tensors(o.scheme, {}, true, "--scheme");
  res.scheme = whole.default_scheme.describe();

  std::vector<UnitSensitivity> units;
  {
    std::unique_ptr<Model> probe = load();
    units = plan_units(probe->registry, o.unit);
  }
  Progress progress(fmt::format("sensitivity {} {}", res.target, res.scheme), int64_t(units.size()) + (o.reverse ? 1 : 0),
                    "unit", !o.progress);
  if (o.reverse) {
    res.all_quantized_kld = run_recipe(load, ref, whole, o.target, o.calib, o.kld).kld.kld;
    progress.advance();
  }
  for (UnitSensitivity& u : units) {
    const RecipeRun r = run_recipe(load, ref, recipe_for_tensors(o.scheme, u.tensors, o.reverse, "--scheme (unit " + u.unit + ")"),
                                   o.target, o.calib, o.kld);
    u.kld = r.kld.kld;
    u.top1 = r.kld.top1;
    u.ppl_ratio = r.kld.ppl_ratio;
    for (const SensitivityProxy& p : sensitivity_proxies()) u.*p.unit = unit_mean(r.quantized, p.tensor);
    progress.advance();
  }
  progress.finish();
  res.units = units;
  if (o.unit == SensitivityUnit::Tensor && !o.reverse) {
    res.by_layer = rollup(units, [](const UnitSensitivity& u) { return fmt::format("layer {}", u.layer); });
    res.by_role = rollup(units, [](const UnitSensitivity& u) { return u.role; });
    res.by_block = rollup(units, [](const UnitSensitivity& u) { return std::string(u.attention ? "attention" : "mlp"); });
  }
  // In reverse mode the unit's own error is what it no longer adds: the proxies rank against the drop.
  for (const SensitivityProxy& p : sensitivity_proxies())
    res.*p.spearman = o.reverse ? kNaN : proxy_correlation(units, p.unit);
  return res;
}

void check_sensitivity_target(const Model& model, const nlohmann::json& scheme, const std::string& target) {
  if (target.empty() || target == "host") return;
  const std::vector<ResolvedTensor> plan = resolve_recipe(recipe_for_tensors(scheme, {}, true, "--scheme"), model.registry);
  require_target_runs(plan, model.kv_quant, load_target(target));
}

double sensitivity_rank_agreement(const SensitivityResult& a, const SensitivityResult& b) {
  if (a.units.size() != b.units.size()) fail_internal("sensitivity_rank_agreement: {} vs {} units", a.units.size(), b.units.size());
  std::vector<double> ka, kb;
  for (size_t i = 0; i < a.units.size(); ++i) {
    if (a.units[i].unit != b.units[i].unit) fail_internal("sensitivity_rank_agreement: units differ");
    ka.push_back(a.units[i].kld.mean);
    kb.push_back(b.units[i].kld.mean);
  }
  return ka.size() < 2 ? kNaN : spearman(ka, kb);
}

nlohmann::json SensitivityResult::to_json() const {
  nlohmann::json j = {{"target", target}, {"scheme", scheme}, {"unit", unit}, {"reverse", reverse}};
  if (reverse) j["all_quantized_kld"] = {{"mean", all_quantized_kld.mean}, {"se", all_quantized_kld.se}};
  nlohmann::json us = nlohmann::json::array();
  for (const UnitSensitivity& u : units) {
    nlohmann::json ju = {{"unit", u.unit},
                         {"layer", u.layer},
                         {"role", u.role},
                         {"attention", u.attention},
                         {"tensors", u.tensors},
                         {"kld", {{"mean", u.kld.mean}, {"se", u.kld.se}, {"n", u.kld.n}}},
                         {"top1", {{"mean", u.top1.mean}, {"se", u.top1.se}}},
                         {"ppl_ratio", u.ppl_ratio}};
    for (const SensitivityProxy& p : sensitivity_proxies()) ju[std::string(p.name)] = finite_or_null(u.*p.unit);
    us.push_back(std::move(ju));
  }
  j["units"] = us;
  auto rolls = [](const std::vector<SensitivityRollup>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& r : v) a.push_back({{"group", r.group}, {"kld", r.kld}, {"se", r.se}, {"units", r.units}});
    return a;
  };
  j["by_layer"] = rolls(by_layer);
  j["by_role"] = rolls(by_role);
  j["by_block"] = rolls(by_block);
  nlohmann::json& rho = j["spearman"] = nlohmann::json::object();
  for (const SensitivityProxy& p : sensitivity_proxies()) rho[std::string(p.name)] = finite_or_null(this->*p.spearman);
  return j;
}

}  // namespace quantscope
