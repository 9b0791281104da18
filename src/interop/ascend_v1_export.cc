#include "core/build_info.h"
#include "core/json_document.h"
#include "interop/ascend_v1_export.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "core/file_io.h"
#include "core/mapped_file.h"
#include "formats/safetensors_writer.h"
#include "interop/ascend_v1.h"
#include "interop/ascend_v1_math.h"
#include "interop/staged_dir.h"
#include "model/hf_config.h"
#include "quant/quantized_linear.h"
#include "quant/quantized_model.h"

namespace quantscope {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

template <typename T>
TensorToWrite owned(std::string name, DType dt, std::vector<int64_t> shape, const std::vector<T>& values) {
  auto data = std::make_shared<std::vector<T>>(values);
  if (data->size() * sizeof(T) != size_t(TensorToWrite{name, dt, shape, {}}.nbytes()))
    fail_internal("{}: {} values for shape {}", name, data->size(), shape_string(shape));
  return whole_tensor_to_write(std::move(name), dt, std::move(shape),
                               [data](void* dst) { std::memcpy(dst, data->data(), data->size() * sizeof(T)); });
}

// fp32 values as `dt` (f32/f16/bf16) bytes.
TensorToWrite float_tensor(std::string name, DType dt, std::vector<int64_t> shape, const std::vector<float>& v) {
  if (dt == DType::F32) return owned(std::move(name), dt, std::move(shape), v);
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = dt == DType::F16 ? f32_to_f16(v[i]) : f32_to_bf16(v[i]);
  return owned(std::move(name), dt, std::move(shape), h);
}

DType model_dtype(const ModelConfig& c) {
  if (c.torch_dtype == "bfloat16") return DType::BF16;
  if (c.torch_dtype == "float16") return DType::F16;
  return DType::F32;
}

// A norm vector in the model dtype when every value survives it, else fp32 (AWQ/SmoothQuant fold
// scales into norms; rounding them would change the model).
TensorToWrite norm_tensor(const std::string& name, const std::vector<float>& v, DType model_dt) {
  DType dt = model_dt;
  for (float x : v)
    if (dt != DType::F32 && round_to_dtype(x, dt) != x) dt = DType::F32;
  return float_tensor(name, dt, {int64_t(v.size())}, v);
}

struct Writer {
  std::vector<TensorToWrite> tensors;
  json desc = json::object();
  void add(TensorToWrite t, std::string_view type) {
    desc[t.name] = std::string(type);
    tensors.push_back(std::move(t));
  }
};

// The tensors of one quantized linear (layout in ascend_v1.h).
void add_quantized(Writer& wr, const std::string& weight_name, const QuantizedLinear& q, const AscendLinearPlan& plan,
                   DType model_dt) {
  const std::string L = ascend_module_name(weight_name);
  const std::string_view type = ascend_quant_type_name(plan.type);
  const QuantizedWeight& w = q.weight();
  const int64_t n = w.rows, k = w.cols, half = int64_t(1) << (w.spec.bits - 1);
  const int64_t G = plan.group_size ? k / plan.group_size : 1;  // scale columns
  std::vector<int8_t> wi(size_t(n * k));
  std::vector<float> scale(size_t(n * G)), offset(size_t(n * G));
  std::vector<int64_t> row_sum(size_t(n), 0);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < k; ++c) {
      const int8_t v = int8_t(int64_t(w.code(r, c)) - half);
      wi[size_t(r * k + c)] = v;
      row_sum[size_t(r)] += v;
    }
    for (int64_t g = 0; g < G; ++g) {
      // Our group index of column g * (k / G): per-tensor and per-channel have one group.
      const GroupParams p = w.params(r, w.groups == 1 ? 0 : g);
      scale[size_t(r * G + g)] = p.scale;
      offset[size_t(r * G + g)] = p.zero - float(half);
    }
  }
  wr.add(owned(L + ".weight", DType::I8, {n, k}, wi), type);
  wr.add(owned(L + ".weight_scale", DType::F32, {n, G}, scale), type);
  wr.add(owned(L + ".weight_offset", DType::F32, {n, G}, offset), type);
  if (plan.type != AscendQuantType::W8A8) return;

  const float input_scale = q.act().static_params.scale;
  const float zero = q.act().static_params.zero - 128.0f;  // unsigned [0,256) zero -> signed offset
  const int32_t input_offset = int32_t(zero);
  std::vector<float> deq(static_cast<size_t>(n));
  std::vector<int32_t> qbias(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) {
    deq[size_t(r)] = ascend_deq_scale(input_scale, scale[size_t(r)]);
    const float b = q.bias().empty() ? 0.0f : q.bias()[size_t(r)];
    const int64_t v = ascend_quant_bias(b, deq[size_t(r)], row_sum[size_t(r)], input_offset);
    if (!ascend_fits_int32(v))
      fail_input("{}: quant_bias[{}] = round(bias / deq_scale - sum(Wq) * input_offset) does not fit int32 "
                 "(bias {}, deq_scale {})", L, r, b, deq[size_t(r)]);
    qbias[size_t(r)] = int32_t(v);
  }
  wr.add(owned(L + ".input_scale", DType::F32, {1}, std::vector<float>{input_scale}), type);
  wr.add(owned(L + ".input_offset", DType::F32, {1}, std::vector<float>{zero}), type);
  if (model_dt == DType::BF16) {
    wr.add(owned(L + ".deq_scale", DType::F32, {n}, deq), type);
  } else {
    std::vector<int64_t> packed(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r) packed[size_t(r)] = ascend_deq_scale_to_int64(deq[size_t(r)]);
    wr.add(owned(L + ".deq_scale", DType::I64, {n}, packed), type);
  }
  wr.add(owned(L + ".quant_bias", DType::I32, {n}, qbias), type);
}

json quantized_dir_description(const std::string& path) {
  const std::string p = path + "/" + kQuantDescriptionFile;
  if (!fs::exists(p)) return json::object();
  return parse_json_document(read_text_file(p), p);
}

// The source model's config.json without quantization_config, else one written from the config.
std::string config_json_text(const ModelConfig& c, const std::string& source_dir) {
  const std::string p = source_dir + "/config.json";
  if (!source_dir.empty() && fs::exists(p)) {
    json j = json::parse(read_text_file(p), nullptr, false);
    if (j.is_object()) {
      j.erase("quantization_config");
      return j.dump(2) + "\n";
    }
  }
  return hf_config_json(c);
}

std::vector<std::string> write_weights(const StagedDir& out, const std::vector<TensorToWrite>& tensors,
                                       uint64_t max_shard, uint64_t* total) {
  *total = 0;
  for (const auto& t : tensors) *total += t.nbytes();
  const SafetensorsMetadata meta = {{"format", "pt"}};
  if (max_shard == 0 || *total <= max_shard) {
    write_safetensors(out.file(kAscendWeightsFile), tensors, meta);
    return {kAscendWeightsFile};
  }
  std::vector<std::vector<const TensorToWrite*>> shards(1);
  uint64_t in_shard = 0;
  for (const auto& t : tensors) {
    if (in_shard > 0 && in_shard + t.nbytes() > max_shard) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(&t);
    in_shard += t.nbytes();
  }
  std::vector<std::string> files;
  json weight_map = json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string name = fmt::format("quant_model_weights-{:05d}-of-{:05d}.safetensors", s + 1, shards.size());
    std::vector<TensorToWrite> part;
    for (const TensorToWrite* t : shards[s]) {
      part.push_back(*t);
      weight_map[t->name] = name;
    }
    write_safetensors(out.file(name), part, meta);
    files.push_back(name);
  }
  json index = {{"metadata", {{"total_size", *total}}}, {"weight_map", weight_map}};
  write_file_atomic(out.file(kAscendWeightsIndex), index.dump(2) + "\n");
  files.push_back(kAscendWeightsIndex);
  return files;
}

}  // namespace

AscendV1ExportResult export_ascend_v1(const std::string& model_path, const std::string& out_dir,
                                      const AscendV1ExportOptions& options) {
  // Everything is checked and planned before the staging directory exists.
  std::unique_ptr<Model> m = load_any_model(model_path);
  const ModelConfig& c = m->config;
  if (c.rope_style != RopeStyle::HalfSplit)
    fail_input("{}: RoPE pairs interleaved dimensions (llama2.c/GGUF source); AscendV1 consumers load Hugging Face "
               "checkpoints (rotate_half), and permuting q/k rows is not implemented", model_path);
  const DType model_dt = model_dtype(c);
  const json qdesc = quantized_dir_description(model_path);
  std::string source_dir;
  if (qdesc.contains("source") && qdesc["source"].is_object() && qdesc["source"].value("path", "") != "")
    source_dir = qdesc["source"]["path"].get<std::string>();
  else if (qdesc.empty())
    source_dir = model_path;
  if (!source_dir.empty() && !fs::is_directory(source_dir)) source_dir.clear();

  AscendV1ExportResult res;
  Writer wr;
  json linears = json::object();
  int64_t group_size = -1;
  std::string group_owner;
  for (const TensorSpec& spec : m->registry) {
    const bool is_linear = !spec.is_bias && role_is_linear(spec.role);
    if (is_linear) {
      const Linear* lin = spec.role == TensorRole::LmHead ? m->lm_head.get() : m->linear(spec.layer, spec.role);
      const AscendLinearPlan plan = plan_ascend_linear(*lin, spec.name);
      res.linears_by_type[std::string(ascend_quant_type_name(plan.type))]++;
      if (plan.type != AscendQuantType::Float) {
        const auto& q = dynamic_cast<const QuantizedLinear&>(*lin);
        if (plan.group_size) {
          if (group_size >= 0 && group_size != plan.group_size)
            fail_input("{}: group size {} but {} has {}; AscendV1 holds one group_size per model", spec.name,
                       plan.group_size, group_owner, group_size);
          group_size = plan.group_size;
          group_owner = spec.name;
        }
        add_quantized(wr, spec.name, q, plan, model_dt);
        linears[ascend_module_name(spec.name)] = {{"scale_dtype", dtype_name(q.weight().spec.scale_dtype)},
                                                  {"rounding", rounding_name(q.act().rounding)}};
        continue;
      }
    }
    if (!spec.stored) continue;
    const std::vector<float>* norm = m->norm_weights(spec);
    if (norm) {
      wr.add(norm_tensor(spec.name, *norm, model_dt), "FLOAT");
      continue;
    }
    const TensorView* t = m->tensors.find(spec.name);
    if (!t) fail_internal("export: tensor {} is missing from the model", spec.name);
    wr.add(tensor_to_write(spec.name, *t), "FLOAT");
  }
  const KVCacheQuant& kv = m->kv_quant;
  if (kv.enabled()) {
    if (kv.bits != 8 || kv.granularity != KVGranularity::Channel)
      fail_input("{}: KV cache {}; AscendV1 C8 holds static int8 scales per KV channel only", model_path, kv.describe());
    const int64_t d = c.kv_dim();
    for (int l = 0; l < c.num_layers; ++l)
      for (const auto& [proj, s] : {std::pair{"k_proj", &kv.k_scale}, std::pair{"v_proj", &kv.v_scale}}) {
        const std::string base = fmt::format("model.layers.{}.self_attn.{}", l, proj);
        wr.add(owned(base + ".kv_cache_scale", DType::F32, {d}, std::vector<float>(s->begin() + l * d, s->begin() + (l + 1) * d)), "C8");
        wr.add(owned(base + ".kv_cache_offset", DType::F32, {d}, std::vector<float>(size_t(d), 0.0f)), "C8");
      }
    res.kv_c8 = true;
  }

  // model_quant_type: the quantized type most linears have (FLOAT when none is quantized).
  res.model_quant_type = "FLOAT";
  int best = 0;
  for (const auto& [type, count] : res.linears_by_type)
    if (type != "FLOAT" && count > best) {
      best = count;
      res.model_quant_type = type;
    }
  res.group_size = std::max<int64_t>(group_size, 0);
  json desc = {{"model_quant_type", res.model_quant_type}, {"version", kAscendVersion}, {"group_size", res.group_size}};
  if (res.kv_c8) desc["kv_cache_type"] = "C8";
  // quantscope's own facts the format has no field for (the host's scale dtype and rounding rule), so
  // an import gives back the same model; other readers ignore this key.
  desc["metadata"] = {{"producer", "quantscope"}, {"quantscope_version", build_version()},
                      {"source", model_path}, {"linears", linears}};
  for (const auto& [name, type] : wr.desc.items()) desc[name] = type;

  StagedDir out(out_dir, options.force);
  res.files = write_weights(out, wr.tensors, options.max_shard_bytes, &res.tensor_bytes);
  write_file_atomic(out.file("config.json"), config_json_text(c, source_dir));
  res.files.push_back("config.json");
  std::error_code ec;
  std::vector<std::string> extra = {"tokenizer.model", "tokenizer.json", "tokenizer_config.json",
                                    "special_tokens_map.json", "generation_config.json"};
  if (qdesc.contains("tokenizer") && qdesc["tokenizer"].is_string()) extra.push_back(qdesc["tokenizer"].get<std::string>());
  for (const std::string& dir : {model_path, source_dir})
    for (const std::string& f : extra)
      if (!dir.empty() && fs::is_regular_file(fs::path(dir) / f) && !fs::exists(out.file(f))) {
        fs::copy_file(fs::path(dir) / f, out.file(f), ec);
        if (ec) fail_input("{}/{}: cannot copy into the export ({})", dir, f, ec.message());
        res.files.push_back(f);
      }
  write_file_atomic(out.file(kAscendDescriptionFile), desc.dump(2) + "\n");
  res.files.push_back(kAscendDescriptionFile);
  out.commit();
  return res;
}

}  // namespace quantscope
