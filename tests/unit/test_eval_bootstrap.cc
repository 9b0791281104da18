// Paired block bootstrap: a model against itself is below noise; a clear shift is significant;
// and the CLI compares two eval runs paired.
#include <gtest/gtest.h>

#include <random>

#include "eval/bootstrap.h"
#include "test_util.h"

namespace quantscope {
namespace {

TEST(EvalBootstrap, IdenticalRunsAreBelowNoiseAndShiftsAreSignificant) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> nll(1.7, 1.0);
  std::vector<double> a(5000), b(5000), c(5000);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = nll(rng);
    b[i] = a[i];
    c[i] = a[i] + 0.05 + 0.01 * nll(rng);  // a consistent small increase
  }
  const auto same = paired_block_bootstrap(block_sums(a), block_sums(b));
  EXPECT_EQ(same.diff, 0.0);
  EXPECT_TRUE(same.below_noise());
  const auto shift = paired_block_bootstrap(block_sums(c), block_sums(a));
  EXPECT_NEAR(shift.diff, 0.05 + 0.01 * 1.7, 0.005);
  EXPECT_FALSE(shift.below_noise());
  EXPECT_GT(shift.lo, 0.0);
  EXPECT_LT(shift.p_value, 0.01);
  EXPECT_EQ(shift.blocks, 20);  // 5000 tokens in blocks of 256
  // Determinism for a fixed seed.
  const auto again = paired_block_bootstrap(block_sums(c), block_sums(a));
  EXPECT_EQ(again.lo, shift.lo);
  EXPECT_EQ(again.hi, shift.hi);
}

TEST(EvalBootstrap, CliComparesTwoRunsPaired) {
  test::TempDir tmp;
  const std::string base = "eval " + test::data_path("stories260K.bin") + " --tokenizer " + test::data_path("tok512.bin") +
                           " --tasks ppl:" + test::data_path("tinystories-valid.txt") + " --ctx 128 --limit 8 -q";
  auto r1 = test::run_cli(base + " --json " + tmp.file("a.json"));
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  auto r2 = test::run_cli(base + " --paired " + tmp.file("a.json"));
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_NE(r2.out.find("difference below noise"), std::string::npos) << r2.out;
}

}  // namespace
}  // namespace quantscope
