// Throughput of the forward pass, as llama-bench measures it: prefill of P tokens in one batched call
// (tokens/s and the time to the first token's logits) and decode of N tokens one at a time after
// it (tokens/s), repeated R times; medians and spread over the repetitions.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"

namespace quantscope {

struct ThroughputOptions {
  int64_t prompt = 512;  // P prefill tokens (0: no prefill test)
  int64_t gen = 128;     // N decoded tokens (0: no decode test)
  int repetitions = 3;
  int warmup = 1;        // untimed repetitions first (pages of mmapped weights, caches)
  uint64_t seed = 0;     // the token ids are drawn from it (any valid ids: speed does not depend on them)
};

struct RunStats {
  std::vector<double> samples;  // one per repetition
  double median() const;
  double min() const;
  double max() const;
};

struct ThroughputResult {
  RunStats prefill_tok_s, decode_tok_s, ttft_s;  // ttft: seconds of the prefill call incl. last logits
  uint64_t weight_bytes = 0;      // bytes of all weights as bound (quantized layers their own)
  uint64_t streamed_weight_bytes = 0;  // weights one decode step reads: every linear and lm_head (not the
                                       // embedding table, of which one row is read)
  uint64_t kv_bytes_per_token_read = 0;           // KV-cache bytes one decode step reads, averaged over the run
  uint64_t kv_cache_bytes = 0;  // the whole fp32 KV cache of one repetition (P + N + 1 positions)
  double decode_gb_s = 0;  // (streamed weight + KV bytes per token) x median decode tok/s / 1e9
  // Arithmetic of the prefill: 2 flops per multiply-add of every linear and lm_head (all P positions'
  // logits are computed) and of attention's scores and weighted sum over the causal context.
  double prefill_flops = 0;
  double prefill_gflop_s = 0;  // prefill_flops / median prefill seconds / 1e9
};

ThroughputResult measure_throughput(const Model& model, const ThroughputOptions& o);

}  // namespace quantscope
