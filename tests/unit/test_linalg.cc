// Cholesky factor and triangular inverse used by GPTQ/GPTAQ/BiLLM (quant/linalg.h): checked against
// their defining identities in long double, at sizes that cover one panel, several panels and ragged
// tails, and for equality across thread counts.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/parallel.h"
#include "quant/linalg.h"

namespace quantscope {
namespace {

// A well-conditioned random SPD matrix: G G^T / m + I.
std::vector<double> random_spd(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd;
  const int64_t m = n + 3;
  std::vector<double> g(size_t(n * m)), a(size_t(n * n));
  for (auto& v : g) v = nd(rng);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      long double s = 0;
      for (int64_t k = 0; k < m; ++k) s += (long double)g[size_t(i * m + k)] * g[size_t(j * m + k)];
      a[size_t(i * n + j)] = double(s / m) + (i == j ? 1.0 : 0.0);
    }
  return a;
}

class LinalgSizes : public ::testing::TestWithParam<int64_t> {};

TEST_P(LinalgSizes, TriangularInverseTimesFactorIsIdentity) {
  const int64_t n = GetParam();
  std::vector<double> l = random_spd(n, 7);
  ASSERT_TRUE(cholesky_lower(l.data(), n));
  std::vector<double> x(size_t(n * n), -1.0);  // garbage: the upper triangle must be written as zeros
  ASSERT_TRUE(invert_lower_triangular(l.data(), n, x.data()));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      if (j > i) {
        ASSERT_EQ(x[size_t(i * n + j)], 0.0) << i << "," << j;
        continue;
      }
      long double s = 0;  // (L X)[i][j]
      for (int64_t k = j; k <= i; ++k) s += (long double)l[size_t(i * n + k)] * x[size_t(k * n + j)];
      // Forward substitution error grows ~ n * eps * cond(L); cond(L) is small for G G^T / m + I.
      EXPECT_NEAR(double(s), i == j ? 1.0 : 0.0, 1e-13 * double(n)) << i << "," << j;
    }
}

TEST_P(LinalgSizes, InverseCholeskyUpperFactorsTheInverse) {
  const int64_t n = GetParam();
  const std::vector<double> h = random_spd(n, 11);
  std::vector<double> u;
  ASSERT_TRUE(inverse_cholesky_upper(h, n, &u));
  // U upper with a positive diagonal, and (U^T U) H = I.
  std::vector<long double> hinv(size_t(n * n), 0.0L);
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_GT(u[size_t(i * n + i)], 0.0);
    for (int64_t j = 0; j < i; ++j) ASSERT_EQ(u[size_t(i * n + j)], 0.0);
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      long double s = 0;
      for (int64_t k = 0; k <= std::min(i, j); ++k) s += (long double)u[size_t(k * n + i)] * u[size_t(k * n + j)];
      hinv[size_t(i * n + j)] = s;
    }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      long double s = 0;
      for (int64_t k = 0; k < n; ++k) s += hinv[size_t(i * n + k)] * h[size_t(k * n + j)];
      EXPECT_NEAR(double(s), i == j ? 1.0 : 0.0, 1e-12 * double(n)) << i << "," << j;
    }
}

INSTANTIATE_TEST_SUITE_P(Sizes, LinalgSizes, ::testing::Values(1, 2, 15, 16, 17, 70, 161));

TEST(Linalg, SameBitsForAnyThreadCount) {
  const int64_t n = 203;
  const std::vector<double> h = random_spd(n, 3);
  const int saved = num_threads();
  std::vector<double> u1, u2;
  set_num_threads(1);
  ASSERT_TRUE(inverse_cholesky_upper(h, n, &u1));
  set_num_threads(2);
  ASSERT_TRUE(inverse_cholesky_upper(h, n, &u2));
  set_num_threads(saved);
  EXPECT_EQ(u1, u2);
}

TEST(Linalg, NotPositiveDefiniteIsReported) {
  // [[1, 2], [2, 1]] has eigenvalues 3 and -1.
  std::vector<double> h = {1, 2, 2, 1}, u;
  EXPECT_FALSE(inverse_cholesky_upper(h, 2, &u));
  std::vector<double> a = h;
  EXPECT_FALSE(cholesky_lower(a.data(), 2));
}

TEST(Linalg, NonFiniteInverseIsReported) {
  // A tiny diagonal entry overflows the inverse.
  std::vector<double> l = {1e-300, 0, 1, 1e-300}, x(4);
  EXPECT_FALSE(invert_lower_triangular(l.data(), 2, x.data()));
}

}  // namespace
}  // namespace quantscope
