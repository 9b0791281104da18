#include "model/synth.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <regex>

#include "core/error.h"
#include "core/file_io.h"
#include "core/parallel.h"
#include "model/hf_config.h"
#include "model/registry.h"

namespace quantscope {

namespace {

constexpr uint64_t kGamma = 0x9e3779b97f4a7c15ull;  // splitmix64 increment

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) h = (h ^ uint8_t(c)) * 0x100000001b3ull;
  return h;
}

// Stream key of one tensor: independent of every other tensor and of the write order.
uint64_t tensor_key(uint64_t seed, const std::string& name) { return mix64(seed ^ mix64(fnv1a(name))); }

struct Preset {
  const char* name;
  ModelConfig config;
  DType dtype;
};

ModelConfig make(Architecture arch, int hidden, int layers, int heads, int kv, int inter, int vocab, int max_seq,
                 float theta, float eps, bool tie, bool qkv_bias, bool o_bias, int bos, int eos, int pad) {
  ModelConfig c;
  c.arch = arch;
  c.hidden_size = hidden;
  c.num_layers = layers;
  c.num_heads = heads;
  c.num_kv_heads = kv;
  c.head_dim = hidden / heads;
  c.intermediate_size = inter;
  c.vocab_size = vocab;
  c.max_seq_len = max_seq;
  c.rope_theta = theta;
  c.norm_eps = eps;
  c.tie_embeddings = tie;
  c.qkv_bias = qkv_bias;
  c.o_bias = o_bias;
  c.bos_id = bos;
  c.eos_id = eos;
  c.pad_id = pad;
  c.rope_style = RopeStyle::HalfSplit;
  return c;
}

const std::vector<Preset>& presets() {
  using A = Architecture;
  // openPangu: reference/openpangu.md §1. llama: Llama-3.2-1B shape (its rope_scaling left out).
  // qwen2: Qwen2-0.5B shape.
  static const std::vector<Preset> p = {
      {"openpangu-embedded-1b",
       make(A::OpenPanguEmbedded, 1536, 26, 12, 6, 6144, 153376, 32768, 4e6f, 1e-5f, true, true, true, 1, 45892, 0),
       DType::BF16},
      {"openpangu-embedded-7b",
       make(A::OpenPanguEmbedded, 4096, 34, 32, 8, 12800, 153376, 32768, 16e6f, 1e-5f, false, true, true, 1, 45892, 0),
       DType::BF16},
      {"llama",
       make(A::Llama, 2048, 16, 32, 8, 8192, 128256, 131072, 5e5f, 1e-5f, true, false, false, 128000, 128001, -1),
       DType::F32},
      {"qwen2", make(A::Qwen2, 896, 24, 14, 2, 4864, 151936, 32768, 1e6f, 1e-6f, true, true, false, 151643, 151643, -1),
       DType::F32},
  };
  return p;
}

const Preset& find_preset(const std::string& arch) {
  for (const Preset& p : presets())
    if (arch == p.name) return p;
  fail_input("synth: unknown --arch '{}' (expected one of: {})", arch, fmt::join(synth_arch_names(), ", "));
}

void check_positive(const std::optional<int>& v, const char* flag) {
  if (v && *v <= 0) fail_input("synth: {} must be positive, got {}", flag, *v);
}

// One tensor to generate: which scale, and which elements get the outlier factor.
struct Gen {
  enum class Kind { Normal, Norm, InvFreq } kind = Kind::Normal;
  float scale = 1.0f;        // std of the normal part
  bool outlier_cols = false;  // outliers on columns (embedding) ...
  bool outlier_elems = false;  // ... or on elements (norm weights)
};

Gen gen_for(const TensorSpec& s, const ModelConfig& c) {
  const float H = float(c.hidden_size), I = float(c.intermediate_size), Q = float(c.q_dim());
  const float two_l = 2.0f * float(c.num_layers);
  Gen g;
  if (s.is_bias) {
    g.scale = 0.02f;
    return g;
  }
  switch (s.role) {
    case TensorRole::Embedding: g.scale = 3.0f / std::sqrt(H); g.outlier_cols = true; break;
    case TensorRole::LmHead: g.scale = 3.0f / std::sqrt(H); break;
    case TensorRole::AttnQ:
    case TensorRole::AttnK:
    case TensorRole::AttnV:
    case TensorRole::MlpGate:
    case TensorRole::MlpUp: g.scale = 1.0f / std::sqrt(H); break;
    case TensorRole::AttnO: g.scale = 1.0f / std::sqrt(Q * two_l); break;
    case TensorRole::MlpDown: g.scale = 1.0f / std::sqrt(I * two_l); break;
    case TensorRole::AttnNorm:
    case TensorRole::MlpNorm: g.kind = Gen::Kind::Norm; g.scale = 0.05f; g.outlier_elems = true; break;
    case TensorRole::FinalNorm: g.kind = Gen::Kind::Norm; g.scale = 0.05f; break;
  }
  return g;
}

void store(float v, DType dtype, void* dst, int64_t i) {
  if (dtype == DType::BF16) static_cast<uint16_t*>(dst)[i] = f32_to_bf16(v);
  else static_cast<float*>(dst)[i] = v;
}

TensorToWrite synth_tensor(const std::string& name, std::vector<int64_t> shape, DType dtype, const Gen& g,
                           uint64_t seed, const ModelConfig& c, const std::vector<uint8_t>& outlier_mask,
                           float outlier_scale) {
  TensorToWrite t;
  t.name = name;
  t.dtype = dtype;
  t.shape = std::move(shape);
  const int64_t cols = t.shape.size() > 1 ? t.shape[1] : 1;
  const uint64_t key = tensor_key(seed, name);
  const double theta = c.rope_theta;
  const int64_t head_dim = c.head_dim;
  t.fill = [=, &outlier_mask](int64_t row0, int64_t nrows, void* dst) {
    const int64_t first = row0 * cols;
    parallel_blocks(nrows * cols, [&](int, int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t idx = first + i;
        float v;
        if (g.kind == Gen::Kind::InvFreq) {
          v = float(std::pow(theta, -double(2 * idx) / double(head_dim)));
        } else {
          const float z = synth_normal(key, uint64_t(idx));
          v = g.kind == Gen::Kind::Norm ? 1.0f + g.scale * z : g.scale * z;
          if ((g.outlier_cols && outlier_mask[size_t(idx % cols)]) || (g.outlier_elems && outlier_mask[size_t(idx)]))
            v *= outlier_scale;
        }
        store(v, dtype, dst, i);
      }
    });
  };
  return t;
}

// Clears what an earlier synth (or save_pretrained) left, so the directory holds one checkpoint.
void prepare_out_dir(const std::string& out_dir, bool force) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(out_dir, ec)) {
    if (!fs::is_directory(out_dir, ec)) fail_input("{}: exists and is not a directory", out_dir);
    if (!fs::is_empty(out_dir, ec)) {
      if (!force) fail_input("{}: directory is not empty (pass --force to overwrite)", out_dir);
      static const std::regex shard(R"(model-\d+-of-\d+\.safetensors)");
      for (const auto& entry : fs::directory_iterator(out_dir)) {
        const std::string n = entry.path().filename().string();
        if (n == "config.json" || n == "model.safetensors" || n == "model.safetensors.index.json" ||
            std::regex_match(n, shard)) {
          if (!fs::remove(entry.path(), ec) && ec)
            fail_input("{}: cannot remove stale {}: {}", out_dir, n, ec.message());
        }
      }
    }
  } else if (!fs::create_directories(out_dir, ec) && ec) {
    fail_input("{}: cannot create directory: {}", out_dir, ec.message());
  }
}

}  // namespace

float synth_normal(uint64_t key, uint64_t index) {
  // Outputs 2i+1 and 2i+2 of the splitmix64 stream seeded with `key`.
  const uint64_t a = mix64(key + (2 * index + 1) * kGamma);
  const uint64_t b = mix64(key + (2 * index + 2) * kGamma);
  auto quarters = [](uint64_t x) {
    return int64_t(x & 0xffff) + int64_t((x >> 16) & 0xffff) + int64_t((x >> 32) & 0xffff) + int64_t(x >> 48);
  };
  // Sum of 8 uniforms on [0, 65535]: mean 8 * 32767.5, variance 8 * (65536^2 - 1) / 12. 2*sum - 8*65535 is
  // an exact even integer below 2^20, so the float conversion is exact and the result portable.
  const int64_t centred2 = 2 * (quarters(a) + quarters(b)) - 8 * 65535;
  constexpr double kStd2 = 2.0 * 65536.0 * 0.81649658092772603;  // 2 * sqrt(8 * 65536^2 / 12)
  constexpr float kInv = float(1.0 / kStd2);
  return float(centred2) * kInv;
}

std::vector<std::string> synth_arch_names() {
  std::vector<std::string> names;
  for (const Preset& p : presets()) names.push_back(p.name);
  return names;
}

DType synth_dtype(const SynthOptions& o) {
  const DType d = o.dtype.value_or(find_preset(o.arch).dtype);
  if (d != DType::F32 && d != DType::BF16)
    fail_input("synth: --dtype {} is not supported (expected f32 or bf16)", dtype_name(d));
  return d;
}

ModelConfig synth_config(const SynthOptions& o) {
  const Preset& p = find_preset(o.arch);
  ModelConfig c = p.config;
  check_positive(o.layers, "--layers");
  check_positive(o.hidden, "--hidden");
  check_positive(o.intermediate, "--intermediate");
  check_positive(o.heads, "--heads");
  check_positive(o.kv_heads, "--kv-heads");
  check_positive(o.vocab, "--vocab");
  check_positive(o.head_dim, "--head-dim");
  if (o.layers) c.num_layers = *o.layers;
  if (o.hidden) c.hidden_size = *o.hidden;
  if (o.intermediate) c.intermediate_size = *o.intermediate;
  if (o.vocab) c.vocab_size = *o.vocab;
  if (o.heads) {
    c.num_heads = *o.heads;
    const int ratio = p.config.num_heads / p.config.num_kv_heads;
    c.num_kv_heads = c.num_heads % ratio == 0 ? c.num_heads / ratio : c.num_heads;
  }
  if (o.kv_heads) c.num_kv_heads = *o.kv_heads;
  if (o.head_dim) {
    c.head_dim = *o.head_dim;
  } else if (o.hidden || o.heads) {
    if (c.hidden_size % c.num_heads != 0)
      fail_input("synth: --hidden {} is not a multiple of --heads {}; give --head-dim", c.hidden_size, c.num_heads);
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (c.num_heads % c.num_kv_heads != 0)
    fail_input("synth: --heads {} is not a multiple of --kv-heads {}", c.num_heads, c.num_kv_heads);
  if (c.head_dim % 2 != 0) fail_input("synth: head_dim {} must be even for RoPE (--head-dim)", c.head_dim);
  if (o.tie) c.tie_embeddings = *o.tie;
  // A shrunk vocabulary keeps the special ids inside it (the preset's ids may be > 100k).
  if (c.bos_id >= c.vocab_size || c.eos_id >= c.vocab_size || c.pad_id >= c.vocab_size) {
    c.pad_id = c.pad_id < 0 ? -1 : 0;
    c.bos_id = std::min(1, c.vocab_size - 1);
    c.eos_id = std::min(2, c.vocab_size - 1);
  }
  if (o.outlier_channels < 0 || o.outlier_channels > c.hidden_size)
    fail_input("synth: --outliers {} must be between 0 and the hidden size {}", o.outlier_channels, c.hidden_size);
  if (!(std::isfinite(o.outlier_scale) && o.outlier_scale > 0))
    fail_input("synth: --outlier-scale {} must be a positive finite number", o.outlier_scale);
  if (o.max_shard_bytes == 0) fail_input("synth: --shard-bytes must be positive");
  c.synthetic = true;
  c.torch_dtype = synth_dtype(o) == DType::BF16 ? "bfloat16" : "float32";
  validate_config(c, "synth options");
  return c;
}

std::vector<int> synth_outlier_channels(int hidden, int count, uint64_t seed) {
  if (count < 0 || count > hidden) fail_input("synth: cannot pick {} outlier channels out of {}", count, hidden);
  // Partial Fisher-Yates over [0, hidden) driven by its own splitmix64 stream.
  std::vector<int> all(static_cast<size_t>(hidden));
  for (int i = 0; i < hidden; ++i) all[size_t(i)] = i;
  const uint64_t key = mix64(seed ^ fnv1a("quantscope.synth.outlier_channels"));
  for (int i = 0; i < count; ++i) {
    const uint64_t r = mix64(key + uint64_t(i + 1) * kGamma);
    const int j = i + int(r % uint64_t(hidden - i));
    std::swap(all[size_t(i)], all[size_t(j)]);
  }
  std::vector<int> out(all.begin(), all.begin() + count);
  std::sort(out.begin(), out.end());
  return out;
}

SynthResult write_synthetic_checkpoint(const SynthOptions& o, const std::string& out_dir) {
  SynthResult r;
  r.config = synth_config(o);
  r.dtype = synth_dtype(o);
  const ModelConfig& c = r.config;
  r.outlier_channels = synth_outlier_channels(c.hidden_size, o.outlier_channels, o.seed);
  std::vector<uint8_t> outlier_mask(size_t(c.hidden_size), 0);
  for (int ch : r.outlier_channels) outlier_mask[size_t(ch)] = 1;

  std::vector<TensorToWrite> tensors;
  for (const TensorSpec& s : build_registry(c)) {
    if (!s.stored) continue;
    tensors.push_back(synth_tensor(s.name, s.shape, r.dtype, gen_for(s, c), o.seed, c, outlier_mask,
                                   o.outlier_scale));
    r.params += tensors.back().numel();
    // The real openPangu checkpoints store the RoPE buffer once per layer; loaders must skip it.
    if (c.arch == Architecture::OpenPanguEmbedded && s.role == TensorRole::MlpDown && !s.is_bias) {
      Gen g;
      g.kind = Gen::Kind::InvFreq;
      tensors.push_back(synth_tensor(fmt::format("model.layers.{}.self_attn.rotary_emb.inv_freq", s.layer),
                                     {c.head_dim / 2}, DType::F32, g, o.seed, c, outlier_mask, 1.0f));
    }
  }

  prepare_out_dir(out_dir, o.force);
  SafetensorsMetadata meta = {
      {"format", "pt"},
      {"quantscope_synthetic", "true"},
      {"quantscope_synth_arch", o.arch},
      {"quantscope_synth_seed", std::to_string(o.seed)},
      {"quantscope_synth_outlier_channels", fmt::format("{}", fmt::join(r.outlier_channels, ","))},
      {"quantscope_synth_outlier_scale", fmt::format("{}", o.outlier_scale)},
  };
  SafetensorsWriteResult w = write_safetensors_sharded(out_dir, tensors, meta, o.max_shard_bytes);
  const std::string config_path = (std::filesystem::path(out_dir) / "config.json").string();
  const std::string config_text = hf_config_json(c);
  write_file_atomic(config_path, config_text);
  r.files = std::move(w.files);
  r.files.push_back(config_path);
  r.bytes = w.file_bytes + config_text.size();
  return r;
}

}  // namespace quantscope
