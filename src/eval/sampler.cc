#include "eval/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/ops.h"

namespace quantscope {

int argmax(const float* x, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

Sampler::Sampler(int vocab_size, float temperature, float top_p, uint64_t seed)
    : vocab_(vocab_size), temperature_(temperature), top_p_(top_p), rng_(seed) {}

int Sampler::sample(const float* logits) {
  if (temperature_ <= 0.0f) return argmax(logits, vocab_);
  probs_.assign(logits, logits + vocab_);
  for (float& p : probs_) p /= temperature_;
  softmax(probs_.data(), vocab_);
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  if (top_p_ >= 1.0f) {
    double cdf = 0;
    for (int i = 0; i < vocab_; ++i) {
      cdf += probs_[size_t(i)];
      if (u < cdf) return i;
    }
    return vocab_ - 1;
  }
  order_.resize(size_t(vocab_));
  std::iota(order_.begin(), order_.end(), 0);
  std::stable_sort(order_.begin(), order_.end(), [&](int a, int b) { return probs_[size_t(a)] > probs_[size_t(b)]; });
  double mass = 0;
  size_t keep = 0;
  while (keep < order_.size()) {
    mass += probs_[size_t(order_[keep++])];
    if (mass >= top_p_) break;
  }
  double cdf = 0;
  for (size_t i = 0; i < keep; ++i) {
    cdf += probs_[size_t(order_[i])] / mass;
    if (u < cdf) return order_[i];
  }
  return order_[keep - 1];
}

}  // namespace quantscope
