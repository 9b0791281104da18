// Synthetic checkpoints: every registry tensor present with the right shape after load_hf_checkpoint,
// determinism (seed, threads, sharding), storage dtypes, outlier channels, value scales, the CLI.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "core/parallel.h"
#include "model/hf_checkpoint.h"
#include "model/registry.h"
#include "model/synth.h"
#include "test_util.h"

namespace quantscope {
namespace {

using test::TempDir;

SynthOptions tiny(const std::string& arch) {
  SynthOptions o;
  o.arch = arch;
  o.layers = 2;
  o.hidden = 64;
  o.heads = 4;
  o.kv_heads = 2;
  o.intermediate = 96;
  o.vocab = 128;
  o.seed = 42;
  return o;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Every stored registry tensor is present with the registry's shape, and nothing else is.
void expect_registry_complete(const HfCheckpoint& ck) {
  size_t stored = 0;
  for (const TensorSpec& s : build_registry(ck.config)) {
    const TensorView* t = ck.tensors.find(s.name);
    if (!s.stored) {
      EXPECT_EQ(t, nullptr) << s.name << " should be absent (tied)";
      continue;
    }
    ++stored;
    ASSERT_NE(t, nullptr) << s.name;
    EXPECT_EQ(t->shape, s.shape) << s.name;
    EXPECT_EQ(find_non_finite(*t), -1) << s.name;
  }
  EXPECT_EQ(ck.tensors.tensors.size(), stored);
}

TEST(Synth, TinyOpenPanguLoads) {
  TempDir dir;
  SynthOptions o = tiny("openpangu-embedded-1b");
  SynthResult r = write_synthetic_checkpoint(o, dir.path());
  HfCheckpoint ck = load_hf_checkpoint(dir.path());
  EXPECT_EQ(ck.config.arch, Architecture::OpenPanguEmbedded);
  EXPECT_TRUE(ck.config.synthetic);
  EXPECT_TRUE(ck.config.tie_embeddings);  // 1B is tied
  EXPECT_TRUE(ck.config.qkv_bias && ck.config.o_bias);
  EXPECT_EQ(ck.config.head_dim, 16);
  EXPECT_FLOAT_EQ(ck.config.rope_theta, 4e6f);
  EXPECT_EQ(ck.config.torch_dtype, "bfloat16");
  expect_registry_complete(ck);
  // The inv_freq buffers are written like the real checkpoints and dropped on load.
  ASSERT_EQ(ck.skipped.size(), 2u);
  EXPECT_EQ(ck.skipped[0], "model.layers.0.self_attn.rotary_emb.inv_freq");
  EXPECT_EQ(ck.metadata.at("quantscope_synthetic"), "true");
  int64_t params = 0;
  for (const auto& [name, t] : ck.tensors.tensors) params += t.numel();
  EXPECT_EQ(r.params, params);
}

TEST(Synth, TinyOpenPangu7BIsUntied) {
  TempDir dir;
  write_synthetic_checkpoint(tiny("openpangu-embedded-7b"), dir.path());
  HfCheckpoint ck = load_hf_checkpoint(dir.path());
  EXPECT_FALSE(ck.config.tie_embeddings);
  EXPECT_FLOAT_EQ(ck.config.rope_theta, 16e6f);
  expect_registry_complete(ck);
  EXPECT_NE(ck.tensors.find("lm_head.weight"), nullptr);
}

TEST(Synth, TinyLlamaAndQwen2Load) {
  for (const char* arch : {"llama", "qwen2"}) {
    TempDir dir;
    write_synthetic_checkpoint(tiny(arch), dir.path());
    HfCheckpoint ck = load_hf_checkpoint(dir.path());
    EXPECT_EQ(ck.config.arch, std::string(arch) == "llama" ? Architecture::Llama : Architecture::Qwen2);
    EXPECT_EQ(ck.config.qkv_bias, std::string(arch) == "qwen2");
    EXPECT_FALSE(ck.config.o_bias);
    EXPECT_TRUE(ck.skipped.empty());
    expect_registry_complete(ck);
    EXPECT_EQ(ck.tensors.find("model.embed_tokens.weight")->dtype, DType::F32);  // default f32
    // Special ids are moved inside a shrunk vocabulary.
    EXPECT_LT(ck.config.eos_id, 128);
    EXPECT_LT(ck.config.bos_id, 128);
  }
}

TEST(Synth, PresetShapesMatchReference) {
  SynthOptions o;
  o.arch = "openpangu-embedded-7b";
  ModelConfig c = synth_config(o);
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.num_layers, 34);
  EXPECT_EQ(c.num_heads, 32);
  EXPECT_EQ(c.num_kv_heads, 8);
  EXPECT_EQ(c.intermediate_size, 12800);
  EXPECT_EQ(c.vocab_size, 153376);
  EXPECT_EQ(c.eos_id, 45892);
  EXPECT_EQ(synth_dtype(o), DType::BF16);
  o.arch = "openpangu-embedded-1b";
  c = synth_config(o);
  EXPECT_EQ(c.hidden_size, 1536);
  EXPECT_EQ(c.num_layers, 26);
  EXPECT_EQ(c.num_kv_heads, 6);
  EXPECT_EQ(c.head_dim, 128);
  int64_t params = 0;
  for (const TensorSpec& s : build_registry(c))
    if (s.stored) params += s.shape.size() == 2 ? s.shape[0] * s.shape[1] : s.shape[0];
  EXPECT_NEAR(double(params), 1.156e9, 0.005e9);  // openpangu.md §5
  o.arch = "qwen2";
  c = synth_config(o);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(synth_dtype(o), DType::F32);
  o.arch = "llama";
  o.heads = 16;  // keeps the 4:1 GQA ratio
  o.hidden = 1024;
  c = synth_config(o);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 64);
}

TEST(Synth, BadOptionsAreInputErrors) {
  SynthOptions o = tiny("gpt2");
  EXPECT_THROW(synth_config(o), InputError);
  o = tiny("llama");
  o.kv_heads = 3;
  EXPECT_THROW(synth_config(o), InputError);
  o = tiny("llama");
  o.layers = 0;
  EXPECT_THROW(synth_config(o), InputError);
  o = tiny("llama");
  o.outlier_channels = 65;
  EXPECT_THROW(synth_config(o), InputError);
  o = tiny("llama");
  o.dtype = DType::F16;
  EXPECT_THROW(synth_config(o), InputError);
}

TEST(Synth, SeedDeterminismAndThreadIndependence) {
  TempDir a, b, c, d;
  SynthOptions o = tiny("openpangu-embedded-7b");
  write_synthetic_checkpoint(o, a.path());
  const int threads = num_threads();
  set_num_threads(1);
  write_synthetic_checkpoint(o, b.path());
  set_num_threads(threads);
  EXPECT_EQ(read_bytes(a.file("model.safetensors")), read_bytes(b.file("model.safetensors")));
  EXPECT_EQ(read_bytes(a.file("config.json")), read_bytes(b.file("config.json")));
  o.seed = 43;
  write_synthetic_checkpoint(o, c.path());
  EXPECT_NE(read_bytes(a.file("model.safetensors")), read_bytes(c.file("model.safetensors")));
}

TEST(Synth, ShardingDoesNotChangeValues) {
  TempDir single, sharded;
  SynthOptions o = tiny("qwen2");
  write_synthetic_checkpoint(o, single.path());
  o.max_shard_bytes = 40000;
  SynthResult r = write_synthetic_checkpoint(o, sharded.path());
  EXPECT_TRUE(std::filesystem::exists(sharded.file("model.safetensors.index.json")));
  EXPECT_GT(r.files.size(), 3u);
  HfCheckpoint x = load_hf_checkpoint(single.path()), y = load_hf_checkpoint(sharded.path());
  ASSERT_EQ(x.tensors.tensors.size(), y.tensors.tensors.size());
  for (const auto& [name, t] : x.tensors.tensors) {
    const TensorView* u = y.tensors.find(name);
    ASSERT_NE(u, nullptr) << name;
    ASSERT_EQ(t.nbytes(), u->nbytes());
    EXPECT_EQ(std::memcmp(t.data, u->data, t.nbytes()), 0) << name;
  }
}

TEST(Synth, Bf16Storage) {
  TempDir dir;
  SynthOptions o = tiny("llama");
  o.dtype = DType::BF16;
  write_synthetic_checkpoint(o, dir.path());
  HfCheckpoint ck = load_hf_checkpoint(dir.path());
  EXPECT_EQ(ck.config.torch_dtype, "bfloat16");
  for (const auto& [name, t] : ck.tensors.tensors) EXPECT_EQ(t.dtype, DType::BF16) << name;
  // Same seed in f32: the bf16 values are the f32 values rounded.
  TempDir dir32;
  o.dtype = DType::F32;
  write_synthetic_checkpoint(o, dir32.path());
  HfCheckpoint ck32 = load_hf_checkpoint(dir32.path());
  const TensorView& w16 = ck.tensors.tensors.at("model.layers.1.mlp.down_proj.weight");
  const TensorView& w32 = ck32.tensors.tensors.at("model.layers.1.mlp.down_proj.weight");
  for (int64_t i = 0; i < w16.numel(); ++i)
    ASSERT_EQ(load_float(w16, i), bf16_to_f32(f32_to_bf16(load_float(w32, i)))) << i;
}

TEST(Synth, OutlierChannelsVisible) {
  TempDir dir;
  SynthOptions o = tiny("openpangu-embedded-1b");
  o.outlier_channels = 3;
  o.outlier_scale = 20.0f;
  o.dtype = DType::F32;
  SynthResult r = write_synthetic_checkpoint(o, dir.path());
  ASSERT_EQ(r.outlier_channels.size(), 3u);
  EXPECT_EQ(r.outlier_channels, synth_outlier_channels(64, 3, 42));
  HfCheckpoint ck = load_hf_checkpoint(dir.path());
  const int H = 64;
  std::vector<bool> is_outlier(H, false);
  for (int c : r.outlier_channels) is_outlier[size_t(c)] = true;

  // Embedding: per-column rms of outlier columns is ~20x the others.
  const TensorView& emb = ck.tensors.tensors.at("model.embed_tokens.weight");
  std::vector<double> col_ss(H, 0.0);
  for (int64_t v = 0; v < emb.rows(); ++v)
    for (int c = 0; c < H; ++c) col_ss[size_t(c)] += std::pow(load_float(emb, v * H + c), 2);
  double normal_max = 0, outlier_min = 1e30;
  for (int c = 0; c < H; ++c) {
    if (is_outlier[size_t(c)]) outlier_min = std::min(outlier_min, col_ss[size_t(c)]);
    else normal_max = std::max(normal_max, col_ss[size_t(c)]);
  }
  EXPECT_GT(std::sqrt(outlier_min / normal_max), 10.0);

  // Norm weights: ~20 at outlier channels, ~1 elsewhere; the final norm has no outliers.
  for (const char* name : {"model.layers.0.input_layernorm.weight", "model.layers.1.post_attention_layernorm.weight"}) {
    const TensorView& w = ck.tensors.tensors.at(name);
    for (int c = 0; c < H; ++c) {
      const float v = load_float(w, c);
      if (is_outlier[size_t(c)]) EXPECT_NEAR(v, 20.0f, 20.0f * 0.3f) << name << " " << c;
      else EXPECT_NEAR(v, 1.0f, 0.3f) << name << " " << c;
    }
  }
  const TensorView& fin = ck.tensors.tensors.at("model.norm.weight");
  for (int c = 0; c < H; ++c) EXPECT_NEAR(load_float(fin, c), 1.0f, 0.3f);
}

TEST(Synth, NormalGeneratorMoments) {
  const int n = 200000;
  double sum = 0, ss = 0, s4 = 0, mx = 0;
  for (int i = 0; i < n; ++i) {
    const double z = synth_normal(12345, uint64_t(i));
    sum += z;
    ss += z * z;
    s4 += z * z * z * z;
    mx = std::max(mx, std::abs(z));
  }
  const double mean = sum / n, var = ss / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(var, 1.0, 0.01);
  EXPECT_NEAR(s4 / n / (var * var), 2.85, 0.05);  // Irwin-Hall(8) kurtosis
  EXPECT_GT(mx, 3.5);
  EXPECT_LE(mx, 4.9);
}

TEST(Synth, ValueScalesAsDocumented) {
  TempDir dir;
  SynthOptions o = tiny("qwen2");
  o.hidden = 256;
  o.intermediate = 512;
  o.vocab = 512;
  write_synthetic_checkpoint(o, dir.path());
  HfCheckpoint ck = load_hf_checkpoint(dir.path());
  auto rms = [&](const std::string& name) {
    const TensorView& t = ck.tensors.tensors.at(name);
    double ss = 0;
    for (int64_t i = 0; i < t.numel(); ++i) ss += std::pow(load_float(t, i), 2);
    return std::sqrt(ss / double(t.numel()));
  };
  EXPECT_NEAR(rms("model.embed_tokens.weight"), 3.0 / 16.0, 0.01);
  EXPECT_NEAR(rms("model.layers.0.self_attn.q_proj.weight"), 1.0 / 16.0, 0.003);
  EXPECT_NEAR(rms("model.layers.0.mlp.down_proj.weight"), 1.0 / std::sqrt(512.0 * 4), 0.001);
  EXPECT_NEAR(rms("model.layers.0.self_attn.q_proj.bias"), 0.02, 0.005);
}

TEST(Synth, RefusesNonEmptyDirectoryUnlessForced) {
  TempDir dir;
  SynthOptions o = tiny("llama");
  std::ofstream(dir.file("notes.txt")) << "keep me";
  EXPECT_THROW(write_synthetic_checkpoint(o, dir.path()), InputError);
  o.force = true;
  write_synthetic_checkpoint(o, dir.path());
  EXPECT_TRUE(std::filesystem::exists(dir.file("model.safetensors")));
  // Re-synth sharded over it: the stale single file is removed, so the directory is unambiguous.
  o.max_shard_bytes = 40000;
  write_synthetic_checkpoint(o, dir.path());
  EXPECT_FALSE(std::filesystem::exists(dir.file("model.safetensors")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("notes.txt")));
  EXPECT_NO_THROW(load_hf_checkpoint(dir.path()));
}

TEST(Synth, CliWritesAndLabelsSynthetic) {
  TempDir dir;
  const std::string out = dir.file("ck");
  test::CliResult r = test::run_cli("synth --arch openpangu-embedded-1b --layers 1 --hidden 32 --heads 2 "
                                    "--kv-heads 1 --intermediate 48 --vocab 64 --outliers 2 --seed 7 --out " +
                                    out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("SYNTHETIC"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bf16"), std::string::npos) << r.out;
  HfCheckpoint ck = load_hf_checkpoint(out);
  EXPECT_EQ(ck.config.num_layers, 1);
  EXPECT_TRUE(ck.config.synthetic);

  r = test::run_cli("synth --arch openpangu-embedded-1b --layers 1 --hidden 32 --heads 2 --out " + out);
  EXPECT_EQ(r.exit_code, 2) << r.err;  // not empty, no --force
  EXPECT_NE(r.err.find(out), std::string::npos) << r.err;
  r = test::run_cli("synth --arch nope --out " + dir.file("x"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace quantscope
