// Standard-normal test inputs, reproducible from a seed (the kernel tests share this one generator).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace quantscope::test {

inline std::vector<float> normal_floats(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

}  // namespace quantscope::test
