// stories260K end to end: llama2.c layouts, the forward pass, greedy decoding, determinism.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/parallel.h"
#include "eval/sampler.h"
#include "formats/llama2c.h"
#include "kernels/isa.h"
#include "model/forward.h"
#include "model/llama2c_model.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace quantscope {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<float> all_logits(const Model& m, const std::vector<int>& ids) {
  Forward fwd(m);
  KVCache cache(m.config, int64_t(ids.size()));
  std::vector<float> out(ids.size() * size_t(m.config.vocab_size));
  fwd.run(ids.data(), int64_t(ids.size()), 0, cache, out.data(), true);
  return out;
}

const std::vector<int> kIds = {1, 403, 407, 261, 378, 429, 261, 280, 300, 268, 271, 265, 404, 327, 344, 262, 506, 72};

TEST(Llama2cModel, LoadsStories260K) {
  auto m = load_model(test::data_path("stories260K.bin"));
  EXPECT_EQ(m->config.hidden_size, 64);
  EXPECT_EQ(m->config.intermediate_size, 172);
  EXPECT_EQ(m->config.num_layers, 5);
  EXPECT_EQ(m->config.num_heads, 8);
  EXPECT_EQ(m->config.num_kv_heads, 4);
  EXPECT_EQ(m->config.vocab_size, 512);
  EXPECT_TRUE(m->config.tie_embeddings);
  EXPECT_EQ(m->parameter_count(), 260032);  // as published (data/README.md)
}

TEST(Llama2cModel, GreedyMatchesLlama2cReference) {
  auto m = load_model(test::data_path("stories260K.bin"));
  auto tok = load_tokenizer(test::data_path("stories260K.bin"), test::data_path("tok512.bin"), m->config.vocab_size);
  ASSERT_TRUE(tok);
  // As llama2.c `run -t 0 -n 200`: forward at positions 0..199 from BOS, print each sampled piece.
  Forward fwd(*m);
  KVCache cache(m->config, 200);
  std::vector<float> logits(size_t(m->config.vocab_size));
  int token = m->config.bos_id;
  std::string text;
  for (int pos = 0; pos < 200; ++pos) {
    fwd.run(&token, 1, pos, cache, logits.data(), false);
    const int next = argmax(logits.data(), m->config.vocab_size);
    if (next == m->config.bos_id) break;
    text += tok->decode_piece(token, next);
    token = next;
  }
  EXPECT_EQ(text, slurp(test::data_path("stories260K-greedy200.txt")));
}

TEST(Llama2cModel, CliGreedyIsByteIdentical) {
  auto r = test::run_cli("generate " + test::data_path("stories260K.bin") + " --tokenizer " +
                         test::data_path("tok512.bin") + " --temp 0 -n 200");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.substr(0, r.out.size() - 1), slurp(test::data_path("stories260K-greedy200.txt")));
}

TEST(Llama2cModel, BothLayoutsGiveIdenticalLogits) {
  test::TempDir tmp;
  Llama2cCheckpoint legacy = read_llama2c(test::data_path("stories260K.bin"));
  write_llama2c(tmp.file("v1.bin"), legacy, 1);
  write_llama2c(tmp.file("legacy.bin"), legacy, 0);
  EXPECT_TRUE(read_llama2c(tmp.file("v1.bin")).header.version == 1);
  auto a = load_model(test::data_path("stories260K.bin"));
  auto b = load_model(tmp.file("v1.bin"));
  auto c = load_model(tmp.file("legacy.bin"));
  const auto la = all_logits(*a, kIds), lb = all_logits(*b, kIds), lc = all_logits(*c, kIds);
  ASSERT_EQ(la.size(), lb.size());
  EXPECT_EQ(0, std::memcmp(la.data(), lb.data(), la.size() * 4));
  EXPECT_EQ(0, std::memcmp(la.data(), lc.data(), la.size() * 4));
}

TEST(Llama2cModel, LogitsBitIdenticalForAnyThreadCountSplitAndIsa) {
  auto m = load_model(test::data_path("stories260K.bin"));
  const int saved = num_threads();
  const Isa saved_isa = active_isa();
  set_num_threads(1);
  const auto ref = all_logits(*m, kIds);
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      EXPECT_EQ(0, std::memcmp(ref.data(), all_logits(*m, kIds).data(), ref.size() * 4))
          << isa_name(isa) << " threads " << threads;
    }
    // Token-by-token decoding through the KV cache equals the batched prefill.
    Forward fwd(*m);
    KVCache cache(m->config, int64_t(kIds.size()));
    std::vector<float> step(size_t(m->config.vocab_size));
    for (size_t p = 0; p < kIds.size(); ++p) {
      fwd.run(&kIds[p], 1, int64_t(p), cache, step.data(), false);
      ASSERT_EQ(0, std::memcmp(step.data(), ref.data() + p * 512, 512 * 4)) << isa_name(isa) << " position " << p;
    }
  }
  set_isa(saved_isa);
  set_num_threads(saved);
}

}  // namespace
}  // namespace quantscope
