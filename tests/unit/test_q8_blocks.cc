// llama.cpp's CPU arithmetic for quantized matmuls (kernels/q8_blocks.h): the VNNI kernel and the scalar
// reference against the definition written out here from the packed matrix (independent of the tiled
// layout), bit for bit: 1..8-bit codes, symmetric and asymmetric, rows and columns that fill no whole
// tile or block, m = 1..5 activation rows, bias or none, every ISA this CPU has, 1 and 2 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/parallel.h"
#include "kernels/isa.h"
#include "kernels/q8_blocks.h"
#include "random_packed.h"
#include "isa_fixture.h"

namespace quantscope {
namespace {

struct RandomQ8Rows {
  std::vector<int8_t> q;
  std::vector<float> d;
  std::vector<int32_t> qsum;
  Q8Rows view(int64_t m) const { return {q.data(), d.data(), qsum.data(), m}; }
  RandomQ8Rows(int64_t m, int64_t k, uint64_t seed) {
    std::mt19937_64 rng(seed);
    const int64_t nb = (k + kQ8Block - 1) / kQ8Block, kp = nb * kQ8Block;
    q.assign(size_t(m * kp), 0);  // the padding stays 0, as the caller leaves it
    d.resize(size_t(m * nb));
    qsum.assign(size_t(m * nb), 0);
    std::uniform_real_distribution<float> dd(1e-3f, 0.05f);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t c = 0; c < k; ++c) {
        const int v = int(rng() % 255) - 127;
        q[size_t(i * kp + c)] = int8_t(v);
        qsum[size_t(i * nb + c / kQ8Block)] += v;
      }
    for (auto& x : d) x = dd(rng);
  }
};

// The definition of q8_blocks.h from the packed matrix's own codes and params.
std::vector<float> definition(const test::RandomPacked& p, const RandomQ8Rows& x, int64_t m, const float* bias) {
  const PackedCodesMatrix& w = p.w;
  const int64_t nb = (w.cols + kQ8Block - 1) / kQ8Block, kp = nb * kQ8Block;
  std::vector<float> y(size_t(m * w.rows));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < w.rows; ++j) {
      float sum = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t g = std::min(b, w.groups - 1);
        int32_t isum = 0;
        for (int64_t c = b * kQ8Block; c < std::min(w.cols, (b + 1) * kQ8Block); ++c)
          isum += (int32_t(p.codes[size_t(j * w.cols + c)]) - int32_t(w.group_zero(j, g))) * x.q[size_t(i * kp + c)];
        const float ds = x.d[size_t(i * nb + b)] * w.group_scale(j, g);
        const float prod = float(isum) * ds;
        sum = sum + prod;
      }
      y[size_t(i * w.rows + j)] = bias ? sum + bias[j] : sum;
    }
  return y;
}

void expect_bits_equal(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    uint32_t a, b;
    std::memcpy(&a, &got[i], 4);
    std::memcpy(&b, &want[i], 4);
    ASSERT_EQ(a, b) << what << " element " << i << ": " << got[i] << " vs " << want[i];
  }
}

std::string fmt_case(int bits, int64_t rows, int64_t cols, bool symmetric, int64_t m) {
  return "bits " + std::to_string(bits) + " rows " + std::to_string(rows) + " cols " + std::to_string(cols) +
         (symmetric ? " sym" : " asym") + " m " + std::to_string(m);
}

class Q8Blocks : public test::IsaAndThreadsRestored {};

TEST_F(Q8Blocks, KernelAndReferenceEqualTheDefinitionBitForBit) {
  int cases = 0;
  for (int bits : {1, 2, 3, 4, 5, 8})
    for (int64_t rows : {1, 16, 17, 45})
      for (int64_t cols : {32, 40, 96, 100})
        for (bool symmetric : {true, false}) {
          const test::RandomPacked p(bits, rows, cols, kQ8Block, false, symmetric, uint64_t(bits * 1000 + rows * 10 + cols));
          const Q8TiledWeights tiled = pack_q8_weights(p.w, p.w.scales);
          const RandomQ8Rows x(5, cols, uint64_t(rows + cols));
          std::vector<float> bias(static_cast<size_t>(rows));
          for (int64_t j = 0; j < rows; ++j) bias[size_t(j)] = 0.01f * float(j) - 0.1f;
          for (int64_t m : {1, 2, 5})
            for (const float* b : {static_cast<const float*>(nullptr), static_cast<const float*>(bias.data())}) {
              const std::vector<float> want = definition(p, x, m, b);
              const std::string what = fmt_case(bits, rows, cols, symmetric, m);
              std::vector<float> y(size_t(m * rows));
              gemm_q8_blocks_scalar(x.view(m), tiled, b, y.data());
              expect_bits_equal(y, want, "scalar " + what);
              for (Isa isa : supported_isas())
                for (int threads : {1, 2}) {
                  set_isa(isa);
                  set_num_threads(threads);
                  // Each kernel is really run: AVX2 for nibbles, VNNI where the CPU has it, else scalar.
                  const std::string kernel = q8_blocks_kernel(tiled);
                  if (isa == Isa::Avx2) {
                    EXPECT_EQ(kernel, bits <= 4 ? "avx2" : "scalar");
                  }
                  if (isa == Isa::Scalar) {
                    EXPECT_EQ(kernel, "scalar");
                  }
                  std::fill(y.begin(), y.end(), -1.0f);
                  gemm_q8_blocks(x.view(m), tiled, b, y.data());
                  expect_bits_equal(y, want, std::string(isa_name(isa)) + " " + what);
                }
              ++cases;
            }
        }
  EXPECT_EQ(cases, 6 * 4 * 4 * 2 * 3 * 2);
}

TEST_F(Q8Blocks, FourBitCodesStreamHalfAByte) {
  const test::RandomPacked p(4, 32, 64, kQ8Block, false, false, 7);
  const Q8TiledWeights t = pack_q8_weights(p.w, p.w.scales);
  EXPECT_TRUE(t.nibbles);
  EXPECT_EQ(t.codes.size(), size_t(32 * 64 / 2));  // 2 tiles x 2 blocks x 4 vectors x 64 bytes
  const test::RandomPacked p8(8, 32, 64, kQ8Block, false, false, 7);
  EXPECT_EQ(pack_q8_weights(p8.w, p8.w.scales).codes.size(), size_t(32 * 64));
}

// Symmetric codes keep one zero point and fp16-exact scales are stored as fp16 (less to stream per
// token); the arithmetic is the same (the main test covers both: its symmetric matrices have one zero,
// its scales are fp32 values; here fp16 ones).
TEST_F(Q8Blocks, CompactScalesAndZerosGiveTheSameBits) {
  test::RandomPacked p(4, 33, 96, kQ8Block, false, true, 11);
  for (int64_t i = 0; i < 33 * 3; ++i) p.scales_buf[size_t(i + 1)] = f16_to_f32(f32_to_f16(p.scales_buf[size_t(i + 1)]));
  const Q8TiledWeights t = pack_q8_weights(p.w, p.w.scales);
  EXPECT_FALSE(t.scales_f16.empty());
  EXPECT_TRUE(t.scales_f32.empty());
  EXPECT_TRUE(t.zeros.empty());
  EXPECT_EQ(t.zero, 8);
  EXPECT_EQ(t.bytes(), t.codes.size() + 2 * t.scales_f16.size());
  const RandomQ8Rows x(3, 96, 5);
  const std::vector<float> want = definition(p, x, 3, nullptr);
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    std::vector<float> y(size_t(3 * 33));
    gemm_q8_blocks(x.view(3), t, nullptr, y.data());
    expect_bits_equal(y, want, std::string(isa_name(isa)));
  }
}

// pack_q8_weights fills row tiles in parallel: a matrix large enough to be split (1000 rows: 63 tiles,
// the last one partial; asymmetric, so per-block zero points are written too) packs to the same bytes
// on 1 and 2 threads, and the product still equals the definition.
TEST_F(Q8Blocks, PackingIsTheSameOnAnyThreadCount) {
  for (int bits : {4, 8}) {
    const test::RandomPacked p(bits, 1000, 256, kQ8Block, false, false, uint64_t(bits));
    set_num_threads(1);
    const Q8TiledWeights one = pack_q8_weights(p.w, p.w.scales);
    set_num_threads(2);
    ASSERT_GT(threads_for(one.row_tiles, kQ8TileRows * 256 * 8), 1) << "the packing must really be split";
    const Q8TiledWeights two = pack_q8_weights(p.w, p.w.scales);
    EXPECT_TRUE(std::equal(one.codes.begin(), one.codes.end(), two.codes.begin(), two.codes.end())) << bits;
    EXPECT_EQ(one.scales_f32, two.scales_f32) << bits;
    EXPECT_EQ(one.scales_f16, two.scales_f16) << bits;
    EXPECT_FALSE(one.zeros.empty());
    EXPECT_EQ(one.zeros, two.zeros) << bits;
    const RandomQ8Rows x(1, 256, 9);
    std::vector<float> y(1000);
    gemm_q8_blocks(x.view(1), two, nullptr, y.data());
    expect_bits_equal(y, definition(p, x, 1, nullptr), "bits " + std::to_string(bits));
  }
}

TEST_F(Q8Blocks, RefusesGroupsOtherThanTheBlock) {
  const test::RandomPacked p(4, 16, 128, 64, false, false, 3);
  EXPECT_ANY_THROW(pack_q8_weights(p.w, p.w.scales));
}

}  // namespace
}  // namespace quantscope
