// Memory for the large arrays that kernels stream on every token: packed weights and the KV cache.
//
// A decode step reads about a gigabyte (a 1B model) from one end to the other. On 4 KiB pages that is
// a quarter of a million page translations per token, and the data TLB holds a few thousand; on
// transparent huge pages (2 MiB) it is five hundred. So arrays of 64 KiB or more go to memory that is
// mapped from a 2 MiB boundary and advised MADV_HUGEPAGE (most distributions, Debian included, enable
// transparent huge pages only where a program asks: "madvise"): up to 16 MiB they share 64 MiB slabs,
// so that small matrices and the ends of larger ones lie on huge pages too; from 16 MiB each has a
// mapping of its own. Smaller arrays come from the ordinary heap. Where the kernel gives no huge pages
// this is ordinary memory. No memory is added: only pages an array touches become resident, and a
// freed slab array's pages are given back at once (large_pages.cc).
//
// Measured on a 2-core Intel Xeon VM, decode of the saved synthetic openPangu-1B at W4 g128 (-p 16
// -n 256, 2 threads), alternated 4x: 21.84 / 22.20 / 22.76 / 22.59 -> 22.35 / 23.07 / 23.18 / 23.10
// tok/s (every pair faster, +2.6% on average; the software prefetch of gemv_avx512.cc already starts
// most page walks early). Weights read in place from a memory-mapped file (a bf16 checkpoint) keep the
// page cache's pages.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace quantscope {

inline constexpr size_t kLargePageBytes = size_t(2) << 20;
inline constexpr size_t kLargePoolMinBytes = size_t(64) << 10;  // from here: slabs (large_pages.cc)
inline constexpr size_t kLargePoolMaxBytes = size_t(16) << 20;  // from here: a mapping of its own

// `bytes` of memory, 64-byte aligned, on memory advised for huge pages from 64 KiB up (2 MiB-aligned
// from kLargePageBytes up), else from operator new. Throws std::bad_alloc. Free with free_large(p, the
// same bytes).
void* allocate_large(size_t bytes);
void free_large(void* p, size_t bytes) noexcept;

template <class T>
struct LargePageAllocator {
  using value_type = T;
  LargePageAllocator() = default;
  template <class U>
  LargePageAllocator(const LargePageAllocator<U>&) noexcept {}
  T* allocate(size_t n) {
    if (n > size_t(-1) / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(allocate_large(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept { free_large(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const LargePageAllocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const LargePageAllocator<U>&) const noexcept { return false; }
};

template <class T>
using LargeVector = std::vector<T, LargePageAllocator<T>>;

}  // namespace quantscope
