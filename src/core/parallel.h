// Parallel loops (OpenMP underneath): static splits, and dynamic or guided hand-outs where threads run
// at unequal speeds or items cost unequal amounts. Work item i is always computed whole by one
// thread with the same arithmetic, so results never depend on the thread count.
#pragma once

#include <cstdint>
#include <functional>

namespace quantscope {

// Number of threads parallel_for uses (default: all hardware threads).
int num_threads();
void set_num_threads(int n);

// Calls fn(i) for i in [begin, end), split into contiguous static blocks across threads.
// cost_per_item (roughly, arithmetic operations) keeps tiny loops on one thread: waking threads
// costs microseconds, more than a small norm or matmul (stories260K has H = 64).
void parallel_for(int64_t begin, int64_t end, const std::function<void(int64_t)>& fn, int64_t cost_per_item = 1 << 16);

// Like parallel_for for items of very unequal cost (e.g. the columns of a triangular matrix): items are
// handed out one at a time to whichever thread is free. Each item is still computed whole by one thread,
// so results stay independent of the thread count; only the load balance changes.
void parallel_for_uneven(int64_t begin, int64_t end, const std::function<void(int64_t)>& fn,
                         int64_t cost_per_item = 1 << 16);

// Calls fn(begin, end) over ranges that cover [0, n) once, in units of `unit` items handed out guided:
// each free thread takes a share of what is left (large ranges first, small ones last), so a thread
// that runs slower (a busy virtual CPU) ends up with less work instead of holding the others at the
// join. Each range is one forward stream, so a streaming kernel restarts its prefetch only a few
// times per thread. As with the other loops, which thread computes an item never changes its value.
void parallel_ranges_guided(int64_t n, int64_t unit, const std::function<void(int64_t, int64_t)>& fn,
                            int64_t cost_per_item = 1 << 16);

// Calls fn(thread_index, begin, end) once per thread over a static split of [0, n).
void parallel_blocks(int64_t n, const std::function<void(int, int64_t, int64_t)>& fn, int64_t cost_per_item = 1 << 16);

// Threads worth using for n items of the given cost (1 .. num_threads()).
int threads_for(int64_t n, int64_t cost_per_item);

}  // namespace quantscope
