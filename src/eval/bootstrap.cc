#include "eval/bootstrap.h"

#include <algorithm>
#include <random>

#include "core/error.h"

namespace quantscope {

namespace {
template <typename T>
BlockSums make_blocks(const std::vector<T>& x, int64_t block_tokens) {
  if (block_tokens <= 0) fail_internal("block_sums: block size must be positive");
  BlockSums b;
  for (size_t i = 0; i < x.size(); i += size_t(block_tokens)) {
    const size_t end = std::min(x.size(), i + size_t(block_tokens));
    double s = 0;
    for (size_t j = i; j < end; ++j) s += double(x[j]);
    b.sums.push_back(s);
    b.counts.push_back(int64_t(end - i));
  }
  return b;
}
}  // namespace

BlockSums block_sums(const std::vector<double>& x, int64_t block_tokens) { return make_blocks(x, block_tokens); }
BlockSums block_sums(const std::vector<float>& x, int64_t block_tokens) { return make_blocks(x, block_tokens); }

PairedBootstrap paired_block_bootstrap(const BlockSums& a, const BlockSums& b, int iterations, uint64_t seed) {
  if (a.counts != b.counts)
    fail_input("paired bootstrap: the two runs scored different tokens ({} vs {} blocks); use the same text, "
               "protocol, context and limit", a.counts.size(), b.counts.size());
  const size_t n = a.sums.size();
  PairedBootstrap r;
  r.blocks = int64_t(n);
  r.iterations = iterations;
  if (n == 0) return r;
  // Per block: difference of sums; the statistic is sum(diff) / sum(count) over the resample.
  std::vector<double> d(n);
  double total = 0, tokens = 0;
  for (size_t i = 0; i < n; ++i) {
    d[i] = a.sums[i] - b.sums[i];
    total += d[i];
    tokens += double(a.counts[i]);
  }
  r.diff = total / tokens;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  std::vector<double> stats(static_cast<size_t>(iterations));
  int64_t le = 0, ge = 0;
  for (int it = 0; it < iterations; ++it) {
    double s = 0, c = 0;
    for (size_t k = 0; k < n; ++k) {
      const size_t i = pick(rng);
      s += d[i];
      c += double(a.counts[i]);
    }
    const double v = s / c;
    stats[size_t(it)] = v;
    le += v <= 0.0;
    ge += v >= 0.0;
  }
  std::sort(stats.begin(), stats.end());
  auto q = [&](double p) { return stats[std::min(size_t(iterations) - 1, size_t(p * double(iterations - 1) + 0.5))]; };
  r.lo = q(0.025);
  r.hi = q(0.975);
  r.p_value = std::min(1.0, 2.0 * double(std::min(le, ge)) / double(iterations));
  return r;
}

}  // namespace quantscope
