// The statistics a report draws from stored results: which configurations are Pareto-optimal (quality
// against size), and whether two targets' values of the same measurement differ beyond their errors.
#pragma once

#include <cstddef>
#include <vector>

namespace quantscope {

struct CostQuality {
  double cost = 0;     // lower is better (bytes, bits)
  double quality = 0;  // lower is better (KLD, perplexity)
};

// Indices of the points no other point dominates (another at most as costly and at most as bad, and
// strictly better in one), ordered by cost. Points with a non-finite coordinate are never on the front.
std::vector<std::size_t> pareto_front(const std::vector<CostQuality>& points);

// Two-sided p-value of a z statistic under the standard normal: P(|Z| >= |z|) = erfc(|z| / sqrt 2).
double two_sided_p(double z);

// Holm-Bonferroni step-down adjusted p-values (same order as `p`): controls the family-wise error rate
// over every comparison a report makes, so "significant" means significant among all of them.
// adjusted_(i) = max over j <= i of min(1, (m - j) x p_(j)) with p sorted ascending, j from 0.
std::vector<double> holm_adjust(const std::vector<double>& p);

}  // namespace quantscope
