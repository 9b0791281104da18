#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/large_pages.h"

namespace quantscope {

namespace {

// Resident bytes of this process (/proc/self/statm: pages).
int64_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * int64_t(::sysconf(_SC_PAGESIZE));
}

// AnonHugePages (bytes) of the mapping that holds p, from /proc/self/smaps; -1 if not found.
int64_t huge_bytes_at(const void* p) {
  std::ifstream f("/proc/self/smaps");
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::string line;
  bool inside = false;
  while (std::getline(f, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= a && a < hi;
      continue;
    }
    if (inside && line.rfind("AnonHugePages:", 0) == 0) return std::stoll(line.substr(14)) * 1024;
  }
  return -1;
}

bool transparent_huge_pages_offered() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string s;
  std::getline(f, s);
  return !s.empty() && s.find("[never]") == std::string::npos;
}

}  // namespace

// Every size class (heap, shared slabs, a mapping of its own) gives distinct, writable memory with the
// promised alignment, and freeing arrays in any order leaves the others' contents alone.
TEST(LargePages, ArraysOfEverySizeAreDistinctAlignedAndSurviveOthersBeingFreed) {
  const std::vector<size_t> sizes = {1,
                                     100,
                                     kLargePoolMinBytes - 1,
                                     kLargePoolMinBytes,
                                     1000003,
                                     kLargePageBytes,
                                     3 * kLargePageBytes + 12345,
                                     kLargePoolMaxBytes - 64,
                                     kLargePoolMaxBytes,
                                     kLargePoolMaxBytes + 4097};
  std::vector<uint8_t*> arrays;
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto* p = static_cast<uint8_t*>(allocate_large(sizes[i]));
    if (sizes[i] >= kLargePoolMinBytes) EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u) << sizes[i];
    if (sizes[i] >= kLargePoolMaxBytes) EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kLargePageBytes, 0u) << sizes[i];
    std::memset(p, int(i + 1), sizes[i]);
    arrays.push_back(p);
  }
  for (size_t i = 0; i < sizes.size(); i += 2) free_large(arrays[i], sizes[i]);  // every other one
  for (size_t i = 1; i < sizes.size(); i += 2) {
    const uint8_t* p = arrays[i];
    bool intact = true;
    for (size_t b = 0; b < sizes[i]; b += 997) intact = intact && p[b] == uint8_t(i + 1);
    EXPECT_TRUE(intact && p[sizes[i] - 1] == uint8_t(i + 1)) << "array of " << sizes[i] << " bytes";
  }
  for (size_t i = 1; i < sizes.size(); i += 2) free_large(arrays[i], sizes[i]);
}

// A freed array does not stay resident while its slab lives on (the pages are given back at once).
TEST(LargePages, FreedSlabArraysAreNotResident) {
  constexpr size_t kArray = size_t(1) << 20;
  const size_t count = 40;
  void* keep = allocate_large(kArray);  // holds the slab open
  std::memset(keep, 1, kArray);
  std::vector<void*> arrays;
  for (size_t i = 0; i < count; ++i) {
    arrays.push_back(allocate_large(kArray));
    std::memset(arrays.back(), 2, kArray);
  }
  const int64_t touched = resident_bytes();
  for (void* p : arrays) free_large(p, kArray);
  const int64_t after = resident_bytes();
  EXPECT_GT(touched - after, int64_t(count * kArray) * 3 / 4) << "resident " << touched << " -> " << after;
  EXPECT_EQ(static_cast<uint8_t*>(keep)[kArray - 1], 1);
  free_large(keep, kArray);
}

// Where the kernel offers transparent huge pages, a large array touched whole lies on them: the point
// of the allocator (decode streams ~1 GB per token through the data TLB).
TEST(LargePages, LargeVectorsGetHugePagesWhereTheKernelOffersThem) {
  if (!transparent_huge_pages_offered()) GTEST_SKIP() << "transparent huge pages are off on this machine";
  LargeVector<float> v(3 * kLargePageBytes / sizeof(float), 1.0f);
  const int64_t huge = huge_bytes_at(v.data());
  ASSERT_GE(huge, 0) << "mapping not found in /proc/self/smaps";
  EXPECT_GE(huge, int64_t(kLargePageBytes)) << "no huge page in a 6 MiB array";
}

}  // namespace quantscope
