// Statistics of the evaluators against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>

#include "eval/stats.h"

namespace quantscope {
namespace {

TEST(EvalStats, MeanSe) {
  const MeanSe m = mean_se(std::vector<double>{1, 2, 3, 4});
  EXPECT_DOUBLE_EQ(m.mean, 2.5);
  EXPECT_NEAR(m.se, std::sqrt(5.0 / 3.0 / 4.0), 1e-15);  // sample var 5/3
  EXPECT_EQ(mean_se(std::vector<double>{7}).se, 0.0);
}

TEST(EvalStats, PercentileLinearLikeNumpy) {
  const std::vector<double> s = {1, 2, 3, 4, 10};
  EXPECT_DOUBLE_EQ(percentile_sorted(s, 50), 3);
  EXPECT_DOUBLE_EQ(percentile_sorted(s, 90), 7.6);  // numpy.percentile([1,2,3,4,10], 90)
  EXPECT_DOUBLE_EQ(percentile_sorted(s, 0), 1);
  EXPECT_DOUBLE_EQ(percentile_sorted(s, 100), 10);
  EXPECT_TRUE(std::isnan(percentile_sorted({}, 50)));
}

TEST(EvalStats, Proportion) {
  const MeanSe p = proportion(65, 100);
  EXPECT_DOUBLE_EQ(p.mean, 0.65);
  EXPECT_NEAR(p.se, std::sqrt(0.65 * 0.35 / 99), 1e-15);
}

TEST(EvalStats, McNemarExact) {
  // b = 10, c = 2: p = 2 * P(X <= 2 | n = 12, 1/2) = 2 * (1 + 12 + 66) / 4096
  std::vector<uint8_t> a, b;
  for (int i = 0; i < 10; ++i) a.push_back(1), b.push_back(0);
  for (int i = 0; i < 2; ++i) a.push_back(0), b.push_back(1);
  for (int i = 0; i < 50; ++i) a.push_back(1), b.push_back(1);
  const McNemar m = mcnemar(a, b);
  EXPECT_EQ(m.only_a, 10);
  EXPECT_EQ(m.only_b, 2);
  EXPECT_EQ(m.both, 50);
  EXPECT_NEAR(m.p_value, 158.0 / 4096.0, 1e-12);
  EXPECT_FALSE(m.below_noise());
  EXPECT_DOUBLE_EQ(binomial_two_sided_p(3, 6), 1.0);
  EXPECT_TRUE(mcnemar({1, 0, 1}, {1, 0, 1}).below_noise());
  // large n stays finite: 5000 vs 5100 discordant pairs
  EXPECT_GT(binomial_two_sided_p(5000, 10100), 0.3);
  EXPECT_LT(binomial_two_sided_p(5000, 10100), 0.36);
}

}  // namespace
}  // namespace quantscope
