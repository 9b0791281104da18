// Summary statistics shared by the evaluators: means with standard errors, percentiles, binomial
// errors and the paired tests used to decide whether two models differ by more than noise.
#pragma once

#include <cstdint>
#include <vector>

namespace quantscope {

struct MeanSe {
  double mean = 0, se = 0;  // se = sample standard deviation (n-1) / sqrt(n); 0 when n < 2
  int64_t n = 0;
};
MeanSe mean_se(const std::vector<double>& x);
MeanSe mean_se(const std::vector<float>& x);

// Percentile q in [0, 100] of x with linear interpolation between order statistics (NumPy's default,
// "linear"): position q/100 * (n-1) in the sorted values. x is sorted in place. NaN when x is empty.
double percentile_sorted(const std::vector<double>& sorted, double q);

// Proportion p of n Bernoulli trials and its standard error sqrt(p (1-p) / (n-1)) — the sample-std
// error of the mean of 0/1 values, as lm-evaluation-harness and llama.cpp report it.
MeanSe proportion(int64_t successes, int64_t n);

// McNemar's test for two classifiers on the same items. b: items only A got right, c: items only B
// got right. p-value from the exact two-sided binomial test on b out of b + c discordant pairs (no
// normal approximation, valid for any count); p = 1 when b + c == 0.
struct McNemar {
  int64_t both = 0, only_a = 0, only_b = 0, neither = 0;
  double p_value = 1;
  bool below_noise(double alpha = 0.05) const { return p_value >= alpha; }
};
McNemar mcnemar(const std::vector<uint8_t>& correct_a, const std::vector<uint8_t>& correct_b);

// Two-sided exact binomial test of k successes in n trials with p = 1/2.
double binomial_two_sided_p(int64_t k, int64_t n);

}  // namespace quantscope
