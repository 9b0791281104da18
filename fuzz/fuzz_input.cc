#include "fuzz_input.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "core/dtype.h"
#include "core/parallel.h"

namespace quantscope::fuzz {

const std::string& scratch_dir() {
  static const std::string dir = [] {
    const auto d = std::filesystem::temp_directory_path() / ("quantscope-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d.string();
  }();
  return dir;
}

std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  f.close();
  // A failed write would fuzz a stale file and report nonsense; stop loudly instead.
  if (!f) throw std::runtime_error("fuzz harness: cannot write " + path);
  return path;
}

// Written so the compiler cannot drop the reads in touch_views.
volatile uint64_t g_touched = 0;

void touch_views(const TensorSet& set) {
  uint64_t sum = 0;
  for (const auto& [name, v] : set.tensors) {
    const size_t n = v.nbytes();
    if (n == 0 || v.data == nullptr) continue;
    const auto* p = static_cast<const uint8_t*>(v.data);
    sum += p[0] + p[n - 1];
  }
  g_touched = g_touched + sum;
}

void init() {
  setenv("QUANTSCOPE_NO_MMAP", "1", 1);
  set_num_threads(1);
}

}  // namespace quantscope::fuzz
