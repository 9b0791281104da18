#include "targets/target_profile.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/json_document.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/json_fields.h"
#include "targets/targets_builtin.h"

namespace quantscope {

namespace {

using nlohmann::json;

DType parse_float_dtype(const json& v, const std::string& where) {
  const std::string s = json_string(v, where);
  if (s == "f32") return DType::F32;
  if (s == "f16") return DType::F16;
  if (s == "bf16") return DType::BF16;
  fail_input("{}: expected f32, f16 or bf16, got \"{}\"", where, s);
}

std::string one_of(const json& v, const std::string& where, std::initializer_list<const char*> allowed) {
  const std::string s = json_string(v, where);
  for (const char* a : allowed)
    if (s == a) return s;
  fail_input("{}: expected one of {}, got \"{}\"", where, fmt::join(allowed, ", "), s);
}

// Reads every key of object `v` through `fields` (key -> reader); unknown keys and missing required
// keys are errors naming the path.
template <typename Fields>
void read_object(const json& v, const std::string& where, const Fields& fields, std::set<std::string> required) {
  if (!v.is_object()) fail_input("{}: expected an object, got {}", where, v.dump());
  for (const auto& [key, x] : v.items()) {
    auto it = fields.find(key);
    if (it == fields.end()) {
      std::vector<std::string> known;
      for (const auto& [k, f] : fields) known.push_back(k);
      fail_input("{}.{}: unknown field (expected one of: {})", where, key, fmt::join(known, ", "));
    }
    it->second(x, where + "." + key);
    required.erase(key);
  }
  if (!required.empty()) fail_input("{}: missing field \"{}\"", where, *required.begin());
}

using Reader = std::function<void(const json&, const std::string&)>;

std::vector<int64_t> int_list(const json& v, const std::string& where) {
  if (!v.is_array()) fail_input("{}: expected a list of integers, got {}", where, v.dump());
  std::vector<int64_t> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(json_int(v[i], fmt::format("{}[{}]", where, i)));
  return out;
}

std::vector<std::string> string_list(const json& v, const std::string& where,
                                     std::initializer_list<const char*> allowed) {
  if (!v.is_array()) fail_input("{}: expected a list of strings, got {}", where, v.dump());
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(one_of(v[i], fmt::format("{}[{}]", where, i), allowed));
  return out;
}

KernelScheme parse_scheme(const json& v, const std::string& where) {
  KernelScheme k;
  std::map<std::string, Reader> f = {
      {"name", [&](const json& x, const std::string& w) { k.name = json_string(x, w); }},
      {"w_bits",
       [&](const json& x, const std::string& w) {
         for (int64_t b : int_list(x, w)) {
           if (b < 1 || b > 8) fail_input("{}: weight bits must be 1..8, got {}", w, b);
           k.w_bits.push_back(int(b));
         }
       }},
      {"a_bits",
       [&](const json& x, const std::string& w) {
         k.a_bits = int(json_int(x, w));
         if (k.a_bits != 0 && k.a_bits != 4 && k.a_bits != 8) fail_input("{}: expected 0, 4 or 8, got {}", w, k.a_bits);
       }},
      {"granularity",
       [&](const json& x, const std::string& w) { k.granularity = string_list(x, w, {"tensor", "channel", "group"}); }},
      {"group_multiple", [&](const json& x, const std::string& w) { k.group_multiple = json_int(x, w); }},
      {"group_min", [&](const json& x, const std::string& w) { k.group_min = json_int(x, w); }},
      {"group_sizes", [&](const json& x, const std::string& w) { k.group_sizes = int_list(x, w); }},
      {"symmetric_only", [&](const json& x, const std::string& w) { k.symmetric_only = json_bool(x, w); }},
      {"activation", [&](const json& x, const std::string& w) { k.activation = string_list(x, w, {"token", "tensor"}); }},
      {"activation_symmetric_only",
       [&](const json& x, const std::string& w) { k.activation_symmetric_only = json_bool(x, w); }},
  };
  read_object(v, where, f, {"name", "w_bits", "a_bits", "granularity"});
  if (k.w_bits.empty()) fail_input("{}.w_bits: empty", where);
  if (k.group_multiple < 1 || k.group_min < 1) fail_input("{}: group_multiple and group_min must be >= 1", where);
  if (k.a_bits > 0 && k.activation.empty()) fail_input("{}.activation: needed when a_bits > 0", where);
  return k;
}

}  // namespace

DType TargetProfile::weight_scale_dtype_for(DType act, DType recipe_scale_dtype) const {
  if (weight_scale_dtype == "activation") return act;
  if (weight_scale_dtype == "recipe") return recipe_scale_dtype;
  if (weight_scale_dtype == "f16") return DType::F16;
  if (weight_scale_dtype == "bf16") return DType::BF16;
  return DType::F32;
}

TargetProfile parse_target_profile(const std::string& text, const std::string& source) {
  const json doc = parse_json_document(text, source);
  TargetProfile t;
  t.file = source;
  std::map<std::string, Reader> f = {
      {"name", [&](const json& x, const std::string& w) { t.name = json_string(x, w); }},
      {"description", [&](const json& x, const std::string& w) { t.description = json_string(x, w); }},
      {"activation_dtypes",
       [&](const json& x, const std::string& w) {
         if (!x.is_array() || x.empty()) fail_input("{}: expected a non-empty list of dtypes", w);
         for (size_t i = 0; i < x.size(); ++i)
           t.activation_dtypes.push_back(parse_float_dtype(x[i], fmt::format("{}[{}]", w, i)));
       }},
      {"activation_dtype", [&](const json& x, const std::string& w) { t.activation_dtype = parse_float_dtype(x, w); }},
      {"float_accumulation", [&](const json& x, const std::string& w) { t.float_accumulation = parse_float_dtype(x, w); }},
      {"activation_quant",
       [&](const json& x, const std::string& w) {
         std::map<std::string, Reader> g = {
             {"rounding",
              [&](const json& y, const std::string& w2) {
                const std::string r = one_of(y, w2, {"half_to_even", "half_away_from_zero", "recipe"});
                t.act_rounding_from_recipe = r == "recipe";
                if (!t.act_rounding_from_recipe) rounding_from_name(r, &t.act_rounding);
              }},
             {"static_apply",
              [&](const json& y, const std::string& w2) {
                t.act_static_apply = one_of(y, w2, {"multiply_reciprocal", "divide"});
              }},
             {"dynamic_apply",
              [&](const json& y, const std::string& w2) {
                t.act_dynamic_apply =
                    one_of(y, w2, {"multiply_qmax_over_absmax", "multiply_reciprocal_of_scale", "divide"});
              }},
             {"int8_via_half", [&](const json& y, const std::string& w2) { t.act_int8_via_half = json_bool(y, w2); }},
         };
         read_object(x, w, g, {"rounding", "static_apply", "dynamic_apply", "int8_via_half"});
       }},
      {"deq_scale",
       [&](const json& x, const std::string& w) {
         std::map<std::string, Reader> g = {
             {"f16_output",
              [&](const json& y, const std::string& w2) {
                t.deq_scale_f16_output = one_of(y, w2, {"f32", "fp19_truncate", "fp19_round"});
              }},
             {"bf16_output",
              [&](const json& y, const std::string& w2) {
                t.deq_scale_bf16_output = one_of(y, w2, {"f32", "fp19_truncate", "fp19_round"});
              }},
         };
         read_object(x, w, g, {"f16_output", "bf16_output"});
       }},
      {"weight_scale_dtype",
       [&](const json& x, const std::string& w) {
         t.weight_scale_dtype = one_of(x, w, {"f32", "f16", "bf16", "activation", "recipe"});
       }},
      {"activation_block_quant",
       [&](const json& x, const std::string& w) {
         t.activation_block_quant = json_int(x, w);
         if (t.activation_block_quant < 0) fail_input("{}: must be >= 0", w);
       }},
      {"any_scheme", [&](const json& x, const std::string& w) { t.any_scheme = json_bool(x, w); }},
      {"schemes",
       [&](const json& x, const std::string& w) {
         if (!x.is_array()) fail_input("{}: expected a list", w);
         for (size_t i = 0; i < x.size(); ++i) t.schemes.push_back(parse_scheme(x[i], fmt::format("{}[{}]", w, i)));
       }},
      {"kv_cache",
       [&](const json& x, const std::string& w) {
         if (!x.is_array()) fail_input("{}: expected a list", w);
         for (size_t i = 0; i < x.size(); ++i) {
           KVCacheRule r;
           const std::string wi = fmt::format("{}[{}]", w, i);
           std::map<std::string, Reader> g = {
               {"bits",
                [&](const json& y, const std::string& w2) {
                  r.bits = int(json_int(y, w2));
                  if (r.bits != 4 && r.bits != 8) fail_input("{}: expected 4 or 8", w2);
                }},
               {"granularity",
                [&](const json& y, const std::string& w2) { r.granularity = one_of(y, w2, {"token", "channel"}); }},
           };
           read_object(x[i], wi, g, {"bits", "granularity"});
           t.kv_cache.push_back(r);
         }
       }},
      {"roofline",
       [&](const json& x, const std::string& w) {
         auto num = [&](double* out) {
           return [out](const json& y, const std::string& w2) {
             *out = json_number(y, w2);
             if (!(*out >= 0)) fail_input("{}: must be >= 0", w2);
           };
         };
         std::map<std::string, Reader> g = {
             {"memory_bandwidth_gb_s", num(&t.roofline.memory_bandwidth_gb_s)},
             {"matmul_tflops", num(&t.roofline.matmul_tflops)},
             {"int8_tops", num(&t.roofline.int8_tops)},
             {"int4_tops", num(&t.roofline.int4_tops)},
             {"memory_gib", num(&t.roofline.memory_gib)},
         };
         read_object(x, w, g, {"memory_bandwidth_gb_s", "matmul_tflops", "int8_tops", "int4_tops", "memory_gib"});
         if (t.roofline.memory_bandwidth_gb_s <= 0 || t.roofline.matmul_tflops <= 0 || t.roofline.memory_gib <= 0)
           fail_input("{}: memory_bandwidth_gb_s, matmul_tflops and memory_gib must be positive", w);
       }},
      {"sources",
       [&](const json& x, const std::string& w) {
         if (!x.is_object()) fail_input("{}: expected an object", w);
         for (const auto& [k, y] : x.items()) t.sources[k] = json_string(y, w + "." + k);
       }},
  };
  read_object(doc, source, f,
              {"name", "description", "activation_dtypes", "activation_dtype", "float_accumulation", "activation_quant",
               "deq_scale", "weight_scale_dtype", "activation_block_quant", "any_scheme", "schemes", "kv_cache",
               "roofline", "sources"});
  if (std::find(t.activation_dtypes.begin(), t.activation_dtypes.end(), t.activation_dtype) == t.activation_dtypes.end())
    fail_input("{}: activation_dtype {} is not in activation_dtypes", source, dtype_name(t.activation_dtype));
  if (!t.any_scheme && t.schemes.empty()) fail_input("{}: schemes is empty and any_scheme is false", source);
  // Every fact carries its source: each top-level field (and each roofline figure) needs an entry.
  for (const auto& [key, v] : doc.items()) {
    if (key == "name" || key == "description" || key == "sources") continue;
    if (key == "roofline") {
      for (const auto& [k2, v2] : v.items())
        if (!t.sources.count("roofline." + k2)) fail_input("{}: sources has no entry for \"roofline.{}\"", source, k2);
      continue;
    }
    if (!t.sources.count(key)) fail_input("{}: sources has no entry for \"{}\"", source, key);
  }
  return t;
}

const std::vector<std::string>& builtin_target_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& f : builtin_target_files()) n.push_back(f.name);
    return n;
  }();
  return names;
}

TargetProfile load_target(const std::string& name_or_path) {
  const bool is_path = name_or_path.find('/') != std::string::npos ||
                       (name_or_path.size() > 5 && name_or_path.substr(name_or_path.size() - 5) == ".json");
  if (is_path) return parse_target_profile(read_text_file(name_or_path), name_or_path);
  for (const auto& f : builtin_target_files())
    if (f.name == name_or_path) {
      TargetProfile t = parse_target_profile(f.json, f.path);
      if (t.name != f.name) fail_internal("{}: name \"{}\" differs from the file name", f.path, t.name);
      return t;
    }
  fail_input("unknown target \"{}\" (built in: {}; or give a profile file path)", name_or_path,
             fmt::join(builtin_target_names(), ", "));
}

}  // namespace quantscope
