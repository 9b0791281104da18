#include "core/parallel.h"

#include <omp.h>

#include <algorithm>
#include <atomic>

namespace quantscope {

namespace {
int g_threads = 0;  // 0 = not set: use omp_get_max_threads()
}

int num_threads() { return g_threads > 0 ? g_threads : omp_get_max_threads(); }

void set_num_threads(int n) { g_threads = std::max(1, n); }

int threads_for(int64_t n, int64_t cost_per_item) {
  constexpr int64_t kMinCostPerThread = 1 << 16;  // ~10-20 us of work: below that, stay serial
  const int64_t useful = std::max<int64_t>(1, n * std::max<int64_t>(cost_per_item, 1) / kMinCostPerThread);
  return int(std::min<int64_t>({int64_t(num_threads()), n, useful}));
}

void parallel_for(int64_t begin, int64_t end, const std::function<void(int64_t)>& fn, int64_t cost_per_item) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  const int nt = threads_for(n, cost_per_item);
  if (nt <= 1) {
    for (int64_t i = begin; i < end; ++i) fn(i);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t i = begin; i < end; ++i) fn(i);
}

void parallel_for_uneven(int64_t begin, int64_t end, const std::function<void(int64_t)>& fn, int64_t cost_per_item) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  const int nt = threads_for(n, cost_per_item);
  if (nt <= 1) {
    for (int64_t i = begin; i < end; ++i) fn(i);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
  for (int64_t i = begin; i < end; ++i) fn(i);
}

void parallel_ranges_guided(int64_t n, int64_t unit, const std::function<void(int64_t, int64_t)>& fn,
                            int64_t cost_per_item) {
  if (n <= 0) return;
  const int nt = threads_for(n, cost_per_item);
  if (nt <= 1) {
    fn(0, n);
    return;
  }
  unit = std::max<int64_t>(1, unit);
  // The next range starts at `next`; a thread takes 1/nt of what is left, in whole units (the last
  // range ends at n), so the first ranges are long streams and the last ones a unit each.
  std::atomic<int64_t> next{0};
#pragma omp parallel num_threads(nt)
  for (;;) {
    int64_t b = next.load(std::memory_order_relaxed), e = 0;
    do {
      if (b >= n) break;
      const int64_t units_left = (n - b + unit - 1) / unit;
      e = std::min(n, b + std::max<int64_t>(1, units_left / nt) * unit);
    } while (!next.compare_exchange_weak(b, e, std::memory_order_relaxed));
    if (b >= n) break;
    fn(b, e);
  }
}

void parallel_blocks(int64_t n, const std::function<void(int, int64_t, int64_t)>& fn, int64_t cost_per_item) {
  if (n <= 0) return;
  const int nt = threads_for(n, cost_per_item);
  if (nt <= 1) {
    fn(0, 0, n);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    const int64_t b = n * t / nt, e = n * (t + 1) / nt;
    fn(t, b, e);
  }
}

}  // namespace quantscope
