// Compact KLD reference: file round trip and validation, a model against its own reference (KLD 0,
// 100% agreement), and the compact KLD against the exact full-vocabulary KLD for stories260K with
// its linear weights quantized to 4 bits (RTN, asymmetric, groups of 32): the gap must be >= 0 and
// under the documented per-token bound (docs/perplexity-protocols.md).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/parallel.h"
#include "eval/kld.h"
#include "formats/llama2c.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace quantscope {
namespace {

constexpr int64_t kCtx = 128, kWindows = 3;

std::vector<int> stories_stream(const Model& m) {
  auto tok = load_tokenizer(m.path, test::data_path("tok512.bin"), m.config.vocab_size);
  std::string text = read_text_file(test::data_path("tinystories-valid.txt"));
  text.resize(20000);  // enough for a few windows; keeps tokenization fast
  return tok->encode(text, false);
}

RefHeader make_ref(const Model& m, const std::vector<int>& stream, const std::string& path, RefDType dt, int k,
                   PplProtocol p = PplProtocol::FullWindow) {
  Forward fwd(m);
  RefOptions o;
  o.protocol = p;
  o.ctx = kCtx;
  o.max_windows = kWindows;
  o.k = k;
  o.dtype = dt;
  o.model_path = m.path;
  o.text_path = "tinystories-valid.txt";
  o.progress = false;
  return write_reference(fwd, stream, m.config.bos_id, o, path);
}

KldResult kld_of(const Model& m, const std::string& ref_path) {
  Forward fwd(m);
  RefReader ref(ref_path);
  KldOptions o;
  o.progress = false;
  return kld_against_reference(fwd, ref, o);
}

// RTN 4-bit, asymmetric, groups of 32 along the input dimension of every linear weight.
std::string write_w4_copy(const std::string& dir) {
  Llama2cCheckpoint ck = read_llama2c(test::data_path("stories260K.bin"));
  for (const char* name : {"wq", "wk", "wv", "wo", "w1", "w2", "w3"}) {
    TensorView& v = ck.tensors.tensors.at(name);
    const int64_t n = v.numel(), in = v.shape.back();
    float* out = ck.tensors.new_f32_buffer(size_t(n));
    const float* x = v.as<float>();
    for (int64_t row = 0; row < n / in; ++row)
      for (int64_t g0 = 0; g0 < in; g0 += 32) {
        const int64_t g1 = std::min(in, g0 + 32);
        float lo = x[row * in + g0], hi = lo;
        for (int64_t i = g0; i < g1; ++i) lo = std::min(lo, x[row * in + i]), hi = std::max(hi, x[row * in + i]);
        const float scale = hi > lo ? (hi - lo) / 15.0f : 1.0f;
        const float zero = std::round(-lo / scale);
        for (int64_t i = g0; i < g1; ++i) {
          const float q = std::clamp(std::round(x[row * in + i] / scale) + zero, 0.0f, 15.0f);
          out[row * in + i] = (q - zero) * scale;
        }
      }
    v.data = out;
  }
  const std::string path = dir + "/stories260K-w4.bin";
  write_llama2c(path, ck, 0);
  return path;
}

TEST(EvalKld, ReferenceRoundTrip) {
  test::TempDir tmp;
  auto m = load_model(test::data_path("stories260K.bin"));
  const std::vector<int> stream = stories_stream(*m);
  const RefHeader w = make_ref(*m, stream, tmp.file("r.ref"), RefDType::F16, 8, PplProtocol::LlamaCpp);
  RefReader r(tmp.file("r.ref"));
  const RefHeader& h = r.header();
  EXPECT_EQ(h.protocol, PplProtocol::LlamaCpp);
  EXPECT_EQ(h.dtype, RefDType::F16);
  EXPECT_EQ(h.vocab, 512);
  EXPECT_EQ(h.k, 8);
  EXPECT_EQ(h.ctx, kCtx);
  EXPECT_EQ(h.windows, kWindows);
  EXPECT_EQ(h.scored, kWindows * (kCtx - 1 - kCtx / 2));  // llama.cpp scores ctx-1-ctx/2 tokens per chunk
  EXPECT_EQ(h.scored, w.scored);
  EXPECT_EQ(h.stream, stream);
  EXPECT_EQ(h.model, m->path);
  EXPECT_EQ(std::filesystem::file_size(tmp.file("r.ref")),
            72 + 4 + h.model.size() + 4 + h.text.size() + 4 * stream.size() + uint64_t(h.scored * h.record_bytes()) + 8);
  RefToken t;
  r.token(0, &t);
  for (int j = 1; j < 8; ++j) EXPECT_GE(t.logp[j - 1], t.logp[j]);  // descending
  double mass = std::exp(double(t.log_tail));
  for (float lp : t.logp) mass += std::exp(double(lp));
  EXPECT_NEAR(mass, 1.0, 8 * 1e-3);  // f16 log-probs: relative rounding 2^-11 of each
}

TEST(EvalKld, CorruptReferencesAreRejected) {
  test::TempDir tmp;
  auto m = load_model(test::data_path("stories260K.bin"));
  make_ref(*m, stories_stream(*m), tmp.file("r.ref"), RefDType::F32, 4);
  std::string bytes = read_text_file(tmp.file("r.ref"));
  auto expect_error = [&](const std::string& content, const std::string& what) {
    {
      std::ofstream f(tmp.file("bad.ref"), std::ios::binary);
      f << content;
    }
    try {
      RefReader r(tmp.file("bad.ref"));
      FAIL() << "accepted: " << what;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("bad.ref"), std::string::npos) << e.what();
    }
  };
  std::string flipped = bytes;
  flipped[flipped.size() - 100] ^= 0x40;
  expect_error(flipped, "checksum");
  expect_error(bytes.substr(0, bytes.size() - 9), "truncated");
  std::string magic = bytes;
  magic[0] = 'X';
  expect_error(magic, "magic");
  std::string k = bytes;
  k[24] = char(0xff);  // k = 255... wrong record size, caught by k range or size
  expect_error(k, "byte");
}

TEST(EvalKld, SelfKldIsExactlyZeroWithF32) {
  test::TempDir tmp;
  auto m = load_model(test::data_path("stories260K.bin"));
  make_ref(*m, stories_stream(*m), tmp.file("r.ref"), RefDType::F32, 32);
  const KldResult r = kld_of(*m, tmp.file("r.ref"));
  EXPECT_EQ(r.scored, kWindows * (kCtx - 1));
  for (double x : r.token_kld) ASSERT_EQ(x, 0.0);
  EXPECT_EQ(r.kld.mean, 0.0);
  EXPECT_EQ(r.kld_max, 0.0);
  EXPECT_EQ(r.top1.mean, 1.0);
  EXPECT_EQ(r.dp.mean, 0.0);
  EXPECT_EQ(r.rms_dp, 0.0);
  EXPECT_EQ(r.ppl_ratio, 1.0);
  EXPECT_EQ(r.ppl_model, r.ppl_ref);
}

TEST(EvalKld, SelfKldWithinF16Rounding) {
  test::TempDir tmp;
  auto m = load_model(test::data_path("stories260K.bin"));
  make_ref(*m, stories_stream(*m), tmp.file("r.ref"), RefDType::F16, 32);
  const KldResult r = kld_of(*m, tmp.file("r.ref"));
  // Each stored log-prob carries |error| <= 2^-11 |log p| (half precision), so per token
  // |KLD| <= sum_i p_i |log p_i| 2^-11 + tail term: at most ~ (entropy + 1) * 5e-4 nats here.
  for (double x : r.token_kld) ASSERT_LT(std::abs(x), 5e-3);
  EXPECT_LT(std::abs(r.kld.mean), 1e-4);
  EXPECT_EQ(r.top1.mean, 1.0);
  EXPECT_EQ(r.dp.mean, 0.0);  // target log-probs are stored in fp32
}

TEST(EvalKld, CompactKldAgainstExactOnW4) {
  test::TempDir tmp;
  auto base = load_model(test::data_path("stories260K.bin"));
  auto w4 = load_model(write_w4_copy(tmp.path()));
  const std::vector<int> stream = stories_stream(*base);
  // exact full-vocabulary KLD over the same windows
  std::vector<double> exact;
  {
    Forward fa(*base), fb(*w4);
    const int64_t V = base->config.vocab_size;
    KVCache ca(base->config, kCtx), cb(w4->config, kCtx);
    std::vector<PplWindow> windows = ppl_windows(stream, base->config.bos_id, PplProtocol::FullWindow, kCtx);
    windows.resize(kWindows);
    for (const auto& w : windows) {
      const int64_t n = int64_t(w.input.size());
      std::vector<float> la(size_t(n * V)), lb(size_t(n * V));
      fa.run(w.input.data(), n, 0, ca, la.data(), true);
      fb.run(w.input.data(), n, 0, cb, lb.data(), true);
      for (size_t i = 0; i < w.targets.size(); ++i)
        exact.push_back(kld_exact(&la[(size_t(w.first) + i) * size_t(V)], &lb[(size_t(w.first) + i) * size_t(V)], V));
    }
  }
  double exact_mean = 0;
  for (double x : exact) exact_mean += x;
  exact_mean /= double(exact.size());
  ASSERT_GT(exact_mean, 1e-3);  // the W4 copy really differs
  for (int k : {32, 4}) {
    const std::string ref = tmp.file("k" + std::to_string(k) + ".ref");
    make_ref(*base, stream, ref, RefDType::F32, k);
    const KldResult r = kld_of(*w4, ref);
    ASSERT_EQ(r.token_kld.size(), exact.size());
    double gap_max = 0;
    for (size_t i = 0; i < exact.size(); ++i) {
      const double gap = exact[i] - r.token_kld[i];
      // fp32 rounding of the log-probs: |error| <= ~1e-6 nats per token
      ASSERT_GE(gap, -2e-6) << "token " << i;
      ASSERT_LE(gap, r.token_bound[i] + 2e-6) << "token " << i;
      gap_max = std::max(gap_max, gap);
    }
    const double rel = (exact_mean - r.kld.mean) / exact_mean;
    EXPECT_GE(rel, -1e-4);
    EXPECT_LE(exact_mean - r.kld.mean, r.bound_mean + 1e-6);
    std::printf("[ W4 k=%d ] exact KLD %.6f  compact %.6f  relative difference %.3e  mean tail mass %.3e  "
                "mean bound %.3e  max per-token gap %.3e  top-1 %.4f  ppl ratio %.4f\n",
                k, exact_mean, r.kld.mean, rel, r.tail_mass_mean, r.bound_mean, gap_max, r.top1.mean, r.ppl_ratio);
    ::testing::Test::RecordProperty("rel_diff_k" + std::to_string(k), std::to_string(rel));
    if (k == 32) {
      EXPECT_LT(rel, 0.05);  // 32 of 512 tokens hold almost all the mass
    }
  }
}

TEST(EvalKld, IdenticalForOneAndTwoThreads) {
  test::TempDir tmp;
  auto m = load_model(test::data_path("stories260K.bin"));
  const std::vector<int> stream = stories_stream(*m);
  const int saved = num_threads();
  set_num_threads(1);
  make_ref(*m, stream, tmp.file("t1.ref"), RefDType::F16, 16, PplProtocol::Rolling);
  const KldResult a = kld_of(*m, tmp.file("t1.ref"));
  set_num_threads(2);
  make_ref(*m, stream, tmp.file("t2.ref"), RefDType::F16, 16, PplProtocol::Rolling);
  const KldResult b = kld_of(*m, tmp.file("t1.ref"));
  set_num_threads(saved);
  EXPECT_EQ(read_text_file(tmp.file("t1.ref")), read_text_file(tmp.file("t2.ref")));  // byte-identical files
  EXPECT_EQ(a.token_kld, b.token_kld);
  EXPECT_EQ(a.token_bound, b.token_bound);
}

TEST(EvalKld, CliSelfReferenceGivesZero) {
  test::TempDir tmp;
  const std::string model = test::data_path("stories260K.bin") + " --tokenizer " + test::data_path("tok512.bin");
  auto r = test::run_cli("ref " + model + " -q --text " + test::data_path("tinystories-valid.txt") + " --out " +
                         tmp.file("r.ref") + " --ctx 64 --max-windows 3 --dtype f32 --top-k 16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::run_cli("eval " + model + " -q --tasks kld:" + tmp.file("r.ref") + " --json " + tmp.file("o.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(read_text_file(tmp.file("o.json")));
  const auto& t = j["tasks"][0];
  EXPECT_EQ(t["task"], "kld");
  EXPECT_EQ(t["scored_tokens"], 3 * 63);
  EXPECT_EQ(t["kld"]["mean"].get<double>(), 0.0);
  EXPECT_EQ(t["kld"]["max"].get<double>(), 0.0);
  EXPECT_EQ(t["top1_agreement"]["mean"].get<double>(), 1.0);
  EXPECT_EQ(t["ppl"]["ratio"].get<double>(), 1.0);
  // a reference of another vocabulary / a broken file is bad input
  r = test::run_cli("eval " + model + " -q --tasks kld:" + test::data_path("tok512.bin"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("magic"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace quantscope
