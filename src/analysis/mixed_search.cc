#include "analysis/mixed_search.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <string_view>
#include <utility>

#include "core/error.h"
#include "quant/recipe.h"
#include "targets/constraints.h"
#include "targets/roofline.h"

namespace quantscope {

namespace {

bool is_decoder_linear(const TensorSpec& s) { return !s.is_bias && s.layer >= 0 && role_is_linear(s.role); }

constexpr std::pair<BudgetKind, std::string_view> kBudgetNames[] = {
    {BudgetKind::Bits, "bits"}, {BudgetKind::Bytes, "bytes"}, {BudgetKind::DecodeTokS, "decode-tok-s"}};

std::string_view budget_name(BudgetKind k) {
  for (const auto& [kind, name] : kBudgetNames)
    if (kind == k) return name;
  return "?";
}

[[noreturn]] void bad_budget(const std::string& what, const std::string& text, std::string_view why) {
  fail_input("{} '{}': {} (expected bits=B, bytes=X or decode-tok-s=Y; X and Y may end in K, M or G for 1e3, 1e6, 1e9)",
             what, text, why);
}

// Prices allocations (a candidate index per decoder linear) on the target. Bits and bytes are sums of
// per-tensor tables; decode tokens/s projects the whole model with each linear's chosen scheme.
class Pricing {
 public:
  // plans: per candidate, resolve_recipe of that candidate applied to every decoder linear (the same
  // weight matrices in the same order for every candidate).
  Pricing(const Model& probe, const TargetProfile& target, int64_t context,
          std::vector<std::vector<ResolvedTensor>> plans)
      : cfg_(probe.config), kv_(probe.kv_quant), target_(target), plans_(std::move(plans)) {
    const TensorView* e = probe.tensors.find(global_tensor_name(TensorRole::Embedding));
    storage_ = target_storage(target_, e ? e->dtype : DType::F32);
    storage_.options.context = context;
    storage_.options.prefill_tokens = 0;
    for (size_t i = 0; i < plans_.front().size(); ++i)
      if (is_decoder_linear(plans_.front()[i].spec)) at_.push_back(i);
    bit_weights_.resize(plans_.size());
    bytes_.resize(plans_.size());
    for (size_t c = 0; c < plans_.size(); ++c)
      for (size_t i : at_) {
        const ResolvedTensor& r = plans_[c][i];
        bit_weights_[c].push_back(r.bits_per_weight(DType::F32) * double(r.rows() * r.cols()));
        bytes_[c].push_back(stored_matrix_bytes(r, storage_.weight_dtype, storage_.options));
      }
    for (size_t i : at_) weights_ += double(plans_.front()[i].rows() * plans_.front()[i].cols());
    work_ = plans_.front();
  }

  size_t tensors() const { return at_.size(); }

  SearchSpend spend(const std::vector<size_t>& choice) const {
    const Projection p = projection(choice);
    return {sum(bit_weights_, choice) / weights_, sum(bytes_, choice), p.decode_tok_s, p.decode_bound};
  }

  // The greedy's cost in the budget's units, larger = dearer: bits x weights, bytes, or seconds per
  // decoded token.
  double cost(BudgetKind k, const std::vector<size_t>& choice) const {
    switch (k) {
      case BudgetKind::Bits: return sum(bit_weights_, choice);
      case BudgetKind::Bytes: return sum(bytes_, choice);
      case BudgetKind::DecodeTokS: return 1.0 / projection(choice).decode_tok_s;
    }
    return 0;
  }

  // The largest cost the budget allows.
  double limit(const SearchBudget& b) const {
    switch (b.kind) {
      case BudgetKind::Bits: return b.value * weights_;
      case BudgetKind::Bytes: return b.value;
      case BudgetKind::DecodeTokS: return 1.0 / b.value;
    }
    return 0;
  }

 private:
  static double sum(const std::vector<std::vector<double>>& table, const std::vector<size_t>& choice) {
    double s = 0;
    for (size_t t = 0; t < choice.size(); ++t) s += table[choice[t]][t];
    return s;
  }

  Projection projection(const std::vector<size_t>& choice) const {
    for (size_t t = 0; t < choice.size(); ++t) work_[at_[t]].scheme = plans_[choice[t]][at_[t]].scheme;
    return project(cfg_, storage_.weight_dtype, work_, kv_, target_, storage_.options);
  }

  ModelConfig cfg_;
  KVCacheQuant kv_;
  TargetProfile target_;
  TargetStorage storage_;
  std::vector<std::vector<ResolvedTensor>> plans_;
  std::vector<size_t> at_;                                // per decoder linear: its index in a plan
  std::vector<std::vector<double>> bit_weights_, bytes_;  // [candidate][decoder linear]
  double weights_ = 0;                                    // weights of the decoder linears
  mutable std::vector<ResolvedTensor> work_;              // the allocation being projected
};

// The budget's own figure of a spend (what the infeasibility message names).
std::string spend_in_budget_units(BudgetKind k, const SearchSpend& s, const std::string& target) {
  switch (k) {
    case BudgetKind::Bits: return fmt::format("{:.4f} bits per weight", s.bits);
    case BudgetKind::Bytes: return fmt::format("{:.0f} bytes of decoder linears on {}", s.bytes, target);
    case BudgetKind::DecodeTokS: return fmt::format("{:.1f} decode tokens/s projected on {}", s.decode_tok_s, target);
  }
  return "";
}

// Greedy allocation (see the header): from every tensor at `usable.front()` (the cheapest), take the
// move with the largest KLD drop per unit of extra cost that keeps the cost within the budget. Every
// move lowers the summed tensor KLD, so the loop ends.
std::vector<size_t> allocate(const Pricing& pricing, const SearchBudget& budget,
                             const std::vector<SearchCandidate>& cands, const std::vector<size_t>& usable) {
  std::vector<size_t> choice(pricing.tensors(), usable.front());
  const double limit = pricing.limit(budget) * (1 + 1e-12);
  double spent = pricing.cost(budget.kind, choice);
  for (;;) {
    bool best_free = false;  // a move that costs nothing extra beats any that does
    double best_gain = 0, best_cost = 0;
    size_t best_t = choice.size(), best_c = 0;
    for (size_t t = 0; t < choice.size(); ++t)
      for (size_t c : usable) {
        const size_t was = choice[t];
        const double drop = cands[was].tensor_kld[t] - cands[c].tensor_kld[t];
        if (c == was || !(drop > 0)) continue;
        choice[t] = c;
        const double cost = pricing.cost(budget.kind, choice);
        choice[t] = was;
        if (cost > limit) continue;
        const bool free = cost <= spent;
        const double gain = free ? drop : drop / (cost - spent);
        if ((free && !best_free) || (free == best_free && gain > best_gain))
          best_free = free, best_gain = gain, best_cost = cost, best_t = t, best_c = c;
      }
    if (best_t == choice.size()) return choice;
    choice[best_t] = best_c;
    spent = best_cost;
  }
}

}  // namespace

std::string SearchBudget::to_string() const { return fmt::format("{}={}", budget_name(kind), value); }

SearchBudget parse_search_budget(const std::string& text, const std::string& what) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos) bad_budget(what, text, "no '='");
  const std::string_view name = std::string_view(text).substr(0, eq);
  std::string_view num = std::string_view(text).substr(eq + 1);
  SearchBudget b;
  bool known = false;
  for (const auto& [kind, n] : kBudgetNames)
    if (n == name) b.kind = kind, known = true;
  if (!known) bad_budget(what, text, fmt::format("unknown budget '{}'", name));
  double scale = 1;  // K/M/G: counts of bytes or tokens/s, not bits
  if (b.kind != BudgetKind::Bits && !num.empty()) {
    const char s = num.back();
    scale = s == 'K' ? 1e3 : s == 'M' ? 1e6 : s == 'G' ? 1e9 : 1;
    if (scale != 1) num.remove_suffix(1);
  }
  double v = 0;
  const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (num.empty() || ec != std::errc() || end != num.data() + num.size())
    bad_budget(what, text, fmt::format("'{}' is not a number", num));
  b.value = v * scale;
  if (!std::isfinite(b.value) || !(b.value > 0)) bad_budget(what, text, "the value must be finite and > 0");
  return b;
}

SearchResult search_mixed_precision(const std::function<std::unique_ptr<Model>()>& load, const RefReader& ref,
                                    const SearchOptions& o) {
  SearchResult res;
  res.target = o.target.empty() ? "host" : o.target;
  res.budget = o.budget;
  if (o.candidates.empty()) fail_input("search: no candidate schemes");
  const TargetProfile target = load_target(res.target);
  std::unique_ptr<Model> probe = load();
  for (const TensorSpec& s : probe->registry)
    if (is_decoder_linear(s)) res.tensors.push_back(s.name);
  res.context = o.context >= 0 ? o.context : std::max(0, probe->config.max_seq_len);

  // Candidates: described, resolved and checked against the target before anything runs.
  std::vector<std::vector<ResolvedTensor>> plans;
  for (size_t c = 0; c < o.candidates.size(); ++c) {
    SearchCandidate cand;
    cand.scheme = o.candidates[c];
    const Recipe whole = recipe_for_tensors(cand.scheme, {}, true, fmt::format("candidates[{}]", c));
    if (!whole.default_scheme.quantized()) fail_input("search: candidates[{}] does not quantize", c);
    cand.describe = whole.default_scheme.describe();
    plans.push_back(resolve_recipe(whole, probe->registry));
    if (res.target != "host") {
      const std::vector<TargetViolation> v = check_recipe(plans.back(), probe->kv_quant, target);
      if (!v.empty()) cand.refused = v.front().tensor + ": " + v.front().rule;
    }
    res.candidates.push_back(std::move(cand));
  }
  const Pricing pricing(*probe, target, res.context, std::move(plans));
  probe.reset();

  // Every candidate priced uniformly; the usable ones ordered cheapest first in the budget's cost.
  std::vector<size_t> usable;
  for (size_t c = 0; c < res.candidates.size(); ++c) {
    res.candidates[c].spent = pricing.spend(std::vector<size_t>(pricing.tensors(), c));
    if (res.candidates[c].refused.empty()) usable.push_back(c);
  }
  if (usable.empty()) fail_input("search: target {} runs none of the {} candidates", res.target, o.candidates.size());
  std::vector<double> uniform_cost(res.candidates.size());
  for (size_t c : usable) uniform_cost[c] = pricing.cost(o.budget.kind, std::vector<size_t>(pricing.tensors(), c));
  std::stable_sort(usable.begin(), usable.end(), [&](size_t a, size_t b) { return uniform_cost[a] < uniform_cost[b]; });
  if (uniform_cost[usable.front()] > pricing.limit(o.budget) * (1 + 1e-12)) {
    const SearchCandidate& cheapest = res.candidates[usable.front()];
    fail_input("search: budget {} is {} candidate the target runs ({}: {})", o.budget.to_string(),
               o.budget.kind == BudgetKind::DecodeTokS ? "above the fastest" : "below the cheapest", cheapest.describe,
               spend_in_budget_units(o.budget.kind, cheapest.spent, res.target));
  }

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

  // 2. Greedy allocation under the budget, in its own cost.
  const std::vector<size_t> choice = allocate(pricing, o.budget, res.candidates, usable);
  res.spent = pricing.spend(choice);

  // 3. The recipe (one override per candidate used) and its end-to-end check.
  std::map<size_t, std::vector<std::string>> by_candidate;
  for (size_t t = 0; t < choice.size(); ++t) {
    res.choice.push_back(int(choice[t]));
    res.predicted_kld += res.candidates[choice[t]].tensor_kld[t];
    by_candidate[choice[t]].push_back(res.tensors[t]);
  }
  nlohmann::json overrides = nlohmann::json::array();
  for (const auto& [c, names] : by_candidate) overrides.push_back({{"match", names}, {"scheme", res.candidates[c].scheme}});
  res.recipe = {{"default", {{"method", "none"}}}, {"overrides", overrides}};
  res.measured_kld =
      run_recipe(load, ref, parse_recipe(res.recipe.dump(), "searched recipe"), o.target, o.calib, o.kld).kld.kld;
  return res;
}

nlohmann::json SearchResult::to_json() const {
  const auto spend_json = [](const SearchSpend& s) {
    return nlohmann::json{{"bits", s.bits}, {"bytes", s.bytes}, {"decode_tok_s", s.decode_tok_s},
                          {"decode_bound", s.decode_bound}};
  };
  nlohmann::json cs = nlohmann::json::array();
  for (const SearchCandidate& c : candidates) {
    nlohmann::json j = {{"scheme", c.scheme}, {"describe", c.describe}};
    j.update(spend_json(c.spent));
    if (!c.refused.empty()) j["refused"] = c.refused;
    else j["uniform_kld"] = {{"mean", c.uniform_kld.mean}, {"se", c.uniform_kld.se}};
    cs.push_back(j);
  }
  nlohmann::json choices = nlohmann::json::object();
  for (size_t t = 0; t < tensors.size(); ++t) choices[tensors[t]] = candidates[size_t(choice[t])].describe;
  nlohmann::json j = {{"target", target},
                      {"budget", {{"kind", std::string(budget_name(budget.kind))}, {"value", budget.value}}},
                      {"context", context}};
  j.update(spend_json(spent));
  j.update({{"predicted_kld", predicted_kld},
            {"measured_kld", {{"mean", measured_kld.mean}, {"se", measured_kld.se}}},
            {"candidates", cs},
            {"choices", choices},
            {"recipe", recipe}});
  return j;
}

}  // namespace quantscope
