// Forward::run sends a long sequence through each layer in chunks of positions (its scratch is
// [chunk, ...], not [n, ...]): the logits and the KV cache are the same bits for every chunk size,
// for fp32 and for packed 4-bit weights (whose matmul takes the GEMV path for a few rows and the
// panel GEMM for more).
#include <gtest/gtest.h>

#include <cstring>

#include "model/forward.h"
#include "quant/quantize_model.h"
#include "quant/recipe.h"
#include "test_util.h"

namespace quantscope {
namespace {

std::vector<int> token_ids(int64_t n) {
  std::vector<int> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int(1 + (i * 37 + i * i) % 511);  // stories260K: vocab 512
  return ids;
}

std::unique_ptr<Model> stories(bool w4) {
  auto m = load_model(test::data_path("stories260K.bin"));
  if (w4) {
    const Recipe r = parse_recipe(R"({"default": {"method": "rtn", "w_bits": 4, "group_size": 32}})", "w4 recipe");
    QuantizeOptions qo;
    qo.progress = false;
    quantize_model(*m, resolve_recipe(r, m->registry), nullptr, qo);
  }
  return m;
}

// Every key and value the cache holds for positions [0, n): [layer][kv_head][head_dim][n].
std::vector<float> cache_contents(const ModelConfig& c, const KVCache& cache, int64_t n) {
  std::vector<float> out;
  for (int l = 0; l < c.num_layers; ++l)
    for (int h = 0; h < c.num_kv_heads; ++h)
      for (const float* block : {cache.keys(l, h), cache.values(l, h)})
        for (int64_t d = 0; d < c.head_dim; ++d) out.insert(out.end(), block + d * cache.capacity(), block + d * cache.capacity() + n);
  return out;
}

struct Pass {
  std::vector<float> logits;  // [n, vocab]
  std::vector<float> kv;
};

Pass run_chunked(const Model& m, const std::vector<int>& ids, int64_t chunk) {
  const int64_t n = int64_t(ids.size());
  Forward f(m);
  if (chunk > 0) f.set_chunk_rows(chunk);
  KVCache cache(m.config, n);
  Pass p;
  p.logits.resize(size_t(n * m.config.vocab_size));
  f.run(ids.data(), n, 0, cache, p.logits.data(), true);
  p.kv = cache_contents(m.config, cache, n);
  return p;
}

void expect_chunk_sizes_agree(const Model& m) {
  const std::vector<int> ids = token_ids(300);
  const int64_t n = int64_t(ids.size());
  const Pass whole = run_chunked(m, ids, n);
  for (int64_t chunk : {int64_t(0), int64_t(128), int64_t(37), int64_t(4), int64_t(1)}) {  // 0: the default
    const Pass p = run_chunked(m, ids, chunk);
    EXPECT_EQ(0, std::memcmp(p.logits.data(), whole.logits.data(), whole.logits.size() * sizeof(float))) << "chunk " << chunk;
    EXPECT_EQ(0, std::memcmp(p.kv.data(), whole.kv.data(), whole.kv.size() * sizeof(float))) << "chunk " << chunk;
  }
}

TEST(ForwardChunks, ChunkedPrefillIsBitIdenticalFp32) {
  EXPECT_EQ(Forward(*stories(false)).chunk_rows(), Forward::kDefaultChunkRows);
  expect_chunk_sizes_agree(*stories(false));
}

TEST(ForwardChunks, ChunkedPrefillIsBitIdenticalW4) { expect_chunk_sizes_agree(*stories(true)); }

// The last position's logits, and rows computed after the pass (scorers slice the vocabulary's
// logits), are those rows of the all-logits call.
TEST(ForwardChunks, LastAndSlicedLogitsAreRowsOfTheWholeCall) {
  auto m = stories(false);
  const std::vector<int> ids = token_ids(200);
  const int64_t n = int64_t(ids.size()), V = m->config.vocab_size;
  const Pass whole = run_chunked(*m, ids, n);
  Forward f(*m);
  f.set_chunk_rows(64);
  KVCache cache(m->config, n);
  std::vector<float> last(static_cast<size_t>(V));
  f.run(ids.data(), n, 0, cache, last.data(), false);
  EXPECT_EQ(0, std::memcmp(last.data(), whole.logits.data() + (n - 1) * V, size_t(V) * sizeof(float)));
  KVCache cache2(m->config, n);
  f.run(ids.data(), n, 0, cache2, nullptr, false);
  std::vector<float> slice(size_t(70 * V));
  f.compute_logits(90, 70, slice.data());
  EXPECT_EQ(0, std::memcmp(slice.data(), whole.logits.data() + 90 * V, slice.size() * sizeof(float)));
}

struct RowCountTap : ActivationTap {
  std::vector<int64_t> rows;  // m of every call
  void on_linear_input(int, TensorRole, const float*, int64_t m, int64_t) override { rows.push_back(m); }
};

// Taps accumulate per call (calibration Hessians in double): with one attached, run() passes the
// whole call through each layer.
TEST(ForwardChunks, TapsSeeWholeCalls) {
  auto m = stories(false);
  const std::vector<int> ids = token_ids(40);
  Forward f(*m);
  f.set_chunk_rows(16);
  RowCountTap tap;
  f.set_tap(&tap);
  KVCache cache(m->config, 40);
  std::vector<float> logits(static_cast<size_t>(m->config.vocab_size));
  f.run(ids.data(), 40, 0, cache, logits.data(), false);
  ASSERT_EQ(tap.rows.size(), size_t(7 * m->config.num_layers + 1));  // + lm_head, last position only
  for (size_t i = 0; i + 1 < tap.rows.size(); ++i) EXPECT_EQ(tap.rows[i], 40);
  EXPECT_EQ(tap.rows.back(), 1);
}

}  // namespace
}  // namespace quantscope
