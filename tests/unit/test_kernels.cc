// Fast kernels vs their scalar references on every ISA this CPU has: bit-identical by design
// (fixed reduction order, correctly rounded element operations), on odd sizes, tails, unaligned
// pointers; and accuracy against exact arithmetic with bounds derived from the operations.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "kernels/dot.h"
#include "kernels/exp.h"
#include "kernels/isa.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/vec.h"

namespace quantscope {
namespace {

class ForEachIsa : public ::testing::Test {
 protected:
  void TearDown() override { set_isa(saved_); }
  Isa saved_ = active_isa();
};

std::vector<float> random_vector(size_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

TEST_F(ForEachIsa, DotIsBitIdenticalToScalarReferenceAndAccurate) {
  const auto a = random_vector(1100, 1), b = random_vector(1100, 2);
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int64_t n : {0, 1, 7, 8, 15, 16, 17, 31, 33, 64, 100, 172, 1029}) {
      for (int64_t off : {0, 1, 3}) {  // unaligned starts
        const float ref = dot_f32_scalar(a.data() + off, b.data() + off, n);
        const float got = dot_f32(a.data() + off, b.data() + off, n);
        ASSERT_EQ(bits(ref), bits(got)) << isa_name(isa) << " n=" << n << " off=" << off;
        // |error| <= n * eps * sum |a_i b_i| (standard bound for any summation order, with fma)
        double exact = 0, mag = 0;
        for (int64_t i = 0; i < n; ++i) {
          exact += double(a[size_t(off + i)]) * double(b[size_t(off + i)]);
          mag += std::fabs(double(a[size_t(off + i)]) * double(b[size_t(off + i)]));
        }
        EXPECT_LE(std::fabs(double(got) - exact), double(n) * 0x1p-24 * mag + 1e-30) << n;
      }
    }
  }
}

TEST_F(ForEachIsa, FmaAxpyIsExactPerElement) {
  const auto x = random_vector(200, 3);
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int64_t n : {1, 5, 8, 16, 23, 199}) {
      auto y = random_vector(200, 4);
      auto ref = y;
      fma_axpy(0.37f, x.data() + 1, y.data() + 1, n);
      for (int64_t i = 0; i < n; ++i) ref[size_t(i + 1)] = std::fma(0.37f, x[size_t(i + 1)], ref[size_t(i + 1)]);
      ASSERT_EQ(0, std::memcmp(y.data(), ref.data(), y.size() * 4)) << isa_name(isa) << " n=" << n;
    }
  }
}

TEST_F(ForEachIsa, ExpMatchesScalarBitsAndIsWithinTwoUlp) {
  std::vector<float> x = random_vector(1000, 5, 20.0f);
  for (float special : {0.0f, -0.0f, 1.0f, -1.0f, -87.3f, -87.4f, 88.7f, 88.8f, -200.0f, 200.0f, 1e-30f,
                        0.34657359f, -0.34657359f, NAN, INFINITY, -INFINITY})
    x.push_back(special);
  std::vector<float> ref(x.size());
  const float ref_sum = exp_shift_sum_scalar(x.data(), 0.5f, ref.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double e = std::exp(double(x[i] - 0.5f));  // the kernel sees the fp32 difference
    const float v = ref[i];
    if (std::isnan(x[i])) {
      EXPECT_TRUE(std::isnan(v));
    } else if (e < 1.2e-38) {
      EXPECT_EQ(v, 0.0f) << x[i];  // documented: no subnormal results
    } else if (e > 3.4e38) {
      EXPECT_TRUE(std::isinf(v)) << x[i];
    } else {
      const double ulp = std::ldexp(1.0, std::ilogb(float(e)) - 23);
      EXPECT_LE(std::fabs(double(v) - e), 2 * ulp) << "x=" << x[i];
    }
  }
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int64_t n : std::vector<int64_t>{1, 7, 8, 9, 16, 17, 33, int64_t(x.size())}) {
      std::vector<float> got(x.size()), want(x.size());
      const float s = exp_shift_sum(x.data(), 0.5f, got.data(), n);
      const float w = exp_shift_sum_scalar(x.data(), 0.5f, want.data(), n);
      ASSERT_EQ(0, std::memcmp(got.data(), want.data(), size_t(n) * 4)) << isa_name(isa) << " n=" << n;
      ASSERT_TRUE(bits(s) == bits(w) || (std::isnan(s) && std::isnan(w))) << isa_name(isa) << " n=" << n;
    }
  }
  (void)ref_sum;
}

// SwiGLU on every ISA gives swiglu_scalar's bits (odd lengths, tails, gates that overflow exp(-g) or
// underflow it), and the reference is SiLU(g) * up within the error its exp (2 ulp) allows.
TEST_F(ForEachIsa, SwigluMatchesScalarBitsAndSiluTimesUp) {
  std::vector<float> gate = random_vector(300, 11, 12.0f), up = random_vector(300, 12, 3.0f);
  const float specials[] = {0.0f, -0.0f, 1.0f, -1.0f, 87.4f, -87.4f, 88.8f, -88.8f, -200.0f, 200.0f, 1e-30f, -1e-30f};
  for (size_t i = 0; i < std::size(specials); ++i) gate[20 * i + 3] = specials[i];
  std::vector<float> ref = gate;
  swiglu_scalar(ref.data(), up.data(), int64_t(ref.size()));
  for (size_t i = 0; i < ref.size(); ++i) {
    const double g = gate[i], want = g / (1.0 + std::exp(-g)) * double(up[i]);
    // exp within 2 ulp moves 1 + exp(-g) by at most 2 ulp of itself; three more roundings (+, /, *).
    // Below g = -88.72 exp(-g) is inf and the result -0, where SiLU is below 88.8 e^-88.72 ~ 3e-37.
    EXPECT_NEAR(double(ref[i]), want, std::fabs(want) * 6e-7 + 1e-35) << "g=" << g << " up=" << up[i];
  }
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int64_t n : {1, 7, 8, 9, 15, 16, 17, 33, 300}) {
      for (int64_t off : {0, 1}) {
        std::vector<float> got = gate, want = gate;
        swiglu(got.data() + off, up.data() + off, n - off);
        swiglu_scalar(want.data() + off, up.data() + off, n - off);
        ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * 4)) << isa_name(isa) << " n=" << n << " off=" << off;
      }
    }
  }
}

TEST_F(ForEachIsa, MatmulEqualsReferenceForEveryWeightDtype) {
  const int64_t m = 5, n = 37, k = 172;
  const auto x = random_vector(size_t(m * k), 6);
  const auto w32 = random_vector(size_t(n * k), 7);
  const auto bias = random_vector(size_t(n), 8);
  std::vector<uint16_t> w16(w32.size()), wb16(w32.size());
  for (size_t i = 0; i < w32.size(); ++i) {
    w16[i] = f32_to_f16(w32[i]);
    wb16[i] = f32_to_bf16(w32[i]);
  }
  const DenseMatrix mats[] = {{DType::F32, n, k, w32.data()}, {DType::F16, n, k, w16.data()}, {DType::BF16, n, k, wb16.data()}};
  for (const auto& w : mats) {
    std::vector<float> ref(size_t(m * n)), got(size_t(m * n));
    matmul_reference(x.data(), m, w, bias.data(), ref.data());
    for (Isa isa : supported_isas()) {
      set_isa(isa);
      matmul(x.data(), m, w, bias.data(), got.data());
      ASSERT_EQ(0, std::memcmp(ref.data(), got.data(), ref.size() * 4)) << isa_name(isa) << " " << dtype_name(w.dtype);
    }
  }
}

}  // namespace
}  // namespace quantscope
