// llama.cpp's activation quantization (kernels/q8_activations.h): the scalar version against values
// worked out by hand, and every ISA this CPU has against the scalar version bit for bit on random rows
// with exact rounding ties, partial blocks, all-zero blocks and non-finite values, 1 and 2 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/parallel.h"
#include "isa_fixture.h"
#include "kernels/isa.h"
#include "kernels/q8_activations.h"

namespace quantscope {
namespace {

using Q8ActivationsTest = test::IsaAndThreadsRestored;

TEST_F(Q8ActivationsTest, ScalarMatchesHandComputedBlocks) {
  // One row of 40 columns: block 0 has amax 1.27, so d = 0.01 and x * (1 / d) ~= 100 x; block 1 (8
  // columns, zero-padded to 32) is all zero: d = 0, q = 0.
  std::vector<float> x(40, 0.0f);
  x[0] = 1.27f, x[1] = -0.5f, x[2] = 0.004f, x[3] = 0.006f, x[4] = -1.27f;
  Q8Activations a;
  quantize_q8_activations_scalar(x.data(), 1, 40, a);
  ASSERT_EQ(a.blocks, 2);
  ASSERT_EQ(a.q.size(), 64u);
  const float id = 1.0f / (1.27f / 127.0f);
  EXPECT_EQ(a.q[0], 127);
  EXPECT_EQ(a.q[1], int8_t(std::round(-0.5f * id)));  // -50
  EXPECT_EQ(a.q[1], -50);
  EXPECT_EQ(a.q[2], 0);   // 0.4 rounds to 0
  EXPECT_EQ(a.q[3], 1);   // 0.6 rounds to 1
  EXPECT_EQ(a.q[4], -127);
  EXPECT_EQ(a.qsum[0], 127 - 50 + 0 + 1 - 127);
  EXPECT_EQ(a.d[0], f16_to_f32(f32_to_f16(1.27f / 127.0f)));
  EXPECT_EQ(a.d[1], 0.0f);
  EXPECT_EQ(a.qsum[1], 0);
  for (int c = 32; c < 64; ++c) EXPECT_EQ(a.q[size_t(c)], 0) << c;
  EXPECT_EQ(a.finite[0], 1);
}

TEST_F(Q8ActivationsTest, TiesRoundAwayFromZero) {
  // amax 127 makes d = 1 and id = 1, so x * id = x exactly: halves are true ties.
  std::vector<float> x = {127.0f, 0.5f, -0.5f, 1.5f, -2.5f, 126.5f, -0.49999997f, 2.4999998f};
  x.resize(32, 0.0f);
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    Q8Activations a;
    quantize_q8_activations(x.data(), 1, 32, a);
    const std::vector<int8_t> want = {127, 1, -1, 2, -3, 127, 0, 2};
    for (size_t c = 0; c < want.size(); ++c) EXPECT_EQ(a.q[c], want[c]) << isa_name(isa) << " column " << c;
  }
}

TEST_F(Q8ActivationsTest, EveryIsaMatchesScalarBitForBit) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int64_t k : {1, 31, 32, 33, 64, 100, 1536}) {
    const int64_t m = 5;
    std::vector<float> x(size_t(m * k));
    for (auto& v : x) v = nd(rng) * (rng() % 4 == 0 ? 100.0f : 1.0f);
    // Row 1: a tie in every block (amax 127 -> id 1); row 2: a block of zeros; row 3: a NaN; row 4 an inf.
    for (int64_t c = 0; c < k; ++c) x[size_t(1 * k + c)] = float(int(rng() % 254) - 127) + 0.5f * float(c % 2);
    for (int64_t c = 0; c < k; c += 32) x[size_t(1 * k + c)] = 127.0f;
    for (int64_t c = 0; c < std::min<int64_t>(k, 32); ++c) x[size_t(2 * k + c)] = 0.0f;
    x[size_t(3 * k + k / 2)] = std::numeric_limits<float>::quiet_NaN();
    x[size_t(4 * k + k - 1)] = -std::numeric_limits<float>::infinity();
    Q8Activations want;
    quantize_q8_activations_scalar(x.data(), m, k, want);
    EXPECT_EQ(want.finite, (std::vector<uint8_t>{1, 1, 1, 0, 0})) << k;
    for (size_t i = 3 * size_t(want.blocks); i < want.d.size(); ++i) EXPECT_EQ(want.d[i], 0.0f);
    for (Isa isa : supported_isas())
      for (int threads : {1, 2}) {
        set_isa(isa);
        set_num_threads(threads);
        Q8Activations got;
        quantize_q8_activations(x.data(), m, k, got);
        const std::string where = std::string(isa_name(isa)) + " k=" + std::to_string(k) + " threads=" +
                                  std::to_string(threads);
        EXPECT_EQ(got.q, want.q) << where;
        EXPECT_EQ(got.qsum, want.qsum) << where;
        EXPECT_EQ(got.finite, want.finite) << where;
        ASSERT_EQ(got.d.size(), want.d.size()) << where;
        for (size_t i = 0; i < got.d.size(); ++i) EXPECT_EQ(f32_bits(got.d[i]), f32_bits(want.d[i])) << where << " " << i;
      }
  }
}

}  // namespace
}  // namespace quantscope
