#include "core/large_pages.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <mutex>

namespace quantscope {

namespace {

size_t page_size() {
  static const size_t page = size_t(::sysconf(_SC_PAGESIZE));
  return page;
}

uintptr_t round_down(uintptr_t x, size_t to) { return x / to * to; }
uintptr_t round_up(uintptr_t x, size_t to) { return round_down(x + to - 1, to); }
size_t whole_pages(size_t bytes) { return round_up(bytes, page_size()); }

// `bytes` (whole pages) mapped from a 2 MiB boundary and advised for huge pages.
void* map_aligned(size_t bytes) {
  // Map enough to find a 2 MiB boundary inside, then give back the head and the tail around it.
  const size_t span = bytes + kLargePageBytes;
  void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = round_up(begin, kLargePageBytes);
  if (aligned > begin) ::munmap(raw, aligned - begin);
  if (begin + span > aligned + bytes) ::munmap(reinterpret_cast<void*>(aligned + bytes), begin + span - (aligned + bytes));
  // Advice only: a kernel without transparent huge pages (or with them off) keeps 4 KiB pages.
  ::madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(aligned);
}

// Arrays from kLargePoolMinBytes to kLargePoolMaxBytes share slabs, so that the small matrices of a model (a 1B
// model's q/k/v/o projections at 4 bits: 0.6-1.2 MiB each) lie on huge pages too, and so do the ends
// of the larger ones (a 4.7 MiB matrix on its own mapping has 0.7 MiB past its last whole 2 MiB). A slab hands out
// memory from its front and is unmapped when its last array is freed; the pages of an array freed
// before then are given back at once (MADV_DONTNEED), so a freed array never stays resident.
constexpr size_t kSlabBytes = 4 * kLargePoolMaxBytes;  // the part of a slab never handed out is never touched
static_assert(kLargePoolMinBytes < kLargePoolMaxBytes && kLargePoolMaxBytes % kLargePageBytes == 0);

class SlabPool {
 public:
  void* allocate(size_t bytes) {
    bytes = round_up(bytes, 64);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!current_ || current_->second.used + bytes > kSlabBytes) {
      const uintptr_t base = reinterpret_cast<uintptr_t>(map_aligned(kSlabBytes));
      current_ = &*slabs_.emplace(base, Slab{}).first;
    }
    Slab& s = current_->second;
    void* p = reinterpret_cast<void*>(current_->first + s.used);
    s.used += bytes;
    ++s.live;
    return p;
  }
  void free(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    auto it = slabs_.upper_bound(a);
    --it;  // the slab whose base is at or below p: allocate() handed p out from it
    if (--it->second.live == 0) {
      if (current_ == &*it) current_ = nullptr;
      ::munmap(reinterpret_cast<void*>(it->first), kSlabBytes);
      slabs_.erase(it);
      return;
    }
    const uintptr_t first = round_up(a, page_size()), last = round_down(a + bytes, page_size());  // whole pages only
    if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  }

 private:
  struct Slab {
    size_t used = 0;   // bytes handed out from the front
    int64_t live = 0;  // arrays not yet freed
  };
  std::mutex mutex_;
  std::map<uintptr_t, Slab> slabs_;
  std::pair<const uintptr_t, Slab>* current_ = nullptr;
};

SlabPool& pool() {
  static SlabPool* p = new SlabPool();  // never destroyed: arrays may be freed during static destruction
  return *p;
}

}  // namespace

void* allocate_large(size_t bytes) {
  if (bytes < kLargePoolMinBytes) return ::operator new(bytes == 0 ? 1 : bytes);
  if (bytes < kLargePoolMaxBytes) return pool().allocate(bytes);
  return map_aligned(whole_pages(bytes));
}

void free_large(void* p, size_t bytes) noexcept {
  if (!p) return;
  if (bytes < kLargePoolMinBytes) return ::operator delete(p);
  if (bytes < kLargePoolMaxBytes) return pool().free(p, bytes);
  ::munmap(p, whole_pages(bytes));
}

}  // namespace quantscope
