// Paired block bootstrap for per-token metrics (NLL, KLD) of two models on the same tokens.
// Tokens of one text are correlated, so resampling single tokens would understate the noise: the
// scored tokens are cut into consecutive blocks (default 256 tokens) and whole blocks are resampled
// with replacement, the same blocks for both models (paired).
#pragma once

#include <cstdint>
#include <vector>

namespace quantscope {

struct BlockSums {
  std::vector<double> sums;     // per block: sum of the per-token values
  std::vector<int64_t> counts;  // tokens per block (the last block may be shorter)
};

BlockSums block_sums(const std::vector<double>& per_token, int64_t block_tokens = 256);
BlockSums block_sums(const std::vector<float>& per_token, int64_t block_tokens = 256);

struct PairedBootstrap {
  double diff = 0;            // mean(a) - mean(b) over all tokens
  double lo = 0, hi = 0;      // 95% percentile interval of the resampled differences
  double p_value = 1;         // two-sided: 2 * min(P(diff* <= 0), P(diff* >= 0)), at most 1
  int64_t blocks = 0;
  int iterations = 0;
  bool below_noise() const { return lo <= 0.0 && hi >= 0.0; }
};

// a and b must have the same blocks (same counts). Deterministic for a given seed.
PairedBootstrap paired_block_bootstrap(const BlockSums& a, const BlockSums& b, int iterations = 10000,
                                       uint64_t seed = 1);

}  // namespace quantscope
