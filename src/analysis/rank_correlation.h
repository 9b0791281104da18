// Spearman's rank correlation: how far a cheap proxy (weight error, output error) orders the units of a
// model the way their measured end-to-end KLD does. Ties get their average rank (so a constant proxy has
// no defined correlation: NaN is returned, never a made-up 0).
#pragma once

#include <vector>

namespace quantscope {

// 1-based ranks, ties averaged.
std::vector<double> average_ranks(const std::vector<double>& x);

// Pearson correlation of the average ranks of a and b (same length >= 2); NaN when either is constant.
double spearman(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace quantscope
