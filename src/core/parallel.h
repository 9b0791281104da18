// Static-partition parallel loops (OpenMP underneath). Work item i is always computed whole by one
// thread with the same arithmetic, so results never depend on the thread count.
#pragma once

#include <cstdint>
#include <functional>

namespace quantscope {

// Number of threads parallel_for uses (default: all hardware threads).
int num_threads();
void set_num_threads(int n);

// Calls fn(i) for i in [begin, end), split into contiguous static blocks across threads.
void parallel_for(int64_t begin, int64_t end, const std::function<void(int64_t)>& fn);

// Calls fn(thread_index, begin, end) once per thread over a static split of [0, n).
void parallel_blocks(int64_t n, const std::function<void(int, int64_t, int64_t)>& fn);

}  // namespace quantscope
