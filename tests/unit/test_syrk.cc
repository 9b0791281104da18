// x^T x and (a - b)^T b in double (kernels/syrk.h) against the plain loops that define them: memcmp-identical
// on every ISA this CPU has, for 1 and 2 threads, odd sizes (every tile edge), several chunks of tokens,
// values over a wide exponent range; the lower-triangle kernel leaves the upper triangle alone; Hessian::add
// and AsymmetricCrossTerm::add are the same loops.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/parallel.h"
#include "kernels/isa.h"
#include "kernels/syrk.h"
#include "quant/calibration.h"
#include "quant/gptaq.h"

namespace quantscope {
namespace {

class Syrk : public ::testing::Test {
 protected:
  void TearDown() override {
    set_isa(saved_isa_);
    set_num_threads(saved_threads_);
    detail::set_syrk_chunk_tokens(0);
  }
  Isa saved_isa_ = active_isa();
  int saved_threads_ = num_threads();
};

// Normal values times 2^e, e uniform in [-40, 40], some exact zeros and subnormals.
std::vector<float> wide_values(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::uniform_int_distribution<int> e(-40, 40), kind(0, 19);
  std::vector<float> v(n);
  for (auto& x : v) {
    const int c = kind(rng);
    x = c == 0 ? 0.0f : c == 1 ? d(rng) * 0x1p-140f : std::ldexp(d(rng), e(rng));
  }
  return v;
}

// Values of x perturbed the way a quantized model's inputs differ (some equal, most close).
std::vector<float> near_values(const std::vector<float>& x, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-0.01f, 0.01f);
  std::uniform_int_distribution<int> kind(0, 4);
  std::vector<float> v(x.size());
  for (size_t i = 0; i < x.size(); ++i) v[i] = kind(rng) == 0 ? x[i] : x[i] * (1.0f + u(rng));
  return v;
}

// A nonzero starting sum.
std::vector<double> start_matrix(int64_t k, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, 1.0);
  std::vector<double> h(size_t(k * k));
  for (auto& x : h) x = d(rng);
  return h;
}

void reference_xtx(const float* x, int64_t m, int64_t k, double* h, bool lower_only) {
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < (lower_only ? i + 1 : k); ++j)
      for (int64_t t = 0; t < m; ++t) h[i * k + j] += double(x[t * k + i]) * double(x[t * k + j]);
}

void reference_dxtx(const float* a, const float* b, int64_t m, int64_t k, double* d) {
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j)
      for (int64_t t = 0; t < m; ++t) {
        volatile double p = (double(a[t * k + i]) - double(b[t * k + i])) * double(b[t * k + j]);  // rounded
        d[i * k + j] += p;
      }
}

const int64_t kKs[] = {1, 3, 8, 15, 17, 24, 25, 63, 100, 257};
const int64_t kMs[] = {1, 5, 64, 513};

TEST_F(Syrk, LowerTriangleIsBitIdenticalToPlainLoopAndUpperUntouched) {
  for (int64_t k : kKs)
    for (int64_t m : kMs) {
      const auto x = wide_values(size_t(m * k), uint64_t(k * 1000 + m));
      const auto h0 = start_matrix(k, uint64_t(k + m));
      auto ref = h0;
      reference_xtx(x.data(), m, k, ref.data(), true);
      for (Isa isa : supported_isas())
        for (int threads : {1, 2})
          for (int64_t chunk : {int64_t(0), int64_t(8), int64_t(100)}) {  // 0: one chunk here
            set_isa(isa);
            set_num_threads(threads);
            detail::set_syrk_chunk_tokens(chunk);
            auto h = h0;
            accumulate_xtx_lower_f64(x.data(), m, k, h.data());
            ASSERT_EQ(0, std::memcmp(h.data(), ref.data(), h.size() * 8))
                << isa_name(isa) << " threads=" << threads << " chunk=" << chunk << " k=" << k << " m=" << m;
          }
    }
}

TEST_F(Syrk, SymmetricIsBitIdenticalToFullPlainLoop) {
  for (int64_t k : kKs)
    for (int64_t m : {int64_t(5), int64_t(513)}) {
      const auto x = wide_values(size_t(m * k), uint64_t(k * 7 + m));
      std::vector<double> ref(size_t(k * k), 0.0);
      reference_xtx(x.data(), m, k, ref.data(), false);
      reference_xtx(x.data(), m, k, ref.data(), false);  // twice: the second call starts from a sum
      for (Isa isa : supported_isas())
        for (int threads : {1, 2})
          for (int64_t chunk : {int64_t(0), int64_t(64)}) {
            set_isa(isa);
            set_num_threads(threads);
            detail::set_syrk_chunk_tokens(chunk);
            std::vector<double> h(size_t(k * k), 0.0);
            accumulate_xtx_f64(x.data(), m, k, h.data());
            accumulate_xtx_f64(x.data(), m, k, h.data());
            ASSERT_EQ(0, std::memcmp(h.data(), ref.data(), h.size() * 8))
                << isa_name(isa) << " threads=" << threads << " chunk=" << chunk << " k=" << k << " m=" << m;
          }
    }
}

TEST_F(Syrk, CrossTermIsBitIdenticalToPlainLoop) {
  for (int64_t k : kKs)
    for (int64_t m : kMs) {
      const auto a = wide_values(size_t(m * k), uint64_t(k * 31 + m));
      const auto b = near_values(a, uint64_t(k * 37 + m));
      const auto d0 = start_matrix(k, uint64_t(k * 3 + m));
      auto ref = d0;
      reference_dxtx(a.data(), b.data(), m, k, ref.data());
      for (Isa isa : supported_isas())
        for (int threads : {1, 2})
          for (int64_t chunk : {int64_t(0), int64_t(24)}) {
            set_isa(isa);
            set_num_threads(threads);
            detail::set_syrk_chunk_tokens(chunk);
            auto d = d0;
            accumulate_dxtx_f64(a.data(), b.data(), m, k, d.data());
            ASSERT_EQ(0, std::memcmp(d.data(), ref.data(), d.size() * 8))
                << isa_name(isa) << " threads=" << threads << " chunk=" << chunk << " k=" << k << " m=" << m;
          }
    }
}

// Inexact products: the difference of far-apart floats has more bits than fit with the other factor, so an
// FMA would round differently from the multiply-then-add the definition asks for.
TEST_F(Syrk, CrossTermRoundsEachProduct) {
  const int64_t k = 19, m = 70;
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<float> u(1.0f, 2.0f);
  std::vector<float> a(size_t(m * k)), b(size_t(m * k));
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = u(rng) * 0x1p20f;
    b[i] = u(rng) * 0x1p-20f;
  }
  std::vector<double> ref(size_t(k * k), 0.0), fused(size_t(k * k), 0.0);
  reference_dxtx(a.data(), b.data(), m, k, ref.data());
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j)
      for (int64_t t = 0; t < m; ++t)
        fused[size_t(i * k + j)] = std::fma(double(a[size_t(t * k + i)]) - double(b[size_t(t * k + i)]),
                                            double(b[size_t(t * k + j)]), fused[size_t(i * k + j)]);
  ASSERT_NE(0, std::memcmp(fused.data(), ref.data(), ref.size() * 8)) << "the data should tell FMA apart";
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    std::vector<double> d(size_t(k * k), 0.0);
    accumulate_dxtx_f64(a.data(), b.data(), m, k, d.data());
    ASSERT_EQ(0, std::memcmp(d.data(), ref.data(), d.size() * 8)) << isa_name(isa);
  }
}

// The pre-kernel Hessian::add skipped tokens with x[t][i] == 0; adding them gives the same bits.
TEST_F(Syrk, HessianAddMatchesSkippingLoopOnFiniteInputs) {
  const int64_t k = 41, m = 130;
  auto x = wide_values(size_t(m * k), 5);
  for (size_t i = 0; i < x.size(); i += 7) x[i] = (i / 7) % 2 ? 0.0f : -0.0f;  // many exact zeros
  std::vector<double> ref(size_t(k * k), 0.0);
  for (int call = 0; call < 2; ++call)
    for (int64_t i = 0; i < k; ++i)
      for (int64_t t = 0; t < m; ++t) {
        const double a = x[size_t(t * k + i)];
        if (a == 0.0) continue;
        for (int64_t j = 0; j < k; ++j) ref[size_t(i * k + j)] += a * double(x[size_t(t * k + j)]);
      }
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    Hessian h(k);
    h.add(x.data(), m);
    h.add(x.data(), m);
    EXPECT_EQ(h.tokens(), 2 * m);
    ASSERT_EQ(0, std::memcmp(h.data(), ref.data(), ref.size() * 8)) << isa_name(isa);
  }
}

TEST_F(Syrk, CrossTermAddMatchesSkippingLoopOnFiniteInputs) {
  const int64_t k = 33, m = 97;
  const auto a = wide_values(size_t(m * k), 6);
  const auto b = near_values(a, 7);  // a fifth of the differences are exactly zero
  std::vector<double> ref(size_t(k * k), 0.0);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t t = 0; t < m; ++t) {
      const double di = double(a[size_t(t * k + i)]) - double(b[size_t(t * k + i)]);
      if (di == 0.0) continue;
      for (int64_t j = 0; j < k; ++j) {
        volatile double p = di * double(b[size_t(t * k + j)]);
        ref[size_t(i * k + j)] += p;
      }
    }
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    AsymmetricCrossTerm c(k);
    c.add(a.data(), b.data(), m);
    ASSERT_EQ(0, std::memcmp(c.data(), ref.data(), ref.size() * 8)) << isa_name(isa);
  }
}

// Non-finite inputs propagate symmetrically to the token's row and column (documented in syrk.h).
TEST_F(Syrk, NonFiniteInputPropagatesSymmetrically) {
  const int64_t k = 20, m = 9;
  auto x = wide_values(size_t(m * k), 8);
  x[size_t(4 * k + 6)] = INFINITY;
  x[size_t(4 * k + 2)] = 0.0f;
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    Hessian h(k);
    h.add(x.data(), m);
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) {
        const bool touched = i == 6 || j == 6;
        EXPECT_EQ(!std::isfinite(h.at(i, j)), touched) << isa_name(isa) << " " << i << "," << j;
      }
    EXPECT_TRUE(std::isnan(h.at(2, 6)) && std::isnan(h.at(6, 2))) << isa_name(isa);  // 0 * inf
  }
}

TEST_F(Syrk, EmptyCallsChangeNothing) {
  std::vector<double> h(9, 1.5), d(9, 2.5);
  const float x[3] = {1, 2, 3};
  accumulate_xtx_f64(x, 0, 3, h.data());
  accumulate_xtx_lower_f64(x, 0, 3, h.data());
  accumulate_dxtx_f64(x, x, 0, 3, d.data());
  for (double v : h) EXPECT_EQ(v, 1.5);
  for (double v : d) EXPECT_EQ(v, 2.5);
}

}  // namespace
}  // namespace quantscope
