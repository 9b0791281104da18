// AscendV1 export / import on a small synthetic openPangu-Embedded checkpoint: every tensor name,
// dtype and shape per type, the stored values against the formulas recomputed here from our own
// quantized model, export -> import round trips to identical logits under ascend-910b1, refusals
// naming tensor and rule, and outputs that are never left partial or silently replaced.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/safetensors.h"
#include "interop/ascend_v1.h"
#include "interop/ascend_v1_check.h"
#include "interop/ascend_v1_export.h"
#include "interop/ascend_v1_import.h"
#include "interop_fixtures.h"
#include "quant/quantized_linear.h"

namespace quantscope {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr const char* kW8A8 =
    R"({"default": {"method": "rtn", "w_bits": 8, "granularity": "channel", "symmetric": true, "a_bits": 8,
        "a_granularity": "tensor"}, "overrides": [{"match": "lm_head", "scheme": {"method": "none"}}],
        "kv_cache": {"bits": 8, "granularity": "channel"}})";
constexpr const char* kW8A8Dynamic =
    R"({"default": {"method": "rtn", "w_bits": 8, "granularity": "channel", "symmetric": true, "a_bits": 8,
        "a_granularity": "token"}, "overrides": [{"match": "lm_head", "scheme": {"method": "none"}}]})";
constexpr const char* kW8A16 =
    R"({"default": {"method": "rtn", "w_bits": 8, "granularity": "channel", "symmetric": true},
        "overrides": [{"match": "lm_head", "scheme": {"method": "none"}}]})";
constexpr const char* kW4A16g32 =
    R"({"default": {"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 32},
        "overrides": [{"match": "lm_head", "scheme": {"method": "none"}}]})";

struct Exported {
  test::TempDir tmp;
  std::string src, qdir, out;
  AscendV1ExportResult result;
};

std::unique_ptr<Exported> export_recipe(const char* recipe, DType dt = DType::BF16) {
  auto e = std::make_unique<Exported>();
  e->src = e->tmp.file("src");
  e->qdir = e->tmp.file("q");
  e->out = e->tmp.file("ascend");
  write_synthetic_checkpoint(test::tiny_pangu(dt), e->src);
  test::quantize_to_dir(e->src, recipe, e->qdir);
  e->result = export_ascend_v1(e->qdir, e->out, {});
  return e;
}

json read_json(const std::string& p) { return json::parse(read_text_file(p)); }

void expect_tensor(const TensorSet& ts, const std::string& name, DType dt, std::vector<int64_t> shape) {
  const TensorView* t = ts.find(name);
  ASSERT_NE(t, nullptr) << name;
  EXPECT_EQ(dtype_name(t->dtype), dtype_name(dt)) << name;
  EXPECT_EQ(shape_string(t->shape), shape_string(shape)) << name;
}

const QuantizedLinear& qlin(const Model& m, int layer, TensorRole r) {
  return dynamic_cast<const QuantizedLinear&>(*m.linear(layer, r));
}

TEST(AscendV1Export, W8A8StaticNamesDtypesShapesAndFormulas) {
  auto e = export_recipe(kW8A8);
  const AscendV1Contents a = open_ascend_v1(e->out);
  EXPECT_TRUE(ascend_v1_issues(a).empty()) << ascend_v1_issues(a).front();
  const TensorSet& ts = a.tensors;
  const json& d = a.desc;
  EXPECT_EQ(d["model_quant_type"], "W8A8");
  EXPECT_EQ(d["version"], "1.0.0");
  EXPECT_EQ(d["group_size"], 0);
  EXPECT_EQ(d["kv_cache_type"], "C8");
  // H = 128, q_dim = 128, kv_dim = 64, I = 256.
  const std::string o = "model.layers.1.self_attn.o_proj";
  expect_tensor(ts, o + ".weight", DType::I8, {128, 128});
  expect_tensor(ts, o + ".weight_scale", DType::F32, {128, 1});
  expect_tensor(ts, o + ".weight_offset", DType::F32, {128, 1});
  expect_tensor(ts, o + ".input_scale", DType::F32, {1});
  expect_tensor(ts, o + ".input_offset", DType::F32, {1});
  expect_tensor(ts, o + ".deq_scale", DType::F32, {128});  // bf16 model: fp32 deq_scale
  expect_tensor(ts, o + ".quant_bias", DType::I32, {128});
  expect_tensor(ts, o + ".bias", DType::BF16, {128});
  expect_tensor(ts, "model.layers.0.self_attn.k_proj.weight", DType::I8, {64, 128});
  expect_tensor(ts, "model.layers.0.mlp.down_proj.weight", DType::I8, {128, 256});
  expect_tensor(ts, "model.layers.0.self_attn.k_proj.kv_cache_scale", DType::F32, {64});
  expect_tensor(ts, "model.layers.0.self_attn.v_proj.kv_cache_offset", DType::F32, {64});
  expect_tensor(ts, "model.embed_tokens.weight", DType::BF16, {512, 128});
  EXPECT_EQ(ts.find("lm_head.weight"), nullptr);  // tied
  for (const char* s : {".weight", ".input_scale", ".deq_scale", ".quant_bias"}) EXPECT_EQ(d[o + s], "W8A8") << s;
  EXPECT_EQ(d[o + ".bias"], "FLOAT");
  EXPECT_EQ(d["model.norm.weight"], "FLOAT");
  EXPECT_EQ(d["model.layers.0.self_attn.k_proj.kv_cache_scale"], "C8");
  // config.json: the source's, without quantization_config.
  const json cfg = read_json(e->out + "/config.json");
  EXPECT_EQ(cfg["architectures"][0], "PanguEmbeddedForCausalLM");
  EXPECT_FALSE(cfg.contains("quantization_config"));

  // Values against our own quantized model, recomputed here: w = code - 128, deq = s_x * s_w (fp32),
  // quant_bias = round_half_even(bias / deq) - sum_k w * input_offset.
  auto m = load_any_model(e->qdir);
  const QuantizedLinear& q = qlin(*m, 1, TensorRole::AttnO);
  const float sx = q.act().static_params.scale;
  const int off = int(q.act().static_params.zero) - 128;
  EXPECT_EQ(ts.find(o + ".input_scale")->as<float>()[0], sx);
  EXPECT_EQ(ts.find(o + ".input_offset")->as<float>()[0], float(off));
  ASSERT_FALSE(q.bias().empty());
  int nonzero_bias_terms = 0;
  for (int64_t r = 0; r < 128; ++r) {
    int64_t sum = 0;
    for (int64_t c = 0; c < 128; ++c) {
      const int w = int(q.weight().code(r, c)) - 128;
      ASSERT_EQ(ts.find(o + ".weight")->as<int8_t>()[r * 128 + c], w);
      sum += w;
    }
    const float sw = q.weight().scales[size_t(r)];
    ASSERT_EQ(ts.find(o + ".weight_scale")->as<float>()[r], sw);
    ASSERT_EQ(ts.find(o + ".weight_offset")->as<float>()[r], 0.0f);
    const float deq = sx * sw;
    ASSERT_EQ(ts.find(o + ".deq_scale")->as<float>()[r], deq);
    const double qb = std::nearbyint(double(q.bias()[size_t(r)] / deq)) - double(sum) * off;
    ASSERT_EQ(ts.find(o + ".quant_bias")->as<int32_t>()[r], int32_t(qb)) << r;
    nonzero_bias_terms += std::nearbyint(q.bias()[size_t(r)] / deq) != 0;
  }
  EXPECT_GT(nonzero_bias_terms, 64);  // the o_proj bias really enters quant_bias
  // C8: the per-channel KV scales, offsets zero.
  for (int64_t i = 0; i < 64; ++i) {
    EXPECT_EQ(ts.find("model.layers.1.self_attn.k_proj.kv_cache_scale")->as<float>()[i], m->kv_quant.k_scale[size_t(64 + i)]);
    EXPECT_EQ(ts.find("model.layers.1.self_attn.v_proj.kv_cache_scale")->as<float>()[i], m->kv_quant.v_scale[size_t(64 + i)]);
  }
}

TEST(AscendV1Export, Fp32ModelStoresDeqScaleAsInt64BitPattern) {
  auto e = export_recipe(kW8A8, DType::F32);
  const AscendV1Contents a = open_ascend_v1(e->out);
  EXPECT_TRUE(ascend_v1_issues(a).empty());
  const std::string q = "model.layers.0.self_attn.q_proj";
  expect_tensor(a.tensors, q + ".deq_scale", DType::I64, {128});
  const float sx = a.tensors.find(q + ".input_scale")->as<float>()[0];
  for (int64_t r = 0; r < 128; ++r) {
    const float deq = sx * a.tensors.find(q + ".weight_scale")->as<float>()[r];
    uint32_t bits;
    std::memcpy(&bits, &deq, 4);
    ASSERT_EQ(a.tensors.find(q + ".deq_scale")->as<int64_t>()[r], int64_t(bits));
  }
}

TEST(AscendV1Export, DynamicAndWeightOnlyLayouts) {
  {
    auto e = export_recipe(kW8A8Dynamic);
    const AscendV1Contents a = open_ascend_v1(e->out);
    EXPECT_TRUE(ascend_v1_issues(a).empty());
    EXPECT_EQ(a.desc["model_quant_type"], "W8A8_DYNAMIC");
    const std::string g = "model.layers.0.mlp.gate_proj";
    expect_tensor(a.tensors, g + ".weight", DType::I8, {256, 128});
    expect_tensor(a.tensors, g + ".weight_scale", DType::F32, {256, 1});
    expect_tensor(a.tensors, g + ".weight_offset", DType::F32, {256, 1});
    EXPECT_EQ(a.tensors.find(g + ".input_scale"), nullptr);
    EXPECT_EQ(a.tensors.find(g + ".deq_scale"), nullptr);
    EXPECT_FALSE(a.desc.contains("kv_cache_type"));
  }
  {
    auto e = export_recipe(kW8A16);
    const AscendV1Contents a = open_ascend_v1(e->out);
    EXPECT_TRUE(ascend_v1_issues(a).empty());
    EXPECT_EQ(a.desc["model_quant_type"], "W8A16");
    EXPECT_EQ(a.desc["model.layers.0.self_attn.q_proj.weight"], "W8A16");
    EXPECT_EQ(a.desc["model.layers.0.self_attn.q_proj.bias"], "FLOAT");
    expect_tensor(a.tensors, "model.layers.0.self_attn.q_proj.weight_scale", DType::F32, {128, 1});
  }
  // W4A16 asymmetric, groups of 32: int8 storage of values in [-8, 7], scale and offset [n, k/32],
  // and (w - offset) * scale is exactly our dequantized weight.
  auto e = export_recipe(kW4A16g32);
  const AscendV1Contents a = open_ascend_v1(e->out);
  EXPECT_TRUE(ascend_v1_issues(a).empty());
  EXPECT_EQ(a.desc["model_quant_type"], "W4A16");
  EXPECT_EQ(a.desc["group_size"], 32);
  const std::string dn = "model.layers.1.mlp.down_proj";
  expect_tensor(a.tensors, dn + ".weight", DType::I8, {128, 256});
  expect_tensor(a.tensors, dn + ".weight_scale", DType::F32, {128, 8});
  expect_tensor(a.tensors, dn + ".weight_offset", DType::F32, {128, 8});
  auto m = load_any_model(e->qdir);
  const std::vector<float> deq = qlin(*m, 1, TensorRole::MlpDown).weight().dequantize();
  const TensorView& w = *a.tensors.find(dn + ".weight");
  const TensorView& s = *a.tensors.find(dn + ".weight_scale");
  const TensorView& o = *a.tensors.find(dn + ".weight_offset");
  bool some_offset = false;
  for (int64_t r = 0; r < 128; ++r)
    for (int64_t c = 0; c < 256; ++c) {
      const int v = w.as<int8_t>()[r * 256 + c];
      ASSERT_GE(v, -8);
      ASSERT_LE(v, 7);
      const float off = o.as<float>()[r * 8 + c / 32];
      some_offset = some_offset || off != 0.0f;
      ASSERT_EQ((float(v) - off) * s.as<float>()[r * 8 + c / 32], deq[size_t(r * 256 + c)]) << r << "," << c;
    }
  EXPECT_TRUE(some_offset);
}

TEST(AscendV1RoundTrip, IdenticalLogitsUnderAscend910b1) {
  for (const char* recipe : {kW8A8, kW8A8Dynamic, kW8A16, kW4A16g32}) {
    auto e = export_recipe(recipe);
    const std::string back = e->tmp.file("imported");
    const AscendV1ImportResult r = import_ascend_v1(e->out, back, false);
    EXPECT_EQ(r.quantized_linears, 14) << recipe;  // 2 layers x 7; lm_head FLOAT (tied)
    const std::vector<float> want = test::target_logits(e->qdir, "ascend-910b1");
    const std::vector<float> got = test::target_logits(back, "ascend-910b1");
    ASSERT_EQ(want.size(), got.size());
    size_t differ = 0;
    for (size_t i = 0; i < want.size(); ++i) differ += std::memcmp(&want[i], &got[i], 4) != 0;
    EXPECT_EQ(differ, 0u) << recipe;
    // The host runs it the same way too (scale dtype and rounding restored from our metadata).
    EXPECT_EQ(test::target_logits(e->qdir, "host"), test::target_logits(back, "host")) << recipe;
  }
}

TEST(AscendV1RoundTrip, ShardedExportReadsBack) {
  test::TempDir tmp;
  write_synthetic_checkpoint(test::tiny_pangu(), tmp.file("src"));
  test::quantize_to_dir(tmp.file("src"), kW8A16, tmp.file("q"));
  AscendV1ExportOptions o;
  o.max_shard_bytes = 64 << 10;
  const AscendV1ExportResult r = export_ascend_v1(tmp.file("q"), tmp.file("out"), o);
  EXPECT_TRUE(fs::exists(tmp.file("out/quant_model_weights.safetensors.index.json")));
  EXPECT_FALSE(fs::exists(tmp.file("out/quant_model_weights.safetensors")));
  EXPECT_GT(r.files.size(), 4u);
  EXPECT_TRUE(ascend_v1_issues(open_ascend_v1(tmp.file("out"))).empty());
  import_ascend_v1(tmp.file("out"), tmp.file("back"), false);
  EXPECT_EQ(test::target_logits(tmp.file("q"), "ascend-910b1"), test::target_logits(tmp.file("back"), "ascend-910b1"));
}

void expect_refusal(const char* recipe, const std::string& tensor, const std::string& rule) {
  test::TempDir tmp;
  write_synthetic_checkpoint(test::tiny_pangu(), tmp.file("src"));
  test::quantize_to_dir(tmp.file("src"), recipe, tmp.file("q"));
  try {
    export_ascend_v1(tmp.file("q"), tmp.file("out"), {});
    ADD_FAILURE() << "no refusal for " << recipe;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(tensor), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(rule), std::string::npos) << e.what();
  }
  // Nothing left behind: no output, no staging directory.
  for (const auto& entry : fs::directory_iterator(tmp.path()))
    EXPECT_TRUE(entry.path().filename() == "src" || entry.path().filename() == "q") << entry.path();
}

TEST(AscendV1Export, RefusesWhatTheFormatCannotHold) {
  expect_refusal(R"({"default": {"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 32, "symmetric": true,
                     "a_bits": 8}, "overrides": [{"match": "lm_head", "scheme": {"method": "none"}}]})",
                 "model.layers.0.self_attn.q_proj.weight", "per-group W4A8");
  expect_refusal(R"({"default": {"method": "rtn", "w_bits": 8, "granularity": "channel", "a_bits": 8, "a_granularity": "tensor"},
                     "overrides": [{"match": "lm_head", "scheme": {"method": "none"}}]})",
                 "model.layers.0.self_attn.q_proj.weight", "require symmetric weights");
  expect_refusal(R"({"default": {"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 48},
                     "overrides": [{"match": "lm_head", "scheme": {"method": "none"}}]})",
                 "model.layers.0.self_attn.q_proj.weight", "does not divide K");
  expect_refusal(R"({"default": {"method": "rtn", "w_bits": 3, "granularity": "channel"},
                     "overrides": [{"match": "lm_head", "scheme": {"method": "none"}}]})",
                 "model.layers.0.self_attn.q_proj.weight", "8-bit and 4-bit weights only");
}

TEST(AscendV1Export, NeverReplacesAnOutputSilently) {
  test::TempDir tmp;
  write_synthetic_checkpoint(test::tiny_pangu(), tmp.file("src"));
  test::quantize_to_dir(tmp.file("src"), kW8A16, tmp.file("q"));
  fs::create_directories(tmp.file("out"));
  std::ofstream(tmp.file("out/keep.txt")) << "previous";
  EXPECT_THROW(export_ascend_v1(tmp.file("q"), tmp.file("out"), {}), InputError);
  EXPECT_TRUE(fs::exists(tmp.file("out/keep.txt")));
  EXPECT_FALSE(fs::exists(tmp.file("out/quant_model_description.json")));
  AscendV1ExportOptions force;
  force.force = true;
  export_ascend_v1(tmp.file("q"), tmp.file("out"), force);
  EXPECT_FALSE(fs::exists(tmp.file("out/keep.txt")));  // replaced as a whole
  EXPECT_TRUE(fs::exists(tmp.file("out/quant_model_description.json")));
  // A refused forced export leaves the previous output as it was.
  test::quantize_to_dir(tmp.file("src"), R"({"default": {"method": "rtn", "w_bits": 3}})", tmp.file("q3"));
  EXPECT_THROW(export_ascend_v1(tmp.file("q3"), tmp.file("out"), force), InputError);
  EXPECT_TRUE(fs::exists(tmp.file("out/quant_model_description.json")));
  EXPECT_TRUE(ascend_v1_issues(open_ascend_v1(tmp.file("out"))).empty());
}

// Edits an exported directory's description.
void edit_description(const std::string& dir, const std::function<void(json&)>& f) {
  json d = read_json(dir + "/quant_model_description.json");
  f(d);
  std::ofstream(dir + "/quant_model_description.json") << d.dump(2);
}

bool has_issue(const std::vector<std::string>& issues, const std::string& needle) {
  for (const auto& i : issues)
    if (i.find(needle) != std::string::npos) return true;
  return false;
}

TEST(AscendV1Check, FlagsEntriesWithoutTensorsAndTensorsWithoutEntries) {
  auto e = export_recipe(kW8A8);
  const std::string o = "model.layers.0.self_attn.o_proj";
  edit_description(e->out, [&](json& d) {
    d.erase(o + ".quant_bias");
    d["model.layers.0.self_attn.o_proj.smooth_scale"] = "W8A8";
  });
  const auto issues = ascend_v1_issues(open_ascend_v1(e->out));
  EXPECT_TRUE(has_issue(issues, o + ".quant_bias: in the weights")) << issues.size();
  EXPECT_TRUE(has_issue(issues, o + ".smooth_scale: in the description (W8A8) but not in the weights"));
  // Import refuses it, naming a problem, and writes nothing.
  try {
    import_ascend_v1(e->out, e->tmp.file("back"), false);
    ADD_FAILURE();
  } catch (const InputError& ex) {
    EXPECT_NE(std::string(ex.what()).find("not a consistent AscendV1 model"), std::string::npos) << ex.what();
  }
  EXPECT_FALSE(fs::exists(e->tmp.file("back")));
}

TEST(AscendV1Check, FlagsDeqScaleAndQuantBiasThatBreakTheFormulas) {
  auto e = export_recipe(kW8A8);
  // Rewrite the weights with one deq_scale and one quant_bias changed.
  const std::string path = e->out + "/quant_model_weights.safetensors";
  const TensorSet ts = read_safetensors_file(path);
  const std::string q = "model.layers.1.self_attn.q_proj", k = "model.layers.1.self_attn.k_proj";
  const TensorView& deq = *ts.find(q + ".deq_scale");
  const TensorView& qb = *ts.find(k + ".quant_bias");
  std::string bytes = read_text_file(path);
  float d3 = deq.as<float>()[3] * 1.5f;
  int32_t b5 = qb.as<int32_t>()[5] + 1;
  std::memcpy(bytes.data() + deq.source_offset + 12, &d3, 4);
  std::memcpy(bytes.data() + qb.source_offset + 20, &b5, 4);
  fs::remove(path);
  std::ofstream(path, std::ios::binary) << bytes;
  const auto issues = ascend_v1_issues(open_ascend_v1(e->out));
  EXPECT_TRUE(has_issue(issues, q + ".deq_scale[3]")) << (issues.empty() ? "" : issues.front());
  EXPECT_TRUE(has_issue(issues, k + ".quant_bias[5]"));
}

TEST(AscendV1Cli, ExportImportInspectExitCodes) {
  test::TempDir tmp;
  write_synthetic_checkpoint(test::tiny_pangu(), tmp.file("src"));
  test::quantize_to_dir(tmp.file("src"), kW8A8, tmp.file("q"));
  auto r = test::run_cli("export --format ascend-v1 " + tmp.file("q") + " --out " + tmp.file("a"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("model_quant_type W8A8"), std::string::npos) << r.out;
  r = test::run_cli("export --format ascend-v1 " + tmp.file("q") + " --out " + tmp.file("a"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  r = test::run_cli("inspect " + tmp.file("a"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("consistent"), std::string::npos) << r.out;
  r = test::run_cli("import --format ascend-v1 " + tmp.file("a") + " --out " + tmp.file("b"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // The imported directory runs under the target through the CLI, with the original's logits.
  for (const char* d : {"q", "b"}) {
    r = test::run_cli("logits -t 1 " + tmp.file(d) + " --target ascend-910b1 --tokens 1,5,9,300 --out " +
                      tmp.file(std::string(d) + ".npy"));
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_EQ(read_text_file(tmp.file("q.npy")), read_text_file(tmp.file("b.npy")));
  edit_description(tmp.file("a"), [](json& d) { d.erase("model.norm.weight"); });
  r = test::run_cli("inspect " + tmp.file("a"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("model.norm.weight: in the weights"), std::string::npos) << r.err;
  test::quantize_to_dir(tmp.file("src"), R"({"default": {"method": "rtn", "w_bits": 4, "granularity": "group",
      "group_size": 32, "symmetric": true, "a_bits": 8}})", tmp.file("w4a8"));
  r = test::run_cli("export --format ascend-v1 " + tmp.file("w4a8") + " --out " + tmp.file("c"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("per-group W4A8"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.file("c")));
}

}  // namespace
}  // namespace quantscope
