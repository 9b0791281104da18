// A llama GGUF written from stories260K loads as a model: F32 gives logits bit-identical to the
// llama2.c checkpoint; F16/BF16/Q8_0/Q4_0/Q4_1 give the logits of the dequantized weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "formats/ggml_blocks.h"
#include "formats/gguf_writer.h"
#include "model/forward.h"
#include "model/gguf_model.h"
#include "test_util.h"

namespace quantscope {
namespace {

const std::vector<int> kIds = {1, 403, 407, 261, 378, 429, 261, 280, 300, 268, 271, 265, 404, 327};

std::vector<float> logits_of(const Model& m) {
  Forward fwd(m);
  KVCache cache(m.config, int64_t(kIds.size()));
  std::vector<float> out(kIds.size() * size_t(m.config.vocab_size));
  fwd.run(kIds.data(), int64_t(kIds.size()), 0, cache, out.data(), true);
  return out;
}

// Writes `m` as a llama GGUF; 2-D weight matrices in `type`, norms in F32 (as llama.cpp does).
// With `round_trip`, matrices are stored as F32 holding what `type` dequantizes to.
void write_llama_gguf(const Model& m, GgmlType type, const std::string& path, bool round_trip = false) {
  const ModelConfig& c = m.config;
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", "stories260K");
  w.set_u32("llama.embedding_length", uint32_t(c.hidden_size));
  w.set_u32("llama.block_count", uint32_t(c.num_layers));
  w.set_u32("llama.feed_forward_length", uint32_t(c.intermediate_size));
  w.set_u32("llama.attention.head_count", uint32_t(c.num_heads));
  w.set_u32("llama.attention.head_count_kv", uint32_t(c.num_kv_heads));
  w.set_u32("llama.context_length", uint32_t(c.max_seq_len));
  w.set_f32("llama.attention.layer_norm_rms_epsilon", c.norm_eps);
  w.set_f32("llama.rope.freq_base", c.rope_theta);
  w.set_u32("tokenizer.ggml.bos_token_id", uint32_t(c.bos_id));
  std::vector<std::vector<float>> keep;
  for (const TensorSpec& spec : m.registry) {
    if (!spec.stored) continue;
    const TensorView& t = *m.tensors.find(spec.name);
    keep.emplace_back(size_t(t.numel()));
    load_float_rows(t, 0, t.rows(), keep.back().data());
    std::vector<int64_t> ne(t.shape.rbegin(), t.shape.rend());
    // Rows that the block size does not divide (ffn_down: K = 172) stay F32, as llama.cpp falls back.
    const bool matrix = t.shape.size() == 2 && t.cols() % ggml_traits(type).block_size == 0;
    if (matrix && round_trip) {
      std::vector<uint8_t> q(ggml_row_size(type, t.cols()));
      for (int64_t r = 0; r < t.rows(); ++r) {
        float* row = keep.back().data() + r * t.cols();
        ggml_quantize_row(type, row, q.data(), t.cols());
        ggml_dequantize_row(type, q.data(), row, t.cols());
      }
    }
    w.add_tensor_from_f32(gguf_tensor_name(spec), matrix && !round_trip ? type : GgmlType::F32, ne,
                          keep.back().data());
  }
  w.write(path);
}

TEST(GgufModel, F32IsBitIdenticalToLlama2c) {
  auto ref = load_model(test::data_path("stories260K.bin"));
  test::TempDir tmp;
  write_llama_gguf(*ref, GgmlType::F32, tmp.file("m.gguf"));
  auto g = load_model(tmp.file("m.gguf"));
  EXPECT_EQ(g->format, "gguf");
  EXPECT_EQ(g->config.rope_style, RopeStyle::Interleaved);
  EXPECT_TRUE(g->config.tie_embeddings);
  const auto a = logits_of(*ref), b = logits_of(*g);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4));
}

TEST(GgufModel, QuantizedTypesLoadAsTheirDequantizedWeights) {
  auto ref = load_model(test::data_path("stories260K.bin"));
  const auto base = logits_of(*ref);
  test::TempDir tmp;
  for (GgmlType type : {GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1}) {
    const std::string name(ggml_traits(type).name);
    write_llama_gguf(*ref, type, tmp.file(name + ".gguf"));
    write_llama_gguf(*ref, type, tmp.file(name + "-dequantized.gguf"), true);
    const auto got = logits_of(*load_model(tmp.file(name + ".gguf")));
    const auto want = logits_of(*load_model(tmp.file(name + "-dequantized.gguf")));
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * 4)) << name;
    EXPECT_NE(0, std::memcmp(got.data(), base.data(), got.size() * 4)) << name << " should differ from fp32";
  }
}

// Q8_0/Q4_0 linears run from their blocks (repacked, dequantized in the kernels' registers), not from an
// fp32 copy; the result is bit-identical to dequantizing at load, and the weights take the packed size.
TEST(GgufModel, Q8AndQ4RunNativelyWithTheLogitsOfDequantizingAtLoad) {
  auto ref = load_model(test::data_path("stories260K.bin"));
  test::TempDir tmp;
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0}) {
    const std::string name(ggml_traits(type).name);
    write_llama_gguf(*ref, type, tmp.file(name + ".gguf"));
    auto native = load_model(tmp.file(name + ".gguf"));
    LoadOptions dequantize;
    dequantize.gguf_native = false;
    auto widened = load_model(tmp.file(name + ".gguf"), dequantize);
    EXPECT_EQ(native->linear(0, TensorRole::AttnQ)->describe(), name);
    EXPECT_EQ(widened->linear(0, TensorRole::AttnQ)->describe(), "f32");
    // q: [64, 64] -> codes (1 or 1/2 byte each) + one fp32 scale per 32 weights
    const uint64_t codes = type == GgmlType::Q8_0 ? 64 * 64 : 64 * 32;
    EXPECT_EQ(native->linear(0, TensorRole::AttnQ)->weight_bytes(), codes + 64 * 2 * 4);
    // The token table stays in blocks too (rows dequantized on lookup), and the tied head reads it.
    ASSERT_NE(native->packed_embedding, nullptr);
    EXPECT_EQ(widened->packed_embedding, nullptr);
    EXPECT_EQ(native->lm_head->describe(), name);
    EXPECT_EQ(native->packed_embedding->weight_bytes(), native->lm_head->weight_bytes());
    for (int64_t n : {int64_t(1), int64_t(kIds.size())}) {  // decode-sized and prefill-sized batches
      Forward fa(*native), fb(*widened);
      KVCache ca(native->config, n), cb(widened->config, n);
      std::vector<float> a(size_t(n * native->config.vocab_size)), b(a.size());
      fa.run(kIds.data(), n, 0, ca, a.data(), true);
      fb.run(kIds.data(), n, 0, cb, b.data(), true);
      EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4)) << name << " n=" << n;
    }
  }
}

TEST(GgufModel, MissingTensorAndWrongArchitectureAreInputErrors) {
  test::TempDir tmp;
  GgufWriter w;
  w.set_string("general.architecture", "gpt2");
  w.write(tmp.file("gpt2.gguf"));
  auto r = test::run_cli("info " + tmp.file("gpt2.gguf"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("gpt2"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace quantscope
