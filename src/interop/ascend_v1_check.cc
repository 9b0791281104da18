#include "interop/ascend_v1_check.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "core/json_document.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/safetensors.h"
#include "interop/ascend_v1.h"
#include "interop/ascend_v1_math.h"
#include "model/hf_config.h"

namespace quantscope {

namespace fs = std::filesystem;
using json = nlohmann::json;

bool is_ascend_v1_dir(const std::string& dir) {
  std::error_code ec;
  return fs::is_regular_file(fs::path(dir) / kAscendDescriptionFile, ec);
}

bool ascend_global_key(const std::string& key) {
  static const std::set<std::string> keys = {"model_quant_type", "version", "group_size", "kv_cache_type",
                                             "fa_quant_type", "metadata", "optional", "reduce_quant_type"};
  return keys.count(key) > 0;
}

AscendV1Contents open_ascend_v1(const std::string& dir) {
  AscendV1Contents a;
  a.dir = dir;
  const std::string dpath = dir + "/" + kAscendDescriptionFile;
  a.desc = parse_json_document(read_text_file(dpath), dpath);
  if (!a.desc.is_object()) fail_input("{}: expected a JSON object", dpath);
  a.config = read_hf_config(dir + "/config.json");
  const fs::path single = fs::path(dir) / kAscendWeightsFile, index = fs::path(dir) / kAscendWeightsIndex;
  std::error_code ec;
  if (fs::exists(single, ec) && fs::exists(index, ec))
    fail_input("{}: holds both {} and {}; which one is current would be a guess", dir, kAscendWeightsFile,
               kAscendWeightsIndex);
  if (fs::exists(single, ec)) {
    a.tensors = read_safetensors_file(single.string());
    a.files.push_back(kAscendWeightsFile);
    return a;
  }
  if (!fs::exists(index, ec)) fail_input("{}: neither {} nor {}", dir, kAscendWeightsFile, kAscendWeightsIndex);
  const json idx = parse_json_document(read_text_file(index.string()), index.string());
  if (!idx.contains("weight_map") || !idx["weight_map"].is_object())
    fail_input("{}: field 'weight_map' missing or not an object", index.string());
  std::set<std::string> shards;
  for (const auto& [name, file] : idx["weight_map"].items()) {
    if (!file.is_string() || file.get<std::string>().find('/') != std::string::npos)
      fail_input("{}: weight_map.{}: expected a file name in this directory", index.string(), name);
    shards.insert(file.get<std::string>());
  }
  for (const std::string& s : shards) {
    TensorSet part = read_safetensors_file((fs::path(dir) / s).string());
    for (auto& [name, v] : part.tensors) {
      if (idx["weight_map"].value(name, "") != s)
        fail_input("{}: tensor '{}' is in {} but the index says {}", index.string(), name, s,
                   idx["weight_map"].value(name, std::string("nothing")));
      a.tensors.add(name, v);
    }
    for (auto& o : part.owners) a.tensors.owners.push_back(o);
    a.files.push_back(s);
  }
  for (const auto& [name, file] : idx["weight_map"].items())
    if (!a.tensors.find(name)) fail_input("{}: weight_map lists '{}' but {} does not hold it", index.string(), name, file.get<std::string>());
  a.files.push_back(kAscendWeightsIndex);
  return a;
}

namespace {

bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

struct Checker {
  const AscendV1Contents& a;
  std::vector<std::string> issues;
  std::set<std::string> expected;  // tensor names the registry and types account for

  template <typename... Args>
  void flag(fmt::format_string<Args...> f, Args&&... args) {
    issues.push_back(fmt::format(f, std::forward<Args>(args)...));
  }
  // The tensor, or null after flagging what is missing / wrong.
  const TensorView* need(const std::string& name, const std::vector<DType>& dts, const std::vector<int64_t>& shape,
                         const char* why) {
    expected.insert(name);
    const TensorView* t = a.tensors.find(name);
    if (!t) {
      flag("{}: missing ({} {}: {})", name, dtype_name(dts[0]), shape_string(shape), why);
      return nullptr;
    }
    bool dt_ok = false;
    for (DType d : dts) dt_ok = dt_ok || t->dtype == d;
    if (!dt_ok || t->shape != shape) {
      flag("{}: is {} {} (expected {} {}: {})", name, dtype_name(t->dtype), shape_string(t->shape),
           dtype_name(dts[0]), shape_string(shape), why);
      return nullptr;
    }
    return t;
  }
  std::string type_of(const std::string& name) {
    if (!a.desc.contains(name)) return "";
    return a.desc[name].is_string() ? a.desc[name].get<std::string>() : "";
  }

  void check_linear(const TensorSpec& spec, const std::vector<float>* bias) {
    const std::string L = ascend_module_name(spec.name);
    const std::string ts = type_of(spec.name);
    AscendQuantType type;
    if (!ascend_quant_type_from_name(ts, &type)) {
      if (a.tensors.find(spec.name)) flag("{}: description type '{}' is not one of FLOAT, W8A16, W4A16, W8A8, W8A8_DYNAMIC", spec.name, ts);
      else if (spec.stored) flag("{}: missing (the architecture's {} weight)", spec.name, role_name(spec.role));
      expected.insert(spec.name);
      return;
    }
    const int64_t n = spec.shape[0], k = spec.shape[1];
    if (type == AscendQuantType::Float) {
      need(spec.name, {DType::BF16, DType::F16, DType::F32}, spec.shape, "FLOAT linear");
      return;
    }
    const TensorView* w = need(spec.name, {DType::I8}, {n, k}, "int8 codes");
    const TensorView* ws = a.tensors.find(L + ".weight_scale");
    int64_t G = 1;
    if (ws && ws->shape.size() == 2 && ws->shape[0] == n && ws->shape[1] > 0) G = ws->shape[1];
    if (G > 1) {
      if (type != AscendQuantType::W8A16 && type != AscendQuantType::W4A16)
        flag("{}.weight_scale: {} groups per row but {} takes one scale per output channel", L, G, ts);
      else if (k % G != 0)
        flag("{}.weight_scale: {} groups do not divide K = {}", L, G, k);
      else if (a.desc.value("group_size", json(0)) != json(k / G))
        flag("{}.weight_scale: group size {} but the description's group_size is {}", L, k / G, a.desc.value("group_size", json(0)).dump());
    }
    const bool static_w8a8 = type == AscendQuantType::W8A8;
    ws = need(L + ".weight_scale", {DType::F32, DType::BF16, DType::F16}, {n, G}, "per-channel or per-group scale");
    const TensorView* wo = static_w8a8 && !a.tensors.find(L + ".weight_offset")
                               ? nullptr
                               : need(L + ".weight_offset", {DType::F32, DType::BF16, DType::F16}, {n, G}, "offset");
    const int bits = type == AscendQuantType::W4A16 ? 4 : 8;
    const int lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
    if (w)
      for (int64_t i = 0; i < n * k; ++i)
        if (w->as<int8_t>()[i] < lo || w->as<int8_t>()[i] > hi) {
          flag("{}: element {} = {} outside the {}-bit range [{}, {}]", spec.name, i, int(w->as<int8_t>()[i]), bits, lo, hi);
          break;
        }
    if (ws)
      for (int64_t i = 0; i < n * G; ++i)
        if (!(load_float(*ws, i) >= 0.0f) || !std::isfinite(load_float(*ws, i))) {
          flag("{}.weight_scale[{}] = {} (scales are finite and >= 0)", L, i, load_float(*ws, i));
          break;
        }
    if (wo)
      for (int64_t i = 0; i < n * G; ++i) {
        const float o = load_float(*wo, i);
        if (o != std::floor(o) || o < lo || o > hi) {
          flag("{}.weight_offset[{}] = {} (an integer in [{}, {}])", L, i, o, lo, hi);
          break;
        }
        if (o != 0.0f && type != AscendQuantType::W8A16 && type != AscendQuantType::W4A16) {
          flag("{}.weight_offset[{}] = {}: {} weights are symmetric (offset 0)", L, i, o, ts);
          break;
        }
      }
    if (!static_w8a8) return;
    const TensorView* is = need(L + ".input_scale", {DType::F32, DType::BF16, DType::F16}, {1}, "per-tensor activation scale");
    const TensorView* io = need(L + ".input_offset", {DType::F32, DType::BF16, DType::F16, DType::I8}, {1}, "activation offset");
    const TensorView* dq = need(L + ".deq_scale", {a.config.torch_dtype == "bfloat16" ? DType::F32 : DType::I64, DType::F32, DType::I64}, {n}, "input_scale * weight_scale");
    const TensorView* qb = need(L + ".quant_bias", {DType::I32}, {n}, "round(bias / deq_scale - sum(Wq) * input_offset)");
    if (!is || !io || !dq || !qb || !w || !ws) return;
    const float s = load_float(*is, 0);
    const float off = io->dtype == DType::I8 ? float(io->as<int8_t>()[0]) : load_float(*io, 0);
    if (off != std::floor(off) || off < -128 || off > 127) flag("{}.input_offset = {} (an integer in [-128, 127])", L, off);
    if (!(s > 0.0f) || !std::isfinite(s)) flag("{}.input_scale = {} (finite and > 0)", L, s);
    for (int64_t r = 0; r < n; ++r) {
      float deq = 0;
      if (dq->dtype == DType::I64) {
        if (!ascend_deq_scale_from_int64(dq->as<int64_t>()[r], &deq)) {
          flag("{}.deq_scale[{}]: int64 {} is not an fp32 bit pattern (upper 32 bits set)", L, r, dq->as<int64_t>()[r]);
          return;
        }
      } else {
        deq = dq->as<float>()[r];
      }
      const float expect = ascend_deq_scale(s, load_float(*ws, r));
      if (deq != expect) {
        flag("{}.deq_scale[{}] = {} but input_scale * weight_scale = {}", L, r, deq, expect);
        return;
      }
      int64_t row_sum = 0;
      for (int64_t c = 0; c < k; ++c) row_sum += w->as<int8_t>()[r * k + c];
      const int64_t q = ascend_quant_bias(bias ? (*bias)[size_t(r)] : 0.0f, deq, row_sum, int32_t(off));
      if (q != qb->as<int32_t>()[r]) {
        flag("{}.quant_bias[{}] = {} but round(bias / deq_scale - sum(Wq) * input_offset) = {}{}", L, r,
             qb->as<int32_t>()[r], q, bias ? "" : " (no bias tensor: the architecture has none here)");
        return;
      }
    }
  }
};

}  // namespace

std::vector<std::string> ascend_v1_issues(const AscendV1Contents& a) {
  Checker ch{a, {}, {}};
  const auto registry = build_registry(a.config);
  for (const auto& [key, v] : a.desc.items()) {
    if (ascend_global_key(key)) continue;
    if (!v.is_string()) ch.flag("{}: description value {} is not a type name", key, v.dump());
    else if (!a.tensors.find(key)) ch.flag("{}: in the description ({}) but not in the weights", key, v.get<std::string>());
  }
  for (const auto& [name, t] : a.tensors.tensors) {
    const std::string type = ch.type_of(name);
    if (!a.desc.contains(name)) ch.flag("{}: in the weights ({} {}) but not in the description", name, dtype_name(t.dtype), shape_string(t.shape));
    else if (AscendQuantType q; !ascend_quant_type_from_name(type, &q) && type != "C8")
      ch.flag("{}: type '{}' is not one quantscope reads (FLOAT, W8A16, W4A16, W8A8, W8A8_DYNAMIC, C8)", name, type);
  }
  std::vector<float> bias;
  for (const TensorSpec& spec : registry) {
    if (spec.is_bias || !role_is_linear(spec.role)) {
      if (!spec.stored) continue;
      const TensorView* t = ch.need(spec.name, {DType::BF16, DType::F16, DType::F32}, spec.shape, "FLOAT");
      if (t && ch.type_of(spec.name) != "FLOAT") ch.flag("{}: type '{}' (a {} is FLOAT)", spec.name, ch.type_of(spec.name), spec.is_bias ? "bias" : "non-linear tensor");
      continue;
    }
    const std::string bname = ascend_module_name(spec.name) + ".bias";
    const TensorView* b = nullptr;
    for (const TensorSpec& s : registry) if (s.name == bname) b = a.tensors.find(bname);
    if (b && is_float(b->dtype) && b->numel() == spec.shape[0]) {
      bias.resize(size_t(b->numel()));
      load_float_rows(*b, 0, b->rows(), bias.data());
    }
    ch.check_linear(spec, b ? &bias : nullptr);
  }
  const int64_t d = a.config.kv_dim();
  const bool c8 = a.desc.value("kv_cache_type", json("")) == json("C8");
  for (int l = 0; l < a.config.num_layers; ++l)
    for (const char* proj : {"k_proj", "v_proj"}) {
      const std::string base = fmt::format("model.layers.{}.self_attn.{}", l, proj);
      if (!c8 && !a.tensors.find(base + ".kv_cache_scale")) continue;
      const TensorView* s = ch.need(base + ".kv_cache_scale", {DType::F32, DType::BF16, DType::F16}, {d}, "C8 scale per KV channel");
      const TensorView* o = ch.need(base + ".kv_cache_offset", {DType::F32, DType::BF16, DType::F16}, {d}, "C8 offset per KV channel");
      if (!c8) ch.flag("{}.kv_cache_scale: present but kv_cache_type is not \"C8\"", base);
      if (s)
        for (int64_t i = 0; i < d; ++i)
          if (!(load_float(*s, i) >= 0) || !std::isfinite(load_float(*s, i))) {
            ch.flag("{}.kv_cache_scale[{}] = {} (finite and >= 0)", base, i, load_float(*s, i));
            break;
          }
      if (o)
        for (int64_t i = 0; i < d; ++i)
          if (load_float(*o, i) != 0.0f) {
            ch.flag("{}.kv_cache_offset[{}] = {}: quantscope's int8 KV cache is symmetric (offset 0)", base, i, load_float(*o, i));
            break;
          }
    }
  for (const auto& [name, t] : a.tensors.tensors)
    if (!ch.expected.count(name))
      ch.flag("{}: not a tensor of {} with {} layers (or not expected for its type)", name,
              architecture_name(a.config.arch), a.config.num_layers);
  return ch.issues;
}

}  // namespace quantscope
