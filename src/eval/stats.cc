#include "eval/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace quantscope {

namespace {
template <typename T>
MeanSe mean_se_impl(const std::vector<T>& x) {
  MeanSe r;
  r.n = int64_t(x.size());
  if (x.empty()) return r;
  double sum = 0;
  for (T v : x) sum += double(v);
  r.mean = sum / double(r.n);
  if (r.n < 2) return r;
  double ss = 0;  // two-pass: the mean first, then squared deviations (no cancellation)
  for (T v : x) ss += (double(v) - r.mean) * (double(v) - r.mean);
  r.se = std::sqrt(ss / double(r.n - 1) / double(r.n));
  return r;
}
}  // namespace

MeanSe mean_se(const std::vector<double>& x) { return mean_se_impl(x); }
MeanSe mean_se(const std::vector<float>& x) { return mean_se_impl(x); }

double percentile_sorted(const std::vector<double>& s, double q) {
  if (s.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double pos = std::clamp(q, 0.0, 100.0) / 100.0 * double(s.size() - 1);
  const size_t lo = size_t(std::floor(pos));
  const size_t hi = std::min(lo + 1, s.size() - 1);
  const double frac = pos - double(lo);
  return s[lo] + (s[hi] - s[lo]) * frac;
}

MeanSe proportion(int64_t successes, int64_t n) {
  MeanSe r;
  r.n = n;
  if (n <= 0) return r;
  r.mean = double(successes) / double(n);
  if (n > 1) r.se = std::sqrt(r.mean * (1 - r.mean) / double(n - 1));
  return r;
}

double binomial_two_sided_p(int64_t k, int64_t n) {
  if (n <= 0) return 1.0;
  // P(X <= min(k, n-k)) for X ~ Bin(n, 1/2), doubled and capped at 1; terms summed in log space so
  // large n (a million items) neither overflows nor underflows before the sum.
  const int64_t m = std::min(k, n - k);
  const double log_half_n = double(n) * std::log(0.5);
  double acc = 0;
  for (int64_t i = 0; i <= m; ++i) {
    const double log_term = std::lgamma(double(n) + 1) - std::lgamma(double(i) + 1) - std::lgamma(double(n - i) + 1) +
                            log_half_n;
    acc += std::exp(log_term);
  }
  return std::min(1.0, 2.0 * acc);
}

McNemar mcnemar(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) fail_input("McNemar: {} items against {} (the runs must score the same items)", a.size(), b.size());
  McNemar r;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] && b[i]) ++r.both;
    else if (a[i]) ++r.only_a;
    else if (b[i]) ++r.only_b;
    else ++r.neither;
  }
  r.p_value = binomial_two_sided_p(r.only_a, r.only_a + r.only_b);
  return r;
}

}  // namespace quantscope
