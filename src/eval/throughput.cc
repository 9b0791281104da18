#include "eval/throughput.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "model/forward.h"

namespace quantscope {

namespace {

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

double RunStats::median() const { return median_of(samples); }
double RunStats::min() const { return samples.empty() ? 0 : *std::min_element(samples.begin(), samples.end()); }
double RunStats::max() const { return samples.empty() ? 0 : *std::max_element(samples.begin(), samples.end()); }

ThroughputResult measure_throughput(const Model& model, const ThroughputOptions& o) {
  const ModelConfig& c = model.config;
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int> tok(0, c.vocab_size - 1);
  std::vector<int> prompt(size_t(std::max<int64_t>(o.prompt, 1)));
  for (auto& t : prompt) t = tok(rng);
  ThroughputResult r;
  r.weight_bytes = model.weight_bytes();
  for (int l = 0; l < c.num_layers; ++l)
    for (TensorRole role : {TensorRole::AttnQ, TensorRole::AttnK, TensorRole::AttnV, TensorRole::AttnO,
                            TensorRole::MlpGate, TensorRole::MlpUp, TensorRole::MlpDown})
      r.streamed_weight_bytes += model.linear(l, role)->weight_bytes();
  r.streamed_weight_bytes += model.lm_head->weight_bytes();
  Forward fwd(model);
  std::vector<float> logits(size_t(c.vocab_size));
  for (int rep = -o.warmup; rep < o.repetitions; ++rep) {
    KVCache cache(c, o.prompt + o.gen + 1);
    int64_t pos = 0;
    if (o.prompt > 0) {
      const auto t0 = std::chrono::steady_clock::now();
      fwd.run(prompt.data(), o.prompt, 0, cache, logits.data(), false);
      const double s = seconds_since(t0);
      if (rep >= 0) {
        r.prefill_tok_s.samples.push_back(double(o.prompt) / s);
        r.ttft_s.samples.push_back(s);
      }
      pos = o.prompt;
    }
    if (o.gen > 0) {
      // Decode after the prompt, as llama-bench's tg test runs from an empty context; here the context
      // holds the prompt, which is what a user waits for after prefill.
      int next = int(std::max_element(logits.begin(), logits.end()) - logits.begin());
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < o.gen; ++i) {
        fwd.run(&next, 1, pos + i, cache, logits.data(), false);
        next = int(std::max_element(logits.begin(), logits.end()) - logits.begin());
      }
      if (rep >= 0) r.decode_tok_s.samples.push_back(double(o.gen) / seconds_since(t0));
    }
  }
  // A decode step at position p reads p + 1 keys and values of every layer (fp32 cache).
  const double mean_ctx = double(o.prompt) + double(o.gen + 1) / 2.0;
  r.kv_bytes_per_token_read = uint64_t(mean_ctx * 2.0 * double(c.num_layers) * double(c.kv_dim()) * sizeof(float));
  r.kv_cache_bytes = uint64_t(o.prompt + o.gen + 1) * 2 * uint64_t(c.num_layers) * uint64_t(c.kv_dim()) * sizeof(float);
  r.decode_gb_s = double(r.streamed_weight_bytes + r.kv_bytes_per_token_read) * r.decode_tok_s.median() / 1e9;
  // Prefill computes the logits of the last position only (as llama-bench's pp test): lm_head once.
  const double lm_head_macs = double(model.lm_head->in_features()) * double(model.lm_head->out_features());
  double macs_per_token = 0;
  for (int l = 0; l < c.num_layers; ++l)
    for (TensorRole role : {TensorRole::AttnQ, TensorRole::AttnK, TensorRole::AttnV, TensorRole::AttnO,
                            TensorRole::MlpGate, TensorRole::MlpUp, TensorRole::MlpDown})
      macs_per_token += double(model.linear(l, role)->in_features()) * double(model.linear(l, role)->out_features());
  // Position p attends to p + 1 keys: QK^T and the weighted sum, head_dim each, for every query head.
  const double attended = double(o.prompt) * double(o.prompt + 1) / 2.0;
  const double attn_macs = attended * 2.0 * double(c.num_heads) * double(c.head_dim) * double(c.num_layers);
  r.prefill_flops = 2.0 * (macs_per_token * double(o.prompt) + lm_head_macs + attn_macs);
  if (r.prefill_tok_s.median() > 0)
    r.prefill_gflop_s = r.prefill_flops * r.prefill_tok_s.median() / double(o.prompt) / 1e9;
  return r;
}

}  // namespace quantscope
