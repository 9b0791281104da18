#include "core/build_info.h"
#include "core/json_document.h"
#include "quant/quantized_model.h"

#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/file_io.h"
#include "core/mapped_file.h"
#include "formats/safetensors.h"
#include "formats/safetensors_writer.h"
#include "quant/calibration.h"
#include "quant/quantized_linear.h"

namespace quantscope {

namespace fs = std::filesystem;

nlohmann::json model_config_to_json(const ModelConfig& c) {
  nlohmann::json j;
  j["architecture"] = architecture_short_name(c.arch);
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_layers"] = c.num_layers;
  j["num_heads"] = c.num_heads;
  j["num_kv_heads"] = c.num_kv_heads;
  j["head_dim"] = c.head_dim;
  j["vocab_size"] = c.vocab_size;
  j["max_seq_len"] = c.max_seq_len;
  j["rope_theta"] = c.rope_theta;
  j["norm_eps"] = c.norm_eps;
  j["tie_embeddings"] = c.tie_embeddings;
  j["qkv_bias"] = c.qkv_bias;
  j["o_bias"] = c.o_bias;
  j["rope_style"] = c.rope_style == RopeStyle::Interleaved ? "interleaved" : "half_split";
  j["bos_id"] = c.bos_id;
  j["eos_id"] = c.eos_id;
  j["pad_id"] = c.pad_id;
  j["synthetic"] = c.synthetic;
  j["torch_dtype"] = c.torch_dtype;
  return j;
}

namespace {

const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) fail_input("{}: missing field '{}'", where, key);
  return j[key];
}

template <typename T>
T get_as(const nlohmann::json& j, const char* key, const std::string& where) {
  const auto& v = field(j, key, where);
  try {
    if constexpr (std::is_same_v<T, bool>) {
      if (!v.is_boolean()) throw std::runtime_error("not a boolean");
    } else if constexpr (std::is_arithmetic_v<T>) {
      if (!v.is_number()) throw std::runtime_error("not a number");
    } else {
      if (!v.is_string()) throw std::runtime_error("not a string");
    }
    return v.get<T>();
  } catch (const std::exception&) {
    fail_input("{}: field '{}' has the wrong type ({})", where, key, v.dump());
  }
}

}  // namespace

ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& where) {
  ModelConfig c;
  const std::string arch = get_as<std::string>(j, "architecture", where);
  bool found = false;
  for (Architecture a : {Architecture::Llama, Architecture::Qwen2, Architecture::OpenPanguEmbedded})
    if (architecture_short_name(a) == arch) {
      c.arch = a;
      found = true;
    }
  if (!found) fail_input("{}: unknown architecture '{}'", where, arch);
  c.hidden_size = get_as<int>(j, "hidden_size", where);
  c.intermediate_size = get_as<int>(j, "intermediate_size", where);
  c.num_layers = get_as<int>(j, "num_layers", where);
  c.num_heads = get_as<int>(j, "num_heads", where);
  c.num_kv_heads = get_as<int>(j, "num_kv_heads", where);
  c.head_dim = get_as<int>(j, "head_dim", where);
  c.vocab_size = get_as<int>(j, "vocab_size", where);
  c.max_seq_len = get_as<int>(j, "max_seq_len", where);
  c.rope_theta = get_as<float>(j, "rope_theta", where);
  c.norm_eps = get_as<float>(j, "norm_eps", where);
  c.tie_embeddings = get_as<bool>(j, "tie_embeddings", where);
  c.qkv_bias = get_as<bool>(j, "qkv_bias", where);
  c.o_bias = get_as<bool>(j, "o_bias", where);
  const std::string rs = get_as<std::string>(j, "rope_style", where);
  if (rs == "interleaved") c.rope_style = RopeStyle::Interleaved;
  else if (rs == "half_split") c.rope_style = RopeStyle::HalfSplit;
  else fail_input("{}: rope_style '{}' (expected interleaved or half_split)", where, rs);
  c.bos_id = get_as<int>(j, "bos_id", where);
  c.eos_id = get_as<int>(j, "eos_id", where);
  c.pad_id = get_as<int>(j, "pad_id", where);
  c.synthetic = get_as<bool>(j, "synthetic", where);
  c.torch_dtype = get_as<std::string>(j, "torch_dtype", where);
  validate_config(c, where);
  return c;
}

std::string model_weights_hash(const Model& model) {
  uint64_t h = kFnvOffset;
  for (const auto& s : model.registry) {
    if (!s.stored) continue;
    const TensorView* t = model.tensors.find(s.name);
    if (!t) continue;
    h = fnv1a64(s.name.data(), s.name.size(), h);
    h = fnv1a64(t->data, t->nbytes(), h);
  }
  return fmt::format("{:016x}", h);
}

namespace {

bool has_bias(const ModelConfig& c, TensorRole r) {
  return (c.qkv_bias && (r == TensorRole::AttnQ || r == TensorRole::AttnK || r == TensorRole::AttnV)) ||
         (c.o_bias && r == TensorRole::AttnO);
}

constexpr const char* kKVKeyScales = "kv_cache.k_scale";    // [layers, kv_dim] f32
constexpr const char* kKVValueScales = "kv_cache.v_scale";

constexpr TensorRole kLayerLinears[] = {TensorRole::AttnQ, TensorRole::AttnK,   TensorRole::AttnV,  TensorRole::AttnO,
                                        TensorRole::MlpGate, TensorRole::MlpUp, TensorRole::MlpDown};

std::vector<uint8_t> scales_bytes(const std::vector<float>& s, DType dt) {
  std::vector<uint8_t> out(s.size() * dtype_size(dt));
  for (size_t i = 0; i < s.size(); ++i) {
    if (dt == DType::F32) {
      std::memcpy(out.data() + 4 * i, &s[i], 4);
    } else {
      const uint16_t v = dt == DType::F16 ? f32_to_f16(s[i]) : f32_to_bf16(s[i]);
      std::memcpy(out.data() + 2 * i, &v, 2);
    }
  }
  return out;
}

nlohmann::json quantized_tensor_json(const QuantizedLinear& ql) {
  const QuantizedWeight& w = ql.weight();
  nlohmann::json j;
  j["bits"] = w.spec.bits;
  j["granularity"] = granularity_name(w.spec.granularity);
  j["group_size"] = w.group_size;
  j["symmetric"] = w.spec.symmetric;
  j["rounding"] = rounding_name(w.spec.rounding);
  j["scale_dtype"] = dtype_name(w.spec.scale_dtype);
  j["rows"] = w.rows;
  j["cols"] = w.cols;
  j["a_bits"] = ql.act().bits;
  j["a_granularity"] = act_granularity_name(ql.act().granularity);
  j["a_static"] = ql.act().calibrated;
  j["smooth"] = !ql.smooth().empty();
  j["describe"] = ql.describe();
  return j;
}

// A TensorToWrite owning its bytes.
TensorToWrite owned_tensor(std::string name, DType dt, std::vector<int64_t> shape, std::vector<uint8_t> bytes) {
  auto data = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  return whole_tensor_to_write(std::move(name), dt, std::move(shape),
                               [data](void* dst) { std::memcpy(dst, data->data(), data->size()); });
}

}  // namespace

void save_quantized_model(const Model& model, const std::string& dir, const nlohmann::json& provenance,
                          const std::string& tokenizer_path) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail_input("{}: cannot create the output directory ({})", dir, ec.message());
  const ModelConfig& c = model.config;
  std::vector<TensorToWrite> out;
  nlohmann::json tensors = nlohmann::json::object();
  auto add_quantized = [&](const std::string& name, const QuantizedLinear& ql) {
    const QuantizedWeight& w = ql.weight();
    out.push_back(owned_tensor(name + ".qcodes", DType::U8, {w.rows, packed_row_bytes(w.cols, w.spec.bits)},
                               std::vector<uint8_t>(w.packed.begin(), w.packed.end())));
    out.push_back(owned_tensor(name + ".qscales", w.spec.scale_dtype, {w.scale_rows, w.groups},
                               scales_bytes(w.scales, w.spec.scale_dtype)));
    if (!w.spec.symmetric) {
      std::vector<uint8_t> z(w.zeros.size());
      for (size_t i = 0; i < z.size(); ++i) z[i] = uint8_t(w.zeros[i]);
      out.push_back(owned_tensor(name + ".qzeros", DType::U8, {w.scale_rows, w.groups}, std::move(z)));
    }
    if (ql.act().bits && ql.act().calibrated) {
      out.push_back(owned_tensor(name + ".act_scale", DType::F32, {1}, scales_bytes({ql.act().static_params.scale}, DType::F32)));
      out.push_back(owned_tensor(name + ".act_zero", DType::F32, {1}, scales_bytes({ql.act().static_params.zero}, DType::F32)));
    }
    if (!ql.smooth().empty())
      out.push_back(owned_tensor(name + ".smooth", DType::F32, {w.cols}, scales_bytes(ql.smooth(), DType::F32)));
    tensors[name] = quantized_tensor_json(ql);
  };
  // Norms are written from the bound fp32 vectors: AWQ/SmoothQuant fold their scales into them.
  auto norm_of = [&](const TensorSpec& spec) -> const std::vector<float>* {
    if (spec.role == TensorRole::FinalNorm) return &model.final_norm;
    if (spec.role == TensorRole::AttnNorm) return &model.layers[size_t(spec.layer)].attn_norm;
    if (spec.role == TensorRole::MlpNorm) return &model.layers[size_t(spec.layer)].mlp_norm;
    return nullptr;
  };
  for (const auto& spec : model.registry) {
    const Linear* lin = nullptr;
    if (!spec.is_bias && spec.layer >= 0 && role_is_linear(spec.role)) lin = model.linear(spec.layer, spec.role);
    if (!spec.is_bias && spec.role == TensorRole::LmHead) lin = model.lm_head.get();
    if (const auto* ql = dynamic_cast<const QuantizedLinear*>(lin)) {
      add_quantized(spec.name, *ql);
      continue;
    }
    if (!spec.stored) continue;
    if (const std::vector<float>* norm = norm_of(spec)) {
      out.push_back(owned_tensor(spec.name, DType::F32, spec.shape, scales_bytes(*norm, DType::F32)));
      continue;
    }
    const TensorView* t = model.tensors.find(spec.name);
    if (!t) fail_internal("save: tensor {} is missing from the model", spec.name);
    out.push_back(tensor_to_write(spec.name, *t));
  }
  const KVCacheQuant& kv = model.kv_quant;
  if (kv.needs_calibration()) {
    out.push_back(owned_tensor(kKVKeyScales, DType::F32, {c.num_layers, c.kv_dim()}, scales_bytes(kv.k_scale, DType::F32)));
    out.push_back(owned_tensor(kKVValueScales, DType::F32, {c.num_layers, c.kv_dim()}, scales_bytes(kv.v_scale, DType::F32)));
  }
  // Quantized biases keep their canonical bias name (written above from the source tensors).
  write_safetensors(dir + "/model.safetensors", out, {{"format", "quantscope-quantized"}});

  nlohmann::json d = provenance;
  d["format"] = "quantscope-quantized";
  d["format_version"] = 1;
  d["config"] = model_config_to_json(c);
  d["tensors"] = tensors;
  if (kv.enabled())
    d["kv_cache"] = {{"bits", kv.bits}, {"granularity", kv_granularity_name(kv.granularity)},
                     {"rounding", rounding_name(kv.rounding)}};
  d["quantscope_version"] = build_version();
  d["commit"] = build_commit();
  if (!tokenizer_path.empty()) {
    // Copied through AtomicFile: fs::copy_file left a truncated tokenizer under its final name when
    // the disk filled up (and reported it as an I/O error).
    const fs::path src(tokenizer_path);
    write_file_atomic((fs::path(dir) / src.filename()).string(), read_text_file(src.string()));
    const fs::path cfg = src.parent_path() / "tokenizer_config.json";
    if (src.filename() == "tokenizer.json" && fs::exists(cfg))
      write_file_atomic((fs::path(dir) / cfg.filename()).string(), read_text_file(cfg.string()));
    d["tokenizer"] = src.filename().string();
  }
  // The description is written last: a directory without it is not a quantized model.
  write_file_atomic(dir + "/" + kQuantDescriptionFile, d.dump(2) + "\n");
}

namespace {

const TensorView& need(const TensorSet& ts, const std::string& name, DType dt, const std::vector<int64_t>& shape,
                       const std::string& dir) {
  const TensorView* t = ts.find(name);
  if (!t) fail_input("{}: tensor '{}' is missing (expected {} {})", dir, name, dtype_name(dt), shape_string(shape));
  if (t->dtype != dt || t->shape != shape)
    fail_input("{}: tensor '{}' is {} {} but the description implies {} {}", t->source, name, dtype_name(t->dtype),
               shape_string(t->shape), dtype_name(dt), shape_string(shape));
  return *t;
}

std::vector<float> view_to_f32(const TensorView& t) {
  std::vector<float> v(size_t(t.numel()));
  load_float_rows(t, 0, t.rows(), v.data());
  return v;
}

bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

std::unique_ptr<QuantizedLinear> load_quantized_linear(const TensorSet& ts, const std::string& name,
                                                       const nlohmann::json& j, const std::vector<int64_t>& shape,
                                                       std::vector<float> bias, const std::string& src) {
  const std::string where = src + ": tensors." + name;
  WeightQuantSpec s;
  s.bits = get_as<int>(j, "bits", where);
  if (s.bits < 1 || s.bits > 8) fail_input("{}: bits {} outside 1..8", where, s.bits);
  if (!granularity_from_name(get_as<std::string>(j, "granularity", where), &s.granularity))
    fail_input("{}: bad granularity", where);
  s.group_size = get_as<int64_t>(j, "group_size", where);
  s.symmetric = get_as<bool>(j, "symmetric", where);
  if (!rounding_from_name(get_as<std::string>(j, "rounding", where), &s.rounding)) fail_input("{}: bad rounding", where);
  if (!scale_dtype_from_name(get_as<std::string>(j, "scale_dtype", where), &s.scale_dtype))
    fail_input("{}: bad scale_dtype", where);
  const int64_t rows = get_as<int64_t>(j, "rows", where), cols = get_as<int64_t>(j, "cols", where);
  if (std::vector<int64_t>{rows, cols} != shape)
    fail_input("{}: shape [{}, {}] but the config implies {}", where, rows, cols, shape_string(shape));
  if (s.granularity == Granularity::Group && (s.group_size <= 0 || s.group_size > cols))
    fail_input("{}: group_size {} impossible for K = {}", where, s.group_size, cols);
  QuantizedWeight w = QuantizedWeight::layout(rows, cols, s);
  const TensorView& codes = need(ts, name + ".qcodes", DType::U8, {rows, packed_row_bytes(cols, s.bits)}, src);
  w.packed.assign(codes.as<uint8_t>(), codes.as<uint8_t>() + rows * packed_row_bytes(cols, s.bits));
  release_resident_pages(codes.data, w.packed.size());  // the layer holds its own copy now: not twice
  const TensorView& scales = need(ts, name + ".qscales", s.scale_dtype, {w.scale_rows, w.groups}, src);
  w.scales = view_to_f32(scales);
  release_resident_pages(scales.data, scales.nbytes());  // copied to fp32 above
  for (float v : w.scales)
    if (!std::isfinite(v) || v < 0) fail_input("{}: {}.qscales holds {} (scales are finite and >= 0)", src, name, v);
  if (!s.symmetric) {
    const TensorView& z = need(ts, name + ".qzeros", DType::U8, {w.scale_rows, w.groups}, src);
    for (size_t i = 0; i < w.zeros.size(); ++i) {
      w.zeros[i] = float(z.as<uint8_t>()[i]);
      if (w.zeros[i] > float(code_max(s.bits))) fail_input("{}: {}.qzeros[{}] exceeds {} bits", src, name, i, s.bits);
    }
    release_resident_pages(z.data, z.nbytes());
  }
  ActQuantSpec a;
  a.bits = get_as<int>(j, "a_bits", where);
  if (a.bits != 0 && a.bits != 4 && a.bits != 8) fail_input("{}: a_bits {} (expected 0, 4 or 8)", where, a.bits);
  if (!act_granularity_from_name(get_as<std::string>(j, "a_granularity", where), &a.granularity))
    fail_input("{}: bad a_granularity", where);
  a.rounding = s.rounding;
  if (a.bits && get_as<bool>(j, "a_static", where)) {
    a.static_params.scale = need(ts, name + ".act_scale", DType::F32, {1}, src).as<float>()[0];
    a.static_params.zero = need(ts, name + ".act_zero", DType::F32, {1}, src).as<float>()[0];
    a.calibrated = true;
  }
  auto ql = std::make_unique<QuantizedLinear>(name, std::move(w), std::move(bias), a);
  if (j.contains("smooth") && get_as<bool>(j, "smooth", where)) {
    std::vector<float> sm = view_to_f32(need(ts, name + ".smooth", DType::F32, {cols}, src));
    for (float v : sm)
      if (!std::isfinite(v) || !(v > 0)) fail_input("{}: {}.smooth holds {} (smoothing factors are finite and > 0)", src, name, v);
    ql->set_smooth(std::move(sm));
  }
  return ql;
}

KVCacheQuant load_kv_cache(const nlohmann::json& j, const TensorSet& ts, const ModelConfig& c, const std::string& where,
                           const std::string& src) {
  KVCacheQuant q;
  q.bits = get_as<int>(j, "bits", where);
  if (q.bits != 4 && q.bits != 8) fail_input("{}: bits {} (expected 4 or 8)", where, q.bits);
  if (!kv_granularity_from_name(get_as<std::string>(j, "granularity", where), &q.granularity))
    fail_input("{}: bad granularity (expected token or channel)", where);
  if (!rounding_from_name(get_as<std::string>(j, "rounding", where), &q.rounding)) fail_input("{}: bad rounding", where);
  if (q.needs_calibration()) {
    const std::vector<int64_t> shape = {c.num_layers, c.kv_dim()};
    q.k_scale = view_to_f32(need(ts, kKVKeyScales, DType::F32, shape, src));
    q.v_scale = view_to_f32(need(ts, kKVValueScales, DType::F32, shape, src));
    for (const auto* v : {&q.k_scale, &q.v_scale})
      for (float x : *v)
        if (!std::isfinite(x) || x < 0) fail_input("{}: KV-cache scale {} (scales are finite and >= 0)", src, x);
  }
  return q;
}

}  // namespace

std::unique_ptr<Model> load_quantized_model(const std::string& dir, const LoadOptions& options) {
  const std::string desc_path = dir + "/" + kQuantDescriptionFile;
  const nlohmann::json d = parse_json_document(read_text_file(desc_path), desc_path);
  if (!d.is_object() || d.value("format", "") != "quantscope-quantized")
    fail_input("{}: field 'format' must be \"quantscope-quantized\"", desc_path);
  if (d.value("format_version", 0) != 1) fail_input("{}: unsupported format_version (expected 1)", desc_path);
  ModelConfig c = model_config_from_json(field(d, "config", desc_path), desc_path + ": config");
  const nlohmann::json& qt = field(d, "tensors", desc_path);
  if (!qt.is_object()) fail_input("{}: 'tensors' must be an object", desc_path);

  auto m = std::make_unique<Model>();
  m->config = c;
  m->path = dir;
  m->format = "quantscope-quantized";
  m->tensors = read_safetensors_dir(dir);
  m->registry = build_registry(c);
  const TensorSet& ts = m->tensors;

  std::set<std::string> expected;
  for (const auto& [name, j] : qt.items()) {
    bool known = false;
    for (const auto& s : m->registry) known = known || (s.name == name && !s.is_bias && role_is_linear(s.role));
    if (!known) fail_input("{}: tensors.{}: not a linear weight of this architecture", desc_path, name);
    for (const char* suffix : {".qcodes", ".qscales", ".qzeros", ".act_scale", ".act_zero", ".smooth"})
      expected.insert(name + suffix);
  }
  if (d.contains("kv_cache")) {
    m->kv_quant = load_kv_cache(d["kv_cache"], ts, c, desc_path + ": kv_cache", dir);
    expected.insert(kKVKeyScales);
    expected.insert(kKVValueScales);
  }
  for (const auto& spec : m->registry) {
    if (!spec.stored || qt.contains(spec.name)) continue;
    expected.insert(spec.name);
    const TensorView* t = ts.find(spec.name);
    if (!t) fail_input("{}: tensor '{}' is missing (expected shape {})", dir, spec.name, shape_string(spec.shape));
    const bool shape_ok = t->shape == spec.shape || (spec.shape.size() == 1 && t->numel() == spec.shape[0]);
    if (!shape_ok || !is_float(t->dtype))
      fail_input("{}: tensor '{}' is {} {} (expected a float tensor of shape {})", t->source, spec.name,
                 dtype_name(t->dtype), shape_string(t->shape), shape_string(spec.shape));
    if (options.check_finite && find_non_finite(*t) >= 0)
      fail_input("{}: tensor '{}' has a non-finite value", t->source, spec.name);
  }
  for (const auto& [name, t] : ts.tensors)
    if (!expected.count(name)) fail_input("{}: unexpected tensor '{}'", t.source, name);

  auto shape_of = [&](const std::string& name) {
    for (const auto& s : m->registry)
      if (s.name == name) return s.shape;
    fail_internal("no registry entry {}", name);
  };
  auto bind = [&](const std::string& name, const std::string& bias_name) -> std::unique_ptr<Linear> {
    std::vector<float> bias;
    if (!bias_name.empty()) bias = view_to_f32(*ts.find(bias_name));
    if (qt.contains(name)) return load_quantized_linear(ts, name, qt[name], shape_of(name), std::move(bias), desc_path);
    const TensorView& w = *ts.find(name);
    return std::make_unique<DenseLinear>(DenseMatrix{w.dtype, w.shape[0], w.cols(), w.data}, std::move(bias));
  };
  m->embedding = *ts.find(global_tensor_name(TensorRole::Embedding));
  m->final_norm = view_to_f32(*ts.find(global_tensor_name(TensorRole::FinalNorm)));
  m->layers.resize(size_t(c.num_layers));
  for (int l = 0; l < c.num_layers; ++l) {
    LayerWeights& lw = m->layers[size_t(l)];
    lw.attn_norm = view_to_f32(*ts.find(layer_tensor_name(l, TensorRole::AttnNorm)));
    lw.mlp_norm = view_to_f32(*ts.find(layer_tensor_name(l, TensorRole::MlpNorm)));
    for (TensorRole r : kLayerLinears)
      lw.set_linear(r, bind(layer_tensor_name(l, r), has_bias(c, r) ? layer_tensor_name(l, r, true) : ""));
  }
  const std::string head = global_tensor_name(TensorRole::LmHead);
  if (qt.contains(head) || !c.tie_embeddings) m->lm_head = bind(head, "");
  else m->lm_head = bind(global_tensor_name(TensorRole::Embedding), "");
  return m;
}

std::unique_ptr<Model> load_any_model(const std::string& path, const LoadOptions& options) {
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(path) / "quant_description.json", ec))
    return load_quantized_model(path, options);
  return load_model(path, options);
}

}  // namespace quantscope
