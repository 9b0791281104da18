#include "core/parallel.h"

#include <omp.h>

#include <algorithm>

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
