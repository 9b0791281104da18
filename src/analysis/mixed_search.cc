#include "analysis/mixed_search.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>

#include "core/error.h"
#include "quant/recipe.h"
#include "targets/constraints.h"

namespace quantscope {

namespace {

bool is_decoder_linear(const TensorSpec& s) { return !s.is_bias && s.layer >= 0 && role_is_linear(s.role); }

}  // namespace

SearchResult search_mixed_precision(const std::function<std::unique_ptr<Model>()>& load, const RefReader& ref,
                                    const SearchOptions& o) {
  SearchResult res;
  res.target = o.target.empty() ? "host" : o.target;
  res.budget_bits = o.budget_bits;
  if (o.candidates.empty()) fail_input("search: no candidate schemes");
  std::vector<int64_t> numel;  // per decoder linear
  std::unique_ptr<Model> probe = load();
  for (const TensorSpec& s : probe->registry)
    if (is_decoder_linear(s)) {
      res.tensors.push_back(s.name);
      numel.push_back(s.shape[0] * s.shape[1]);
    }
  int64_t total = 0;
  for (int64_t n : numel) total += n;

  // Candidates: described, priced in bits, and checked against the target before anything runs.
  for (size_t c = 0; c < o.candidates.size(); ++c) {
    SearchCandidate cand;
    cand.scheme = o.candidates[c];
    const Recipe whole = recipe_for_tensors(cand.scheme, {}, true, fmt::format("candidates[{}]", c));
    if (!whole.default_scheme.quantized()) fail_input("search: candidates[{}] does not quantize", c);
    cand.describe = whole.default_scheme.describe();
    const std::vector<ResolvedTensor> plan = resolve_recipe(whole, probe->registry);
    double bits = 0;
    for (const ResolvedTensor& t : plan)
      if (is_decoder_linear(t.spec)) bits += t.bits_per_weight(DType::F32) * double(t.rows() * t.cols());
    cand.bits = bits / double(total);
    if (!o.target.empty() && o.target != "host") {
      const std::vector<TargetViolation> v = check_recipe(plan, probe->kv_quant, load_target(o.target));
      if (!v.empty()) cand.refused = v.front().tensor + ": " + v.front().rule;
    }
    res.candidates.push_back(std::move(cand));
  }
  probe.reset();
  std::vector<size_t> usable;
  for (size_t c = 0; c < res.candidates.size(); ++c)
    if (res.candidates[c].refused.empty()) usable.push_back(c);
  if (usable.empty()) fail_input("search: target {} runs none of the {} candidates", res.target, o.candidates.size());
  std::sort(usable.begin(), usable.end(), [&](size_t a, size_t b) { return res.candidates[a].bits < res.candidates[b].bits; });
  if (res.candidates[usable.front()].bits > o.budget_bits)
    fail_input("search: budget {:.4f} bits per weight is below the cheapest candidate the target runs ({}: {:.4f})",
               o.budget_bits, res.candidates[usable.front()].describe, res.candidates[usable.front()].bits);

  // 1. Measured per-tensor sensitivity and uniform KLD of every usable candidate.
  for (size_t c : usable) {
    SearchCandidate& cand = res.candidates[c];
    SensitivityOptions so;
    so.scheme = cand.scheme;
    so.target = o.target;
    so.calib = o.calib;
    so.kld = o.kld;
    so.progress = o.progress;
    const SensitivityResult sr = measure_sensitivity(load, ref, so);
    for (const UnitSensitivity& u : sr.units) cand.tensor_kld.push_back(u.kld.mean);
    cand.uniform_kld = run_recipe(load, ref, recipe_for_tensors(cand.scheme, {}, true, cand.describe), o.target, o.calib,
                                  o.kld).kld.kld;
  }

  // 2. Greedy allocation under the budget (bits weighted by each tensor's size).
  const size_t n = res.tensors.size();
  std::vector<size_t> rank(n, 0);  // position in `usable`
  double spent = res.candidates[usable.front()].bits * double(total);
  const double budget = o.budget_bits * double(total);
  for (;;) {
    double best_gain = 0;
    size_t best_t = n, best_r = 0;
    for (size_t t = 0; t < n; ++t)
      for (size_t r = rank[t] + 1; r < usable.size(); ++r) {
        const SearchCandidate& from = res.candidates[usable[rank[t]]];
        const SearchCandidate& to = res.candidates[usable[r]];
        const double extra = (to.bits - from.bits) * double(numel[t]);
        const double drop = from.tensor_kld[t] - to.tensor_kld[t];
        if (extra <= 0 || drop <= 0 || spent + extra > budget * (1 + 1e-12)) continue;
        if (drop / extra > best_gain) best_gain = drop / extra, best_t = t, best_r = r;
      }
    if (best_t == n) break;
    spent += (res.candidates[usable[best_r]].bits - res.candidates[usable[rank[best_t]]].bits) * double(numel[best_t]);
    rank[best_t] = best_r;
  }
  res.bits = spent / double(total);

  // 3. The recipe (one override per candidate used) and its end-to-end check.
  std::map<size_t, std::vector<std::string>> by_candidate;
  for (size_t t = 0; t < n; ++t) {
    res.choice.push_back(int(usable[rank[t]]));
    res.predicted_kld += res.candidates[usable[rank[t]]].tensor_kld[t];
    by_candidate[usable[rank[t]]].push_back(res.tensors[t]);
  }
  nlohmann::json overrides = nlohmann::json::array();
  for (const auto& [c, names] : by_candidate) overrides.push_back({{"match", names}, {"scheme", res.candidates[c].scheme}});
  res.recipe = {{"default", {{"method", "none"}}}, {"overrides", overrides}};
  res.measured_kld =
      run_recipe(load, ref, parse_recipe(res.recipe.dump(), "searched recipe"), o.target, o.calib, o.kld).kld.kld;
  return res;
}

nlohmann::json SearchResult::to_json() const {
  nlohmann::json cs = nlohmann::json::array();
  for (const SearchCandidate& c : candidates) {
    nlohmann::json j = {{"scheme", c.scheme}, {"describe", c.describe}, {"bits", c.bits}};
    if (!c.refused.empty()) j["refused"] = c.refused;
    else j["uniform_kld"] = {{"mean", c.uniform_kld.mean}, {"se", c.uniform_kld.se}};
    cs.push_back(j);
  }
  nlohmann::json choices = nlohmann::json::object();
  for (size_t t = 0; t < tensors.size(); ++t) choices[tensors[t]] = candidates[size_t(choice[t])].describe;
  return {{"target", target},
          {"budget_bits", budget_bits},
          {"bits", bits},
          {"predicted_kld", predicted_kld},
          {"measured_kld", {{"mean", measured_kld.mean}, {"se", measured_kld.se}}},
          {"candidates", cs},
          {"choices", choices},
          {"recipe", recipe}};
}

}  // namespace quantscope
