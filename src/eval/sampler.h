// Next-token choice: greedy (temperature 0, lowest id on ties) or temperature + top-p sampling
// from a seeded generator (the same seed gives the same text).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace quantscope {

class Sampler {
 public:
  Sampler(int vocab_size, float temperature, float top_p, uint64_t seed);
  int sample(const float* logits);

 private:
  int vocab_;
  float temperature_, top_p_;
  std::mt19937_64 rng_;
  std::vector<float> probs_;
  std::vector<int> order_;
};

int argmax(const float* x, int n);

}  // namespace quantscope
