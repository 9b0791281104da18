// core/parallel.h: every loop covers its items exactly once, on any thread count.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

#include "core/parallel.h"
#include "isa_fixture.h"

namespace quantscope {
namespace {

class Parallel : public test::IsaAndThreadsRestored {};

// Ranges handed out guided tile [0, n) with no gap or overlap; each starts on a unit boundary and is
// whole units long but for the one ending at n; with more than one thread and enough work the first
// range taken is a long one (the point of guided: long streams first), not one unit.
TEST_F(Parallel, GuidedRangesCoverEveryItemOnce) {
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (int64_t n : {int64_t(1), int64_t(7), int64_t(64), int64_t(1000), int64_t(153376)})
      for (int64_t unit : {int64_t(1), int64_t(4), int64_t(37), int64_t(2396)}) {
        std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
        std::mutex mu;
        std::vector<std::pair<int64_t, int64_t>> ranges;
        parallel_ranges_guided(n, unit, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) seen[size_t(i)].fetch_add(1);
          std::lock_guard<std::mutex> lock(mu);
          ranges.emplace_back(b, e);
        }, 1 << 16);
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[size_t(i)].load(), 1) << "n " << n << " unit " << unit << " item " << i;
        for (const auto& [b, e] : ranges) {
          EXPECT_LT(b, e);
          EXPECT_EQ(b % unit, 0) << b;
          if (e != n) {
            EXPECT_EQ((e - b) % unit, 0) << b << ".." << e;
          }
        }
        if (threads > 1 && n / unit >= 4 * threads) {
          int64_t longest = 0;
          for (const auto& [b, e] : ranges) longest = std::max(longest, e - b);
          EXPECT_GE(longest, n / threads / 2) << "n " << n << " unit " << unit;
        }
      }
  }
  parallel_ranges_guided(0, 4, [](int64_t, int64_t) { FAIL() << "no items, no call"; });
}

}  // namespace
}  // namespace quantscope
