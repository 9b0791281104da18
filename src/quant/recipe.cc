#include "quant/recipe.h"

#include <fnmatch.h>
#include <fmt/format.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "core/json_document.h"
#include "core/error.h"
#include "formats/json_fields.h"
#include "core/mapped_file.h"

namespace quantscope {

namespace {
struct MethodName {
  QuantMethod m;
  const char* name;
};
constexpr MethodName kMethods[] = {{QuantMethod::None, "none"},          {QuantMethod::Rtn, "rtn"},
                                   {QuantMethod::Gptq, "gptq"},          {QuantMethod::Awq, "awq"},
                                   {QuantMethod::SmoothQuant, "smoothquant"}, {QuantMethod::Gptaq, "gptaq"},
                                   {QuantMethod::BiLLM, "billm"},        {QuantMethod::SlimLlm, "slim_llm"}};
}  // namespace

std::string_view method_name(QuantMethod m) {
  for (const auto& e : kMethods)
    if (e.m == m) return e.name;
  return "?";
}

bool method_from_name(std::string_view s, QuantMethod* out) {
  for (const auto& e : kMethods)
    if (s == e.name) {
      *out = e.m;
      return true;
    }
  return false;
}

bool method_implemented(QuantMethod) { return true; }

bool method_is_weight_only(QuantMethod m) {
  return m == QuantMethod::Awq || m == QuantMethod::BiLLM || m == QuantMethod::SlimLlm;
}

bool method_smooths_input(QuantMethod m) { return m == QuantMethod::Awq || m == QuantMethod::SmoothQuant; }

bool method_uses_gptq_params(QuantMethod m) { return m == QuantMethod::Gptq || m == QuantMethod::Gptaq; }

bool method_needs_calibration(QuantMethod m) { return m != QuantMethod::None && m != QuantMethod::Rtn; }

std::string Scheme::describe() const {
  if (!quantized()) return "none";
  std::string d = fmt::format("{} {}", method_name(method), weight.describe());
  if (act.bits) d += " " + act.describe();
  if (method_uses_gptq_params(method) && gptq.act_order) d += " act-order";
  if (method_uses_gptq_params(method) && gptq.static_groups) d += " static-groups";
  if (method == QuantMethod::SmoothQuant) d += fmt::format(" alpha={}", sq_alpha);
  return d;
}

nlohmann::json Scheme::to_json() const {
  nlohmann::json j;
  j["method"] = method_name(method);
  if (!quantized()) return j;
  j["w_bits"] = weight.bits;
  j["granularity"] = granularity_name(weight.granularity);
  if (weight.granularity == Granularity::Group) j["group_size"] = weight.group_size;
  if (group_fallback_channel) j["group_size_over_k"] = "channel";
  j["symmetric"] = weight.symmetric;
  j["rounding"] = rounding_name(weight.rounding);
  j["scale_dtype"] = dtype_name(weight.scale_dtype);
  j["clip_search"] = weight.clip_search;
  if (weight.clip_search) {
    j["clip_grid"] = weight.clip_grid;
    j["clip_max_shrink"] = weight.clip_max_shrink;
  }
  j["a_bits"] = act.bits;
  if (act.bits) {
    j["a_granularity"] = act_granularity_name(act.granularity);
    if (act.granularity == ActGranularity::Tensor) {
      j["a_range"] = a_range == ActRange::MinMax ? "minmax" : "percentile";
      if (a_range == ActRange::Percentile) j["a_percentile"] = a_percentile;
    }
  }
  if (method_uses_gptq_params(method)) {
    j["damp"] = gptq.damp;
    j["act_order"] = gptq.act_order;
    j["static_groups"] = gptq.static_groups;
  }
  if (method == QuantMethod::Gptaq) j["alpha"] = gptaq_alpha;
  if (method == QuantMethod::SmoothQuant) j["alpha"] = sq_alpha;
  if (method == QuantMethod::Awq) {
    j["awq_grid"] = awq_grid;
    j["awq_clip"] = awq_clip;
  }
  return j;
}

namespace {

// Sets the fields of `obj` on `s`. `where` is "recipe.json: default" etc.
void apply_fields(Scheme& s, const nlohmann::json& obj, const std::string& where) {
  if (!obj.is_object()) fail_input("{}: expected an object of scheme fields, got {}", where, obj.dump());
  // The method first, so method-specific fields can be checked against it regardless of key order.
  if (obj.contains("method")) {
    const std::string m = json_string(obj["method"], where + ".method");
    if (!method_from_name(m, &s.method))
      fail_input("{}.method: unknown method '{}' (expected none, rtn, gptq, awq, smoothquant, gptaq, billm, slim_llm)",
                 where, m);
  }
  for (const auto& [key, v] : obj.items()) {
    const std::string f = where + "." + key;
    if (key == "method") {
      continue;
    } else if (key == "w_bits") {
      const int64_t b = json_int(v, f);
      if (b < 1 || b > 8) fail_input("{}: {} bits is impossible (expected 1..8)", f, b);
      s.weight.bits = int(b);
    } else if (key == "granularity") {
      const std::string g = json_string(v, f);
      if (!granularity_from_name(g, &s.weight.granularity))
        fail_input("{}: unknown granularity '{}' (expected tensor, channel or group)", f, g);
    } else if (key == "group_size") {
      const int64_t g = json_int(v, f);
      if (g <= 0) fail_input("{}: group size {} must be positive", f, g);
      s.weight.group_size = g;
      if (!obj.contains("granularity")) s.weight.granularity = Granularity::Group;
    } else if (key == "symmetric") {
      s.weight.symmetric = json_bool(v, f);
    } else if (key == "rounding") {
      const std::string r = json_string(v, f);
      if (!rounding_from_name(r, &s.weight.rounding))
        fail_input("{}: unknown rounding '{}' (expected half_to_even or half_away_from_zero)", f, r);
      s.act.rounding = s.weight.rounding;
    } else if (key == "scale_dtype") {
      const std::string d = json_string(v, f);
      if (!scale_dtype_from_name(d, &s.weight.scale_dtype)) fail_input("{}: unknown scale dtype '{}' (expected f32, f16 or bf16)", f, d);
    } else if (key == "clip_search") {
      s.weight.clip_search = json_bool(v, f);
    } else if (key == "clip_grid") {
      const int64_t g = json_int(v, f);
      if (g < 1 || g > 1000) fail_input("{}: {} is outside 1..1000", f, g);
      s.weight.clip_grid = int(g);
    } else if (key == "clip_max_shrink") {
      const double x = json_number(v, f);
      if (!(x > 0 && x < 1)) fail_input("{}: {} is outside (0, 1)", f, x);
      s.weight.clip_max_shrink = x;
    } else if (key == "group_size_over_k") {
      const std::string x = json_string(v, f);
      if (x == "error") s.group_fallback_channel = false;
      else if (x == "channel") s.group_fallback_channel = true;
      else fail_input("{}: expected \"error\" or \"channel\", got '{}'", f, x);
    } else if (key == "a_bits") {
      const int64_t b = json_int(v, f);
      if (b != 0 && b != 4 && b != 8) fail_input("{}: activation bits {} not supported (expected 0, 4 or 8)", f, b);
      s.act.bits = int(b);
    } else if (key == "a_granularity") {
      const std::string g = json_string(v, f);
      if (!act_granularity_from_name(g, &s.act.granularity)) fail_input("{}: expected token or tensor, got '{}'", f, g);
    } else if (key == "a_range") {
      const std::string g = json_string(v, f);
      if (g == "minmax") s.a_range = ActRange::MinMax;
      else if (g == "percentile") s.a_range = ActRange::Percentile;
      else fail_input("{}: expected minmax or percentile, got '{}'", f, g);
    } else if (key == "a_percentile") {
      const double p = json_number(v, f);
      if (!(p > 50 && p <= 100)) fail_input("{}: percentile {} is outside (50, 100]", f, p);
      s.a_percentile = p;
    } else if (key == "damp" || key == "act_order" || key == "static_groups") {
      if (!method_uses_gptq_params(s.method))
        fail_input("{}: '{}' is a GPTQ/GPTAQ parameter but the method here is '{}'", f, key, method_name(s.method));
      if (key == "damp") {
        const double d = json_number(v, f);
        if (!(d >= 0 && d < 10)) fail_input("{}: damp {} is outside [0, 10)", f, d);
        s.gptq.damp = d;
      } else if (key == "act_order") {
        s.gptq.act_order = json_bool(v, f);
      } else {
        s.gptq.static_groups = json_bool(v, f);
      }
    } else if (key == "alpha") {
      const double a = json_number(v, f);
      if (s.method == QuantMethod::SmoothQuant) {
        if (!(a >= 0 && a <= 1)) fail_input("{}: migration strength {} is outside [0, 1]", f, a);
        s.sq_alpha = a;
      } else if (s.method == QuantMethod::Gptaq) {
        if (!(a >= 0 && a <= 1)) fail_input("{}: GPTAQ alpha {} is outside [0, 1]", f, a);
        s.gptaq_alpha = a;
      } else {
        fail_input("{}: 'alpha' is a SmoothQuant or GPTAQ parameter but the method here is '{}'", f, method_name(s.method));
      }
    } else if (key == "awq_grid" || key == "awq_clip") {
      if (s.method != QuantMethod::Awq)
        fail_input("{}: '{}' is an AWQ parameter but the method here is '{}'", f, key, method_name(s.method));
      if (key == "awq_clip") {
        s.awq_clip = json_bool(v, f);
      } else {
        const int64_t g = json_int(v, f);
        if (g < 1 || g > 1000) fail_input("{}: {} is outside 1..1000", f, g);
        s.awq_grid = int(g);
      }
    } else {
      fail_input("{}: unknown field", f);
    }
  }
}

std::vector<std::string> get_match(const nlohmann::json& v, const std::string& where) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else if (v.is_array() && !v.empty()) {
    for (size_t i = 0; i < v.size(); ++i) out.push_back(json_string(v[i], fmt::format("{}[{}]", where, i)));
  } else {
    fail_input("{}: expected a pattern or a non-empty list of patterns, got {}", where, v.dump());
  }
  for (const auto& p : out)
    if (p.empty()) fail_input("{}: empty pattern", where);
  return out;
}

bool glob_match(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

KVCacheQuant parse_kv_cache(const nlohmann::json& v, const std::string& where) {
  if (!v.is_object()) fail_input("{}: expected an object with bits and granularity", where);
  KVCacheQuant q;
  q.bits = 8;
  for (const auto& [key, x] : v.items()) {
    const std::string f = where + "." + key;
    if (key == "bits") {
      const int64_t b = json_int(x, f);
      if (b != 0 && b != 4 && b != 8) fail_input("{}: KV-cache bits {} not supported (expected 0, 4 or 8)", f, b);
      q.bits = int(b);
    } else if (key == "granularity") {
      const std::string g = json_string(x, f);
      if (!kv_granularity_from_name(g, &q.granularity)) fail_input("{}: expected token or channel, got '{}'", f, g);
    } else if (key == "rounding") {
      const std::string r = json_string(x, f);
      if (!rounding_from_name(r, &q.rounding))
        fail_input("{}: unknown rounding '{}' (expected half_to_even or half_away_from_zero)", f, r);
    } else {
      fail_input("{}: unknown field (expected bits, granularity, rounding)", f);
    }
  }
  return q;
}

}  // namespace

Recipe parse_recipe(const std::string& text, const std::string& source) {
  Recipe r;
  r.source = source;
  r.json = parse_json_document(text, source);
  if (!r.json.is_object()) fail_input("{}: a recipe is a JSON object", source);
  for (const auto& [key, v] : r.json.items()) {
    if (key == "default") {
      apply_fields(r.default_scheme, v, source + ": default");
    } else if (key == "overrides") {
      if (!v.is_array()) fail_input("{}: overrides: expected a list", source);
      for (size_t i = 0; i < v.size(); ++i) {
        const std::string where = fmt::format("{}: overrides[{}]", source, i);
        const auto& o = v[i];
        if (!o.is_object()) fail_input("{}: expected an object with match and scheme", where);
        RecipeOverride ov;
        ov.path = fmt::format("overrides[{}]", i);
        for (const auto& [k2, v2] : o.items()) {
          if (k2 == "match") {
            ov.match = get_match(v2, where + ".match");
          } else if (k2 == "layers") {
            if (v2.is_number_integer()) {
              ov.layers.push_back(int(v2.get<int64_t>()));
            } else if (v2.is_array()) {
              for (size_t j = 0; j < v2.size(); ++j)
                ov.layers.push_back(int(json_int(v2[j], fmt::format("{}.layers[{}]", where, j))));
            } else {
              fail_input("{}.layers: expected a layer index or a list of them", where);
            }
          } else if (k2 == "scheme") {
            ov.scheme = v2;
          } else if (k2 == "comment") {
            continue;
          } else {
            fail_input("{}.{}: unknown field (expected match, layers, scheme)", where, k2);
          }
        }
        if (ov.match.empty()) fail_input("{}: missing 'match'", where);
        if (ov.scheme.is_null()) fail_input("{}: missing 'scheme'", where);
        // Check the fields now (against a scratch scheme) so errors name the override even if it
        // matches nothing; the real application happens per tensor in resolve_recipe.
        Scheme scratch = r.default_scheme;
        apply_fields(scratch, ov.scheme, where + ".scheme");
        r.overrides.push_back(std::move(ov));
      }
    } else if (key == "kv_cache") {
      r.kv_cache = parse_kv_cache(v, source + ": kv_cache");
    } else if (key == "comment" || key == "name") {
      continue;
    } else {
      fail_input("{}: {}: unknown field (expected default, overrides, kv_cache, name, comment)", source, key);
    }
  }
  return r;
}

Recipe read_recipe(const std::string& path) { return parse_recipe(read_text_file(path), path); }

bool recipe_pattern_matches(const std::string& p, const TensorSpec& t) {
  TensorRole role;
  if (role_from_name(p, &role)) return t.role == role;
  if (p == "attention") return role_is_attention(t.role);
  if (p == "mlp") return role_is_mlp(t.role);
  if (p == "linear") return t.layer >= 0 && role_is_linear(t.role);
  if (p == "all") return true;
  if (p.rfind("layers.", 0) == 0 && p.size() > 7 && p.find_first_not_of("0123456789", 7) == std::string::npos)
    return t.layer == std::stoi(p.substr(7));
  return glob_match(p, t.name);
}

double ResolvedTensor::bits_per_weight(DType full_dtype) const {
  return 8.0 * double(bytes(full_dtype)) / double(rows() * cols());
}

uint64_t ResolvedTensor::bytes(DType full_dtype) const {
  if (!scheme.quantized()) return uint64_t(rows() * cols()) * dtype_size(full_dtype);
  return QuantizedWeight::layout(rows(), cols(), scheme.weight).storage_bytes();
}

std::vector<ResolvedTensor> resolve_recipe(const Recipe& r, const std::vector<TensorSpec>& registry) {
  std::vector<ResolvedTensor> out;
  std::vector<bool> used(r.overrides.size(), false);
  for (const auto& spec : registry) {
    if (spec.is_bias || !(role_is_linear(spec.role) || spec.role == TensorRole::Embedding)) continue;
    ResolvedTensor t;
    t.spec = spec;
    t.scheme = r.default_scheme;
    t.set_by.push_back("default");
    // Embedding and lm_head stay full precision unless an override names them.
    if (spec.role == TensorRole::Embedding || spec.role == TensorRole::LmHead) {
      t.scheme = Scheme{};
      t.scheme.method = QuantMethod::None;
      t.set_by = {"embedding/lm_head default"};
    }
    for (size_t i = 0; i < r.overrides.size(); ++i) {
      const auto& ov = r.overrides[i];
      bool hit = false;
      for (const auto& p : ov.match) hit = hit || recipe_pattern_matches(p, spec);
      if (hit && !ov.layers.empty()) hit = std::find(ov.layers.begin(), ov.layers.end(), spec.layer) != ov.layers.end();
      if (!hit) continue;
      used[i] = true;
      // lm_head/embedding start from full precision; an override that quantizes them inherits the
      // default's fields it does not set itself.
      if (!t.scheme.quantized() && ov.scheme.contains("method") && ov.scheme["method"] != "none" &&
          (spec.role == TensorRole::Embedding || spec.role == TensorRole::LmHead))
        t.scheme = r.default_scheme;
      apply_fields(t.scheme, ov.scheme, r.source + ": " + ov.path + ".scheme");
      t.set_by.push_back(ov.path);
    }
    Scheme& s = t.scheme;
    const std::string where = fmt::format("{}: tensor {} (scheme from {})", r.source, spec.name, fmt::join(t.set_by, ", "));
    if (s.quantized()) {
      if (spec.role == TensorRole::Embedding) fail_input("{}: quantizing the embedding is not implemented", where);
      if (s.act.bits && method_is_weight_only(s.method))
        fail_input("{}: a_bits {} with method '{}', a weight-only method (activations need rtn, gptq, smoothquant or gptaq)",
                   where, s.act.bits, method_name(s.method));
      if (s.method == QuantMethod::BiLLM && s.weight.bits != 1)
        fail_input("{}: billm is a 1-bit method (w_bits {})", where, s.weight.bits);
      validate_weight_spec(s.weight, where);
      if (s.weight.granularity == Granularity::Group && s.weight.group_size > t.cols()) {
        if (!s.group_fallback_channel)
          fail_input("{}: group_size {} is larger than K = {} (set \"group_size_over_k\": \"channel\" to allow)",
                     where, s.weight.group_size, t.cols());
        s.weight.granularity = Granularity::Channel;
      }
    }
    out.push_back(std::move(t));
  }
  for (size_t i = 0; i < r.overrides.size(); ++i)
    if (!used[i])
      fail_input("{}: {}.match: {} selects no tensor of this model", r.source, r.overrides[i].path,
                 nlohmann::json(r.overrides[i].match).dump());
  return out;
}

}  // namespace quantscope
