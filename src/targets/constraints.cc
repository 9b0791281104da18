#include "targets/constraints.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>

#include "core/error.h"

namespace quantscope {

namespace {

bool contains(const std::vector<std::string>& v, std::string_view s) { return std::find(v.begin(), v.end(), s) != v.end(); }

bool group_size_ok(int64_t g, const KernelScheme& k) {
  if (!k.group_sizes.empty()) return std::find(k.group_sizes.begin(), k.group_sizes.end(), g) != k.group_sizes.end();
  return g % k.group_multiple == 0 && g >= k.group_min;
}

// The allowed group size closest to g (ties: the smaller one, i.e. the finer grouping).
int64_t nearest_group_size(int64_t g, const KernelScheme& k) {
  if (!k.group_sizes.empty()) {
    int64_t best = k.group_sizes.front();
    for (int64_t c : k.group_sizes)
      if (std::llabs(c - g) < std::llabs(best - g) || (std::llabs(c - g) == std::llabs(best - g) && c < best)) best = c;
    return best;
  }
  const int64_t m = k.group_multiple;
  int64_t lo = std::max<int64_t>(g / m * m, 0), hi = lo + m;
  int64_t best = (lo > 0 && g - lo <= hi - g) ? lo : hi;
  const int64_t min_ok = (k.group_min + m - 1) / m * m;
  return std::max(best, min_ok);
}

// Failures of scheme s on kernel k (empty: k runs s) and the scheme adapted to k.
std::vector<std::string> evaluate(const Scheme& s, const KernelScheme& k, Scheme* adapted) {
  std::vector<std::string> fail;
  Scheme a = s;
  if (s.act.bits != k.a_bits) {
    fail.push_back(k.a_bits ? fmt::format("{} activations: this kernel quantizes them to {} bits",
                                          s.act.bits ? fmt::format("{}-bit", s.act.bits) : "unquantized", k.a_bits)
                            : fmt::format("{}-bit activations: this kernel keeps activations in floating point",
                                          s.act.bits));
    a.act.bits = k.a_bits;
    if (k.a_bits) a.act.granularity = k.activation.front() == "token" ? ActGranularity::Token : ActGranularity::Tensor;
  } else if (k.a_bits && !contains(k.activation, act_granularity_name(s.act.granularity))) {
    fail.push_back(fmt::format("per-{} activation scales: this kernel takes per-{}", act_granularity_name(s.act.granularity),
                               fmt::join(k.activation, "/per-")));
    a.act.granularity = k.activation.front() == "token" ? ActGranularity::Token : ActGranularity::Tensor;
  }
  const int b = s.weight.bits;
  if (std::find(k.w_bits.begin(), k.w_bits.end(), b) == k.w_bits.end()) {
    fail.push_back(fmt::format("{}-bit weights: this kernel takes {} bits", b, fmt::join(k.w_bits, "/")));
    int best = *std::max_element(k.w_bits.begin(), k.w_bits.end());
    for (int c : k.w_bits)
      if (c >= b && c < best) best = c;
    a.weight.bits = best;
  }
  const std::string g(granularity_name(s.weight.granularity));
  if (!contains(k.granularity, g)) {
    fail.push_back(fmt::format("per-{} weight scales: this kernel takes per-{}", g, fmt::join(k.granularity, "/per-")));
    if (contains(k.granularity, "channel")) {
      a.weight.granularity = Granularity::Channel;
      a.weight.group_size = 0;
    } else if (contains(k.granularity, "group")) {
      a.weight.granularity = Granularity::Group;
      a.weight.group_size = nearest_group_size(s.weight.granularity == Granularity::Group ? s.weight.group_size : 128, k);
    } else {
      a.weight.granularity = Granularity::Tensor;
      a.weight.group_size = 0;
    }
  } else if (s.weight.granularity == Granularity::Group && !group_size_ok(s.weight.group_size, k)) {
    fail.push_back(k.group_sizes.empty()
                       ? fmt::format("group size {}: this kernel needs a multiple of {}, at least {}", s.weight.group_size,
                                     k.group_multiple, k.group_min)
                       : fmt::format("group size {}: this kernel takes {}", s.weight.group_size, fmt::join(k.group_sizes, "/")));
    a.weight.group_size = nearest_group_size(s.weight.group_size, k);
  }
  if (k.symmetric_only && !s.weight.symmetric) {
    fail.push_back("asymmetric weights: this kernel needs symmetric weights (no zero point)");
    a.weight.symmetric = true;
  }
  *adapted = a;
  return fail;
}

}  // namespace

SchemeCheck check_scheme(const Scheme& s, int64_t cols, const TargetProfile& t) {
  SchemeCheck c;
  c.nearest = s;
  if (!s.quantized()) {
    c.kernel = fmt::format("{} matmul", dtype_name(t.activation_dtype));
    return c;
  }
  if (t.any_scheme) {
    c.kernel = "quantscope host kernels";
    return c;
  }
  if (s.method == QuantMethod::BiLLM || s.method == QuantMethod::SlimLlm) {
    // Simulated storage (quant/simulated_storage.h): no deployment kernel reads it. The nearest real
    // scheme is GPTQ (what both build on) at a width the target runs.
    Scheme g = s;
    g.method = QuantMethod::Gptq;
    SchemeCheck inner = check_scheme(g, cols, t);
    c.ok = false;
    c.kernel = inner.kernel;
    c.rule = fmt::format("{} keeps {} weights in a simulated storage format that no {} kernel reads", method_name(s.method),
                         s.method == QuantMethod::BiLLM ? "binarized + residual" : "mixed-bit-width groups of", t.name);
    c.nearest = inner.nearest;
    return c;
  }
  size_t best = 0;
  std::vector<std::string> best_fail;
  Scheme best_adapted;
  for (size_t i = 0; i < t.schemes.size(); ++i) {
    Scheme adapted;
    std::vector<std::string> fail = evaluate(s, t.schemes[i], &adapted);
    if (fail.empty()) {
      c.kernel = t.schemes[i].name;
      return c;
    }
    // Closest kernel: the same activation bits first, then the fewest violated rules.
    auto rank = [&](size_t k, size_t nfail) {
      return std::pair<int, size_t>(t.schemes[k].a_bits == s.act.bits ? 0 : 1, nfail);
    };
    if (best_fail.empty() || rank(i, fail.size()) < rank(best, best_fail.size())) {
      best = i;
      best_fail = fail;
      best_adapted = adapted;
    }
  }
  c.ok = false;
  c.kernel = t.schemes[best].name;
  c.rule = fmt::format("{} ({})", fmt::join(best_fail, "; "), c.kernel);
  // A group larger than the tensor's K falls back to per-channel scales (the same weights).
  if (best_adapted.weight.granularity == Granularity::Group && best_adapted.weight.group_size > cols)
    best_adapted.group_fallback_channel = true;
  c.nearest = best_adapted;
  return c;
}

KVCacheCheck check_kv_cache(const KVCacheQuant& kv, const TargetProfile& t) {
  KVCacheCheck c;
  c.nearest = kv;
  if (!kv.enabled()) return c;
  const std::string g(kv_granularity_name(kv.granularity));
  for (const auto& r : t.kv_cache)
    if (r.bits == kv.bits && r.granularity == g) return c;
  c.ok = false;
  std::vector<std::string> offered;
  for (const auto& r : t.kv_cache) offered.push_back(fmt::format("int{} per {}", r.bits, r.granularity));
  c.rule = fmt::format("int{} per-{} KV cache: {} offers {}", kv.bits, g, t.name,
                       offered.empty() ? std::string("no integer KV cache") : fmt::format("{}", fmt::join(offered, ", ")));
  c.nearest = KVCacheQuant{};
  c.nearest.rounding = kv.rounding;
  // Prefer the same bit width, then the wider one.
  const KVCacheRule* pick = nullptr;
  for (const auto& r : t.kv_cache)
    if (!pick || (r.bits == kv.bits && pick->bits != kv.bits) || (pick->bits != kv.bits && r.bits > pick->bits)) pick = &r;
  if (pick) {
    c.nearest.bits = pick->bits;
    kv_granularity_from_name(pick->granularity, &c.nearest.granularity);
  }
  return c;
}

std::vector<TargetViolation> check_recipe(const std::vector<ResolvedTensor>& tensors, const KVCacheQuant& kv,
                                          const TargetProfile& t) {
  std::vector<TargetViolation> out;
  for (const auto& rt : tensors) {
    const SchemeCheck c = check_scheme(rt.scheme, rt.cols(), t);
    if (!c.ok) out.push_back({rt.spec.name, c.rule, c.nearest.describe()});
  }
  const KVCacheCheck k = check_kv_cache(kv, t);
  if (!k.ok)
    out.push_back({"kv_cache", k.rule,
                   k.nearest.enabled() ? fmt::format("int{} per {}", k.nearest.bits, kv_granularity_name(k.nearest.granularity))
                                       : "no KV-cache quantization"});
  return out;
}

void require_target_runs(const std::vector<ResolvedTensor>& tensors, const KVCacheQuant& kv, const TargetProfile& t) {
  const std::vector<TargetViolation> v = check_recipe(tensors, kv, t);
  if (v.empty()) return;
  fail_input("target {} cannot run {}: {} (nearest it runs: {}){}; `quantscope targets check --adapt` rewrites the recipe",
             t.name, v.front().tensor, v.front().rule, v.front().nearest,
             v.size() > 1 ? fmt::format(", and {} more refused", v.size() - 1) : std::string());
}

nlohmann::json adapt_recipe(const Recipe& r, const std::vector<ResolvedTensor>& tensors, const TargetProfile& t,
                            std::vector<std::string>* changes) {
  nlohmann::json j = r.json;
  std::vector<TensorSpec> registry;
  for (const auto& rt : tensors) registry.push_back(rt.spec);
  // The default scheme first (one rewrite instead of one per tensor), at the widest K of the model.
  int64_t kmax = 1;
  for (const auto& rt : tensors) kmax = std::max(kmax, rt.cols());
  const SchemeCheck d = check_scheme(r.default_scheme, kmax, t);
  if (!d.ok) {
    j["default"] = d.nearest.to_json();
    changes->push_back(fmt::format("default: {} -> {} ({})", r.default_scheme.describe(), d.nearest.describe(), d.rule));
  }
  // Then each tensor still refused gets an exact-name override.
  const Recipe r2 = parse_recipe(j.dump(), r.source);
  const std::vector<ResolvedTensor> t2 = resolve_recipe(r2, registry);
  for (const auto& rt : t2) {
    const SchemeCheck c = check_scheme(rt.scheme, rt.cols(), t);
    if (c.ok) continue;
    if (!j.contains("overrides")) j["overrides"] = nlohmann::json::array();
    j["overrides"].push_back({{"match", rt.spec.name}, {"scheme", c.nearest.to_json()}});
    changes->push_back(fmt::format("{}: {} -> {} ({})", rt.spec.name, rt.scheme.describe(), c.nearest.describe(), c.rule));
  }
  const KVCacheCheck k = check_kv_cache(r.kv_cache, t);
  if (!k.ok) {
    if (k.nearest.enabled())
      j["kv_cache"] = {{"bits", k.nearest.bits}, {"granularity", std::string(kv_granularity_name(k.nearest.granularity))}};
    else
      j.erase("kv_cache");
    changes->push_back(fmt::format("kv_cache: {}", k.rule));
  }
  return j;
}

}  // namespace quantscope
