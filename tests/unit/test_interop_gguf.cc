// GGUF export (interop/gguf_export.h): llama.cpp's names and types for openPangu-Embedded
// (`pangu-embedded`, with attention biases) and llama, our codes written as Q8_0/Q4_0 blocks checked
// byte by byte, round trips through our GGUF reader to identical logits, refusals naming tensor and
// rule, and no silent overwrite.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "interop/gguf_export.h"
#include "interop_fixtures.h"
#include "quant/quantized_linear.h"
#include "targets/target_profile.h"
#include "targets/target_run.h"

namespace quantscope {
namespace {

namespace fs = std::filesystem;

const std::vector<int> kIds = {1, 45, 300, 22, 7, 400, 13, 99, 250, 3, 18, 77};

std::vector<float> logits(const std::string& path) { return test::logits_of(*load_any_model(path), kIds); }

std::vector<int64_t> ne_of(const GgufFile& f, const char* name) { return f.tensor(name).ne; }

TEST(GgufExport, PanguEmbeddedNamesTypesAndIdenticalLogits) {
  test::TempDir tmp;
  write_synthetic_checkpoint(test::tiny_pangu(), tmp.file("src"));
  const GgufExportResult r = export_gguf(tmp.file("src"), tmp.file("m.gguf"), {});
  EXPECT_EQ(r.architecture, "pangu-embedded");
  const GgufFile f = read_gguf(tmp.file("m.gguf"));
  EXPECT_EQ(f.get_string("general.architecture"), "pangu-embedded");
  EXPECT_EQ(f.get_u32("pangu-embedded.embedding_length"), 128u);
  EXPECT_EQ(f.get_u32("pangu-embedded.block_count"), 2u);
  EXPECT_EQ(f.get_u32("pangu-embedded.attention.head_count_kv"), 2u);
  EXPECT_EQ(f.get_u32("pangu-embedded.rope.dimension_count"), 32u);
  EXPECT_EQ(f.get_u32("general.file_type"), 32u);  // MOSTLY_BF16
  EXPECT_EQ(f.tensor("token_embd.weight").type, GgmlType::BF16);
  EXPECT_EQ(ne_of(f, "token_embd.weight"), (std::vector<int64_t>{128, 512}));
  EXPECT_EQ(f.tensor("blk.1.attn_k.weight").type, GgmlType::BF16);
  EXPECT_EQ(ne_of(f, "blk.1.attn_k.weight"), (std::vector<int64_t>{128, 64}));
  EXPECT_EQ(f.tensor("blk.1.attn_output.bias").type, GgmlType::F32);  // biases f32, as llama.cpp
  EXPECT_EQ(ne_of(f, "blk.1.attn_output.bias"), (std::vector<int64_t>{128}));
  EXPECT_EQ(f.tensor("blk.0.attn_v.bias").type, GgmlType::F32);
  EXPECT_EQ(f.tensor("blk.0.ffn_norm.weight").type, GgmlType::F32);
  EXPECT_EQ(ne_of(f, "blk.0.ffn_down.weight"), (std::vector<int64_t>{256, 128}));
  EXPECT_EQ(f.find_tensor("output.weight"), nullptr);  // tied: llama.cpp's converter skips it
  EXPECT_EQ(f.tensors.size(), 1u + 1u + 2u * 13u);
  EXPECT_FALSE(r.tokenizer);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "none");  // llama.cpp: a vocabulary of dummy tokens
  EXPECT_EQ(f.get_u32("pangu-embedded.vocab_size"), 512u);  // tiny_pangu()
  // Our reader maps it back onto the openPangu registry: identical logits.
  auto back = load_any_model(tmp.file("m.gguf"));
  EXPECT_EQ(back->config.arch, Architecture::OpenPanguEmbedded);
  EXPECT_TRUE(back->config.o_bias);
  EXPECT_EQ(logits(tmp.file("src")), logits(tmp.file("m.gguf")));
}

TEST(GgufExport, QuantizedCodesBecomeQ8_0AndQ4_0BlocksExactly) {
  test::TempDir tmp;
  write_synthetic_checkpoint(test::tiny_pangu(), tmp.file("src"));
  test::quantize_to_dir(tmp.file("src"),
                        R"({"default": {"method": "rtn", "w_bits": 8, "granularity": "group", "group_size": 32,
                            "symmetric": true, "scale_dtype": "f16"}, "overrides": [{"match": "lm_head", "scheme": {"method": "none"}}]})",
                        tmp.file("q8"));
  const GgufExportResult r = export_gguf(tmp.file("q8"), tmp.file("q8.gguf"), {});
  EXPECT_EQ(r.quantized_blocks_tensors, 14);
  const GgufFile f = read_gguf(tmp.file("q8.gguf"));
  EXPECT_EQ(f.get_u32("general.file_type"), 7u);  // MOSTLY_Q8_0
  EXPECT_EQ(f.get_u32("general.quantization_version"), 2u);
  const GgufTensor& t = f.tensor("blk.0.attn_q.weight");
  ASSERT_EQ(t.type, GgmlType::Q8_0);
  auto m = load_any_model(tmp.file("q8"));
  const QuantizedWeight& w = dynamic_cast<const QuantizedLinear&>(*m->linear(0, TensorRole::AttnQ)).weight();
  // Row 3, block 2: d = the group's scale as fp16; qs = code - 128.
  const uint8_t* blk = t.data + 3 * ggml_row_size(GgmlType::Q8_0, 128) + 2 * 34;
  uint16_t d;
  std::memcpy(&d, blk, 2);
  EXPECT_EQ(f16_to_f32(d), w.params(3, 2).scale);
  for (int j = 0; j < 32; ++j) ASSERT_EQ(int(int8_t(blk[2 + j])), int(w.code(3, 64 + j)) - 128);
  EXPECT_EQ(logits(tmp.file("q8")), logits(tmp.file("q8.gguf")));

  test::quantize_to_dir(tmp.file("src"),
                        R"({"default": {"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 32,
                            "symmetric": true, "scale_dtype": "f16"}, "overrides": [{"match": "lm_head", "scheme": {"method": "none"}}]})",
                        tmp.file("q4"));
  export_gguf(tmp.file("q4"), tmp.file("q4.gguf"), {});
  const GgufFile f4 = read_gguf(tmp.file("q4.gguf"));
  EXPECT_EQ(f4.tensor("blk.1.ffn_up.weight").type, GgmlType::Q4_0);
  EXPECT_EQ(f4.get_u32("general.file_type"), 2u);
  EXPECT_EQ(logits(tmp.file("q4")), logits(tmp.file("q4.gguf")));
}

// A GGUF Q8_0/Q4_0 file is loaded as packed codes; under a target it must run that target's numerics,
// exactly as the quantized directory it was exported from does (it once ran the host's, silently).
TEST(GgufExport, TargetNumericsRunOnTheGgufAsOnItsSource) {
  test::TempDir tmp;
  write_synthetic_checkpoint(test::tiny_pangu(), tmp.file("src"));
  for (int bits : {8, 4}) {
    const std::string q = tmp.file("q" + std::to_string(bits));
    test::quantize_to_dir(tmp.file("src"),
                          R"({"default": {"method": "rtn", "w_bits": )" + std::to_string(bits) +
                              R"(, "granularity": "group", "group_size": 32, "symmetric": true, "scale_dtype": "f16"},
                              "overrides": [{"match": "lm_head", "scheme": {"method": "none"}}]})",
                          q);
    export_gguf(q, q + ".gguf", {});
    auto under_target = [](const std::string& path) {
      auto m = load_any_model(path);
      apply_target(*m, load_target("llamacpp-cpu"));
      return test::logits_of(*m, kIds);
    };
    const std::vector<float> dir = under_target(q), gguf = under_target(q + ".gguf");
    EXPECT_EQ(dir, gguf) << bits << " bits";
    EXPECT_NE(gguf, logits(q + ".gguf")) << "8-bit activation blocks must change the logits";
  }
}

TEST(GgufExport, LlamaFromLlama2cWithTokenizerAndTypes) {
  test::TempDir tmp;
  const std::string src = test::data_path("stories260K.bin");
  GgufExportOptions o;
  o.tokenizer = test::data_path("tok512.bin");
  const GgufExportResult r = export_gguf(src, tmp.file("s.gguf"), o);
  EXPECT_EQ(r.architecture, "llama");
  EXPECT_TRUE(r.tokenizer);
  const GgufFile f = read_gguf(tmp.file("s.gguf"));
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), 512u);
  EXPECT_EQ(f.get_f32_array("tokenizer.ggml.scores").size(), 512u);
  EXPECT_EQ(f.get_i32_array("tokenizer.ggml.token_type")[1], 3);  // BOS is a control token
  EXPECT_EQ(logits(src), logits(tmp.file("s.gguf")));
  // Q8_0 needs rows of multiples of 32: stories260K's ffn_down has K = 172, refused by name.
  o.type = "q8_0";
  try {
    export_gguf(src, tmp.file("s8.gguf"), o);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("blk.0.ffn_down.weight"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp.file("s8.gguf")));
}

TEST(GgufExport, PlainCheckpointQuantizedByTheReferenceQuantizers) {
  test::TempDir tmp;
  write_synthetic_checkpoint(test::tiny_pangu(DType::F32), tmp.file("src"));
  for (const char* type : {"q8_0", "q4_0", "q4_1", "f16"}) {
    GgufExportOptions o;
    o.type = type;
    const std::string out = tmp.file(std::string(type) + ".gguf");
    export_gguf(tmp.file("src"), out, o);
    const GgufFile f = read_gguf(out);
    const GgufTensor& t = f.tensor("blk.0.ffn_gate.weight");
    EXPECT_EQ(ggml_traits(t.type).name, type);
    // Bytes are the reference quantizer's over the fp32 rows.
    auto m = load_any_model(tmp.file("src"));
    const TensorView& v = *m->tensors.find("model.layers.0.mlp.gate_proj.weight");
    std::vector<uint8_t> want(t.nbytes);
    quantize_rows_to(t.type, v.as<float>(), v.rows(), v.cols(), want.data());
    EXPECT_EQ(std::memcmp(want.data(), t.data, t.nbytes), 0) << type;
    EXPECT_EQ(logits(out).size(), 12u * 512u);
  }
}

TEST(GgufExport, RefusesWhatGgufCannotHoldAndNeverOverwritesSilently) {
  test::TempDir tmp;
  write_synthetic_checkpoint(test::tiny_pangu(), tmp.file("src"));
  struct Case {
    const char* recipe;
    const char* rule;
  } cases[] = {
      {R"({"default": {"method": "rtn", "w_bits": 8, "granularity": "channel", "symmetric": true, "a_bits": 8}})",
       "GGUF stores weights only"},
      {R"({"default": {"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 32}})", "symmetric 8-bit (Q8_0)"},
      {R"({"default": {"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 64, "symmetric": true}})",
       "groups of 32"},
      {R"({"default": {"method": "rtn", "w_bits": 8, "granularity": "group", "group_size": 32, "symmetric": true}})",
       "not an fp16 value"},
  };
  int i = 0;
  for (const Case& c : cases) {
    const std::string q = tmp.file("q" + std::to_string(i)), out = tmp.file("o" + std::to_string(i++) + ".gguf");
    test::quantize_to_dir(tmp.file("src"), c.recipe, q);
    try {
      export_gguf(q, out, {});
      ADD_FAILURE() << c.recipe;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("model.layers.0.self_attn.q_proj.weight"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.rule), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(out));
  }
  std::ofstream(tmp.file("exists.gguf")) << "previous";
  EXPECT_THROW(export_gguf(tmp.file("src"), tmp.file("exists.gguf"), {}), InputError);
  EXPECT_EQ(read_text_file(tmp.file("exists.gguf")), "previous");
  GgufExportOptions force;
  force.force = true;
  export_gguf(tmp.file("src"), tmp.file("exists.gguf"), force);
  EXPECT_EQ(read_gguf(tmp.file("exists.gguf")).get_string("general.architecture"), "pangu-embedded");
  auto r = test::run_cli("export --format gguf " + tmp.file("q0") + " --out " + tmp.file("cli.gguf"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("GGUF stores weights only"), std::string::npos) << r.err;
  r = test::run_cli("export --format gguf " + tmp.file("src") + " --out " + tmp.file("cli.gguf") + " --type q8_0");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = test::run_cli("inspect " + tmp.file("cli.gguf"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("q8_0"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace quantscope
