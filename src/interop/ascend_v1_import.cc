#include "core/build_info.h"
#include "interop/ascend_v1_import.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/file_io.h"
#include "formats/safetensors_writer.h"
#include "interop/ascend_v1.h"
#include "interop/ascend_v1_check.h"
#include "interop/ascend_v1_math.h"
#include "interop/staged_dir.h"
#include "quant/quantized_model.h"
#include "quant/quantizer.h"

namespace quantscope {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

template <typename T>
TensorToWrite owned(std::string name, DType dt, std::vector<int64_t> shape, std::vector<T> values) {
  auto data = std::make_shared<std::vector<T>>(std::move(values));
  return whole_tensor_to_write(std::move(name), dt, std::move(shape),
                               [data](void* dst) { std::memcpy(dst, data->data(), data->size() * sizeof(T)); });
}

std::vector<float> to_f32(const TensorView& t) {
  std::vector<float> v(size_t(t.numel()));
  load_float_rows(t, 0, t.rows(), v.data());
  return v;
}

std::vector<uint8_t> scale_bytes(const std::vector<float>& s, DType dt) {
  std::vector<uint8_t> out(s.size() * dtype_size(dt));
  for (size_t i = 0; i < s.size(); ++i) {
    if (dt == DType::F32) {
      std::memcpy(out.data() + 4 * i, &s[i], 4);
    } else {
      const uint16_t h = dt == DType::F16 ? f32_to_f16(s[i]) : f32_to_bf16(s[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

// One quantized linear as quantscope's tensors + description entry.
json translate_linear(const AscendV1Contents& a, const TensorSpec& spec, AscendQuantType type, const json& meta,
                      std::vector<TensorToWrite>& out) {
  const std::string L = ascend_module_name(spec.name);
  const TensorSet& ts = a.tensors;
  const TensorView& w = *ts.find(spec.name);
  const int64_t n = w.shape[0], k = w.shape[1];
  const int bits = type == AscendQuantType::W4A16 ? 4 : 8;
  const int half = 1 << (bits - 1);
  std::vector<float> scale;
  if (const TensorView* ws = ts.find(L + ".weight_scale")) scale = to_f32(*ws);
  const int64_t G = int64_t(scale.size()) / n;
  std::vector<float> offset(scale.size(), 0.0f);
  if (const TensorView* wo = ts.find(L + ".weight_offset")) offset = to_f32(*wo);
  bool symmetric = true;
  for (float o : offset) symmetric = symmetric && o == 0.0f;

  WeightQuantSpec s;
  s.bits = bits;
  s.granularity = G == 1 ? Granularity::Channel : Granularity::Group;
  s.group_size = G == 1 ? k : k / G;
  s.symmetric = symmetric;
  s.scale_dtype = DType::F32;
  Rounding rounding = Rounding::HalfToEven;
  if (meta.is_object() && meta.contains(L)) {
    scale_dtype_from_name(meta[L].value("scale_dtype", "f32"), &s.scale_dtype);
    rounding_from_name(meta[L].value("rounding", "half_to_even"), &rounding);
  }
  s.rounding = rounding;
  // Scales written by us were exact in their dtype; a foreign fp32 scale keeps fp32.
  for (float v : scale)
    if (round_to_dtype(v, s.scale_dtype) != v) s.scale_dtype = DType::F32;

  std::vector<uint8_t> codes(size_t(n * k));
  for (int64_t i = 0; i < n * k; ++i) codes[size_t(i)] = uint8_t(int(w.as<int8_t>()[i]) + half);
  out.push_back(owned(spec.name + ".qcodes", DType::U8, {n, packed_row_bytes(k, bits)}, pack_codes(codes, n, k, bits)));
  out.push_back(owned(spec.name + ".qscales", s.scale_dtype, {n, G}, scale_bytes(scale, s.scale_dtype)));
  if (!symmetric) {
    std::vector<uint8_t> z(offset.size());
    for (size_t i = 0; i < z.size(); ++i) z[i] = uint8_t(int(offset[i]) + half);
    out.push_back(owned(spec.name + ".qzeros", DType::U8, {n, G}, std::move(z)));
  }
  json j = {{"bits", bits}, {"granularity", granularity_name(s.granularity)}, {"group_size", s.group_size},
            {"symmetric", symmetric}, {"rounding", rounding_name(rounding)}, {"scale_dtype", dtype_name(s.scale_dtype)},
            {"rows", n}, {"cols", k}, {"a_bits", 0}, {"a_granularity", "token"}, {"a_static", false}, {"smooth", false}};
  if (type == AscendQuantType::W8A8 || type == AscendQuantType::W8A8Dynamic) j["a_bits"] = 8;
  if (type == AscendQuantType::W8A8) {
    const TensorView& is = *ts.find(L + ".input_scale");
    const TensorView& io = *ts.find(L + ".input_offset");
    const float sx = load_float(is, 0);
    const float off = io.dtype == DType::I8 ? float(io.as<int8_t>()[0]) : load_float(io, 0);
    j["a_granularity"] = "tensor";
    j["a_static"] = true;
    out.push_back(owned(spec.name + ".act_scale", DType::F32, {1}, std::vector<float>{sx}));
    out.push_back(owned(spec.name + ".act_zero", DType::F32, {1}, std::vector<float>{off + 128.0f}));
  }
  j["describe"] = fmt::format("imported AscendV1 {}", ascend_quant_type_name(type));
  return j;
}

}  // namespace

AscendV1ImportResult import_ascend_v1(const std::string& dir, const std::string& out_dir, bool force) {
  const AscendV1Contents a = open_ascend_v1(dir);
  const std::vector<std::string> issues = ascend_v1_issues(a);
  if (!issues.empty())
    fail_input("{}: not a consistent AscendV1 model ({} problem{}; `quantscope inspect` lists them all): {}", dir,
               issues.size(), issues.size() == 1 ? "" : "s", issues.front());
  AscendV1ImportResult res;
  res.model_quant_type = a.desc.value("model_quant_type", "");
  const json meta = a.desc.contains("metadata") && a.desc["metadata"].is_object()
                        ? a.desc["metadata"].value("linears", json::object())
                        : json::object();
  std::vector<TensorToWrite> out;
  json tensors = json::object();
  for (const TensorSpec& spec : build_registry(a.config)) {
    if (!spec.is_bias && role_is_linear(spec.role) && a.desc.contains(spec.name)) {
      AscendQuantType type;
      ascend_quant_type_from_name(a.desc[spec.name].get<std::string>(), &type);
      if (type != AscendQuantType::Float) {
        tensors[spec.name] = translate_linear(a, spec, type, meta, out);
        ++res.quantized_linears;
        continue;
      }
      ++res.float_linears;
    }
    if (!spec.stored) continue;
    out.push_back(tensor_to_write(spec.name, *a.tensors.find(spec.name)));
  }
  json d;
  d["format"] = "quantscope-quantized";
  d["format_version"] = 1;
  d["method"] = "imported";
  d["source"] = {{"path", dir}, {"format", "ascend-v1"}, {"model_quant_type", res.model_quant_type}};
  d["config"] = model_config_to_json(a.config);
  d["tensors"] = tensors;
  if (a.desc.value("kv_cache_type", json("")) == json("C8")) {
    const int64_t kvd = a.config.kv_dim();
    std::vector<float> ks, vs;
    for (int l = 0; l < a.config.num_layers; ++l)
      for (auto [proj, dst] : {std::pair{"k_proj", &ks}, std::pair{"v_proj", &vs}}) {
        const std::vector<float> v = to_f32(*a.tensors.find(fmt::format("model.layers.{}.self_attn.{}.kv_cache_scale", l, proj)));
        dst->insert(dst->end(), v.begin(), v.end());
      }
    out.push_back(owned("kv_cache.k_scale", DType::F32, {a.config.num_layers, kvd}, ks));
    out.push_back(owned("kv_cache.v_scale", DType::F32, {a.config.num_layers, kvd}, vs));
    d["kv_cache"] = {{"bits", 8}, {"granularity", "channel"}, {"rounding", "half_to_even"}};
    res.kv_c8 = true;
  }
  d["quantscope_version"] = build_version();
  d["commit"] = build_commit();

  StagedDir staged(out_dir, force);
  write_safetensors(staged.file("model.safetensors"), out, {{"format", "quantscope-quantized"}});
  // Everything else in the directory (tokenizer files, generation_config.json) comes along, so the
  // commands find the tokenizer beside the model as they do beside the source.
  std::error_code ec;
  std::string tokenizer;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string f = entry.path().filename().string();
    if (!entry.is_regular_file() || f == kAscendDescriptionFile || f == "config.json" || f.ends_with(".safetensors") ||
        f == kAscendWeightsIndex)
      continue;
    fs::copy_file(entry.path(), staged.file(f), ec);
    if (ec) fail_input("{}: cannot copy into {} ({})", entry.path().string(), out_dir, ec.message());
    if (f == "tokenizer.json" || (f == "tokenizer.model" && tokenizer != "tokenizer.json") ||
        (tokenizer.empty() && f.ends_with(".bin")))
      tokenizer = f;
  }
  if (!tokenizer.empty()) d["tokenizer"] = tokenizer;
  write_file_atomic(staged.file(kQuantDescriptionFile), d.dump(2) + "\n");
  load_quantized_model(staged.path(), {});  // everything binds, or nothing is renamed into place
  staged.commit();
  return res;
}

}  // namespace quantscope
